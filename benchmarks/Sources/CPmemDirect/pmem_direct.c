#include <libpmem.h>
#include <string.h>
#include "pmem_direct.h"

int vpmem_direct_write_loop(void *base, size_t slots, size_t size, const void *src, int64_t n, int is_pmem) {
    size_t slot = 0;
    for (int64_t i = 0; i < n; i++) {
        char *dst = (char *)base + slot * size;
        if (is_pmem) {
            pmem_memcpy_persist(dst, src, size);
        } else {
            memcpy(dst, src, size);
            if (pmem_msync(dst, size) != 0) return -1;
        }
        slot = slot + 1 == slots ? 0 : slot + 1;
    }
    return 0;
}
