#ifndef VPMEM_GATE_H
#define VPMEM_GATE_H
#include <stdint.h>

/// A measured loop: runs `iterations` operations of a kernel with its context.
typedef void (*vpmem_gate_body)(void *context, int64_t iterations);

/// Runs `body` once. Never inlined, so `valgrind --tool=callgrind
/// --toggle-collect=vpmem_gate_measured` counts the instructions of exactly this call: the
/// kernel's loop, without its setup.
void vpmem_gate_measured(vpmem_gate_body body, void *context, int64_t iterations);

#endif
