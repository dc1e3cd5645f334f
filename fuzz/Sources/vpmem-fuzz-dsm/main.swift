// libFuzzer target: the _DSM handler. See DSMFuzzTarget and DSMScenario for what an input
// means and what is checked.
import VpmemFuzz

FuzzDriver.main(name: "vpmem-fuzz-dsm") { DSMFuzzTarget.run($0) }
