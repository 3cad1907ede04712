/* SPDX-License-Identifier: MIT */
/* The monotonic clock, in the units its callers count in. */
#ifndef SVCID_COMMON_CLOCK_H
#define SVCID_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC, for deadlines and intervals. */
static inline int64_t now_monotonic_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t now_monotonic_ms(void) {
        return now_monotonic_ns() / 1000000;
}

#endif
