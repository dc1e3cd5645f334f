// libndctl. Its *_foreach iteration macros do not import into Swift; the Swift side walks
// with the get_first/get_next functions they expand to, so no shim functions are needed.
#ifndef VPMEM_CNDCTL_SHIM_H
#define VPMEM_CNDCTL_SHIM_H
#include <ndctl/libndctl.h>
#endif
