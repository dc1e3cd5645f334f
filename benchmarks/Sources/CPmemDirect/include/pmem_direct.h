#ifndef VPMEM_PMEM_DIRECT_H
#define VPMEM_PMEM_DIRECT_H
#include <stddef.h>
#include <stdint.h>

/// The floor for PmemMapping.write: `n` copies of `size` bytes from `src` into successive
/// `size`-byte slots of `base` (wrapping after `slots`), each made durable by the same libpmem
/// calls PmemMapping.write makes, called straight from C: pmem_memcpy_persist when `is_pmem`,
/// else memcpy then pmem_msync. Returns 0, or -1 when msync failed.
int vpmem_direct_write_loop(void *base, size_t slots, size_t size, const void *src, int64_t n, int is_pmem);
#endif
