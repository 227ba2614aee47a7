/* TIOCSTI attack for the specs.
 *
 *   tiocsti inject       inside a sandbox: push "id\n" into the terminal on fd 0 with TIOCSTI and
 *                        print what happened ("isatty: yes", "ctty: yes|no", "TIOCSTI: ok|<error>").
 *   tiocsti host CMD...  on the host: run CMD in a new session whose controlling terminal is a fresh
 *                        pty on fds 0-2, print CMD's terminal output, then "injected: N" — the number
 *                        of bytes that reached the terminal's input queue, i.e. what the caller's shell
 *                        would have read and run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

static int inject(void)
{
	const char *s = "id\n";

	printf("isatty: %s\n", isatty(0) ? "yes" : "no");
	printf("ctty: %s\n", tcgetsid(0) < 0 ? "no" : "yes");
	for (; *s; s++)
		if (ioctl(0, TIOCSTI, s) < 0) {
			printf("TIOCSTI: %s\n", strerror(errno));
			return 1;
		}
	printf("TIOCSTI: ok\n");
	return 0;
}

static int host(char **argv)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), slave, status;
	struct termios t;
	char buf[4096];
	ssize_t n, injected = 0;
	pid_t pid;

	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return perror("openpt"), 2;
	slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (slave < 0 || tcgetattr(slave, &t) < 0)
		return perror("open slave"), 2;
	cfmakeraw(&t); /* every injected byte becomes readable at once, and is not echoed */
	tcsetattr(slave, TCSANOW, &t);
	pid = fork();
	if (pid == 0) {
		int fd;

		setsid();
		fd = open(ptsname(master), O_RDWR); /* the session leader's first tty: its controlling terminal */
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
			_exit(3);
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		if (fd > 2)
			close(fd);
		close(master);
		close(slave);
		execvp(argv[0], argv);
		_exit(127);
	}
	fputs("output: ", stdout);
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };

		if (poll(&p, 1, 200) > 0 && (n = read(master, buf, sizeof buf)) > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	while ((n = read(slave, buf, sizeof buf)) > 0)
		injected += n;
	printf("\nstatus: %d\ninjected: %zd\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       injected);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 2 && strcmp(argv[1], "inject") == 0)
		return inject();
	if (argc >= 3 && strcmp(argv[1], "host") == 0)
		return host(argv + 2);
	fprintf(stderr, "usage: tiocsti inject | tiocsti host CMD...\n");
	return 2;
}
