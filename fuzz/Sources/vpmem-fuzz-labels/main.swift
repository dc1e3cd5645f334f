// libFuzzer target: the namespace label area decoder. See LabelAreaFuzzTarget and
// LabelAreaInput for what an input means and what is checked.
import VpmemFuzz

FuzzDriver.main(name: "vpmem-fuzz-labels") { LabelAreaFuzzTarget.run($0) }
