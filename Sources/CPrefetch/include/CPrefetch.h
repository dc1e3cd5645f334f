// Cache prefetch hints for the steering delivery path, which Swift has no spelling for. Each is
// a hint: it never faults (an address with no mapping is dropped) and changes no memory.
#ifndef VPMEM_CPREFETCH_H
#define VPMEM_CPREFETCH_H

/// Asks for the cache line at `p` ahead of a write to it.
static inline void vpmem_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Asks for the cache line at `p` ahead of a read of it.
static inline void vpmem_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
