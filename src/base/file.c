/* file.c -- files: read a whole one, map one read-only, write one atomically (temporary file,
 * fsync, rename, fsync of the directory), create directories. Every file the program reads or
 * writes goes through these, so their checks and messages are the same everywhere. */
#define _FILE_OFFSET_BITS 64
#include "base/util.h"
#include "base/fileguard.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

char *ng_read_file(const char *path, size_t *size) {
    struct stat st;
    int fd = ng_open_regular(path, &st);          /* a FIFO, a device, /proc: named, never waited on */
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); ng_fail("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) { fclose(f); ng_fail("%s: out of memory reading %zu bytes", path, n); return NULL; }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) { free(buf); ng_fail("%s: read error", path); return NULL; }
    buf[n] = 0;
    if (size) *size = n;
    return buf;
}

int ng_file_map(NgFileMap *fm, const char *path, int advice) {
    memset(fm, 0, sizeof *fm);
    struct stat st;
    int fd = ng_open_regular(path, &st);          /* a FIFO, a device, /proc: named, never waited on */
    if (fd < 0) return -1;
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) { close(fd); return ng_fail("%s: too large to map", path); }
    size_t size = (size_t)st.st_size;
    if (size > 0) {                             /* an empty file maps to nothing: callers say "too short" */
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ng_fail("%s: cannot map %zu bytes: %s", path, size, strerror(e));
        }
        madvise(p, size, advice);
        fm->data = p;
    }
    close(fd);                                  /* the mapping keeps the file */
    fm->size = size;
    return 0;
}

void ng_file_unmap(NgFileMap *fm) {
    if (fm->data) munmap(fm->data, fm->size);
    memset(fm, 0, sizeof *fm);
}

/* f->tmp[0] != 0 while a temporary file exists (being written, or finished and not yet
 * renamed); f->fd >= 0 while it is open */
int ng_atomic_open(NgAtomicFile *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path
        || snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof f->tmp) {
        f->tmp[0] = 0;
        return ng_fail("%s: path too long", path);
    }
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int rc = ng_fail("%s: cannot create %s: %s (the previous file is untouched)", path, f->tmp, strerror(errno));
        f->tmp[0] = 0;
        return rc;
    }
    return 0;
}

/* the error of a failed step; the temporary file goes, the previous file stays */
static int atomic_fail(NgAtomicFile *f, const char *step, int e) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = 0;
    return ng_fail("%s: %s failed: %s (the previous file is untouched)", f->path, step, strerror(e));
}

int ng_atomic_write(NgAtomicFile *f, const void *data, size_t n) {
    if (f->fd < 0) return ng_fail("%s: internal: written after it was finished or failed", f->path);
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(f->fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return atomic_fail(f, "write", k < 0 ? errno : EIO);
        p += k; n -= (size_t)k;
    }
    return 0;
}

void ng_atomic_abort(NgAtomicFile *f) {
    if (f->tmp[0]) {                  /* (so a zeroed NgAtomicFile is nothing to abort) */
        if (f->fd >= 0) close(f->fd);
        unlink(f->tmp);
    }
    f->fd = -1;
    f->tmp[0] = 0;
}

/* fsync the directory holding path so the rename itself is durable. Only a real I/O error
 * counts; filesystems that cannot fsync a directory (EINVAL) are fine. */
static int fsync_parent_dir(const char *path) {
    char dir[NG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) slash[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    int rc = fsync(fd) != 0 && errno == EIO ? -1 : 0;
    close(fd);
    return rc;
}

int ng_atomic_finish(NgAtomicFile *f) {
    if (f->fd < 0) return f->tmp[0] ? 0 : ng_fail("%s: internal: finished after it failed", f->path);
    if (fsync(f->fd) != 0) return atomic_fail(f, "fsync", errno);
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) return atomic_fail(f, "close", errno);
    return 0;
}

int ng_atomic_commit(NgAtomicFile *f) {
    if (ng_atomic_finish(f) != 0) return -1;
    if (rename(f->tmp, f->path) != 0) return atomic_fail(f, "rename", errno);
    f->tmp[0] = 0;
    if (fsync_parent_dir(f->path) < 0)
        return ng_fail("%s: fsync of the directory failed: %s (the new file is in place but may not be durable)", f->path, strerror(EIO));
    return 0;
}

int ng_write_file_atomic(const char *path, const void *data, size_t size) {
    NgAtomicFile f;
    if (ng_atomic_open(&f, path) != 0 || ng_atomic_write(&f, data, size) != 0) return -1;
    return ng_atomic_commit(&f);
}

int ng_mkdir_p(const char *dir) {
    char buf[NG_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return ng_fail("%s: path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return ng_fail("%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return ng_fail("%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return ng_fail("%s: not a directory", buf);
    return 0;
}
