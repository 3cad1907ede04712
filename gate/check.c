/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/user.h"
#include "gate.h"

void gate_reader_init(gate_reader *r, gate_mode mode) {
        r->mode = mode;
        r->eof = false;
        r->lowat = false;
        r->retry_ms = 0;
        r->len = 0;
}

/* Line mode on a socket: peek, then consume exactly up to the first '\n'
 * — the bytes after it belong to the service. Bytes before a '\n' are all
 * preamble, so they may be consumed as they come (no quadratic re-peek). */
static int line_step_socket(gate_reader *r, int fd) {
        size_t room = GATE_LINE_MAX - r->len;
        ssize_t n, got;
        const char *nl;
        size_t take;

        if (room == 0)
                return 0;
        n = recv(fd, r->buf + r->len, room, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
        if (n == 0) {
                r->eof = true;
                return 0;
        }
        nl = memchr(r->buf + r->len, '\n', (size_t) n);
        take = nl ? (size_t) (nl - (r->buf + r->len)) + 1 : (size_t) n;
        got = recv(fd, r->buf + r->len, take, MSG_DONTWAIT);
        if (got < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        r->len += (size_t) got;
        return 0;
}

/* Whether what is queued on fd comes in pieces so small and so many that
 * peeking it is a hazard. A TCP MSG_PEEK walks the receive queue from its
 * start for each segment it copies, so a head sent a byte per segment
 * makes each peek cost the square of their number: a review measured
 * 1.1 s for one peek of a 16 KiB head on loopback. Each segment holds its
 * own receive memory, some hundred bytes at least, so over
 * GATE_HEAD_RMEM_MAX of it, at more than 16 times the bytes queued, means
 * many tiny segments; an honest client writes its head in a few, and a
 * body in large ones. (AF_UNIX charges the sender: 0 here.) queued is
 * SIOCINQ's count, -1 if unknown. */
static bool http_head_too_fragmented(int fd, int queued) {
        uint32_t mem[SK_MEMINFO_VARS] = {};
        socklen_t len = sizeof(mem);

        if (queued < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 ||
            len < sizeof(uint32_t) * (SK_MEMINFO_RMEM_ALLOC + 1) || mem[SK_MEMINFO_RMEM_ALLOC] <= GATE_HEAD_RMEM_MAX)
                return false;
        return (uint64_t) mem[SK_MEMINFO_RMEM_ALLOC] > 16u * (uint64_t) queued;
}

/* http mode: the whole head is peeked again each time; nothing is ever
 * consumed. On TCP, SO_RCVLOWAT makes poll wait for more than what we
 * already saw. AF_UNIX ignores it and polls readable while any byte is
 * queued, hence -EAGAIN: the caller waits r->retry_ms, which doubles up
 * to GATE_RETRY_MAX_MS while the peer stays silent, and SIOCINQ, not a
 * peek of the whole head, tells whether it has grown: the bytes queued
 * are the bytes peeked, as nothing is ever consumed. */
static int http_step(gate_reader *r, int fd, bool hup) {
        int queued = -1;
        ssize_t n;

        if (ioctl(fd, SIOCINQ, &queued) < 0)
                queued = -1;
        if (!hup && r->len > 0 && queued >= 0 && (size_t) queued == r->len)
                goto again;
        if (http_head_too_fragmented(fd, queued))
                return -EMSGSIZE;
        n = recv(fd, r->buf, GATE_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                        if (hup)
                                r->eof = true;
                        return 0;
                }
                return -errno;
        }
        if (n == 0) {
                r->eof = true;
                return 0;
        }
        if (hup)
                r->eof = true;
        if ((size_t) n == r->len && !r->eof)
                goto again;
        r->len = (size_t) n;
        r->retry_ms = 0;
        if (r->len < GATE_HEAD_MAX) {
                int lowat = (int) r->len + 1;
                if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0)
                        r->lowat = true;
        }
        return 0;

again:
        r->retry_ms = r->retry_ms == 0 ? GATE_RETRY_MIN_MS
                    : r->retry_ms >= GATE_RETRY_MAX_MS / 2 ? GATE_RETRY_MAX_MS : r->retry_ms * 2;
        return -EAGAIN;
}

int gate_reader_step(gate_reader *r, int fd, bool hup, gate_preamble *ret) {
        int k;

        if (r->mode == GATE_MODE_LINE)
                k = line_step_socket(r, fd);
        else
                k = http_step(r, fd, hup);
        if (k == -EMSGSIZE) {
                *ret = (gate_preamble) {
                        .reason = SVCID_MALFORMED,
                        .detail = "request head sent in too many small pieces",
                };
                return 1;
        }
        /* -EAGAIN: the same bytes as at the last step, which the parser
         * left undecided; parsing them again would say so again. */
        if (k < 0)
                return k;

        if (r->mode == GATE_MODE_LINE) {
                /* A line-mode reader consumes: on hup with nothing left to
                 * read, the next recv says 0, so eof comes from the read. */
                if (gate_line_parse(r->buf, r->len, r->eof, ret) > 0)
                        return 1;
                return 0;
        }
        return gate_http_parse(r->buf, r->len, r->eof, ret) > 0 ? 1 : 0;
}

void gate_reader_done(gate_reader *r, int fd) {
        int one = 1;

        if (r->lowat) {
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
                r->lowat = false;
        }
}

void gate_report_set(svcid_report *report, svcid_reason reason, const char *detail) {
        memset(report, 0, sizeof(*report));
        report->reason = reason;
        if (detail)
                snprintf(report->detail, sizeof(report->detail), "%s", detail);
}

svcid_reason gate_check(const gate_config *cfg, const gate_trust *t, const gate_peer *peer,
                        const char *token, size_t len, svcid_claims **ret_claims,
                        svcid_report *report) {
        svcid_claims *claims = NULL;
        svcid_reason reason;
        const char *iss;
        int64_t uid = -1;      /* refused unless the claim says otherwise */
        int r;

        reason = svcid_verify(t->policy, token, len, &claims, report);
        if (reason != SVCID_OK) {
                svcid_claims_free(claims);
                return reason;
        }

        if (cfg->peer_uid) {
                /* A local token names the uid the agent saw; only that uid
                 * may present it, and only over AF_UNIX, where the kernel
                 * tells us who is on the other end. */
                if (peer->family != AF_UNIX || !peer->have_cred) {
                        reason = SVCID_PEER_MISMATCH;
                        /* A call that failed is said, not taken for a
                         * peer of another kind. */
                        if (peer->error < 0)
                                snprintf(report->detail, sizeof(report->detail),
                                         "--peer-uid: the peer's %s cannot be read: %s",
                                         peer->family == AF_UNIX ? "credentials" : "address",
                                         strerror(-peer->error));
                        else
                                snprintf(report->detail, sizeof(report->detail), "--peer-uid needs an AF_UNIX peer");
                        goto refuse;
                }
                /* A gate in a user namespace of its own (PrivateUsers=,
                 * a container) hears every peer whose uid has no mapping
                 * there as the overflow uid: that uid names no one, and a
                 * token minted for nobody would pass for all of them. */
                if (id_unmapped(peer->uid, false)) {
                        reason = SVCID_PEER_MISMATCH;
                        snprintf(report->detail, sizeof(report->detail),
                                 "the peer's uid has no mapping in the gate's user namespace");
                        goto refuse;
                }
                iss = svcid_claims_string(claims, "iss");
                if (!iss || !t->local_iss || strcmp(iss, t->local_iss) != 0) {
                        reason = SVCID_PEER_MISMATCH;
                        snprintf(report->detail, sizeof(report->detail), "issuer is not this host's");
                        goto refuse;
                }
                /* The issuer's name is only a name: another trust file may
                 * declare it too. The key must be one of this host's JWKS;
                 * the library never trusts two keys under one (iss, kid),
                 * so the kid names the very key that verified. */
                if (!t->local || !svcid_trust_find(t->local, iss, svcid_claims_kid(claims))) {
                        reason = SVCID_PEER_MISMATCH;
                        snprintf(report->detail, sizeof(report->detail),
                                 "not signed by a key of this host's JWKS");
                        goto refuse;
                }
                r = svcid_claims_int(claims, "uid", &uid);
                if (r == -ENOENT) {
                        reason = SVCID_MISSING_CLAIM;
                        snprintf(report->detail, sizeof(report->detail), "no \"uid\" claim (--peer-uid)");
                        goto refuse;
                }
                if (r < 0 || uid < 0 || (uint64_t) uid != (uint64_t) peer->uid) {
                        reason = SVCID_PEER_MISMATCH;
                        snprintf(report->detail, sizeof(report->detail),
                                 "token uid %lld, peer uid %u", r < 0 ? -1LL : (long long) uid,
                                 (unsigned) peer->uid);
                        goto refuse;
                }
        }

        if (ret_claims)
                *ret_claims = claims;
        else
                svcid_claims_free(claims);
        return SVCID_OK;

refuse:
        report->reason = reason;
        svcid_claims_free(claims);
        return reason;
}

static void send_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == ENOTSOCK)
                        n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                buf += n;
                len -= (size_t) n;
        }
}

void gate_send_refusal(int fd, const gate_reader *r, svcid_reason reason) {
        const char *word = svcid_reason_str(reason);
        char body[128], msg[640];
        int n;

        /* A line-mode client at an http-mode gate gets the refusal in its
         * own form: it would take an HTTP answer for its service's. */
        if (r->mode == GATE_MODE_LINE ||
            (r->len >= GATE_LINE_PREFIX_LEN && memcmp(r->buf, GATE_LINE_PREFIX, GATE_LINE_PREFIX_LEN) == 0)) {
                n = snprintf(msg, sizeof(msg), GATE_REFUSAL_PREFIX "%s\n", word);
        } else {
                int blen = snprintf(body, sizeof(body), "svcid: refused: %s\n", word);
                /* DESIGN.md: every refusal, a missing token included, says
                 * error="invalid_token" (RFC 6750 §3.1 would omit the error
                 * attribute when no token was sent); error_description
                 * carries the reason word. */
                n = snprintf(msg, sizeof(msg),
                             "HTTP/1.1 401 Unauthorized\r\n"
                             "WWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"%s\"\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: %d\r\n"
                             "Cache-Control: no-store\r\n"
                             "Connection: close\r\n"
                             "\r\n%s",
                             word, blen, body);
        }
        if (n > 0 && (size_t) n < sizeof(msg))
                send_all(fd, msg, (size_t) n);
}
