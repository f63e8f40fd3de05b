/* fileguard.c -- opening input files without blocking on special files */
#include "base/fileguard.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char *kind_of(mode_t mode) {
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a plain file";
}

int ng_open_regular(const char *path, struct stat *st_out) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return ng_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return ng_fail("%s: cannot stat: %s", path, strerror(e)); }
    if (!S_ISREG(st.st_mode)) { close(fd); return ng_fail("%s: is %s, not a regular file", path, kind_of(st.st_mode)); }
    char c;
    if (st.st_size == 0 && pread(fd, &c, 1, 0) == 1) {
        close(fd);
        return ng_fail("%s: reports a size of 0 bytes but has content (a /proc or /sys file?): copy it to a regular file first", path);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno; close(fd);
        return ng_fail("%s: cannot open: %s", path, strerror(e));
    }
    if (st_out) *st_out = st;
    return fd;
}

FILE *ng_fopen_regular(const char *path) {
    int fd = ng_open_regular(path, NULL);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) { int e = errno; close(fd); ng_fail("%s: cannot open: %s", path, strerror(e)); }
    return f;
}
