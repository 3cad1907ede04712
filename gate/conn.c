/* SPDX-License-Identifier: MIT */
/* The per-connection style (Accept=yes, or inetd): this process judges one
 * connection and then becomes the service. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "gate.h"

/* After a refusal: let the client read the reply. Closing with unread
 * bytes in the receive queue would make TCP send a reset, which can
 * destroy the reply before the client reads it; so read and discard what
 * it still sends, for a short while, up to a cap. */
static void drain_and_close(int fd) {
        int64_t deadline = now_monotonic_ms() + GATE_DRAIN_MS;
        size_t total = 0;
        char scratch[4096];

        (void) shutdown(fd, SHUT_WR);
        for (;;) {
                int64_t left = deadline - now_monotonic_ms();
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (left <= 0 || total >= GATE_DRAIN_MAX)
                        break;
                if (poll(&pfd, 1, (int) left) <= 0)
                        break;
                n = read(fd, scratch, sizeof(scratch));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                total += (size_t) n;
        }
        (void) close(fd);
}

static int refuse(int fd, gate_reader *r, const gate_peer *peer, const svcid_report *report) {
        /* A raised SO_RCVLOWAT would keep the drain's poll from ever
         * seeing the bytes already queued: it would wait out its time and
         * close on them, resetting the connection. */
        gate_reader_done(r, fd);
        gate_send_refusal(fd, r, report->reason);
        gate_log_refused(peer, report);
        drain_and_close(fd);
        return 1;
}

/* Waits until the preamble (line) or request head (http) is decided, or
 * the deadline passes. Returns 1 with *ret filled, or 0 on timeout. */
static int read_preamble(const gate_config *cfg, int fd, gate_reader *r, gate_preamble *ret) {
        int64_t deadline = now_monotonic_ms() + cfg->timeout_ms;
        bool hup = false;

        gate_reader_init(r, cfg->mode);
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
                int64_t left;
                int k;

                k = gate_reader_step(r, fd, hup, ret);
                if (k > 0)
                        return 1;
                if (k < 0 && k != -EAGAIN) {
                        /* A reset or other socket error: the client is gone. */
                        *ret = (gate_preamble) {
                                .reason = r->len > 0 ? SVCID_TRUNCATED : SVCID_NO_TOKEN,
                                .detail = "connection failed while reading",
                        };
                        return 1;
                }
                left = deadline - now_monotonic_ms();
                if (left <= 0)
                        return 0;
                if (k == -EAGAIN) {
                        /* Nothing new on an AF_UNIX socket whose poll would
                         * say "readable" forever: sleep a little instead. */
                        (void) poll(NULL, 0, left < r->retry_ms ? (int) left : r->retry_ms);
                        pfd.revents = 0;
                        if (poll(&pfd, 1, 0) > 0)
                                hup = pfd.revents & (POLLRDHUP | POLLHUP | POLLERR);
                        continue;
                }
                if (poll(&pfd, 1, (int) left) < 0 && errno != EINTR)
                        return 0;
                hup = pfd.revents & (POLLRDHUP | POLLHUP | POLLERR);
        }
}

int gate_run_connection(const gate_config *cfg, int fd) {
        _cleanup_(free_p) gate_reader *r = NULL;
        _cleanup_(free_p) char **base = NULL;
        gate_trust *t = NULL;
        svcid_claims *claims = NULL;
        gate_preamble pre;
        gate_peer peer;
        svcid_report report;
        gate_env env = { 0 };
        char err[512] = "";
        int k;

        gate_peer_get(fd, &peer);

        k = gate_trust_load(cfg, &t, err, sizeof(err));
        if (k < 0) {
                /* Fail closed, and say why to the operator, not the client. */
                gate_log(LOG_ERR, "cannot load trust, closing the connection from %s: %s", peer.text, err);
                gate_reset_on_close(fd);
                (void) close(fd);
                return 2;
        }

        r = malloc(sizeof(*r));
        if (!r) {
                gate_trust_free(t);
                return 1;
        }
        if (read_preamble(cfg, fd, r, &pre) == 0) {
                gate_report_set(&report, SVCID_TIMEOUT, "no complete preamble within the timeout");
                gate_trust_free(t);
                return refuse(fd, r, &peer, &report);
        }
        if (pre.reason != SVCID_OK) {
                gate_report_set(&report, pre.reason, pre.detail);
                gate_trust_free(t);
                return refuse(fd, r, &peer, &report);
        }

        k = gate_check(cfg, t, &peer, r->buf + pre.token_off, pre.token_len, &claims, &report);
        /* The bearer token is not needed any more (and not passed on). */
        explicit_bzero(r->buf, r->len);
        if (k != SVCID_OK) {
                gate_trust_free(t);
                return refuse(fd, r, &peer, &report);
        }
        gate_reader_done(r, fd);

        k = gate_env_base(&base);
        if (k >= 0)
                k = gate_env_build(base, cfg, claims, &env);
        if (k < 0) {
                gate_log(LOG_ERR, "cannot build the service environment: %s", strerror(-k));
                svcid_claims_free(claims);
                gate_trust_free(t);
                (void) close(fd);
                return 1;
        }
        gate_log_admitted(&peer, claims, &report, getpid());
        svcid_claims_free(claims);
        gate_trust_free(t);

        k = gate_exec(fd, cfg->command, cfg->argv, &env);
        gate_log(LOG_ERR, "cannot execute \"%s\": %s", cfg->argv[0], exec_strerror(cfg->command, -k));
        gate_env_free(&env);
        return 127;
}
