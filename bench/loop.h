/* SPDX-License-Identifier: MIT */
/* The timed loops bench programs share. Each loop is one kind of work. The
 * slices of several loops are taken in turn, the order rotating every
 * round: on a shared machine the load changes from one second to the next,
 * and loops run one after the other would measure the neighbours as much
 * as the code. Header-only: each bench program is one source file. */
#ifndef SVCID_BENCH_LOOP_H
#define SVCID_BENCH_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double clock_seconds(clockid_t id) {
        struct timespec ts;

        if (clock_gettime(id, &ts) < 0) {
                perror("clock_gettime");
                exit(EXIT_FAILURE);
        }
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* One timed kind of work: what is done (run exits the program if it
 * fails), how often, in how much wall and CPU time. */
struct loop {
        void (*run)(const void *arg);
        const void *arg;
        uint64_t n;
        double wall, cpu;
};

/* slice seconds of l, the clock read every 16 operations. */
static inline void run_slice(struct loop *l, double slice) {
        double w0 = clock_seconds(CLOCK_MONOTONIC), c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);

        do {
                for (int i = 0; i < 16; i++)
                        l->run(l->arg);
                l->n += 16;
        } while (clock_seconds(CLOCK_MONOTONIC) - w0 < slice);
        l->wall += clock_seconds(CLOCK_MONOTONIC) - w0;
        l->cpu += clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

/* seconds of each of the n loops, in rounds slices taken in turn. */
static inline void run_interleaved(struct loop *const *loops, size_t n, int rounds, double seconds) {
        for (int round = 0; round < rounds; round++)
                for (size_t i = 0; i < n; i++)
                        run_slice(loops[((size_t) round + i) % n], seconds / rounds);
}

#endif
