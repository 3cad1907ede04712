/* SPDX-License-Identifier: MIT */
/* The long-lived style (Accept=no): one process accepts, reads every
 * preamble without blocking, verifies with trust parsed once, and forks
 * the service per admitted connection. A slow client only ever occupies
 * its own slot until its deadline. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "gate.h"

#define ACCEPT_BURST     32
#define TRUST_CHECK_MS   1000
#define ACCEPT_PAUSE_MS  100
#define SHARE_LOG_MS     10000

typedef enum conn_state {
        CONN_READING,
        CONN_DRAINING,
} conn_state;

typedef struct conn {
        int fd;
        conn_state state;
        int64_t deadline;
        int64_t retry_at;               /* http on AF_UNIX: wait until then */
        size_t drained;
        gate_peer peer;
        gate_reader r;
} conn;

typedef struct listener {
        const gate_config *cfg;
        int fd;
        int sfd;
        bool stopping;
        pid_t *children;                /* running services, to pass SIGTERM on */
        size_t n_children;
        size_t cap_children;
        conn **conns;
        size_t n_conns;
        gate_trust *trust;
        uint64_t stamp;
        int64_t trust_checked;
        int64_t accept_paused_until;    /* out of descriptors or memory */
        char *command;                  /* found again since the start, or NULL: cfg->command */
        bool command_gone;              /* the command cannot be run now */
        unsigned slots;                 /* the fewer of GATE_MAX_PENDING and max_services */
        unsigned share;                 /* pending connections one source may hold */
        uint64_t over_share;            /* refused for it since the last log line */
        int64_t over_share_logged;
        char over_share_from[sizeof(((gate_peer *) 0)->text)];  /* the last source refused */
        char **base_env;
} listener;

static void conn_close(listener *l, size_t i) {
        conn *c = l->conns[i];

        /* What the client sent holds its bearer token. */
        explicit_bzero(c->r.buf, c->r.len);
        (void) close(c->fd);
        free(c);
        l->conns[i] = l->conns[--l->n_conns];
}

/* Trust that does not load fails closed, as in the per-connection
 * style: l->trust is dropped (NULL), and every connection is closed
 * unjudged until a load succeeds. Keeping the old trust would keep keys
 * that an operator revoked by deleting their file. While it fails, every
 * connection tries again; the reason is logged once per change of the
 * files (and for each SIGHUP, force). */
static void reload_trust(listener *l, bool force) {
        gate_trust *t = NULL;
        char err[512] = "";
        uint64_t stamp;
        int r;

        l->trust_checked = now_monotonic_ms();
        stamp = gate_trust_stamp(l->cfg);
        if (!force && stamp == l->stamp && l->trust)
                return;
        r = gate_trust_load(l->cfg, &t, err, sizeof(err));
        if (r < 0) {
                if (force || l->trust || stamp != l->stamp)
                        gate_log(LOG_ERR, "trust does not load, closing every connection until it does: %s", err);
                gate_trust_free(l->trust);
                l->trust = NULL;
                l->stamp = stamp;
                return;
        }
        gate_trust_free(l->trust);
        l->trust = t;
        l->stamp = stamp;
        gate_log(LOG_INFO, "trust reloaded: %zu key(s)", svcid_trust_key_count(t->trust));
}

/* The trust, checked for changes at most every TRUST_CHECK_MS; false if
 * it does not load. */
static bool trust_ready(listener *l) {
        if (!l->trust || now_monotonic_ms() - l->trust_checked >= TRUST_CHECK_MS)
                reload_trust(l, false);
        return l->trust != NULL;
}

/* Where the command was last found. */
static const char *command_path(const listener *l) {
        return l->command ? l->command : l->cfg->command;
}

/* The command, looked up again before each connection is read and
 * before it is admitted, as execvpe() would look now (another PATH entry
 * may hold it, or hold it again); while none can run, connections are
 * ended unserved, as when no trust loads, rather than admitted to a
 * failed exec. Logged when it goes, when it is back, and when it is
 * found elsewhere. */
static bool command_ready(listener *l) {
        _cleanup_(free_p) char *found = NULL;
        int r = gate_command_find(l->cfg->argv[0], &found);

        if (r == 0 && strcmp(found, command_path(l)) != 0) {
                if (!l->command_gone)
                        gate_log(LOG_INFO, "\"%s\" is now %s", l->cfg->argv[0], found);
                free(l->command);
                l->command = TAKE_PTR(found);
        }
        if ((r < 0) != l->command_gone) {
                l->command_gone = r < 0;
                if (r < 0)
                        gate_log(LOG_ERR, "cannot execute \"%s\": %s; ending connections unserved until it can be",
                                 l->cfg->argv[0], strerror(-r));
                else
                        gate_log(LOG_INFO, "\"%s\" can be executed again, as %s", l->cfg->argv[0], command_path(l));
        }
        return r == 0;
}

static void refuse(conn *c, const svcid_report *report) {
        /* Drained bytes must wake poll: a raised SO_RCVLOWAT would hold
         * them until the deadline and close on them (a reset). */
        gate_reader_done(&c->r, c->fd);
        gate_send_refusal(c->fd, &c->r, report->reason);
        gate_log_refused(&c->peer, report);
        (void) shutdown(c->fd, SHUT_WR);
        c->state = CONN_DRAINING;
        c->deadline = now_monotonic_ms() + GATE_DRAIN_MS;
        c->retry_at = 0;
        c->drained = 0;
}

/* A judged connection no service will answer (trust or command gone, or
 * no fork): http mode has only peeked, so a close is a reset; a line-mode
 * preamble has been read, and a close could end the stream as a silent
 * service does, so the client is told (internal_error). */
static void unserved(listener *l, size_t i, const char *detail) {
        conn *c = l->conns[i];
        svcid_report report;

        if (c->r.mode == GATE_MODE_HTTP) {
                gate_reset_on_close(c->fd);
                conn_close(l, i);
                return;
        }
        gate_report_set(&report, SVCID_INTERNAL_ERROR, detail);
        refuse(c, &report);
}

static void admit(listener *l, size_t i, svcid_claims *claims, const svcid_report *report) {
        conn *c = l->conns[i];
        gate_env env = { 0 };
        pid_t pid;
        int r;

        gate_reader_done(&c->r, c->fd);
        if (l->n_children == l->cap_children) {
                /* Room first: a child we could not record would never be
                 * sent SIGTERM when we stop. */
                size_t cap = l->cap_children ? 2 * l->cap_children : 16;
                pid_t *p = realloc(l->children, cap * sizeof(*p));

                if (!p) {
                        gate_log(LOG_ERR, "out of memory, closing the connection from %s", c->peer.text);
                        unserved(l, i, "out of memory");
                        return;
                }
                l->children = p;
                l->cap_children = cap;
        }
        r = gate_env_build(l->base_env, l->cfg, claims, &env);
        if (r < 0) {
                gate_log(LOG_ERR, "cannot build the service environment: %s", strerror(-r));
                unserved(l, i, "cannot build the service environment");
                return;
        }
        pid = fork();
        if (pid == 0) {
                r = gate_exec(c->fd, command_path(l), l->cfg->argv, &env);
                gate_log(LOG_ERR, "cannot execute \"%s\": %s", l->cfg->argv[0],
                         exec_strerror(command_path(l), -r));
                _exit(127);
        }
        if (pid < 0) {
                gate_log(LOG_ERR, "cannot fork for the connection from %s: %m", c->peer.text);
                gate_env_free(&env);
                unserved(l, i, "cannot fork");
                return;
        }
        gate_env_free(&env);
        l->children[l->n_children++] = pid;
        gate_log_admitted(&c->peer, claims, report, pid);
        conn_close(l, i);
}

/* The preamble of conns[i] is decided: judge it. */
static void decide(listener *l, size_t i, const gate_preamble *pre) {
        conn *c = l->conns[i];
        svcid_claims *claims = NULL;
        svcid_report report;

        if (!trust_ready(l) || !command_ready(l)) {
                /* Trust or command gone while the preamble came
                 * (reload_trust() or command_ready() logged why): no
                 * judgement, no service. */
                unserved(l, i, l->trust ? "the command cannot be executed" : "no trust loads");
                return;
        }
        if (pre->reason != SVCID_OK) {
                gate_report_set(&report, pre->reason, pre->detail);
                refuse(c, &report);
                return;
        }
        if (gate_check(l->cfg, l->trust, &c->peer, c->r.buf + pre->token_off, pre->token_len,
                       &claims, &report) != SVCID_OK) {
                refuse(c, &report);
                return;
        }
        admit(l, i, claims, &report);
        svcid_claims_free(claims);
}

/* Reads, judges or drains conns[i], which may be removed. */
static void service(listener *l, size_t i, short revents) {
        conn *c = l->conns[i];
        int64_t now = now_monotonic_ms();

        if (c->state == CONN_DRAINING) {
                char scratch[4096];
                ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

                if (n < 0 && (errno == EAGAIN || errno == EINTR) && now < c->deadline)
                        return;
                if (n > 0 && now < c->deadline && (c->drained += (size_t) n) < GATE_DRAIN_MAX)
                        return;
                conn_close(l, i);
                return;
        }

        if (revents || c->retry_at) {
                gate_preamble pre;
                bool hup;
                int k;

                if (c->retry_at && !revents) {
                        /* Left out of the last poll while backing off: ask
                         * now whether the peer has finished writing. */
                        struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
                        if (poll(&pfd, 1, 0) > 0)
                                revents = pfd.revents;
                }
                hup = revents & (POLLRDHUP | POLLHUP | POLLERR);
                k = gate_reader_step(&c->r, c->fd, hup, &pre);

                c->retry_at = 0;
                if (k > 0) {
                        decide(l, i, &pre);
                        return;
                }
                if (k == -EAGAIN)
                        c->retry_at = now + c->r.retry_ms;
                else if (k < 0) {
                        svcid_report report;
                        gate_report_set(&report, c->r.len > 0 ? SVCID_TRUNCATED : SVCID_NO_TOKEN,
                                        "connection failed while reading");
                        gate_log_refused(&c->peer, &report);
                        conn_close(l, i);
                        return;
                }
        }
        if (now >= c->deadline) {
                svcid_report report;
                gate_report_set(&report, SVCID_TIMEOUT, "no complete preamble within the timeout");
                refuse(c, &report);
        }
}

/* Whether a new connection's source (same uid on a Unix socket, same
 * address or IPv6 /64 over the network) already holds its share of the
 * pending slots while half or more of the slots that running services
 * leave hold connections, not yet judged or refused and draining (which
 * hold a slot as long). One client that opens connections and stays
 * silent, or has them refused and keeps them open, would otherwise take
 * every slot, and everyone else would wait in the listen queue; while
 * the gate has room, a busy client may take more. */
static bool over_share(listener *l, const gate_peer *p) {
        size_t left = l->n_children < l->slots ? l->slots - l->n_children : 0;
        unsigned same = 0;

        if (l->n_conns < left / 2)
                return false;
        for (size_t i = 0; i < l->n_conns; i++)
                if (memcmp(l->conns[i]->peer.source, p->source, sizeof(p->source)) == 0 && ++same >= l->share)
                        return true;
        return false;
}

/* The count of connections ended for their source's share, logged at
 * most every SHARE_LOG_MS (unless now is the end): from a refusal, or
 * from the poll loop, which wakes for it, so that the end of a burst is
 * counted too. */
static void log_over_share(listener *l, int64_t now, bool end) {
        if (l->over_share == 0 || (!end && now - l->over_share_logged < SHARE_LOG_MS))
                return;
        gate_log(LOG_WARNING,
                 "closed %" PRIu64 " connection(s) unread since the last such line: each source may hold "
                 "%u pending connection(s); the last from %s",
                 l->over_share, l->share, l->over_share_from);
        l->over_share = 0;
        l->over_share_logged = now;
}

/* Ended at once, unread and unjudged, as when no trust loads. */
static void refuse_over_share(listener *l, int fd, const gate_peer *p) {
        l->over_share++;
        snprintf(l->over_share_from, sizeof(l->over_share_from), "%s", p->text);
        log_over_share(l, now_monotonic_ms(), false);
        gate_reset_on_close(fd);
        (void) close(fd);
}

/* Room for one more connection: a pending slot, and a service slot for
 * it and every other pending connection, should all be admitted. While
 * either is full, new clients wait in the listen queue. */
static bool accepting(const listener *l) {
        return l->n_conns < GATE_MAX_PENDING && l->n_children + l->n_conns < l->cfg->max_services;
}

static void accept_some(listener *l) {
        for (int k = 0; k < ACCEPT_BURST && accepting(l); k++) {
                gate_peer peer;
                conn *c;
                int fd;

                fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                                return;
                        /* Out of descriptors or memory: the listener stays
                         * readable, so retrying at once would spin. Leave
                         * the connections in the backlog for a moment. */
                        gate_log(LOG_WARNING, "accept failed, pausing for %d ms: %m", ACCEPT_PAUSE_MS);
                        l->accept_paused_until = now_monotonic_ms() + ACCEPT_PAUSE_MS;
                        return;
                }
                /* Without trust nothing can be judged, without the command
                 * nothing served: end the connection before reading a
                 * byte (see gate_reset_on_close). */
                if (!trust_ready(l) || !command_ready(l)) {
                        gate_reset_on_close(fd);
                        (void) close(fd);
                        continue;
                }
                gate_peer_get(fd, &peer);
                if (over_share(l, &peer)) {
                        refuse_over_share(l, fd, &peer);
                        continue;
                }
                c = malloc(sizeof(*c));
                if (!c) {
                        (void) close(fd);
                        return;
                }
                c->fd = fd;
                c->state = CONN_READING;
                c->deadline = now_monotonic_ms() + l->cfg->timeout_ms;
                c->retry_at = 0;
                c->drained = 0;
                c->peer = peer;
                gate_reader_init(&c->r, l->cfg->mode);
                l->conns[l->n_conns++] = c;
                /* Most clients send the preamble with the connection: try
                 * at once instead of waiting for the next poll. */
                service(l, l->n_conns - 1, POLLIN);
        }
}

static void reap(listener *l) {
        for (;;) {
                pid_t pid = waitpid(-1, NULL, WNOHANG);
                if (pid <= 0)
                        return;
                for (size_t i = 0; i < l->n_children; i++)
                        if (l->children[i] == pid) {
                                l->children[i] = l->children[--l->n_children];
                                break;
                        }
        }
}

/* SIGTERM: systemd has signalled the unit, but with KillMode=mixed only
 * this process; the services we started would run on until
 * TimeoutStopSec. Nothing new starts: connections not yet judged are
 * closed without a verdict (refusals keep draining), and every running
 * service is sent SIGTERM in turn. We then wait for them, as long as the
 * unit lets us. */
static void stop(listener *l) {
        size_t unjudged = 0;

        l->stopping = true;
        /* Backwards: conn_close() moves the last one into the freed slot. */
        for (size_t i = l->n_conns; i-- > 0; )
                if (l->conns[i]->state == CONN_READING) {
                        conn_close(l, i);
                        unjudged++;
                }
        for (size_t i = 0; i < l->n_children; i++)
                (void) kill(l->children[i], SIGTERM);
        gate_log(LOG_INFO, "stopping: %zu unjudged connection(s) closed, SIGTERM sent to %zu service(s)",
                 unjudged, l->n_children);
}

static int handle_signals(listener *l) {
        struct signalfd_siginfo si;

        while (read(l->sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGTERM:
                case SIGINT:
                        if (!l->stopping)
                                stop(l);
                        break;
                case SIGHUP:
                        reload_trust(l, true);
                        break;
                case SIGCHLD:
                        reap(l);
                        break;
                default:
                        break;
                }
        }
        return 0;
}

int gate_run_listener(const gate_config *cfg, int fd) {
        _cleanup_(free_p) struct pollfd *pfds = NULL;
        _cleanup_(free_p) size_t *slot = NULL;
        /* Slots: the pending ones or the services (pending connections
         * count in both), whichever are fewer. A source's share, once
         * half of them hold connections (unjudged or draining), is an eighth
         * (eight busy sources still leave none idle), and never under
         * two: a client may always have two connections in the works. */
        unsigned slots = cfg->max_services < GATE_MAX_PENDING ? cfg->max_services : GATE_MAX_PENDING;
        listener l = { .cfg = cfg, .fd = fd, .sfd = -1, .slots = slots,
                       .share = slots / 8 > 2 ? slots / 8 : 2,
                       .over_share_logged = INT64_MIN / 2 };
        char err[512] = "";
        sigset_t mask;
        int r, flags, rc = 0;

        /* First: a reload (SIGHUP) or stop asked for while the trust
         * loads must wait for the loop, not kill the gate. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* SIGCHLD ignored, as a parent may leave it across exec (systemd
         * does not), would have the kernel reap the services: waitpid()
         * would not see them end, and stop() would signal pids perhaps
         * reused. */
        (void) signal(SIGCHLD, SIG_DFL);

        l.conns = calloc(GATE_MAX_PENDING, sizeof(conn *));
        pfds = calloc(GATE_MAX_PENDING + 2, sizeof(struct pollfd));
        slot = calloc(GATE_MAX_PENDING + 2, sizeof(size_t));
        if (!l.conns || !pfds || !slot)
                return 1;

        r = gate_trust_load(cfg, &l.trust, err, sizeof(err));
        if (r < 0) {
                gate_log(LOG_ERR, "cannot load trust: %s", err);
                free(l.conns);
                return 2;
        }
        l.stamp = gate_trust_stamp(cfg);
        l.trust_checked = now_monotonic_ms();
        if (gate_env_base(&l.base_env) < 0) {
                gate_trust_free(l.trust);
                free(l.conns);
                return 1;
        }

        l.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        flags = fcntl(fd, F_GETFL);
        if (l.sfd < 0 || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                gate_log(LOG_ERR, "cannot set up the listener: %m");
                gate_trust_free(l.trust);
                free(l.base_env);
                free(l.conns);
                return 1;
        }
        gate_log(LOG_INFO, "accepting connections (%s mode), %zu trusted key(s)",
                 cfg->mode == GATE_MODE_HTTP ? "http" : "line", svcid_trust_key_count(l.trust->trust));

        while (!l.stopping || l.n_conns > 0 || l.n_children > 0) {
                int64_t now = now_monotonic_ms(), wait = -1;
                size_t n = 0;

                pfds[n] = (struct pollfd) { .fd = l.sfd, .events = POLLIN };
                slot[n++] = SIZE_MAX;
                pfds[n] = (struct pollfd) {
                        .fd = !l.stopping && accepting(&l) && now >= l.accept_paused_until ? l.fd : -1,
                        .events = POLLIN,
                };
                slot[n++] = SIZE_MAX;
                if (!l.stopping && now < l.accept_paused_until)
                        wait = l.accept_paused_until - now;
                if (l.over_share) {
                        int64_t until = l.over_share_logged + SHARE_LOG_MS;

                        if (wait < 0 || until - now < wait)
                                wait = until - now < 0 ? 0 : until - now;
                }
                for (size_t i = 0; i < l.n_conns; i++) {
                        conn *c = l.conns[i];
                        int64_t until = c->retry_at ? c->retry_at : c->deadline;

                        pfds[n] = (struct pollfd) {
                                .fd = c->retry_at ? -1 : c->fd,
                                .events = c->state == CONN_READING ? POLLIN | POLLRDHUP : POLLIN,
                        };
                        slot[n++] = i;
                        if (c->retry_at && c->deadline < until)
                                until = c->deadline;
                        if (wait < 0 || until - now < wait)
                                wait = until - now < 0 ? 0 : until - now;
                }

                if (poll(pfds, (nfds_t) n, (int) wait) < 0 && errno != EINTR) {
                        gate_log(LOG_ERR, "poll failed: %m");
                        rc = 1;         /* not a stop asked for */
                        break;
                }
                if (pfds[0].revents) {
                        bool was_stopping = l.stopping;

                        handle_signals(&l);
                        /* stop() closed connections: the poll set is stale,
                         * and nothing more may be accepted. */
                        if (l.stopping && !was_stopping)
                                continue;
                }

                /* Walk the connections backwards: conn_close() moves the
                 * last one into the freed slot. */
                now = now_monotonic_ms();
                for (size_t k = n; k-- > 2; ) {
                        size_t i = slot[k];
                        conn *c;

                        if (i >= l.n_conns)
                                continue;
                        c = l.conns[i];
                        if (pfds[k].revents || (c->retry_at && now >= c->retry_at) || now >= c->deadline)
                                service(&l, i, pfds[k].revents);
                }
                if (pfds[1].fd >= 0 && pfds[1].revents)
                        accept_some(&l);
                log_over_share(&l, now_monotonic_ms(), false);
        }
        log_over_share(&l, now_monotonic_ms(), true);

        for (size_t i = l.n_conns; i-- > 0; )
                conn_close(&l, i);
        (void) close(l.sfd);
        gate_trust_free(l.trust);
        free(l.base_env);
        free(l.children);
        free(l.conns);
        free(l.command);
        gate_log(LOG_INFO, "stopped");
        return rc;
}
