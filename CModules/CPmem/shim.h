// libpmem, plus the one thing Swift cannot import from it directly.
#ifndef VPMEM_CPMEM_SHIM_H
#define VPMEM_CPMEM_SHIM_H
#include <libpmem.h>

// pmem_map_file's flag macros are plain ints; PMEM_FILE_CREATE etc. import fine.
// pmem_errormsg() returns a thread-local string; nothing to shim.

// Open file description locks need _GNU_SOURCE's F_OFD_* constants, which Glibc's Swift
// overlay does not expose. The lock lives with the backing, so it is declared here.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <string.h>
#include <errno.h>

/// Try to take an exclusive OFD write lock over the whole file. Returns 0 on success,
/// -1 with errno set on failure (EAGAIN/EACCES: held by someone else).
static inline int vpmem_ofd_trylock(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return fcntl(fd, F_OFD_SETLK, &fl);
}

/// Ask who holds a conflicting lock. Returns the holder's pid, 0 when no conflicting lock
/// is held, -1 with errno on failure. OFD locks report pid -1 (no single owner process);
/// a classic POSIX lock reports its owner's pid.
static inline int vpmem_ofd_holder(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
    if (fl.l_type == F_UNLCK) return 0;
    return fl.l_pid;
}
#endif
