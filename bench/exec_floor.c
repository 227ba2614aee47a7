/* make bench's floor for `purple exec`: `exec_floor PROG ARG...` vforks PROG, waits for it and exits
 * with its status. It is the least a command exec'd into a running session costs: two process
 * starts (a client that needs no C library, as bin/purple, and the command), no sandbox work and
 * no messages. Built without a C library (x86-64; elsewhere make bench leaves the row out). */
#if !defined(__x86_64__)
#error "bench/exec_floor.c: x86-64 only"
#endif

static long sys4(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

_Noreturn void start_main(long *sp); /* called by _start below */
__attribute__((used)) _Noreturn void start_main(long *sp)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1;
	long pid;
	int st = 127 << 8;

	/* vfork and execve in one block: the child shares this stack until it execs */
	__asm__ volatile("mov $58, %%eax\n\tsyscall\n\ttest %%rax, %%rax\n\tjnz 1f\n\t"
			 "mov $59, %%eax\n\tmov %1, %%rdi\n\tmov %2, %%rsi\n\tmov %3, %%rdx\n\tsyscall\n\t"
			 "mov $60, %%eax\n\tmov $127, %%edi\n\tsyscall\n1:"
			 : "=&a"(pid)
			 : "r"(argv[1]), "r"(argv + 1), "r"(envp)
			 : "rcx", "r11", "rdi", "rsi", "rdx", "memory");
	if (sp[0] > 1 && pid > 0)
		sys4(61, pid, (long)&st, 0, 0); /* wait4 */
	for (;;)
		sys4(231, (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff, 0, 0, 0); /* exit_group */
}

__asm__(".text\n.global _start\n_start:\n\txor %rbp, %rbp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_main\n\thlt\n");
