// libFuzzer's entry for programs with their own main (compiler-rt FuzzerInterface.h): parses the
// libFuzzer flags in argv and runs the fuzzing loop, calling `callback` with each input.
// Defined by libclang_rt.fuzzer, which -sanitize=fuzzer links; only scripts/fuzz's build
// (VPMEM_LIBFUZZER) calls it.
#ifndef VPMEM_CLIBFUZZER_H
#define VPMEM_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
