/* Init and the session agent are copies of the supervisor: they inherit its heap (the Lua state,
 * most of a MiB), shared copy-on-write at first but copied page by page as the supervisor's
 * collector writes to it, so each idle session held about 0.9 MiB of a heap neither process
 * uses once it runs. They unmap it (inherited_heap.c) when they are done with it: after that they
 * must not malloc (neither does: they are copies of a process that may have had threads). */
#ifndef PURPLE_INHERITED_HEAP_H
#define PURPLE_INHERITED_HEAP_H

/* The start of the brk heap (start_brk, /proc/PID/stat field 47), read by init before it changes
 * root; 0 = unknown (nothing will be unmapped). */
void inherited_heap_note(unsigned long start_brk);

/* Names this copy title (its comm, and its /proc/PID/cmdline, whose area and environ's are zeroed:
 * init's must not show purple's host command line inside the sandbox) and notes the heap's start
 * from the same /proc/self/stat line (inherited_heap_note). No allocation. */
void inherited_heap_retitle(const char *title);

/* The heap's current end (brk(0)), for a caller that drops it later under a filter that may deny brk. */
unsigned long inherited_heap_end(void);

/* Unmaps [start_brk, end) (end 0: the current brk). Nothing allocated by malloc may be used after. */
void inherited_heap_drop(unsigned long end);

#endif
