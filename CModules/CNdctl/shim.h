// libndctl and libdaxctl. Their *_foreach iteration macros do not import into Swift; the Swift
// side walks with the get_first/get_next functions the macros expand to, so no shim functions
// are needed here.
#ifndef VPMEM_CNDCTL_SHIM_H
#define VPMEM_CNDCTL_SHIM_H
#include <ndctl/libndctl.h>
#include <daxctl/libdaxctl.h>
#endif
