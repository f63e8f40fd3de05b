/* lock.h -- one process at a time in a directory (a training run's out_dir). */
#ifndef NG_LOCK_H
#define NG_LOCK_H
/* Takes dir/lock (flock, held until ng_dir_unlock or the process ends, so a killed run never
 * leaves a stale lock) and writes this process's pid into it. Returns the file descriptor, or
 * -1 with "DIR: in use by another run (pid N) ..." when another process holds it. */
int ng_dir_lock(const char *dir, const char *what);
void ng_dir_unlock(int fd);
/* Removes DIR's files named PREFIX<pid> whose process is gone (a save killed half-way); a live
 * process's temporary is never touched. */
void ng_remove_dead_tmp(const char *dir, const char *prefix);
#endif
