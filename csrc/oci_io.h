/* The file descriptor work of purple-oci's lifecycle (lua/purple/oci/lifecycle.lua): the start FIFO
 * between `create` and `start` and the engine's console socket (init opens the terminal: spawn.c, open_pty). */
#ifndef PURPLE_OCI_IO_H
#define PURPLE_OCI_IO_H

/* Creates the FIFO path (mode 0600) and opens it read-write, close-on-exec: init reads the byte
 * `start` writes (a read-write open neither blocks nor ever sees EOF). The fd, or -errno. */
int oci_fifo_open(const char *path);
/* `start`: writes one byte to the FIFO without blocking. 0, -ENXIO when nobody waits on it, or -errno. */
int oci_fifo_signal(const char *path);
/* Sends fd over the unix stream socket at path (the engine's --console-socket). 0 or -errno. */
int oci_console_send(const char *path, int fd);

#endif
