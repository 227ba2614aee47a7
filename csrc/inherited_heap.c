/* Releasing the heap init and the session agent inherit from the supervisor (inherited_heap.h). */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inherited_heap.h"

static unsigned long heap_start;

void inherited_heap_note(unsigned long start_brk)
{
	heap_start = start_brk;
}

unsigned long inherited_heap_end(void)
{
	long end = syscall(SYS_brk, 0);

	return end > 0 ? (unsigned long)end : 0;
}

void inherited_heap_drop(unsigned long end)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long start;

	if (!end)
		end = inherited_heap_end();
	if (!heap_start || page <= 0)
		return;
	/* rounded up: a start_brk within the data segment's last page leaves that page alone */
	start = (heap_start + (unsigned long)page - 1) & ~((unsigned long)page - 1);
	if (end > start)
		munmap((void *)start, end - start);
	heap_start = 0;
}

/* Raw reads and no allocation: the caller may be a copy of a process that had threads. */
void inherited_heap_retitle(const char *title)
{
	char buf[1024];
	unsigned long v[5] = { 0 }; /* fields 47-51 */
	size_t tlen = strlen(title) + 1;
	ssize_t len;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 2;
	char *p;

	prctl(PR_SET_NAME, title, 0, 0, 0);
	if (fd < 0)
		return;
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = 0;
	p = strrchr(buf, ')'); /* field 2, the name, may hold spaces and parentheses */
	if (!p)
		return;
	/* fields 47-51: start_brk arg_start arg_end env_start env_end (proc(5)) */
	for (p++; *p && field < 51; ) {
		while (*p == ' ')
			p++;
		field++;
		if (field >= 47) {
			unsigned long x = 0;

			for (; *p >= '0' && *p <= '9'; p++)
				x = x * 10 + (unsigned long)(*p - '0');
			v[field - 47] = x;
		}
		while (*p && *p != ' ')
			p++;
	}
	if (field < 51)
		return;
	inherited_heap_note(v[0]);
	if (v[1] >= v[2] || v[3] > v[4] || v[2] - v[1] < tlen)
		return;
	memset((void *)v[1], 0, v[2] - v[1]);
	memset((void *)v[3], 0, v[4] - v[3]);
	memcpy((void *)v[1], title, tlen);
	/* A non-NUL last byte makes the kernel read the title up to its first NUL (as after
	 * setproctitle), so cmdline is the title alone rather than followed by the zeroed rest. */
	if (v[2] - v[1] > tlen)
		*(char *)(v[2] - 1) = ' ';
}
