/* The benchmark's timer: starts commands with posix_spawn, times them with CLOCK_MONOTONIC and reaps
 * them with wait4 (for the direct child's peak RSS). bench/bench.lua and bench/soak.lua drive it.
 *
 *   runner alt ROUNDS WARMUP SPECFILE
 *       SPECFILE: one command a line, "label<TAB>arg0<TAB>arg1...". A label starting with '@' is a
 *       server: started once, it reads one line per run on stdin and answers one line on stdout
 *       (bench/exec_server.lua: purple.exec in one Lua process). Each round runs every command
 *       once, in file order (A B C ... A B C ...). Prints "round<TAB>label<TAB>ns<TAB>maxrss_kib<TAB>status".
 *   runner tput WORKERS SECONDS ARGV...
 *       WORKERS processes each run ARGV back to back until SECONDS have passed.
 *       Prints "runs<TAB>failures<TAB>elapsed_ns".
 *   runner seq COUNT spawn|server ARGV...
 *       COUNT runs one after another (spawn: a process each; server: requests to one server), as a
 *       child subreaper so that any process a run leaves behind is reparented here and counted.
 *       Prints "i<TAB>ns<TAB>maxrss_kib<TAB>status<TAB>orphans" for each run, then for a server
 *       "server<TAB>fds_before<TAB>fds_after<TAB>rss_kib_before<TAB>rss_kib_after". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

#define MAX_CMDS 64
#define MAX_ARGS 64

struct command {
	char *label;
	char *argv[MAX_ARGS + 1];
	int server;
	pid_t pid;   /* servers only */
	FILE *to, *from;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "runner: %s: %s\n", what, strerror(errno));
	exit(125);
}

/* One run of argv: wall time, the child's peak RSS (KiB) and its wait status. */
static int run_once(char *const argv[], int quiet, uint64_t *ns, long *maxrss)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	pid_t pid;
	int status, err;
	uint64_t t0;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	t0 = now_ns();
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		errno = err;
		die(argv[0]);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4");
	*ns = now_ns() - t0;
	*maxrss = ru.ru_maxrss;
	return status;
}

static void server_start(struct command *c)
{
	int in[2], out[2];
	posix_spawn_file_actions_t fa;
	int err;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	err = posix_spawn(&c->pid, c->argv[0], &fa, NULL, c->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		errno = err;
		die(c->argv[0]);
	}
	close(in[0]);
	close(out[1]);
	c->to = fdopen(in[1], "w");
	c->from = fdopen(out[0], "r");
	if (!c->to || !c->from)
		die("fdopen");
}

/* One request to a server: the answer line is the run's exit status. */
static int server_run(struct command *c, uint64_t *ns)
{
	char line[64];
	uint64_t t0 = now_ns();

	if (fputs("run\n", c->to) == EOF || fflush(c->to) == EOF || !fgets(line, sizeof line, c->from)) {
		fprintf(stderr, "runner: server %s stopped answering\n", c->label);
		exit(125);
	}
	*ns = now_ns() - t0;
	return atoi(line) << 8;
}

static long server_stop(struct command *c)
{
	struct rusage ru;
	int status;

	fclose(c->to);
	fclose(c->from);
	while (wait4(c->pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4 server");
	return ru.ru_maxrss;
}

static int read_spec(const char *path, struct command *cmds)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		die(path);
	while (getline(&line, &cap, f) > 0) {
		struct command *c = &cmds[n];
		char *save = NULL, *tok;
		int a = 0;

		line[strcspn(line, "\n")] = 0;
		if (!*line || *line == '#')
			continue;
		if (n == MAX_CMDS) {
			fprintf(stderr, "runner: too many commands\n");
			exit(125);
		}
		memset(c, 0, sizeof *c);
		c->label = strdup(strtok_r(line, "\t", &save));
		while ((tok = strtok_r(NULL, "\t", &save)) && a < MAX_ARGS)
			c->argv[a++] = strdup(tok);
		if (a == 0) {
			fprintf(stderr, "runner: %s: no command\n", c->label);
			exit(125);
		}
		c->server = c->label[0] == '@';
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static int cmd_alt(int rounds, int warmup, const char *specfile)
{
	static struct command cmds[MAX_CMDS];
	int n = read_spec(specfile, cmds);

	for (int i = 0; i < n; i++)
		if (cmds[i].server)
			server_start(&cmds[i]);
	for (int r = -warmup; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			uint64_t ns;
			long rss = 0;
			int st = cmds[i].server ? server_run(&cmds[i], &ns)
						: run_once(cmds[i].argv, 1, &ns, &rss);

			if (r >= 0)
				printf("%d\t%s\t%llu\t%ld\t%d\n", r, cmds[i].label, (unsigned long long)ns, rss,
				       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
	for (int i = 0; i < n; i++)
		if (cmds[i].server)
			printf("server\t%s\t%ld\n", cmds[i].label, server_stop(&cmds[i]));
	return 0;
}

static int cmd_tput(int workers, double seconds, char **argv)
{
	/* Counters in a shared page: workers add their totals when they stop. */
	long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t t0, deadline;

	if (shared == MAP_FAILED)
		die("mmap");
	memset(shared, 0, 4096);
	t0 = now_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	for (int w = 0; w < workers; w++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			long runs = 0, fails = 0;

			while (now_ns() < deadline) {
				uint64_t ns;
				long rss;

				if (run_once(argv, 1, &ns, &rss) != 0)
					fails++;
				runs++;
			}
			shared[2 * w] = runs;
			shared[2 * w + 1] = fails;
			_exit(0);
		}
	}
	for (int w = 0; w < workers; w++)
		while (wait(NULL) < 0 && errno == EINTR)
			;
	{
		long runs = 0, fails = 0;

		for (int w = 0; w < workers; w++)
			runs += shared[2 * w], fails += shared[2 * w + 1];
		printf("%ld\t%ld\t%llu\n", runs, fails, (unsigned long long)(now_ns() - t0));
	}
	return 0;
}

/* Reaps processes that were reparented to us (we are a subreaper); returns how many. */
static int reap_orphans(pid_t keep)
{
	int n = 0, status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0)
		if (p != keep)
			n++;
	return n;
}

static int count_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int cmd_seq(long count, const char *mode, char **argv)
{
	struct command srv = { .label = "server" };
	int server = strcmp(mode, "server") == 0;
	int fds0 = 0;
	long rss0 = 0;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		die("PR_SET_CHILD_SUBREAPER");
	if (server) {
		uint64_t ns;

		for (int i = 0; argv[i] && i < MAX_ARGS; i++)
			srv.argv[i] = argv[i];
		server_start(&srv);
		server_run(&srv, &ns); /* warm up before the first fd and memory reading */
		fds0 = count_fds(srv.pid);
		rss0 = rss_kib(srv.pid);
	}
	for (long i = 0; i < count; i++) {
		uint64_t ns;
		long rss = 0;
		int st = server ? server_run(&srv, &ns) : run_once(argv, 1, &ns, &rss);

		printf("%ld\t%llu\t%ld\t%d\t%d\n", i, (unsigned long long)ns, rss,
		       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), reap_orphans(srv.pid));
	}
	if (server) {
		int fds1 = count_fds(srv.pid);
		long rss1 = rss_kib(srv.pid);

		server_stop(&srv);
		printf("server\t%d\t%d\t%ld\t%ld\n", fds0, fds1, rss0, rss1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && strcmp(argv[1], "alt") == 0)
		return cmd_alt(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (argc >= 5 && strcmp(argv[1], "tput") == 0)
		return cmd_tput(atoi(argv[2]), atof(argv[3]), argv + 4);
	if (argc >= 5 && strcmp(argv[1], "seq") == 0)
		return cmd_seq(atol(argv[2]), argv[3], argv + 4);
	fprintf(stderr, "usage: runner alt ROUNDS WARMUP SPECFILE | tput WORKERS SECONDS ARGV... | "
			"seq COUNT spawn|server ARGV...\n");
	return 125;
}
