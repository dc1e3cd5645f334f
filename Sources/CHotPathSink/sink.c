#include "hotpath_sink.h"

volatile uint64_t vpmem_hotpath_sunk;
__attribute__((noinline)) void vpmem_hotpath_sink(uint64_t value) { vpmem_hotpath_sunk = value; }
