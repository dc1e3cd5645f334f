import GuestMemory
import TOMLKit

extension GuestConfigFile {
    /// Changes the config file at `path`, which holds `old`, so that it holds `new`, editing only
    /// the lines that differ: the user's comments, key order and layout stay. Use it for every
    /// change to an existing file (attach, detach, a changed key); `GuestConfig.save(to:)` writes
    /// new files.
    ///
    /// The file must still load as `old` (else `.changedOnDisk`: someone edited it since). The
    /// edit is `edit(_:to:path:)`, verified before anything is written, and the write is atomic
    /// (`AtomicFileWriter`: mode, owner and symbolic link kept). The caller holds the lock every
    /// writer of this file takes. Nothing is written when nothing changes.
    public static func rewrite(path: String, from old: GuestConfig, to new: GuestConfig) throws(GuestConfigFileError) {
        do { try new.validate() } catch { throw .invalid(path: path, error: error, hint: nil) }
        let text = try AtomicFileWriter.readText(from: path)
        guard try parse(text, path: path) == slotOrdered(old) else { throw .changedOnDisk(path: path) }
        let edited = try edit(text, to: new, path: path)
        guard edited != text else { return }
        try AtomicFileWriter.write(edited, to: path)
    }

    /// `text` (a config file's contents) edited to load as `new`; `path` is used in errors.
    ///
    /// - a vNVDIMM slot only in `new` is a `[[nvdimm]]` table appended at the end, laid out as
    ///   `render` writes it;
    /// - a slot only in the file loses its table, found by its `slot` value (not its position),
    ///   with the comments above its header (`TOMLTextEdit.removeTable`);
    /// - a vNVDIMM in both whose fields differ gets the changed keys set in its table;
    /// - a changed top-level key is set in place (or added after the last top-level key); one
    ///   `render` would leave out (an unset optional, a false flag) is removed.
    ///
    /// The result is parsed and compared with `new` (vNVDIMMs in slot order): when it would load
    /// as anything else, or not at all, this throws `.cannotEdit` and the caller writes nothing.
    public static func edit(_ text: String, to new: GuestConfig, path: String) throws(GuestConfigFileError) -> String {
        let old = try parse(text, path: path)
        // The slots of the [[nvdimm]] tables in file order: table i of the scanner is element i
        // of the parsed array, as long as both see the same tables.
        var slots = try fileOrderSlots(text, path: path)
        let headers = TOMLTextEdit.tableCount(array: "nvdimm", in: text)
        guard headers == slots.count else {
            throw .cannotEdit(path: path, reason: "it has \(slots.count) vNVDIMMs but \(headers) [[nvdimm]] table headers "
                + "(vNVDIMMs written as an inline array, nvdimm = [...]?); write each as a [[nvdimm]] table")
        }
        var out = text
        // Top-level edits leave the tables' lines, and so their order, as they are.
        for ((key, was), (_, now)) in zip(topLevelEntries(old), topLevelEntries(new)) where was != now {
            out = now.map { TOMLTextEdit.setTopLevelKey(key: key, valueText: $0, in: out) }
                ?? TOMLTextEdit.removeTopLevelKey(key: key, in: out)
        }
        do throws(TOMLTextEditError) {
            let kept = Set(new.nvdimms.map(\.slot))
            for d in old.nvdimms where !kept.contains(d.slot) {
                guard let index = slots.firstIndex(of: d.slot) else { continue }
                out = try TOMLTextEdit.removeTable(array: "nvdimm", index: index, from: out)
                slots.remove(at: index)
            }
            for d in new.nvdimms.sorted(by: { $0.slot < $1.slot }) {
                guard let was = old.nvdimm(slot: d.slot), let index = slots.firstIndex(of: d.slot) else {
                    out = TOMLTextEdit.appendTable(array: "nvdimm", lines: nvdimmEntries(d).map { "\($0) = \($1)" }, to: out)
                    slots.append(d.slot)
                    continue
                }
                let before = Dictionary(nvdimmEntries(was), uniquingKeysWith: { a, _ in a })
                for (key, after) in nvdimmEntries(d) where before[key] != after {
                    out = try TOMLTextEdit.setKey(array: "nvdimm", index: index, key: key, valueText: after, in: out)
                }
                // A key render leaves out (an address no longer pinned) is left for the check
                // below to catch: a text edit never drops a line it did not write.
            }
        } catch {
            throw .cannotEdit(path: path, reason: String(describing: error))
        }

        let result: GuestConfig
        do { result = try parse(out, path: path) } catch {
            throw .cannotEdit(path: path, reason: "the edited file would not load (\(error))")
        }
        guard result == slotOrdered(new) else {
            throw .cannotEdit(path: path, reason: "the edited file would load as a different config than the one asked for")
        }
        return out
    }

    /// `config` with its vNVDIMMs in slot order, as `parse` returns them.
    static func slotOrdered(_ config: GuestConfig) -> GuestConfig {
        var c = config
        c.nvdimms.sort { $0.slot < $1.slot }
        return c
    }

    /// The `slot` of each `[[nvdimm]]` table, in file order (`parse` sorts them).
    private static func fileOrderSlots(_ text: String, path: String) throws(GuestConfigFileError) -> [Int] {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw .cannotEdit(path: path, reason: "not valid TOML")
        }
        return try parseNVDIMMs(table, path: path).map(\.slot)
    }
}
