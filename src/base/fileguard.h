/* fileguard.h -- the one way input files are opened: never blocks, and says what a file that
 * cannot be read as data is. */
#ifndef NG_FILEGUARD_H
#define NG_FILEGUARD_H
#include <stdio.h>
#include <sys/stat.h>
/* Opens path read-only with O_NONBLOCK (a FIFO without a writer, a terminal or a device never
 * hangs the open), fstat()s it, and refuses anything but a regular file, naming what it is
 * ("PATH: is a FIFO (named pipe), not a regular file"); also a regular file whose size reads 0
 * but that has content (/proc, /sys: mmap and size checks would see an empty file). Returns the
 * descriptor (blocking again, close-on-exec) with *st filled (st may be NULL), or -1 with the
 * error set. */
int ng_open_regular(const char *path, struct stat *st);
/* the same as a stdio stream ("rb") */
FILE *ng_fopen_regular(const char *path);
#endif
