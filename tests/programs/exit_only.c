/* A program whose only system call is exit_group(0): no libc, no start-up code. Recording it shows exactly what a
 * recorder or a runtime adds around a workload. Built with -nostdlib -static. */
void _start(void) {
#if defined(__x86_64__)
    __asm__ volatile("mov $231, %eax\n\txor %edi, %edi\n\tsyscall");
#elif defined(__aarch64__)
    __asm__ volatile("mov x8, #94\n\tmov x0, #0\n\tsvc #0");
#else
#error "exit_only.c: add this architecture's exit_group"
#endif
    for (;;) {
    }
}
