#include "gate.h"

__attribute__((noinline)) void vpmem_gate_measured(vpmem_gate_body body, void *context, int64_t iterations) {
    body(context, iterations);
    __asm__ volatile("" ::: "memory");  /* keep the call from being folded into the caller */
}

volatile uint64_t vpmem_gate_sunk;
__attribute__((noinline)) void vpmem_gate_sink(uint64_t value) { vpmem_gate_sunk = value; }
