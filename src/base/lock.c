/* lock.c -- the out_dir lock and the temporaries of processes that are gone */
#include "base/lock.h"
#include "base/util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int ng_dir_lock(const char *dir, const char *what) {
    char path[1100];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path) return ng_fail("%s: path too long", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return ng_fail("%s: cannot create: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK) return ng_fail("%s: cannot lock: %s", path, strerror(e));
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (pid > 0)
            return ng_fail("%s: in use by another %s (pid %ld); wait for it to end or use another out_dir", dir, what, pid);
        return ng_fail("%s: in use by another %s; wait for it to end or use another out_dir", dir, what);
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return ng_fail("%s: cannot write: %s", path, strerror(e));
    }
    return fd;
}

void ng_dir_unlock(int fd) {
    if (fd >= 0) close(fd);            /* the lock file stays: removing it would race a new run */
}

void ng_remove_dead_tmp(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t np = strlen(prefix);
    struct dirent *e;
    char path[1200];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, np) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + np, &end, 10);
        if (*end || end == e->d_name + np) continue;
        if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue;   /* its owner runs */
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    closedir(d);
}
