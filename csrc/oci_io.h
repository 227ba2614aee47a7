/* The file descriptor work of purple-oci's lifecycle (lua/purple/oci/lifecycle.lua): the start FIFO
 * between `create` and `start` and the engine's console socket (init opens the terminal: spawn.c, open_pty). */
#ifndef PURPLE_OCI_IO_H
#define PURPLE_OCI_IO_H

#include <sys/types.h>

/* Creates the FIFO path (mode 0600) and opens it read-write, close-on-exec: init reads the byte
 * `start` writes (a read-write open neither blocks nor ever sees EOF). The fd, or -errno. */
int oci_fifo_open(const char *path);
/* `start`: writes one byte to the FIFO without blocking. 0, -ENXIO when nobody waits on it, or -errno. */
int oci_fifo_signal(const char *path);
/* `start` with startContainer hooks: init writes "0" (the process runs) or why not to the result FIFO
 * at path (which it holds open read-write: spawn_cfg.start_result_fd) and closes it. Opened before
 * the start byte is written, so what init writes is kept even if init is quick. The fd, or -errno. */
int oci_fifo_result_open(const char *path);
/* Reads fd until init closes its end, into buf (NUL-terminated; "" when init ended without a word),
 * and closes fd. The bytes read, or -errno. */
ssize_t oci_fifo_result_read(int fd, char *buf, size_t n);
/* Opens (creating, mode 0600) the lock file at path and takes an exclusive flock on it, waiting for
 * another purple-oci that holds it: state.json's read-modify-write by concurrent `exec`s. The fd (closing
 * it unlocks), or -errno. */
int oci_lock(const char *path);
/* Sends fd over the unix stream socket at path (the engine's --console-socket). 0 or -errno. */
int oci_console_send(const char *path, int fd);

#endif
