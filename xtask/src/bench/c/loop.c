/* The C reference of `cargo xtask bench`: the calls netcopy's workload makes per message, and
 * the writes into the message it makes (the sequence number; twocopy's serialization), and
 * nothing else, built with `cc -O2` by the bench (xtask/src/bench/cprogs.rs).
 *
 *   loop twocopy|onecopy SIZE SECONDS [SENDER_CPU RECEIVER_CPU]
 *
 * A sender thread and a receiver thread over TCP on loopback, one connection. The message
 * is 8 separately allocated fields of SIZE/8 bytes. twocopy: the sender copies the fields
 * into one buffer and send()s it; the receiver recv()s into one buffer and copies it back
 * into the fields. onecopy: sendmsg()/recvmsg() with an 8-entry iovec over the fields.
 * Partial calls are continued where they stopped. With the two CPUs, each thread is pinned
 * to its own, as `netcopy run --cpu-affinity S,R` pins its ends. Prints one JSON object: bytes received
 * in the window, seconds, Gbit/s, send and receive calls, the messages the sender sent with
 * the CPU time its thread used (the bench's at-once row compares CPU per message), and the
 * number in the last message received. The sender numbers its messages as netcopy does. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FIELDS 8

static int twocopy;
static size_t size, field;
static atomic_int stop;
static unsigned long long send_calls, recv_calls, send_msgs, send_cpu_ns;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned long long thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void pin(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set))
        die("pthread_setaffinity_np");
}

static int sender_cpu = -1;

static char **fields_new(void) {
    char **f = malloc(FIELDS * sizeof *f);
    for (int i = 0; i < FIELDS; i++) {
        f[i] = malloc(field);
        memset(f[i], 'a' + i, field);
    }
    return f;
}

/* The iovecs of `f` from byte `done` of the message on. */
static int iov_from(char **f, size_t done, struct iovec *iov) {
    int n = 0;
    for (int i = 0; i < FIELDS; i++) {
        if (done >= field) {
            done -= field;
            continue;
        }
        iov[n].iov_base = f[i] + done;
        iov[n].iov_len = field - done;
        done = 0;
        n++;
    }
    return n;
}

/* Number the message as netcopy does (its Message::set_seq): the sequence number, from 1,
 * little-endian in the message's first 8 bytes, across fields shorter than that. Writing
 * into the message just before the call costs netcopy's onecopy sender about 1% per message
 * at 1K, so the reference does it too (docs/methodology.md, "Both at once"). */
static void set_seq(char **f, unsigned long long seq) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(seq >> (8 * i));
    size_t at = 0;
    for (int i = 0; i < FIELDS && at < 8; i++) {
        size_t n = 8 - at < field ? 8 - at : field;
        memcpy(f[i], b + at, n);
        at += n;
    }
}

/* The number in the message's first 8 bytes. */
static unsigned long long get_seq(char **f) {
    unsigned char b[8];
    size_t at = 0;
    for (int i = 0; i < FIELDS && at < 8; i++) {
        size_t n = 8 - at < field ? 8 - at : field;
        memcpy(b + at, f[i], n);
        at += n;
    }
    unsigned long long seq = 0;
    for (int i = 0; i < 8; i++)
        seq |= (unsigned long long)b[i] << (8 * i);
    return seq;
}

static void *sender(void *arg) {
    int fd = *(int *)arg;
    pin(sender_cpu);
    char **f = fields_new();
    char *buf = malloc(size);
    struct iovec iov[FIELDS];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        set_seq(f, send_msgs + 1);
        if (twocopy)
            for (int i = 0; i < FIELDS; i++)
                memcpy(buf + i * field, f[i], field);
        for (size_t done = 0; done < size;) {
            ssize_t n;
            if (twocopy) {
                n = send(fd, buf + done, size - done, MSG_NOSIGNAL);
            } else {
                struct msghdr m = {0};
                m.msg_iov = iov;
                m.msg_iovlen = iov_from(f, done, iov);
                n = sendmsg(fd, &m, MSG_NOSIGNAL);
            }
            send_calls++;
            if (n <= 0)
                goto out; /* the receiver closed: the run is over */
            done += n;
        }
        send_msgs++;
    }
    shutdown(fd, SHUT_WR);
out:
    send_cpu_ns = thread_cpu_ns();
    return NULL;
}

int main(int argc, char **argv) {
    if ((argc != 4 && argc != 6) || (strcmp(argv[1], "twocopy") && strcmp(argv[1], "onecopy"))) {
        fprintf(stderr, "usage: loop twocopy|onecopy SIZE SECONDS [SENDER_CPU RECEIVER_CPU]\n");
        return 2;
    }
    int receiver_cpu = -1;
    if (argc == 6) {
        sender_cpu = atoi(argv[4]);
        receiver_cpu = atoi(argv[5]);
    }
    twocopy = !strcmp(argv[1], "twocopy");
    size = strtoul(argv[2], NULL, 10);
    double seconds = atof(argv[3]);
    if (size < FIELDS || size % FIELDS || seconds <= 0) {
        fprintf(stderr, "loop: SIZE must be a multiple of 8, SECONDS > 0\n");
        return 2;
    }
    field = size / FIELDS;

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &alen))
        die("listen");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (void *)&a, sizeof a))
        die("connect");
    int r = accept(l, NULL, NULL);
    if (r < 0)
        die("accept");

    pin(receiver_cpu);
    pthread_t t;
    pthread_create(&t, NULL, sender, &c);
    char **f = fields_new();
    char *buf = malloc(size);
    struct iovec iov[FIELDS];
    unsigned long long bytes = 0;
    double start = now(), end = start + seconds;
    for (;;) {
        for (size_t done = 0; done < size;) {
            ssize_t n;
            if (twocopy) {
                n = recv(r, buf + done, size - done, 0);
            } else {
                struct msghdr m = {0};
                m.msg_iov = iov;
                m.msg_iovlen = iov_from(f, done, iov);
                n = recvmsg(r, &m, 0);
            }
            recv_calls++;
            if (n <= 0)
                die("recv");
            done += n;
        }
        if (twocopy)
            for (int i = 0; i < FIELDS; i++)
                memcpy(f[i], buf + i * field, field);
        bytes += size;
        if ((bytes / size) % 64 == 0 && now() >= end)
            break;
    }
    double secs = now() - start;
    atomic_store(&stop, 1);
    close(r);
    pthread_join(t, NULL);
    printf("{\"bytes\": %llu, \"seconds\": %.6f, \"gbps\": %.6f, \"send_calls\": %llu, "
           "\"recv_calls\": %llu, \"send_msgs\": %llu, \"send_cpu_ns\": %llu, \"last_seq\": %llu}\n",
           bytes, secs, bytes * 8 / secs / 1e9, send_calls, recv_calls, send_msgs, send_cpu_ns,
           bytes ? get_seq(f) : 0);
    return 0;
}
