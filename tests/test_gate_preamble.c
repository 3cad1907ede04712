/* SPDX-License-Identifier: MIT */
/*
 * gate/preamble.c: the line-mode preamble and the HTTP request head, the
 * two things svcid-gate parses from an untrusted client before anything
 * else. Each refusal case is a small change to an input first shown to be
 * accepted, so that a case cannot pass because its base was broken.
 * Then the other direction: how svcid connect tells the gate's refusal
 * line from the service's own output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../gate/preamble.c"

#define TOK "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"

static int line(const char *s, bool eof, gate_preamble *p) {
        return gate_line_parse(s, strlen(s), eof, p);
}

static int http(const char *s, bool eof, gate_preamble *p) {
        return gate_http_parse(s, strlen(s), eof, p);
}

static void assert_line_reason(const char *s, bool eof, svcid_reason want) {
        gate_preamble p;

        assert_int_equal(line(s, eof, &p), 1);
        assert_int_equal(p.reason, want);
        assert_non_null(p.detail);
}

static void assert_http_reason(const char *s, bool eof, svcid_reason want) {
        gate_preamble p;

        assert_int_equal(http(s, eof, &p), 1);
        assert_int_equal(p.reason, want);
        assert_non_null(p.detail);
}

/* The reason and the detail the audit log gives with it: refusals that
 * share a reason word still say apart what the client did. */
static void assert_line_detail(const char *s, bool eof, svcid_reason want, const char *detail) {
        gate_preamble p;

        assert_int_equal(line(s, eof, &p), 1);
        assert_int_equal(p.reason, want);
        assert_string_equal(p.detail, detail);
}

static void assert_http_detail(const char *s, bool eof, svcid_reason want, const char *detail) {
        gate_preamble p;

        assert_int_equal(http(s, eof, &p), 1);
        assert_int_equal(p.reason, want);
        assert_string_equal(p.detail, detail);
}

/* svcid connect at an http-mode gate: decided on the prefix alone, so
 * the refusal goes out before the line is complete. */
static void test_http_line_client(void **state) {
        gate_preamble p;

        (void) state;
        assert_http_reason("SVCID1 " TOK "\n", false, SVCID_MALFORMED);
        assert_http_reason("SVCID1 ", false, SVCID_MALFORMED);
        assert_int_equal(http("SVCID1 e", false, &p), 1);
        assert_string_equal(p.detail, "a line-mode preamble (SVCID1) at an http-mode gate");
        assert_int_equal(http("SVCID1", false, &p), 0);
        /* A method merely starting so is HTTP. */
        assert_http_reason("SVCID10 / HTTP/1.1\r\nHost: x\r\n\r\n", false, SVCID_NO_TOKEN);
}

static void test_line_ok(void **state) {
        const char *in = "SVCID1 " TOK "\nbinary\0after";
        gate_preamble p;

        (void) state;
        assert_int_equal(line(in, false, &p), 1);
        assert_int_equal(p.reason, SVCID_OK);
        assert_int_equal(p.token_off, 7);
        assert_int_equal(p.token_len, strlen(TOK));
        assert_memory_equal(in + p.token_off, TOK, strlen(TOK));
        /* Consumes up to and including '\n', not one byte more. */
        assert_int_equal(p.line_len, 7 + strlen(TOK) + 1);

        /* CRLF: the '\r' is not part of the token, but is consumed. */
        assert_int_equal(line("SVCID1 " TOK "\r\n", false, &p), 1);
        assert_int_equal(p.reason, SVCID_OK);
        assert_int_equal(p.token_len, strlen(TOK));
        assert_int_equal(p.line_len, 7 + strlen(TOK) + 2);
}

static void test_line_more(void **state) {
        gate_preamble p = { .reason = SVCID_INTERNAL_ERROR };

        (void) state;
        /* Every prefix of a good preamble waits for more. */
        const char *in = "SVCID1 " TOK;
        for (size_t n = 0; n <= strlen(in); n++)
                assert_int_equal(gate_line_parse(in, n, false, &p), 0);
        assert_int_equal(p.reason, SVCID_INTERNAL_ERROR);   /* untouched */
}

static void test_line_refused(void **state) {
        (void) state;
        /* Another protocol: decided on the first wrong byte. */
        assert_line_reason("G", false, SVCID_NO_TOKEN);
        assert_line_reason("GET / HTTP/1.1\r\n", false, SVCID_NO_TOKEN);
        assert_line_reason("svcid1 " TOK "\n", false, SVCID_NO_TOKEN);      /* case matters */
        assert_line_reason("SVCID2 " TOK "\n", false, SVCID_NO_TOKEN);
        assert_line_reason("SVCID1\t" TOK "\n", false, SVCID_NO_TOKEN);
        assert_line_reason("SVCID1\n", false, SVCID_NO_TOKEN);
        assert_line_reason(" SVCID1 " TOK "\n", false, SVCID_NO_TOKEN);
        assert_line_reason("\n", false, SVCID_NO_TOKEN);
        /* An empty token. */
        assert_line_reason("SVCID1 \n", false, SVCID_NO_TOKEN);
        assert_line_reason("SVCID1 \r\n", false, SVCID_NO_TOKEN);
        assert_line_detail("SVCID1 \n", false, SVCID_NO_TOKEN, "empty token");
        assert_line_detail("SVCID1\n", false, SVCID_NO_TOKEN, "no SVCID1 preamble");
        /* Closed early. */
        assert_line_reason("", true, SVCID_NO_TOKEN);
        assert_line_reason("SVC", true, SVCID_TRUNCATED);
        assert_line_reason("SVCID1 " TOK, true, SVCID_TRUNCATED);
        assert_line_reason("SVCID1 " TOK "\r", true, SVCID_TRUNCATED);
}

static void test_line_cap(void **state) {
        gate_preamble p;
        char *buf;

        (void) state;
        buf = malloc(GATE_LINE_MAX + 2);
        assert_non_null(buf);
        memcpy(buf, "SVCID1 ", 7);
        memset(buf + 7, 'A', GATE_LINE_MAX - 7 + 2);

        /* A token of exactly SVCID_TOKEN_MAX bytes plus CRLF still fits. */
        buf[7 + SVCID_TOKEN_MAX] = '\r';
        buf[7 + SVCID_TOKEN_MAX + 1] = '\n';
        assert_int_equal(gate_line_parse(buf, GATE_LINE_MAX, false, &p), 1);
        assert_int_equal(p.reason, SVCID_OK);
        assert_int_equal(p.token_len, SVCID_TOKEN_MAX);

        /* One byte more and no '\n' within the cap: too large, decided
         * without waiting for the rest. */
        buf[7 + SVCID_TOKEN_MAX] = 'A';
        buf[7 + SVCID_TOKEN_MAX + 1] = 'A';
        assert_int_equal(gate_line_parse(buf, GATE_LINE_MAX, false, &p), 1);
        assert_int_equal(p.reason, SVCID_TOO_LARGE);
        /* A '\n' past the cap does not rescue it. */
        buf[GATE_LINE_MAX] = '\n';
        assert_int_equal(gate_line_parse(buf, GATE_LINE_MAX + 1, false, &p), 1);
        assert_int_equal(p.reason, SVCID_TOO_LARGE);
        free(buf);
}

#define HEAD(auth) "GET /x HTTP/1.1\r\nHost: example\r\n" auth "Accept: */*\r\n\r\n"

static void test_http_ok(void **state) {
        const char *in = HEAD("Authorization: Bearer " TOK "\r\n") "body";
        gate_preamble p;

        (void) state;
        assert_int_equal(http(in, false, &p), 1);
        assert_int_equal(p.reason, SVCID_OK);
        assert_int_equal(p.token_len, strlen(TOK));
        assert_memory_equal(in + p.token_off, TOK, strlen(TOK));
        assert_int_equal(p.line_len, 0);   /* http mode consumes nothing */

        /* Case-insensitive name and scheme, optional whitespace around. */
        const char *variants[] = {
                HEAD("authorization: bearer " TOK "\r\n"),
                HEAD("AUTHORIZATION:BEARER " TOK "\r\n"),
                HEAD("Authorization: \t Bearer   " TOK " \t\r\n"),
                "GET / HTTP/1.1\r\nAuthorization: Bearer " TOK "\r\n\r\n",
        };
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
                assert_int_equal(http(variants[i], false, &p), 1);
                assert_int_equal(p.reason, SVCID_OK);
                assert_int_equal(p.token_len, strlen(TOK));
                assert_memory_equal(variants[i] + p.token_off, TOK, strlen(TOK));
        }
}

static void test_http_more(void **state) {
        const char *in = HEAD("Authorization: Bearer " TOK "\r\n");
        gate_preamble p;

        (void) state;
        for (size_t n = 0; n < strlen(in); n++)
                assert_int_equal(gate_http_parse(in, n, false, &p), 0);
        assert_int_equal(gate_http_parse(in, strlen(in), false, &p), 1);
}

static void test_http_refused(void **state) {
        (void) state;
        /* No token. */
        assert_http_reason(HEAD(""), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("Authorization: Basic dXNlcjpwYXNz\r\n"), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("Authorization: Bearer\r\n"), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("Authorization: Bearer   \r\n"), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("Authorization: Bearerx " TOK "\r\n"), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("X-Authorization: Bearer " TOK "\r\n"), false, SVCID_NO_TOKEN);
        assert_http_reason(HEAD("Authorizatio: Bearer " TOK "\r\n"), false, SVCID_NO_TOKEN);
        assert_http_detail(HEAD(""), false, SVCID_NO_TOKEN, "no Authorization header");
        assert_http_detail(HEAD("Authorization: Basic dXNlcjpwYXNz\r\n"), false, SVCID_NO_TOKEN,
                           "Authorization is not a Bearer token");
        /* The token in the body does not count. */
        assert_http_reason(HEAD("") "Authorization: Bearer " TOK "\r\n", false, SVCID_NO_TOKEN);
        /* Two Authorization headers, whatever their schemes. */
        assert_http_reason(HEAD("Authorization: Bearer " TOK "\r\nAuthorization: Bearer " TOK "\r\n"),
                           false, SVCID_MALFORMED);
        assert_http_reason(HEAD("Authorization: Basic x\r\nAuthorization: Bearer " TOK "\r\n"),
                           false, SVCID_MALFORMED);
        assert_http_reason(HEAD("Authorization: Bearer " TOK "\r\nAuthorization: Basic x\r\n"),
                           false, SVCID_MALFORMED);
        /* Smuggling shapes: folding, bare LF, bare CR, NUL, space before
         * the colon, a token with a space. */
        assert_http_reason(HEAD("X-Pad: a\r\n Authorization: Bearer " TOK "\r\n"), false, SVCID_MALFORMED);
        assert_http_detail(HEAD("X-Pad: a\r\n\tAuthorization: Bearer " TOK "\r\n"), false, SVCID_MALFORMED,
                           "folded or empty header line");
        assert_http_reason(HEAD("X-Pad: a\nAuthorization: Bearer " TOK "\r\n"), false, SVCID_MALFORMED);
        assert_http_reason(HEAD("X-Pad: a\rAuthorization: Bearer " TOK "\r\n"), false, SVCID_MALFORMED);
        assert_http_reason(HEAD("Authorization : Bearer " TOK "\r\n"), false, SVCID_MALFORMED);
        assert_http_reason(HEAD(": Bearer " TOK "\r\n"), false, SVCID_MALFORMED);
        {
                /* A header name is an RFC 9110 token: none of the
                 * delimiters, no DEL, no byte outside ASCII. */
                const char *bad = "\"(),/;<=>?@[\\]{}\x7f\x80";
                char head[256];

                for (const char *c = bad; *c; c++) {
                        snprintf(head, sizeof head, HEAD("X%cAuthorization: Bearer " TOK "\r\n"), *c);
                        assert_http_detail(head, false, SVCID_MALFORMED, "bad header name");
                }
        }
        assert_http_reason(HEAD("NoColon\r\n"), false, SVCID_MALFORMED);
        assert_http_reason(HEAD("Authorization: Bearer abc def\r\n"), false, SVCID_MALFORMED);
        assert_http_reason(HEAD("Authorization: Bearer abc\tdef\r\n"), false, SVCID_MALFORMED);
        assert_http_reason("\r\n\r\n", false, SVCID_MALFORMED);
        assert_http_reason(" GET / HTTP/1.1\r\nAuthorization: Bearer " TOK "\r\n\r\n", false, SVCID_MALFORMED);
        /* Closed early. */
        assert_http_reason("", true, SVCID_NO_TOKEN);
        assert_http_reason("GET / HTTP/1.1\r\nAuthorization: Bearer " TOK "\r\n", true, SVCID_TRUNCATED);
        /* LF-only line ends, a bare CR or a NUL in an unfinished head:
         * refused at once, not left to wait for a CRLFCRLF that an
         * LF-only client never sends. */
        assert_http_reason("GET / HTTP/1.1\nAuthorization: Bearer " TOK "\n\n", true, SVCID_MALFORMED);
        assert_http_reason("GET / HTTP/1.1\nAuthorization: Bearer " TOK "\n\n", false, SVCID_MALFORMED);
        assert_http_reason("GET / HTTP/1.1\n", false, SVCID_MALFORMED);
        assert_http_reason("\n", false, SVCID_MALFORMED);
        assert_http_reason("GET / HTTP/1.1\rX", false, SVCID_MALFORMED);
        {
                gate_preamble p;
                /* A NUL, given by length (strlen would stop at it). */
                assert_int_equal(gate_http_parse("GET / HTTP/1.1\r\nX: a\0b", 22, false, &p), 1);
                assert_int_equal(p.reason, SVCID_MALFORMED);
                /* A CR last may still get its LF. */
                assert_int_equal(gate_http_parse("GET / HTTP/1.1\r", 15, false, &p), 0);
                assert_int_equal(gate_http_parse("GET / HTTP/1.1\r\nX: a\r", 21, false, &p), 0);
        }
}

static void test_http_cap(void **state) {
        const char *pre = "GET / HTTP/1.1\r\nAuthorization: Bearer " TOK "\r\nX-Pad: ";
        size_t n = strlen(pre);
        gate_preamble p;
        char *buf;

        (void) state;
        buf = malloc(GATE_HEAD_MAX + 8);
        assert_non_null(buf);
        memcpy(buf, pre, n);
        memset(buf + n, 'a', GATE_HEAD_MAX + 8 - n);

        /* A head that ends exactly at the cap is judged. */
        memcpy(buf + GATE_HEAD_MAX - 4, "\r\n\r\n", 4);
        assert_int_equal(gate_http_parse(buf, GATE_HEAD_MAX, false, &p), 1);
        assert_int_equal(p.reason, SVCID_OK);
        /* One byte longer: too large, even though the token came early. */
        memset(buf + GATE_HEAD_MAX - 4, 'a', 4);
        memcpy(buf + GATE_HEAD_MAX - 3, "\r\n\r\n", 4);
        assert_int_equal(gate_http_parse(buf, GATE_HEAD_MAX, false, &p), 1);
        assert_int_equal(p.reason, SVCID_TOO_LARGE);
        assert_int_equal(gate_http_parse(buf, GATE_HEAD_MAX + 1, false, &p), 1);
        assert_int_equal(p.reason, SVCID_TOO_LARGE);
        free(buf);
}

/* ---- the gate's answer, as svcid connect reads it ---- */

static gate_reply judge(const char *s, bool eof, char *reason, size_t reason_len) {
        return gate_reply_judge(s, strlen(s), eof, reason, reason_len);
}

static void assert_refused(const char *s, bool eof, const char *want) {
        char reason[GATE_REFUSAL_LINE_MAX];

        assert_int_equal(judge(s, eof, reason, sizeof reason), GATE_REPLY_REFUSED);
        assert_string_equal(reason, want);
}

static void assert_service(const char *s, bool eof) {
        char reason[8] = "unset";

        assert_int_equal(judge(s, eof, reason, sizeof reason), GATE_REPLY_SERVICE);
        assert_string_equal(reason, "unset");   /* untouched */
}

static void test_reply_refused(void **state) {
        (void) state;
        assert_refused("SVCID1 ERR expired\n", false, "expired");
        /* what follows the line does not matter: the gate closes */
        assert_refused("SVCID1 ERR wrong_audience\ntrailing", false, "wrong_audience");
        /* a last line without its '\n' still counts once the gate has closed */
        assert_refused("SVCID1 ERR timeout", true, "timeout");
        assert_refused("SVCID1 ERR \n", false, "");
        /* the reason is shown on a terminal: nothing but printable ASCII */
        assert_refused("SVCID1 ERR a b\x1b[31m\r\n", false, "a?b?[31m?");
        assert_refused("SVCID1 ERR \xff\x7f\n", false, "??");
}

static void test_reply_reason_cut(void **state) {
        char reason[5] = "xxxx";

        (void) state;
        assert_int_equal(judge("SVCID1 ERR unknown_issuer\n", false, reason, sizeof reason), GATE_REPLY_REFUSED);
        assert_string_equal(reason, "unkn");
        assert_int_equal(judge("SVCID1 ERR x\n", false, reason, 1), GATE_REPLY_REFUSED);
        assert_string_equal(reason, "");
}

static void test_reply_more(void **state) {
        const char *line = "SVCID1 ERR expired\n";
        char reason[GATE_REFUSAL_LINE_MAX];

        (void) state;
        /* every proper prefix of a refusal line, as it may arrive */
        for (size_t n = 0; n < strlen(line); n++)
                assert_int_equal(gate_reply_judge(line, n, false, reason, sizeof reason), GATE_REPLY_UNDECIDED);
}

static void test_reply_service(void **state) {
        (void) state;
        /* decided by the first byte that cannot begin a refusal */
        assert_service("H", false);
        assert_service("SVCID1 OK\n", false);
        assert_service("SVCID1 ERX", false);
        assert_service("SVCID2", false);
        assert_service("svcid1 err expired\n", false);
        assert_service("\nSVCID1 ERR expired\n", false);
        /* a line that ends before the prefix does */
        assert_service("SVCID1 ERR\n", false);
        assert_service("SVCID1\n", false);
        /* the service closed before a whole prefix: its output, however short */
        assert_service("SVCID1 ER", true);
        assert_service("", true);
}

static void test_reply_cap(void **state) {
        char buf[GATE_REFUSAL_LINE_MAX + 1], reason[GATE_REFUSAL_LINE_MAX];

        (void) state;
        /* the longest refusal line, then one byte longer */
        memset(buf, 'r', sizeof buf);
        memcpy(buf, GATE_REFUSAL_PREFIX, GATE_REFUSAL_PREFIX_LEN);
        buf[GATE_REFUSAL_LINE_MAX - 1] = '\n';
        assert_int_equal(gate_reply_judge(buf, GATE_REFUSAL_LINE_MAX, false, reason, sizeof reason),
                         GATE_REPLY_REFUSED);
        assert_int_equal(strlen(reason), GATE_REFUSAL_LINE_MAX - 1 - GATE_REFUSAL_PREFIX_LEN);
        buf[GATE_REFUSAL_LINE_MAX - 1] = 'r';
        buf[GATE_REFUSAL_LINE_MAX] = '\n';
        assert_int_equal(gate_reply_judge(buf, GATE_REFUSAL_LINE_MAX - 1, false, reason, sizeof reason),
                         GATE_REPLY_UNDECIDED);
        /* a full hold-back buffer with no '\n' is never undecided */
        assert_int_equal(gate_reply_judge(buf, GATE_REFUSAL_LINE_MAX, false, reason, sizeof reason),
                         GATE_REPLY_SERVICE);
        assert_int_equal(gate_reply_judge(buf, GATE_REFUSAL_LINE_MAX + 1, false, reason, sizeof reason),
                         GATE_REPLY_SERVICE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_line_ok),
                cmocka_unit_test(test_http_line_client),
                cmocka_unit_test(test_line_more),
                cmocka_unit_test(test_line_refused),
                cmocka_unit_test(test_line_cap),
                cmocka_unit_test(test_http_ok),
                cmocka_unit_test(test_http_more),
                cmocka_unit_test(test_http_refused),
                cmocka_unit_test(test_http_cap),
                cmocka_unit_test(test_reply_refused),
                cmocka_unit_test(test_reply_reason_cut),
                cmocka_unit_test(test_reply_more),
                cmocka_unit_test(test_reply_service),
                cmocka_unit_test(test_reply_cap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
