/* privcheck: prints the privilege state of a process, one of its threads and a forked child,
 * for the capability specs. Each line: "WHO Field: value" for CapInh, CapPrm, CapEff, CapBnd,
 * CapAmb, NoNewPrivs and Seccomp from /proc/thread-self/status, then "WHO uid R E" and
 * "WHO setuid0 ok|errno" (an attempt to become root). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static void show(const char *who)
{
	static const char *const fields[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
					      "NoNewPrivs:", "Seccomp:", NULL };
	char line[256];
	FILE *f = fopen("/proc/thread-self/status", "r");

	if (!f) {
		printf("%s status: %s\n", who, strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f))
		for (int i = 0; fields[i]; i++)
			if (strncmp(line, fields[i], strlen(fields[i])) == 0) {
				char *v = line + strlen(fields[i]);

				v += strspn(v, " \t");
				printf("%s %s %s", who, fields[i], v);
			}
	fclose(f);
	printf("%s uid %d %d\n", who, (int)getuid(), (int)geteuid());
	printf("%s setuid0 %s\n", who, setuid(0) == 0 ? "ok" : strerrorname_np(errno));
	fflush(stdout);
}

static void *thread_main(void *unused)
{
	show("thread");
	return NULL;
}

int main(void)
{
	pthread_t t;
	pid_t pid;

	show("main");
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	pid = fork();
	if (pid == 0) {
		show("child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
