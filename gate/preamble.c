/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "preamble.h"

static int decided(gate_preamble *ret, svcid_reason reason, const char *detail) {
        *ret = (gate_preamble) { .reason = reason, .detail = detail };
        return 1;
}

int gate_line_parse(const char *buf, size_t len, bool eof, gate_preamble *ret) {
        const char *nl;
        size_t n, end;

        /* Refuse a foreign protocol on its first wrong byte. */
        n = len < GATE_LINE_PREFIX_LEN ? len : GATE_LINE_PREFIX_LEN;
        if (memcmp(buf, GATE_LINE_PREFIX, n) != 0)
                return decided(ret, SVCID_NO_TOKEN, "no SVCID1 preamble");

        nl = memchr(buf, '\n', len);
        if (!nl) {
                if (len >= GATE_LINE_MAX)
                        return decided(ret, SVCID_TOO_LARGE, "preamble line over the size cap");
                if (!eof)
                        return 0;
                if (len == 0)
                        return decided(ret, SVCID_NO_TOKEN, "connection closed before a preamble");
                return decided(ret, SVCID_TRUNCATED, "connection closed inside the preamble");
        }

        end = (size_t) (nl - buf);
        if (end > GATE_LINE_MAX - 1)
                /* Only possible when the caller offered more than the cap. */
                return decided(ret, SVCID_TOO_LARGE, "preamble line over the size cap");
        if (end < GATE_LINE_PREFIX_LEN)
                return decided(ret, SVCID_NO_TOKEN, "no SVCID1 preamble");
        if (end > GATE_LINE_PREFIX_LEN && buf[end - 1] == '\r')
                end--;
        if (end == GATE_LINE_PREFIX_LEN)
                return decided(ret, SVCID_NO_TOKEN, "empty token");

        *ret = (gate_preamble) {
                .reason = SVCID_OK,
                .detail = NULL,
                .token_off = GATE_LINE_PREFIX_LEN,
                .token_len = end - GATE_LINE_PREFIX_LEN,
                .line_len = (size_t) (nl - buf) + 1,
        };
        return 1;
}

static const char *find_crlfcrlf(const char *buf, size_t len) {
        for (size_t i = 0; i + 4 <= len; i++)
                if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0)
                        return buf + i;
        return NULL;
}

#define BAD_LINE_BYTE "bare CR or LF, or NUL, in the request head"

/* A byte that makes any head malformed, whatever comes after it: a bare
 * LF, a CR followed by anything but LF, or a NUL. Checked before the end
 * of the head too: an LF-only client never sends the CRLFCRLF. A CR last
 * in what has come so far may still be followed by its LF. */
static bool has_bad_line_byte(const char *buf, size_t len) {
        for (size_t i = 0; i < len; i++) {
                if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) ||
                    (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n'))
                        return true;
        }
        return false;
}

static bool is_tchar(char c) {
        /* RFC 9110 §5.6.2 token characters. */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                return true;
        return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ascii_caseeq(const char *a, size_t a_len, const char *lower) {
        size_t n = strlen(lower);

        if (a_len != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = a[i];
                if (c >= 'A' && c <= 'Z')
                        c = (char) (c - 'A' + 'a');
                if (c != lower[i])
                        return false;
        }
        return true;
}

int gate_http_parse(const char *buf, size_t len, bool eof, gate_preamble *ret) {
        const char *term, *p, *head_end;
        bool found = false, other_scheme = false;
        size_t tok_off = 0, tok_len = 0;

        /* A line-mode client (svcid connect) at the wrong gate: no HTTP
         * request starts so. */
        if (len >= GATE_LINE_PREFIX_LEN && memcmp(buf, GATE_LINE_PREFIX, GATE_LINE_PREFIX_LEN) == 0)
                return decided(ret, SVCID_MALFORMED, "a line-mode preamble (SVCID1) at an http-mode gate");

        term = find_crlfcrlf(buf, len);
        if (!term) {
                if (len >= GATE_HEAD_MAX)
                        return decided(ret, SVCID_TOO_LARGE, "request head over the size cap");
                if (has_bad_line_byte(buf, len))
                        return decided(ret, SVCID_MALFORMED, BAD_LINE_BYTE);
                if (!eof)
                        return 0;
                if (len == 0)
                        return decided(ret, SVCID_NO_TOKEN, "connection closed before a request");
                return decided(ret, SVCID_TRUNCATED, "connection closed inside the request head");
        }
        if ((size_t) (term - buf) + 4 > GATE_HEAD_MAX)
                return decided(ret, SVCID_TOO_LARGE, "request head over the size cap");
        if (has_bad_line_byte(buf, (size_t) (term - buf) + 4))
                return decided(ret, SVCID_MALFORMED, BAD_LINE_BYTE);

        /* Every line of the head, each ending in CRLF (no other CR or LF
         * is left); the last one is the line just before the empty line. */
        head_end = term + 2;
        for (p = buf; p < head_end; ) {
                const char *eol, *colon, *v, *v_end, *sp;
                size_t line_len;
                bool first = p == buf;

                eol = memchr(p, '\r', (size_t) (head_end - p));
                if (!eol)
                        return decided(ret, SVCID_MALFORMED, BAD_LINE_BYTE);
                line_len = (size_t) (eol - p);

                if (first) {
                        if (line_len == 0 || p[0] == ' ' || p[0] == '\t')
                                return decided(ret, SVCID_MALFORMED, "bad request line");
                        p = eol + 2;
                        continue;
                }

                if (line_len == 0 || p[0] == ' ' || p[0] == '\t')
                        return decided(ret, SVCID_MALFORMED, "folded or empty header line");
                colon = memchr(p, ':', line_len);
                if (!colon || colon == p)
                        return decided(ret, SVCID_MALFORMED, "header line without a name");
                for (const char *c = p; c < colon; c++)
                        if (!is_tchar(*c))
                                return decided(ret, SVCID_MALFORMED, "bad header name");

                if (ascii_caseeq(p, (size_t) (colon - p), "authorization")) {
                        if (found || other_scheme)
                                return decided(ret, SVCID_MALFORMED, "more than one Authorization header");

                        v = colon + 1;
                        v_end = eol;
                        while (v < v_end && (*v == ' ' || *v == '\t'))
                                v++;
                        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
                                v_end--;

                        sp = memchr(v, ' ', (size_t) (v_end - v));
                        if (!ascii_caseeq(v, (size_t) ((sp ? sp : v_end) - v), "bearer")) {
                                other_scheme = true;
                        } else {
                                const char *t = sp ? sp : v_end;
                                while (t < v_end && *t == ' ')
                                        t++;
                                if (t == v_end)
                                        return decided(ret, SVCID_NO_TOKEN, "empty bearer token");
                                if (memchr(t, ' ', (size_t) (v_end - t)) || memchr(t, '\t', (size_t) (v_end - t)))
                                        return decided(ret, SVCID_MALFORMED, "space inside the bearer token");
                                found = true;
                                tok_off = (size_t) (t - buf);
                                tok_len = (size_t) (v_end - t);
                        }
                }
                p = eol + 2;
        }

        if (!found)
                return decided(ret, SVCID_NO_TOKEN,
                               other_scheme ? "Authorization is not a Bearer token" : "no Authorization header");

        *ret = (gate_preamble) {
                .reason = SVCID_OK,
                .token_off = tok_off,
                .token_len = tok_len,
        };
        return 1;
}

gate_reply gate_reply_judge(const char *buf, size_t len, bool eof, char *reason, size_t reason_len) {
        const char *nl = memchr(buf, '\n', len);
        size_t line = nl ? (size_t) (nl - buf) : len;   /* without its '\n' */
        size_t n = line < GATE_REFUSAL_PREFIX_LEN ? line : GATE_REFUSAL_PREFIX_LEN;

        if (memcmp(buf, GATE_REFUSAL_PREFIX, n) != 0 || line >= GATE_REFUSAL_LINE_MAX)
                return GATE_REPLY_SERVICE;
        if (!nl && !eof)
                return GATE_REPLY_UNDECIDED;
        if (line < GATE_REFUSAL_PREFIX_LEN)
                return GATE_REPLY_SERVICE;

        n = line - GATE_REFUSAL_PREFIX_LEN;
        if (n >= reason_len)
                n = reason_len - 1;
        for (size_t i = 0; i < n; i++) {
                char c = buf[GATE_REFUSAL_PREFIX_LEN + i];
                reason[i] = c > 0x20 && c < 0x7f ? c : '?';
        }
        reason[n] = '\0';
        return GATE_REPLY_REFUSED;
}
