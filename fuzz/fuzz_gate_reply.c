/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what svcid connect parses from a gate it does not
 * trust (tcp:HOST:PORT may be anyone): the first bytes of the answer,
 * which are either the gate's refusal line or the service's own output.
 * The first input byte says whether the peer has closed and how long the
 * caller's reason buffer is; the rest is what arrived. Besides memory
 * safety it checks the judge's promises: a refusal starts with the
 * prefix and its reason is short, printable and NUL-terminated; nothing
 * is undecided once the hold-back buffer is full or the peer has closed;
 * and a decision made on a prefix of the bytes is the decision on all of
 * them, since svcid connect acts on the first one. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../gate/preamble.c"

static gate_reply check(const char *buf, size_t len, bool eof, size_t reason_len) {
        char reason[GATE_REFUSAL_LINE_MAX + 1];
        gate_reply r;

        /* svcid connect never offers more than its hold-back buffer */
        if (len > GATE_REFUSAL_LINE_MAX)
                len = GATE_REFUSAL_LINE_MAX;
        memset(reason, 'u', sizeof reason);
        r = gate_reply_judge(buf, len, eof, reason, reason_len);
        switch (r) {
        case GATE_REPLY_UNDECIDED:
                assert(!eof);
                assert(len < GATE_REFUSAL_LINE_MAX);
                assert(!memchr(buf, '\n', len));
                assert(reason[0] == 'u');
                break;
        case GATE_REPLY_SERVICE:
                assert(reason[0] == 'u');
                break;
        case GATE_REPLY_REFUSED:
                assert(len >= GATE_REFUSAL_PREFIX_LEN);
                assert(memcmp(buf, GATE_REFUSAL_PREFIX, GATE_REFUSAL_PREFIX_LEN) == 0);
                assert(memchr(reason, '\0', reason_len));
                for (const char *c = reason; *c; c++)
                        assert(*c > 0x20 && *c < 0x7f);
                assert(reason[reason_len] == 'u');      /* nothing written past it */
                break;
        default:
                assert(!"unknown verdict");
        }
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t reason_len;
        gate_reply whole;
        char *buf;
        bool eof;

        if (size < 1)
                return 0;
        eof = data[0] & 1;
        reason_len = 1 + (data[0] >> 1) % GATE_REFUSAL_LINE_MAX;
        size--;
        /* An exact-size copy, so that ASan sees any read past the end. */
        buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size);
        whole = check(buf, size, eof, reason_len);
        /* The same bytes as they might arrive: a prefix decides as the
         * whole does, or leaves it open. */
        for (size_t n = 0; n < size && n < GATE_REFUSAL_LINE_MAX; n++) {
                gate_reply part = check(buf, n, false, reason_len);
                assert(part == GATE_REPLY_UNDECIDED || part == whole);
        }
        free(buf);
        return 0;
}
