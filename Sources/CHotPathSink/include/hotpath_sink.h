#ifndef VPMEM_HOTPATH_SINK_H
#define VPMEM_HOTPATH_SINK_H
#include <stdint.h>

/// An opaque use of a value, so the loop that computed it cannot be removed. One per loop.
/// Shared by the gate (callgrind), the benchmark suites and `vpmem bench hotpaths`.
void vpmem_hotpath_sink(uint64_t value);
#endif
