/* syscall_loop NR COUNT [ARG...]: makes syscall NR COUNT times and prints the mean ns per call
 * (CLOCK_MONOTONIC). bench/seccomp.lua runs it on the host and inside sandboxes with different
 * filters; the difference is the filter's cost per call. The result is not checked: a denied call
 * costs the round trip to purple's supervisor, which is what that row measures. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	long nr, count, a[6] = { 0 };
	struct timespec t0, t1;

	if (argc < 3) {
		fprintf(stderr, "usage: syscall_loop NR COUNT [ARG...]\n");
		return 2;
	}
	nr = strtol(argv[1], NULL, 0);
	count = strtol(argv[2], NULL, 0);
	for (int i = 3; i < argc && i < 9; i++)
		a[i - 3] = (long)strtoull(argv[i], NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++)
		syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.1f\n", ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)count);
	return 0;
}
