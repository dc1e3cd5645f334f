import ArgumentParser
import VpmemCore

/// Parses a size with K/M/G/T suffixes; the error names the problem and the fix.
func parseSize(_ text: String) throws -> ByteSize {
    do { return try ByteSize(parsing: text) } catch { throw ValidationError(error.description) }
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false
}

/// Left-aligned columns for human output.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
