/* Releasing the heap init and the session agent inherit from the supervisor (inherited_heap.h). */
#include <sys/mman.h>
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
