// Writes the fuzz targets' seed corpus: OUT/{dsm,labels,traces}/seed-NAME, replacing
// the seed-* files already there (inputs libFuzzer found, named by hash, are left alone). Every
// seed is run through its target first, so a seed that breaks an invariant is reported here.
//
//   swift run --package-path fuzz vpmem-fuzz-seeds fuzz/corpus
import Glibc
import VpmemFuzz

let args = CommandLine.arguments
guard args.count == 2 else {
    printToStandardError("usage: vpmem-fuzz-seeds CORPUS_DIR   (e.g. fuzz/corpus)")
    exit(2)
}

func write(_ seeds: [(String, [UInt8])], to dir: String, run: (UnsafeRawBufferPointer) -> Void) {
    mkdir(dir, 0o755)
    if let d = opendir(dir) {
        var old: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("seed-") { old.append(name) }
        }
        closedir(d)
        for name in old { unlink(dir + "/" + name) }
    }
    for (name, bytes) in seeds {
        bytes.withUnsafeBytes { run($0) }
        let path = dir + "/seed-" + name
        guard let f = fopen(path, "wb") else {
            printToStandardError("vpmem-fuzz-seeds: cannot write \(path)")
            exit(1)
        }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        guard written == bytes.count, fclose(f) == 0 else {
            printToStandardError("vpmem-fuzz-seeds: short write to \(path)")
            exit(1)
        }
    }
    print("\(dir): \(seeds.count) seeds")
}

write(DSMSeeds.all(), to: args[1] + "/dsm", run: DSMFuzzTarget.run)
write(LabelAreaSeeds.all(), to: args[1] + "/labels", run: LabelAreaFuzzTarget.run)
write(TraceSeeds.all(), to: args[1] + "/traces", run: TraceFuzzTarget.run)
