/* resource_hog: uses one resource on purpose, for the resources specs.
 *   resource_hog mem BYTES          allocate and touch BYTES, print "allocated BYTES", exit 0
 *   resource_hog spin CPU_SECONDS   busy loop until the process has used CPU_SECONDS of CPU time
 *   resource_hog forkbomb           every process forks forever; the first prints "contained"
 *                                   once a fork fails with EAGAIN, then all keep trying
 *   resource_hog dwrite PATH BYTES  write BYTES with O_DIRECT in 256K blocks, print "BYTES SECONDS"
 *   resource_hog dread PATH         read PATH with O_DIRECT in 256K blocks, print "BYTES SECONDS" */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define BLOCK (256 * 1024)

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "mem") == 0) {
		size_t n = strtoull(argv[2], NULL, 0);
		char *p = malloc(n);
		if (!p) {
			perror("malloc");
			return 1;
		}
		for (size_t i = 0; i < n; i += 4096)
			p[i] = 1;
		printf("allocated %zu\n", n);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "spin") == 0) {
		double want = atof(argv[2]);
		volatile unsigned long x = 0;
		while (now(CLOCK_PROCESS_CPUTIME_ID) < want)
			for (int i = 0; i < 100000; i++)
				x++;
		printf("spun %.3f\n", now(CLOCK_PROCESS_CPUTIME_ID));
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "forkbomb") == 0) {
		pid_t first = getpid();
		int told = 0;
		setvbuf(stdout, NULL, _IONBF, 0);
		for (;;) {
			pid_t p = fork();
			if (p < 0) {
				if (errno == EAGAIN && getpid() == first && !told) {
					printf("contained\n");
					told = 1;
				}
				usleep(10000);
			}
		}
	}
	if (argc >= 4 && strcmp(argv[1], "dwrite") == 0) {
		long long n = atoll(argv[3]), done = 0;
		void *buf;
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
		if (fd < 0 || posix_memalign(&buf, 4096, BLOCK)) {
			perror("open");
			return 1;
		}
		memset(buf, 'x', BLOCK);
		double t0 = now(CLOCK_MONOTONIC);
		while (done < n) {
			ssize_t w = write(fd, buf, BLOCK);
			if (w < 0) {
				perror("write");
				return 1;
			}
			done += w;
		}
		printf("%lld %.3f\n", done, now(CLOCK_MONOTONIC) - t0);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "dread") == 0) {
		long long done = 0;
		void *buf;
		ssize_t r;
		int fd = open(argv[2], O_RDONLY | O_DIRECT);
		if (fd < 0 || posix_memalign(&buf, 4096, BLOCK)) {
			perror("open");
			return 1;
		}
		double t0 = now(CLOCK_MONOTONIC);
		while ((r = read(fd, buf, BLOCK)) > 0)
			done += r;
		printf("%lld %.3f\n", done, now(CLOCK_MONOTONIC) - t0);
		return r < 0;
	}
	fprintf(stderr, "usage: resource_hog mem BYTES | spin SECONDS | forkbomb | dwrite PATH BYTES | dread PATH\n");
	return 2;
}
