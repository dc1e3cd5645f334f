// libpmem, plus the open-file-description locks Swift's Glibc overlay does not expose.
#ifndef VPMEM_CPMEM_SHIM_H
#define VPMEM_CPMEM_SHIM_H
#include <libpmem.h>
#include <fcntl.h>
#include <string.h>

// Defining _GNU_SOURCE here would change glibc's struct layouts under Swift's Glibc module, so
// the OFD commands come by value: they are Linux ABI (include/uapi/asm-generic/fcntl.h).
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

/// Byte range an exclusive backing lock covers: [0, VPMEM_LOCK_SPAN). No file reaches 4 EiB,
/// so this is the whole file, and the byte at VPMEM_LOCK_SPAN stays free for the pid beacon.
#define VPMEM_LOCK_SPAN (1LL << 62)

/// Takes an OFD write lock over the backing's data range. OFD locks belong to the open file
/// description, so libpmem opening and closing the same file does not drop them, and they
/// conflict even between two descriptions in one process. 0 on success, -1 with errno.
static inline int vpmem_lock_exclusive(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = VPMEM_LOCK_SPAN;
    return fcntl(fd, F_OFD_SETLK, &fl);
}

/// Takes a classic POSIX lock on the one byte after the data range. It exists only so that
/// another process's F_GETLK can learn the holder's pid (OFD locks report pid -1).
static inline int vpmem_set_pid_beacon(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = VPMEM_LOCK_SPAN;
    fl.l_len = 1;
    return fcntl(fd, F_SETLK, &fl);
}

/// Is the data range locked by someone else? 1 if so, 0 if free, -1 with errno.
static inline int vpmem_lock_is_held(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = VPMEM_LOCK_SPAN;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
    return fl.l_type != F_UNLCK;
}

/// The pid holding the beacon byte, 0 if none (or only this process), -1 with errno.
static inline int vpmem_pid_beacon_holder(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = VPMEM_LOCK_SPAN;
    fl.l_len = 1;
    if (fcntl(fd, F_GETLK, &fl) != 0) return -1;
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}
#endif
