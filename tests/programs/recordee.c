/* A workload for the recorder tests. Each mode makes one system call that nothing else in the program (nor glibc's
 * start-up) makes, from a different kind of task, so a test can tell which tasks were recorded:
 *   tree     main thread: times; a second thread: getpriority; a forked child: getsid; that child's exec of this
 *            program (mode "grandchild"): sched_getscheduler
 *   orphan   the main process exits first; its grandchild, re-parented, calls sched_getscheduler only after that
 *   compat   a 32-bit call from this 64-bit program: `int 0x80` with eax = 199, x86's getuid32 (x86_64 only)
 *   mseal    mseal(2) (462 on x86_64, Linux 6.10), a syscall libseccomp 2.5.4 cannot name
 *   burst N  getppid N times, as fast as it can
 * With --also-mkdir as the last argument it then calls mkdir, which no recorded run makes, and prints its errno.
 * Exit status 0 when every call of the mode succeeded (the mkdir result is only printed). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(const char *what, long result) {
    if (result < 0) {
        printf("%s failed: %s\n", what, strerror(errno));
        failures++;
    } else {
        printf("%s ok\n", what);
    }
}

static void *thread_main(void *arg) {
    (void)arg;
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    check("thread getpriority", prio == -1 && errno ? -1 : 0);
    return NULL;
}

static int tree(void) {
    struct tms t;
    check("main times", (long)times(&t));
    pthread_t thread;
    if (pthread_create(&thread, NULL, thread_main, NULL) != 0) {
        printf("pthread_create failed\n");
        return 1;
    }
    pthread_join(thread, NULL);
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        check("fork", -1);
        return 1;
    }
    if (child == 0) {
        check("child getsid", getsid(0));
        fflush(stdout);
        char *argv[] = {"recordee", "grandchild", NULL};
        execv("/proc/self/exe", argv);
        check("child exec", -1);
        _exit(1);
    }
    int status = 0;
    check("wait child", waitpid(child, &status, 0));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
    return 0;
}

static int orphan(void) {
    int fds[2];
    check("pipe", pipe(fds));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0) {
            char byte;
            close(fds[1]);
            /* EOF once the main process (the last holder of the write end) has exited */
            while (read(fds[0], &byte, 1) > 0) {
            }
            check("orphan sched_getscheduler", sched_getscheduler(0));
            _exit(failures ? 1 : 0);
        }
        _exit(0);
    }
    check("wait child", waitpid(child, NULL, 0));
    return 0;
}

static int compat(void) {
#if defined(__x86_64__)
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "a"(199) : "memory");
    if (result < 0) errno = -result;
    check("int 0x80 getuid32", result < 0 ? -1 : 0);
    if (result >= 0 && result != (long)getuid()) {
        printf("getuid32 returned %ld, getuid %d\n", result, (int)getuid());
        failures++;
    }
    return 0;
#else
    printf("compat: not an x86_64 build\n");
    return 2;
#endif
}

static int do_mseal(void) {
    void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mmap", page == MAP_FAILED ? -1 : 0);
    check("mseal", syscall(462, page, 4096, 0));
    return 0;
}

static int burst(long count) {
    for (long i = 0; i < count; i++) syscall(SYS_getppid);
    printf("burst %ld done\n", count);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "tree";
    int also_mkdir = argc > 2 && strcmp(argv[argc - 1], "--also-mkdir") == 0;
    int rc = 0;
    if (strcmp(mode, "tree") == 0) rc = tree();
    else if (strcmp(mode, "grandchild") == 0) check("grandchild sched_getscheduler", sched_getscheduler(0));
    else if (strcmp(mode, "orphan") == 0) rc = orphan();
    else if (strcmp(mode, "compat") == 0) rc = compat();
    else if (strcmp(mode, "mseal") == 0) rc = do_mseal();
    else if (strcmp(mode, "burst") == 0 && argc > 2) rc = burst(atol(argv[2]));
    else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    if (also_mkdir) {
        errno = 0;
        int result = mkdir("/tmp/never-recorded", 0700);
        printf("mkdir: %s\n", result == 0 ? "made" : strerror(errno));
    }
    fflush(stdout);
    return rc ? rc : (failures ? 1 : 0);
}
