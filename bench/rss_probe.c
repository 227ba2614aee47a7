/* Peak RSS, two ways (bench/memory.lua):
 *
 *   rss_probe LIB...          dlopens each LIB (RTLD_NOW, so every symbol is bound and its pages touched
 *                             as in real use), then exits; the caller reads wait4's ru_maxrss.
 *   rss_probe --peak CMD ARG...
 *                             runs CMD (stdout to /dev/null) under ptrace and prints its exact peak RSS
 *                             in KiB, then one "<mapping> <KiB>" line per mapping group at that peak.
 *
 * Why --peak: ru_maxrss comes from the kernel's high-water mark, which reads the mm's RSS counters
 * without folding their per-CPU deltas (up to ~31 pages per counter and CPU), so it runs 0-400 KiB
 * under the truth and moves from run to run. RSS only falls when memory is unmapped, so the exact
 * peak is the largest Rss of /proc/PID/smaps_rollup (a page-table walk) read at the entry of every
 * munmap, brk, mremap and madvise, and at exit. Only CMD itself is measured, not its children. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_GROUPS 64

struct group {
	char name[64];
	long kib;
};

static long rollup_rss(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Rss: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Rss per mapping, summed by file name (".so" and its version suffix folded) or [heap]/[stack]/[anon]. */
static int read_groups(pid_t pid, struct group *g)
{
	char path[64], line[512], cur[64] = "[anon]";
	int n = 0;
	long kib;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		int off = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) == 2 && off > 0) {
			char *name = line + off, *base, *so;

			name[strcspn(name, "\n")] = 0;
			base = strrchr(name, '/');
			snprintf(cur, sizeof cur, "%s", !*name ? "[anon]" : base ? base + 1 : name);
			if ((so = strstr(cur, ".so")))
				so[3] = 0;
		} else if (sscanf(line, "Rss: %ld", &kib) == 1 && kib > 0) {
			int i = 0;

			while (i < n && strcmp(g[i].name, cur) != 0)
				i++;
			if (i == n) {
				if (n == MAX_GROUPS)
					continue;
				snprintf(g[n].name, sizeof g[n].name, "%s", cur);
				g[n++].kib = 0;
			}
			g[i].kib += kib;
		}
	}
	fclose(f);
	return n;
}

static int peak(char **argv)
{
	struct group g[MAX_GROUPS];
	int ng = 0, st;
	long max = 0;
	pid_t pid = fork();

	if (pid < 0)
		return perror("rss_probe: fork"), 1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY); /* its output would mix with ours; stderr stays */

		if (null < 0 || dup2(null, 1) < 0)
			_exit(127);
		if (null != 1)
			close(null);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		execvp(argv[0], argv);
		fprintf(stderr, "rss_probe: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st) ||
	    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL) < 0)
		return perror("rss_probe: ptrace"), 1;
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	while (waitpid(pid, &st, __WALL) == pid) {
		int sig = 0, measure = 0;

		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			struct __ptrace_syscall_info si;

			if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof si, &si) > 0 &&
			    si.op == PTRACE_SYSCALL_INFO_ENTRY)
				measure = si.entry.nr == SYS_munmap || si.entry.nr == SYS_brk ||
					  si.entry.nr == SYS_mremap || si.entry.nr == SYS_madvise;
		} else if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			measure = 1;
		} else if (WSTOPSIG(st) != SIGTRAP && WSTOPSIG(st) != SIGSTOP) {
			sig = WSTOPSIG(st); /* deliver the command's own signals */
		}
		if (measure) {
			long rss = rollup_rss(pid);

			if (rss > max) {
				max = rss;
				ng = read_groups(pid, g);
			}
		}
		ptrace(PTRACE_SYSCALL, pid, 0, sig);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "rss_probe: %s did not exit with 0\n", argv[0]);
	printf("%ld\n", max);
	for (int i = 0; i < ng; i++)
		printf("%s %ld\n", g[i].name, g[i].kib);
	return !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--peak") == 0)
		return peak(argv + 2);
	for (int i = 1; i < argc; i++)
		if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) {
			fprintf(stderr, "rss_probe: %s\n", dlerror());
			return 1;
		}
	return 0;
}
