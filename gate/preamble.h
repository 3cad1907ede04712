/* SPDX-License-Identifier: MIT */
/* What a client sends before the service sees anything: the line-mode
 * preamble "SVCID1 <token>\n" or an HTTP request head carrying
 * "Authorization: Bearer <token>". Pure functions over bytes, no I/O, so
 * that they can be fuzzed and unit-tested on their own. */
#ifndef SVCID_GATE_PREAMBLE_H
#define SVCID_GATE_PREAMBLE_H

#include <stdbool.h>
#include <stddef.h>

#include "svcid/svcid.h"

#define GATE_LINE_PREFIX "SVCID1 "
#define GATE_LINE_PREFIX_LEN (sizeof(GATE_LINE_PREFIX) - 1)
/* "SVCID1 " + the largest token + "\r\n": the most line mode ever reads. */
#define GATE_LINE_MAX (GATE_LINE_PREFIX_LEN + SVCID_TOKEN_MAX + 2)
/* The most http mode ever peeks: a request head of 16 KiB. */
#define GATE_HEAD_MAX (16u * 1024u)
/* Receive memory an unfinished http head may hold (gate/check.c). */
#define GATE_HEAD_RMEM_MAX (64u * 1024u)

typedef struct gate_preamble {
        /* SVCID_OK: a token was found at buf[token_off, token_off+token_len)
         * and still has to be verified. Otherwise why there is none:
         * SVCID_NO_TOKEN, SVCID_TRUNCATED, SVCID_TOO_LARGE, SVCID_MALFORMED. */
        svcid_reason reason;
        const char *detail;        /* static text, for the audit log */
        size_t token_off;
        size_t token_len;
        /* Line mode: bytes of the preamble line, '\n' included — exactly
         * what must be consumed. Always 0 in http mode (it only peeks). */
        size_t line_len;
} gate_preamble;

/* Both parsers look at the first len bytes the client sent. eof says that
 * no more will come. They return 1 when the outcome is decided (*ret is
 * filled), 0 when more bytes are needed (*ret untouched). A caller never
 * has to offer more than GATE_LINE_MAX / GATE_HEAD_MAX bytes: at that
 * size the outcome is always decided. */

/* Line mode. Decides as early as it can: the first byte that cannot begin
 * "SVCID1 " ends it with SVCID_NO_TOKEN, so a client speaking another
 * protocol is not kept waiting. Only a '\n' ends the line; one '\r' just
 * before it is tolerated (telnet, nc -C). */
int gate_line_parse(const char *buf, size_t len, bool eof, gate_preamble *ret);

/* http mode. The head ends at the first CRLFCRLF. Lines end with CRLF
 * only; a bare CR or LF, an obsolete folded line, a header name with
 * spaces, or a second Authorization header make the request malformed —
 * the service behind must never see a token the gate did not judge. The
 * header name and the scheme "Bearer" are matched case-insensitively
 * (RFC 9110 §11.1, §11.6.2). No Authorization header, or another scheme,
 * is SVCID_NO_TOKEN. A line-mode preamble ("SVCID1 ") is SVCID_MALFORMED
 * as soon as its prefix is in. */
int gate_http_parse(const char *buf, size_t len, bool eof, gate_preamble *ret);

/* What the gate answers in line mode: nothing of its own when it admits
 * (the service speaks first, or not at all), or this line before it
 * closes when it refuses. */
#define GATE_REFUSAL_PREFIX "SVCID1 ERR "
#define GATE_REFUSAL_PREFIX_LEN (sizeof(GATE_REFUSAL_PREFIX) - 1)
/* A refusal line, its '\n' not counted, is shorter than this; a client
 * holds back at most this many bytes of the service's output while it
 * judges them. */
#define GATE_REFUSAL_LINE_MAX 128

typedef enum gate_reply {
        GATE_REPLY_UNDECIDED,   /* more bytes are needed */
        GATE_REPLY_SERVICE,     /* not a refusal: the service's own output */
        GATE_REPLY_REFUSED,     /* a refusal; its reason word is in reason */
} gate_reply;

/* The client's side (svcid connect): what the first len bytes received
 * from a line-mode gate are, eof saying that no more will come. The bytes
 * come from the network and are not trusted. The first byte that cannot
 * begin GATE_REFUSAL_PREFIX decides SERVICE, so a service's output is not
 * held back; a first line that reaches GATE_REFUSAL_LINE_MAX bytes is the
 * service's too, so UNDECIDED always means len < GATE_REFUSAL_LINE_MAX.
 * A refusal ends at its '\n', or at eof. On REFUSED, reason (reason_len
 * >= 1) holds what follows the prefix on that line, cut to reason_len - 1
 * bytes, each byte that is not printable ASCII other than a space made
 * '?', NUL-terminated; reason is untouched otherwise. */
gate_reply gate_reply_judge(const char *buf, size_t len, bool eof, char *reason, size_t reason_len);

#endif
