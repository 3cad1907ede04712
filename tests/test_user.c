/* SPDX-License-Identifier: MIT */
/*
 * common/user.c: id_unmapped(), which the agent asks of every caller's uid
 * and gid and the gate of every --peer-uid peer. Run where every id maps
 * (the initial user namespace), as the tests are: the overflow id is then
 * nobody's own, however many descriptors are free when it is asked.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/user.h"

/* The overflow id (gid or uid), and whether every id maps here. */
static unsigned long read_overflow(bool gid) {
        unsigned long id = 0;
        FILE *f = fopen(gid ? "/proc/sys/kernel/overflowgid" : "/proc/sys/kernel/overflowuid", "re");

        assert_non_null(f);
        assert_int_equal(fscanf(f, "%lu", &id), 1);
        fclose(f);
        return id;
}

static bool every_id_maps(bool gid) {
        unsigned long inside, outside, count, total = 0;
        FILE *f = fopen(gid ? "/proc/self/gid_map" : "/proc/self/uid_map", "re");

        assert_non_null(f);
        while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
                total += count;
        fclose(f);
        return total >= UINT32_MAX;
}

static void test_initial_namespace(void **state) {
        (void) state;
        if (!every_id_maps(false) || !every_id_maps(true))
                skip();
        for (int gid = 0; gid <= 1; gid++) {
                unsigned long overflow = read_overflow(gid);

                assert_false(id_unmapped(0, gid));
                assert_false(id_unmapped(overflow + 1, gid));
                assert_false(id_unmapped(overflow, gid));
        }
}

/* Out of descriptors, as an agent under a flood of connections may be: a
 * caller in the nogroup group is still nobody in particular, not refused
 * as unmapped. */
static void test_no_free_descriptor(void **state) {
        unsigned long overflow[2] = { read_overflow(false), read_overflow(true) };
        struct rlimit saved, none;
        bool unmapped[2];
        int lowest;

        (void) state;
        if (!every_id_maps(false) || !every_id_maps(true))
                skip();
        /* asked once with descriptors to spare */
        assert_false(id_unmapped(overflow[0], false));
        assert_false(id_unmapped(overflow[1], true));
        /* then with none: every descriptor from the lowest free one on is
         * over the limit */
        lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(lowest >= 0);
        close(lowest);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        none = saved;
        none.rlim_cur = (rlim_t) lowest;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
        unmapped[0] = id_unmapped(overflow[0], false);
        unmapped[1] = id_unmapped(overflow[1], true);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        assert_false(unmapped[0]);
        assert_false(unmapped[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_initial_namespace),
                cmocka_unit_test(test_no_free_descriptor),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
