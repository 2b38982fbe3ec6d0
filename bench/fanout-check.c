/*
 * fanout-check: an independent check of what `pipehub-client load` reports, sharing no
 * code with it (Linux, C, no dependencies). docs/performance.md compares the load tool
 * with it; bench/check.sh builds and runs it.
 *
 *   fanout-check raw N SIZE MESSAGES [THREADS]
 *       The batched raw fan-out: a writer process accepts N Unix-socket connections
 *       and writes batches of BROADCAST frames (64 KiB at a time) to each socket in
 *       turn; THREADS receiver threads (default 2) of this process read 256 KiB blocks
 *       and count frames in place.
 *
 *   fanout-check hub ENDPOINT N SIZE MESSAGES [THREADS]
 *       A hub: N listeners and one publisher connect to the hub at ENDPOINT (a Unix
 *       socket); the publisher writes SEND frames in 64 KiB batches as fast as the hub
 *       takes them (the hub paces it by its listeners), the receivers count BROADCAST
 *       frames as above.
 *
 * Prints one line: mode, N, SIZE, MESSAGES, seconds, deliveries/s, and (hub) LAGGED
 * notices seen. Time runs from the first write of a message to the last frame received.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define BATCH_BYTES (64 * 1024)

struct conn {
    int fd;
    uint64_t frames;       /* BROADCAST frames counted */
    uint32_t have;         /* bytes of the partial frame in `part` */
    unsigned char part[8]; /* the first bytes of a partial frame: its length and type */
    uint64_t skip;         /* bytes of the current frame still to come */
    int type;              /* its type byte, or -1 until known */
};

static struct conn *conns;
static int n_conns, n_threads;
static uint64_t expected;
/* Measuring a hub (SEND frames to a publisher) rather than the raw fan-out. */
static int hub;
static volatile uint64_t lagged;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void put64(unsigned char *p, uint64_t v) {
    put32(p, v >> 32);
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void write_all(int fd, const unsigned char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Counts the frames in `len` bytes of connection `c`'s stream, in place. */
static void count(struct conn *c, const unsigned char *p, size_t len) {
    while (len > 0) {
        if (c->skip == 0) {
            /* At a frame start: collect the 5 bytes of length and type. */
            size_t take = 5 - c->have;
            if (take > len) take = len;
            memcpy(c->part + c->have, p, take);
            c->have += take;
            p += take;
            len -= take;
            if (c->have < 5) return;
            uint32_t flen = get32(c->part);
            int type = c->part[4];
            c->have = 0;
            if (type == 0x83) c->frames++;
            if (type == 0x85) __atomic_fetch_add(&lagged, 1, __ATOMIC_RELAXED);
            c->skip = flen - 1;
            if (c->skip == 0) continue;
        }
        size_t take = c->skip < len ? c->skip : len;
        c->skip -= take;
        p += take;
        len -= take;
    }
}

static void *receiver(void *arg) {
    long t = (long)arg;
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    int mine = 0;
    for (int i = (int)t; i < n_conns; i += n_threads) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
        mine++;
    }
    unsigned char *buf = malloc(READ_SIZE);
    struct epoll_event events[256];
    int done = 0;
    while (done < mine) {
        int ready = epoll_wait(ep, events, 256, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < ready; k++) {
            struct conn *c = &conns[events[k].data.u32];
            ssize_t n = read(c->fd, buf, READ_SIZE);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "connection %u closed after %llu frames\n",
                        events[k].data.u32, (unsigned long long)c->frames);
                exit(1);
            }
            uint64_t before = c->frames;
            count(c, buf, (size_t)n);
            if (before < expected && c->frames >= expected) {
                done++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    free(buf);
    return NULL;
}

static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    for (int tries = 0; connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0; tries++) {
        if (errno != EAGAIN || tries > 10000) die("connect");
        usleep(1000);
    }
    return fd;
}

/* Sends HELLO with `role` (1 listener, 2 publisher) and reads the 39-byte WELCOME. */
static void handshake(int fd, int role) {
    unsigned char hello[30] = {0};
    put32(hello, 26);
    hello[4] = 0x01;
    memcpy(hello + 5, "PHUB", 4);
    hello[9] = 0; hello[10] = 1;
    hello[11] = (unsigned char)role;
    write_all(fd, hello, sizeof hello);
    unsigned char welcome[39];
    size_t got = 0;
    while (got < sizeof welcome) {
        ssize_t n = read(fd, welcome + got, sizeof welcome - got);
        if (n <= 0) die("reading WELCOME");
        got += (size_t)n;
    }
    if (welcome[4] != 0x81) {
        fprintf(stderr, "expected WELCOME, got frame type 0x%02x\n", welcome[4]);
        exit(1);
    }
}

/* Writes MESSAGES frames in 64 KiB batches: BROADCASTs to each of the N sockets `fds`
 * in turn (the raw fan-out), or SENDs to the one publisher socket `fds[0]` (a hub). */
static void write_batches(int *fds, size_t size) {
    /* One batch of frames: BROADCASTs for the raw fan-out, SENDs for a hub. */
    size_t frame = hub ? 5 + size : 29 + size;
    size_t per_batch = BATCH_BYTES / frame;
    if (per_batch < 1) per_batch = 1;
    unsigned char *batch = calloc(per_batch, frame);
    for (size_t k = 0; k < per_batch; k++) {
        unsigned char *f = batch + k * frame;
        put32(f, (uint32_t)(frame - 4));
        f[4] = hub ? 0x02 : 0x83;
        if (!hub) put64(f + 5, k + 1);
    }

    int targets = hub ? 1 : n_conns;
    for (uint64_t sent = 0; sent < expected; sent += per_batch) {
        size_t n = expected - sent < per_batch ? (size_t)(expected - sent) : per_batch;
        for (int i = 0; i < targets; i++) write_all(fds[i], batch, n * frame);
    }
    free(batch);
}

int main(int argc, char **argv) {
    hub = argc >= 2 && strcmp(argv[1], "hub") == 0;
    int base = hub ? 3 : 2;
    if (argc < base + 3 || (!hub && strcmp(argv[1], "raw") != 0)) {
        fprintf(stderr, "usage: %s raw N SIZE MESSAGES [THREADS]\n"
                        "       %s hub ENDPOINT N SIZE MESSAGES [THREADS]\n", argv[0], argv[0]);
        return 2;
    }
    const char *endpoint = hub ? argv[2] : NULL;
    n_conns = atoi(argv[base]);
    size_t size = (size_t)atol(argv[base + 1]);
    expected = (uint64_t)atoll(argv[base + 2]);
    n_threads = argc > base + 3 ? atoi(argv[base + 3]) : 2;

    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    /* The raw fan-out's writer is a child process, so that each side holds N sockets. */
    char raw_path[108];
    int go[2] = {-1, -1};
    pid_t writer = -1;
    if (!hub) {
        snprintf(raw_path, sizeof raw_path, "/tmp/fanout-check-%d.sock", (int)getpid());
        unlink(raw_path);
        int listener = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        snprintf(addr.sun_path, sizeof addr.sun_path, "%s", raw_path);
        if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
            listen(listener, 4096) < 0 || pipe(go) < 0)
            die("raw fan-out socket");
        writer = fork();
        if (writer < 0) die("fork");
        if (writer == 0) {
            close(go[1]);
            int *fds = calloc((size_t)n_conns, sizeof *fds);
            for (int i = 0; i < n_conns; i++)
                if ((fds[i] = accept(listener, NULL, NULL)) < 0) die("accept");
            char byte;
            if (read(go[0], &byte, 1) != 1) _exit(1);
            write_batches(fds, size);
            _exit(0);
        }
        close(go[0]);
        close(listener);
        endpoint = raw_path;
    }
    conns = calloc((size_t)n_conns, sizeof *conns);
    int publisher = -1;
    for (int i = 0; i < n_conns; i++) {
        conns[i].fd = connect_unix(endpoint);
        if (hub) handshake(conns[i].fd, 1);
    }
    if (hub) {
        publisher = connect_unix(endpoint);
        handshake(publisher, 2);
        usleep(200 * 1000); /* let the hub settle its new listeners */
    } else {
        unlink(raw_path);
    }

    pthread_t threads[64];
    if (n_threads < 1 || n_threads > 64) n_threads = 2;
    double start = now();
    for (long t = 0; t < n_threads; t++) pthread_create(&threads[t], NULL, receiver, (void *)t);
    if (hub) {
        write_batches(&publisher, size);
    } else if (write(go[1], "g", 1) != 1) {
        die("starting the writer");
    }
    for (int t = 0; t < n_threads; t++) pthread_join(threads[t], NULL);
    double seconds = now() - start;
    if (!hub) waitpid(writer, NULL, 0);
    printf("%s N=%d S=%zu messages=%llu seconds=%.3f deliveries_per_s=%.0f lagged=%llu\n",
           hub ? "hub" : "raw", n_conns, size, (unsigned long long)expected, seconds,
           (double)n_conns * (double)expected / seconds, (unsigned long long)lagged);
    return 0;
}

