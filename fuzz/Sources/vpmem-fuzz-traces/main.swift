// libFuzzer target: the access-trace reader, text and binary. See TraceFuzzTarget for what an
// input means and what is checked.
import VpmemFuzz

FuzzDriver.main(name: "vpmem-fuzz-traces") { TraceFuzzTarget.run($0) }
