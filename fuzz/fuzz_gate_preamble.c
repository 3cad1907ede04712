/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what svcid-gate parses from an untrusted client:
 * the line-mode preamble and the HTTP request head. The first input byte
 * picks the mode and whether the client has closed; the rest is what the
 * client sent. Besides memory safety it checks the parsers' promises:
 * the token span lies inside the input (and inside the line; in http mode
 * it holds no space or CR — in line mode the verifier judges those), a line is
 * never consumed past its '\n', an http token lies inside the head, a
 * capped input is always decided, eof only decides what was undecided,
 * and what a prefix of the bytes decides is what the whole decides: the
 * gate acts on the first decision, made on what has arrived so far. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../gate/preamble.c"

static int parse(int mode, const char *buf, size_t len, bool eof, gate_preamble *p) {
        size_t cap = mode ? GATE_HEAD_MAX : GATE_LINE_MAX;

        if (len > cap)
                len = cap;
        return mode ? gate_http_parse(buf, len, eof, p) : gate_line_parse(buf, len, eof, p);
}

/* Two decisions are the same: reason, and for a token where it is. */
static void assert_same(const gate_preamble *a, const gate_preamble *b) {
        assert(a->reason == b->reason);
        if (a->reason == SVCID_OK)
                assert(a->token_off == b->token_off && a->token_len == b->token_len &&
                       a->line_len == b->line_len);
}

static int check(int mode, const char *buf, size_t len, bool eof, gate_preamble *ret) {
        gate_preamble p;
        size_t cap = mode ? GATE_HEAD_MAX : GATE_LINE_MAX;
        int r;

        if (len > cap)
                len = cap;
        r = parse(mode, buf, len, eof, &p);
        assert(r == 0 || r == 1);
        if (len >= cap || eof)
                assert(r == 1);
        if (r == 0)
                return 0;
        if (ret)
                *ret = p;
        if (!eof) {
                /* eof only decides what more bytes could have */
                gate_preamble q;
                assert(parse(mode, buf, len, true, &q) == 1);
                assert_same(&p, &q);
        }
        if (p.reason == SVCID_OK) {
                assert(p.token_len > 0);
                assert(p.token_off + p.token_len <= len);
                assert(!memchr(buf + p.token_off, '\n', p.token_len));
                if (mode == 0) {
                        assert(p.line_len <= len);
                        assert(buf[p.line_len - 1] == '\n');
                        assert(!memchr(buf, '\n', p.line_len - 1));
                        assert(p.token_off + p.token_len < p.line_len);
                        assert(memcmp(buf, GATE_LINE_PREFIX, GATE_LINE_PREFIX_LEN) == 0);
                } else {
                        const char *end = memmem(buf, len, "\r\n\r\n", 4);

                        assert(p.line_len == 0);
                        assert(!memchr(buf + p.token_off, '\r', p.token_len));
                        assert(!memchr(buf + p.token_off, ' ', p.token_len));
                        /* in the head, not in a body or a pipelined request */
                        assert(end && p.token_off + p.token_len <= (size_t) (end - buf));
                }
        } else {
                assert(p.detail != NULL);
                assert(p.reason == SVCID_NO_TOKEN || p.reason == SVCID_TRUNCATED ||
                       p.reason == SVCID_TOO_LARGE || p.reason == SVCID_MALFORMED);
        }
        return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        gate_preamble whole;
        bool eof, decided = true;
        char *buf;
        int mode;

        if (size < 1)
                return 0;
        mode = data[0] & 1;
        eof = (data[0] & 2) != 0;
        size--;
        /* An exact-size copy, so that ASan sees any read past the end. */
        buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size);
        check(mode, buf, size, eof, NULL);
        /* The same bytes as they might arrive: a prefix is undecided, or
         * decided as the whole is (the whole as it stands before eof). */
        if (check(mode, buf, size, false, &whole) == 0)
                decided = false;
        if (size <= 64)
                for (size_t n = 0; n < size; n++) {
                        gate_preamble part;

                        if (check(mode, buf, n, false, &part)) {
                                assert(decided);
                                assert_same(&part, &whole);
                        }
                }
        free(buf);
        return 0;
}
