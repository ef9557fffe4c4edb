/* The neighbour of `cargo xtask bench`: a process making millions of syscalls that netcopy
 * never traces (getpid), to measure what hooking raw_syscalls costs every other process.
 *
 *   getpid SECONDS
 *
 * Prints the getpid calls per second it made. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc == 2 ? atof(argv[1]) : 0;
    if (seconds <= 0) {
        fprintf(stderr, "usage: getpid SECONDS\n");
        return 2;
    }
    unsigned long long calls = 0;
    double start = now(), elapsed;
    do {
        for (int i = 0; i < 10000; i++)
            syscall(SYS_getpid);
        calls += 10000;
        elapsed = now() - start;
    } while (elapsed < seconds);
    printf("%.0f\n", calls / elapsed);
    return 0;
}
