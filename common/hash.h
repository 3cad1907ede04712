/* SPDX-License-Identifier: MIT */
/* FNV-1a, 64 bits: a hash for tables and change stamps, not for secrets. */
#ifndef SVCID_COMMON_HASH_H
#define SVCID_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 0xcbf29ce484222325ULL

/* h, from FNV1A_INIT or an earlier call, with len bytes of data mixed in. */
static inline uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
        const unsigned char *p = data;

        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

#endif
