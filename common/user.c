/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cleanup.h"
#include "user.h"

int lookup_user_uid(const char *name, uid_t *ret_uid) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        int r = getpwnam_r(name, &pw, buf, sizeof buf, &res);

        if (r != 0)
                return -r;
        if (!res)
                return 0;
        *ret_uid = res->pw_uid;
        return 1;
}

int lookup_svcid_uid(uid_t *ret_uid) {
        return lookup_user_uid(SVCID_USER, ret_uid) > 0 ? 0 : -ENOENT;
}

/* The overflow id the kernel gives for an id it cannot map, read once:
 * the agent asks on every request, and a sysctl that changes it while a
 * process runs is no setup anyone keeps. */
static unsigned long overflow_id(bool gid) {
        static unsigned long known[2];  /* the id + 1, 0 while unread (atomic) */
        unsigned long id = __atomic_load_n(&known[gid], __ATOMIC_RELAXED);
        _cleanup_(fclosep) FILE *f = NULL;

        if (id)
                return id - 1;
        f = fopen(gid ? "/proc/sys/kernel/overflowgid" : "/proc/sys/kernel/overflowuid", "re");
        if (!f || fscanf(f, "%lu", &id) != 1)
                return 65534;   /* the kernel's default; asked again next time */
        __atomic_store_n(&known[gid], id + 1, __ATOMIC_RELAXED);
        return id;
}

/* Whether this process's user namespace maps every id (the initial
 * namespace: "0 0 4294967295"), read once as the overflow id is: a map,
 * once written, never changes, and the answer must not turn on a free
 * descriptor (a caller with the overflow gid, nogroup's, asks on every
 * request). Where it cannot tell (the map unreadable), not every id maps,
 * and it asks again next time. */
static bool all_mapped(bool gid) {
        static int known[2];            /* 1 every id maps, 2 not, 0 while unread (atomic) */
        int v = __atomic_load_n(&known[gid], __ATOMIC_RELAXED);
        _cleanup_(fclosep) FILE *f = NULL;
        unsigned long inside, outside, count, total = 0;

        if (v)
                return v == 1;
        f = fopen(gid ? "/proc/self/gid_map" : "/proc/self/uid_map", "re");
        if (!f)
                return false;           /* cannot tell: not an id to name anyone by */
        while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
                total += count;
        if (ferror(f))
                return false;
        /* Every id maps: the kernel never needs the overflow id, which is
         * then nobody's own. */
        v = total >= UINT32_MAX ? 1 : 2;
        __atomic_store_n(&known[gid], v, __ATOMIC_RELAXED);
        return v == 1;
}

bool id_unmapped(unsigned long id, bool gid) {
        return id == overflow_id(gid) && !all_mapped(gid);
}
