/* SPDX-License-Identifier: MIT */
/* svcid-gate: admits a socket-activated connection only with a valid
 * token, then becomes (or spawns) the real service. */
#ifndef SVCID_GATE_H
#define SVCID_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "svcid/svcid.h"
#include "../common/clock.h"       /* now_monotonic_ms() */
#include "../common/num.h"
#include "../common/trust_load.h"
#include "preamble.h"

#define GATE_TIMEOUT_DEFAULT_MS 5000
/* How long a refused client gets to read the reason before we close. */
#define GATE_DRAIN_MS           1000
#define GATE_DRAIN_MAX          (1024u * 1024u)
/* Long-lived style: connections accepted and not yet judged, at most. */
#define GATE_MAX_PENDING        512u

typedef enum gate_mode {
        GATE_MODE_LINE,
        GATE_MODE_HTTP,
} gate_mode;

typedef enum gate_log_target {
        GATE_LOG_AUTO,
        GATE_LOG_JOURNAL,
        GATE_LOG_STDERR,
} gate_log_target;

typedef struct gate_config {
        const char *audience;
        const char **trust;             /* --trust paths; none: the defaults */
        size_t n_trust;
        const char **requires;          /* CLAIM=GLOB */
        size_t n_requires;
        const char *issuer;             /* --issuer, or NULL */
        int64_t leeway;                 /* -1: library default */
        int64_t max_lifetime;           /* -1: library default */
        gate_mode mode;
        bool peer_uid;
        const char *local_jwks;         /* this host's JWKS (its "iss") */
        int timeout_ms;
        unsigned max_services;          /* long-lived: services + pending */
        char **argv;                    /* the service command */
        const char *command;            /* argv[0] found: gate_command_find() */
} gate_config;

/* ---- trust (trust.c) ---------------------------------------------------- */

typedef struct gate_trust {
        svcid_trust *trust;
        svcid_policy *policy;
        char *local_iss;                /* with --peer-uid: this host's issuer */
        svcid_trust *local;             /* with --peer-uid: this host's keys only */
} gate_trust;

/* Loads every trust source of cfg and builds the policy. On failure a
 * one-line reason goes into err. */
int gate_trust_load(const gate_config *cfg, gate_trust **ret, char *err, size_t err_len);
void gate_trust_free(gate_trust *t);
/* A fingerprint of the trust files' stat data: it changes when a file is
 * added, removed, replaced or written. */
uint64_t gate_trust_stamp(const gate_config *cfg);

/* ---- peers (peer.c) ----------------------------------------------------- */

typedef struct gate_peer {
        int family;                     /* AF_UNIX, AF_INET, AF_INET6, or 0 */
        bool have_cred;
        int error;                      /* why the address or credentials are unknown (-errno), or 0 */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        char text[96];                  /* for logs: "unix:pid=1,uid=0,gid=0", "[::1]:4242" */
        /* Who counts as the same source for the long-lived style's share
         * of pending connections: a kind byte, then a uid (AF_UNIX), an
         * IPv4 address (IPv4-mapped IPv6 too) or an IPv6 /64; zeros after.
         * Equal bytes, same source. */
        unsigned char source[9];
} gate_peer;

void gate_peer_get(int fd, gate_peer *ret);

/* ---- judging a connection (check.c) ------------------------------------- */

/* http mode on AF_UNIX: how long to wait before looking again at a head
 * that has not grown, at first and at most. */
#define GATE_RETRY_MIN_MS 10
#define GATE_RETRY_MAX_MS 320

/* Reads or peeks what the client sent so far on its stream socket (the
 * only kind svcid-gate takes: find_socket() in main.c). */
typedef struct gate_reader {
        gate_mode mode;
        bool eof;
        bool lowat;                     /* SO_RCVLOWAT raised (TCP, http mode) */
        int retry_ms;                   /* after -EAGAIN: wait this long, then step again */
        size_t len;                     /* bytes in buf (consumed or peeked) */
        char buf[GATE_HEAD_MAX + 1];
} gate_reader;

void gate_reader_init(gate_reader *r, gate_mode mode);
/* One non-blocking step. hup: poll reported the peer done writing.
 * Returns 1 when decided (*ret filled), 0 when more bytes are needed,
 * -EAGAIN when nothing new arrived (http mode on AF_UNIX cannot wait for
 * "more" with poll: wait r->retry_ms, which grows while the peer stays
 * silent, then step again), -errno on a socket error. */
int gate_reader_step(gate_reader *r, int fd, bool hup, gate_preamble *ret);
/* Undoes what reading changed on the socket (SO_RCVLOWAT). */
void gate_reader_done(gate_reader *r, int fd);

/* Verifies the token per cfg (and --peer-uid against peer). report is
 * always filled; *ret_claims on SVCID_OK. */
svcid_reason gate_check(const gate_config *cfg, const gate_trust *t, const gate_peer *peer,
                        const char *token, size_t len, svcid_claims **ret_claims,
                        svcid_report *report);

/* Fills report for a refusal decided before verification. */
void gate_report_set(svcid_report *report, svcid_reason reason, const char *detail);

/* Writes the refusal in the form of the reader's mode, or a line-mode
 * one to a client whose bytes begin with the line preamble (best effort,
 * never blocks long). */
void gate_send_refusal(int fd, const gate_reader *r, svcid_reason reason);

/* ---- the service (exec.c) ----------------------------------------------- */

/* The environment without what the gate sets itself (LISTEN_*, SVCID_*
 * of DESIGN.md). The array is malloc'd, its strings borrowed. */
int gate_env_base(char ***ret);

/* The service's environment: base + the claims. Heap-allocated: one block
 * that free() releases. Contains a "LISTEN_PID=" slot that gate_exec()
 * fills in the child. */
typedef struct gate_env {
        char **envp;
        char *listen_pid;               /* points into envp storage */
        size_t listen_pid_size;
} gate_env;

int gate_env_build(char **base, const gate_config *cfg, const svcid_claims *claims, gate_env *ret);
void gate_env_free(gate_env *env);

/* The file execvpe() would run for name (name itself if it holds a '/',
 * else the first match in $PATH's directories), if it is an executable
 * regular file: 0 and *ret_path (free() it), or -errno. Checked before
 * any token is read, so that a command that cannot run ends the
 * connection unread (a reset) rather than after an admission. */
int gate_command_find(const char *name, char **ret_path);

/* In the process that becomes the service: the connection on 0, 1 and 3,
 * /dev/null on 2 if it was a listening socket, every other descriptor
 * above 3 closed, LISTEN_PID set to our pid, no signal blocked, exec of
 * path with argv (which resets the gate's own handlers; dispositions the
 * gate inherited, as systemd's SIGPIPE, stay as the service manager set
 * them). Returns only on failure (-errno), with the connection set to be
 * reset when it closes. */
int gate_exec(int conn_fd, const char *path, char **argv, gate_env *env);

/* ---- audit (log.c) ------------------------------------------------------ */

/* conn_fd: in inetd style under systemd, stderr may be the connection
 * itself; log.c then never writes to it. */
void gate_log_init(gate_log_target target, int conn_fd);
void gate_log_admitted(const gate_peer *peer, const svcid_claims *claims,
                       const svcid_report *report, pid_t service_pid);
void gate_log_refused(const gate_peer *peer, const svcid_report *report);
/* Operational messages (start-up errors, reloads), syslog priority. */
void gate_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- styles ------------------------------------------------------------- */

/* Accept=yes / inetd: judges the one connection on fd, then execs the
 * service (never returns on success). Returns the exit code. */
int gate_run_connection(const gate_config *cfg, int fd);
/* Accept=no: accepts on the listening fd until SIGTERM. Exit code. */
int gate_run_listener(const gate_config *cfg, int fd);

/* ---- small helpers (util.c) ---------------------------------------------- */


/* For a connection no service will answer (no trust, no OpenSSL
 * configuration, a command that cannot run): its close must not look
 * like a service that ran and said nothing. A TCP client gets a reset
 * (SO_LINGER 0) even before it has sent anything. A Unix client gets
 * ECONNRESET if its bytes are still unread, EPIPE if it sends after, so
 * there it is closing before reading anything that makes the difference.
 * The option is the socket's: it holds for every descriptor of it; never
 * for a listening socket, whose accepted connections would inherit it. */
void gate_reset_on_close(int fd);

#endif
