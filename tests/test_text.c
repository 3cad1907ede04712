/* SPDX-License-Identifier: MIT */
/*
 * common/text.c: the one rule for making untrusted text printable, in its
 * two forms (copy_printable() for text quoted in a log line, lib_sanitize()
 * keeping '"' and '\\' for libsvcid's report), the rule for a value fit
 * for the environment, and the one for a name (audience, issuer, subject).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../common/text.h"

static void test_copy_printable(void **state) {
        char buf[16];

        (void) state;
        copy_printable(buf, sizeof buf, "a\"b\\c\td\x7f\xc3\xa9");
        assert_string_equal(buf, "a?b?c?d???");
        copy_printable(buf, sizeof buf, NULL);
        assert_string_equal(buf, "");
        /* A cut is marked; the copy fills the buffer. */
        copy_printable(buf, sizeof buf, "0123456789abcdefgh");
        assert_string_equal(buf, "0123456789ab...");
        copy_printable(buf, sizeof buf, "0123456789abcde");
        assert_string_equal(buf, "0123456789abcde");
        /* Too small for the marker: cut bare. */
        copy_printable(buf, 4, "abcdef");
        assert_string_equal(buf, "abc");
        buf[0] = 'x';
        copy_printable(buf, 0, "abc");
        assert_int_equal(buf[0], 'x');
}

static void test_copy_printable_n(void **state) {
        char buf[16];

        (void) state;
        /* The report's rule keeps quotes; a NUL within len is a byte too. */
        copy_printable_n(buf, sizeof buf, "a\"b\\c\0d\ne", 9, true);
        assert_string_equal(buf, "a\"b\\c?d?e");
        copy_printable_n(buf, sizeof buf, "a\"b\\c\0d\ne", 9, false);
        assert_string_equal(buf, "a?b?c?d?e");
        copy_printable_n(buf, sizeof buf, "abcdef", 3, false);
        assert_string_equal(buf, "abc");
        copy_printable_n(buf, sizeof buf, NULL, 5, true);
        assert_string_equal(buf, "");
        copy_printable_n(buf, sizeof buf, "0123456789abcdefgh", 18, true);
        assert_string_equal(buf, "0123456789ab...");
        /* In place, as lib/client.c does with its messages. */
        strcpy(buf, "x\x1b[31my\"");
        copy_printable_n(buf, sizeof buf, buf, strlen(buf), true);
        assert_string_equal(buf, "x?[31my\"");
}

static void test_env_value_ok(void **state) {
        (void) state;
        assert_true(env_value_ok(""));
        assert_true(env_value_ok("build-x.service"));
        assert_true(env_value_ok("z\xc3\xab" "e \"q\" \\"));
        assert_false(env_value_ok("eve\nSVCID_UID=0"));
        assert_false(env_value_ok("a\tb"));
        assert_false(env_value_ok("j\x7fk"));
}

static void test_name_ok(void **state) {
        char name[258];

        (void) state;
        assert_true(name_ok("svcid://ci.example"));
        assert_true(name_ok("a"));
        assert_false(name_ok(NULL));
        assert_false(name_ok(""));
        assert_false(name_ok("a b"));
        assert_false(name_ok("a\tb"));
        assert_false(name_ok("a\x7f"));
        assert_false(name_ok("z\xc3\xab"));
        /* 1 to 255 bytes. */
        memset(name, 'n', sizeof name);
        name[255] = '\0';
        assert_true(name_ok(name));
        name[255] = 'n';
        name[256] = '\0';
        assert_false(name_ok(name));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_copy_printable),
                cmocka_unit_test(test_copy_printable_n),
                cmocka_unit_test(test_env_value_ok),
                cmocka_unit_test(test_name_ok),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
