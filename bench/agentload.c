/* SPDX-License-Identifier: MIT */
/* agentload SOCK THREADS SECONDS MODE: closed-loop load on svcid-agent's
 * GET /v1/token over its Unix socket, MODE "conn" (a connection per
 * request) or "keepalive". Prints "RATE P50_MS P99_MS ERRORS". Used by
 * bench/b_agent.sh; not a bench_* program of its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static int keepalive;
static volatile int stop;

typedef struct worker {
        pthread_t thread;
        double *lat;
        size_t n, cap;
        long errors;
} worker;

static double now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int connect_agent(void) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
        if (connect(fd, (struct sockaddr *) &a, sizeof a) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* One request and its whole response (by Content-Length); 0 if 200.
 * A connection used for one request says so (Connection: close), as an
 * HTTP client that will not reuse it should: the agent then closes it
 * right after the answer instead of waiting for a next request. A MUNGE
 * client's connection carries one request by protocol. */
static int request(int fd) {
        static const char req_keep[] = "GET /v1/token?aud=bench HTTP/1.1\r\nHost: localhost\r\n\r\n";
        static const char req_close[] =
                "GET /v1/token?aud=bench HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        const char *req = keepalive ? req_keep : req_close;
        size_t req_len = keepalive ? sizeof req_keep - 1 : sizeof req_close - 1;
        char buf[8192];
        size_t got = 0;

        if (write(fd, req, req_len) != (ssize_t) req_len)
                return -1;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;
                char *end, *cl;

                /* Wait in poll(), as libcurl (svcid token) and MUNGE's
                 * client do, not in read(): a reader blocked in read() on
                 * a Unix socket is also woken, for nothing, when the
                 * agent consumes the request and frees its send buffer
                 * space (poll's wait filters that event out), and that
                 * needless wake-up would be billed to the agent's recv. */
                if (poll(&pfd, 1, -1) < 0)
                        return -1;
                n = read(fd, buf + got, sizeof buf - 1 - got);
                if (n <= 0)
                        return -1;
                got += (size_t) n;
                buf[got] = '\0';
                end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                cl = strcasestr(buf, "\r\nContent-Length:");
                if (!cl)
                        return -1;
                if ((size_t) (end + 4 - buf) + strtoul(cl + 17, NULL, 10) <= got)
                        return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
        }
}

static void *run(void *arg) {
        worker *w = arg;
        int fd = -1;

        while (!stop) {
                double t = now();

                if (fd < 0)
                        fd = connect_agent();
                if (fd < 0 || request(fd) < 0) {
                        w->errors++;
                        if (fd >= 0)
                                close(fd);
                        fd = -1;
                        continue;
                }
                if (!keepalive) {
                        close(fd);
                        fd = -1;
                }
                if (w->n == w->cap) {
                        w->cap = w->cap ? w->cap * 2 : 65536;
                        w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
                        if (!w->lat)
                                abort();
                }
                w->lat[w->n++] = now() - t;
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        worker *w;
        double *all, t0, elapsed;
        size_t n = 0, k = 0;
        long errors = 0;
        int threads, seconds;

        if (argc != 5) {
                fprintf(stderr, "usage: agentload SOCK THREADS SECONDS conn|keepalive\n");
                return 2;
        }
        sock_path = argv[1];
        threads = atoi(argv[2]);
        seconds = atoi(argv[3]);
        keepalive = strcmp(argv[4], "keepalive") == 0;
        if (threads < 1 || threads > 1024 || seconds < 1)
                return 2;
        w = calloc((size_t) threads, sizeof *w);
        if (!w)
                return 1;
        t0 = now();
        for (int i = 0; i < threads; i++)
                pthread_create(&w[i].thread, NULL, run, &w[i]);
        sleep((unsigned) seconds);
        stop = 1;
        for (int i = 0; i < threads; i++) {
                pthread_join(w[i].thread, NULL);
                n += w[i].n;
                errors += w[i].errors;
        }
        elapsed = now() - t0;
        if (n == 0) {
                printf("0 0 0 %ld\n", errors);
                return 1;
        }
        all = malloc(n * sizeof *all);
        if (!all)
                return 1;
        for (int i = 0; i < threads; i++) {
                memcpy(all + k, w[i].lat, w[i].n * sizeof *all);
                k += w[i].n;
        }
        qsort(all, n, sizeof *all, cmp);
        printf("%.0f %.3f %.3f %ld\n", (double) n / elapsed, all[n / 2] * 1e3, all[(size_t) ((double) n * 0.99)] * 1e3, errors);
        return 0;
}
