/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what svcid-gate parses from an untrusted client:
 * the line-mode preamble and the HTTP request head. The first input byte
 * picks the mode and whether the client has closed; the rest is what the
 * client sent. Besides memory safety it checks the parsers' promises:
 * the token span lies inside the input (and inside the line; in http mode
 * it holds no space or CR — in line mode the verifier judges those), a line is
 * never consumed past its '\n', a capped input is always decided, and an
 * undecided prefix stays consistent with the decision on the whole. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../gate/preamble.c"

static void check(int mode, const char *buf, size_t len, bool eof) {
        gate_preamble p;
        size_t cap = mode ? GATE_HEAD_MAX : GATE_LINE_MAX;
        int r;

        if (len > cap)
                len = cap;
        r = mode ? gate_http_parse(buf, len, eof, &p) : gate_line_parse(buf, len, eof, &p);
        assert(r == 0 || r == 1);
        if (len >= cap || eof)
                assert(r == 1);
        if (r == 0)
                return;
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
                        assert(p.line_len == 0);
                        assert(!memchr(buf + p.token_off, '\r', p.token_len));
                        assert(!memchr(buf + p.token_off, ' ', p.token_len));
                }
        } else {
                assert(p.detail != NULL);
                assert(p.reason == SVCID_NO_TOKEN || p.reason == SVCID_TRUNCATED ||
                       p.reason == SVCID_TOO_LARGE || p.reason == SVCID_MALFORMED);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf;
        int mode;
        bool eof;

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
        check(mode, buf, size, eof);
        /* The same bytes as they might arrive: every prefix, undecided
         * unless the whole is decided the same way or later. */
        if (size <= 64)
                for (size_t n = 0; n < size; n++)
                        check(mode, buf, n, false);
        free(buf);
        return 0;
}
