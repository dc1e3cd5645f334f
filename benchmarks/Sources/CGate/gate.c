#include "gate.h"

__attribute__((noinline)) void vpmem_gate_measured(vpmem_gate_body body, void *context, int64_t iterations) {
    body(context, iterations);
    __asm__ volatile("" ::: "memory");  /* keep the call from being folded into the caller */
}
