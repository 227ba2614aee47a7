/* rawsys: makes one raw system call, for the seccomp specs.
 *
 *   rawsys NR [ARG...]      syscall(NR, ARG...); an ARG is a number (0x.. allowed, -1 too) or "buf"
 *                           (a pointer to 4 KiB of zeroes). Prints "ok N" or "errno NAME".
 *   rawsys x32 NR           the x32 ABI: NR | 0x40000000 through the syscall instruction
 *   rawsys int80 NR         the i386 ABI: int $0x80 with eax = NR
 *   rawsys thread NR ...    the same call from a second thread
 *   rawsys sigsys NR ...    with a SIGSYS handler installed first (prints "caught SIGSYS" if it runs) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static char buf[4096];
static long nr, a[6];

static void parse(int argc, char **argv)
{
	nr = strtol(argv[0], NULL, 0);
	for (int i = 1; i < argc && i <= 6; i++)
		a[i - 1] = strcmp(argv[i], "buf") == 0 ? (long)buf : (long)strtoull(argv[i], NULL, 0);
}

static void report(long r)
{
	if (r == -1)
		printf("errno %s\n", strerrorname_np(errno));
	else if (r < 0 && r > -4096) /* the raw ABI helpers return -errno */
		printf("errno %s\n", strerrorname_np((int)-r));
	else
		printf("ok %ld\n", r);
	fflush(stdout);
}

static void *call(void *unused)
{
	report(syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
	return NULL;
}

static long raw_x32(long n)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(n | 0x40000000L) : "rcx", "r11", "memory");
	return r;
}

static long raw_int80(long n)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(n) : "memory");
	return r;
}

static void on_sigsys(int sig)
{
	static const char m[] = "caught SIGSYS\n";

	(void)!write(1, m, sizeof m - 1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rawsys [x32|int80|thread|sigsys] NR [ARG...]\n");
		return 2;
	}
	if (strcmp(argv[1], "x32") == 0 && argc == 3) {
		report(raw_x32(strtol(argv[2], NULL, 0)));
		return 0;
	}
	if (strcmp(argv[1], "int80") == 0 && argc == 3) {
		report(raw_int80(strtol(argv[2], NULL, 0)));
		return 0;
	}
	if (strcmp(argv[1], "thread") == 0 && argc >= 3) {
		pthread_t t;

		parse(argc - 2, argv + 2);
		pthread_create(&t, NULL, call, NULL);
		pthread_join(t, NULL);
		return 0;
	}
	if (strcmp(argv[1], "sigsys") == 0 && argc >= 3) {
		signal(SIGSYS, on_sigsys);
		parse(argc - 2, argv + 2);
		call(NULL);
		return 0;
	}
	parse(argc - 1, argv + 1);
	call(NULL);
	return 0;
}
