/* SPDX-License-Identifier: MIT */
/* Audit records: structured journal entries when running under journald,
 * one line on stderr otherwise. The journal's native protocol is spoken
 * directly (a datagram of NAME=value lines) instead of through libsystemd:
 * the per-connection gate is exec'd for every connection, and loading
 * libsystemd would cost it more than all of its own work. Never logs a
 * token: only the report's sanitized fields. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/io.h"
#include "../common/text.h"
#include "gate.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* MESSAGE_ID per event kind (journalctl MESSAGE_ID=…). */
#define MID_ADMITTED "0a7c131c54514ce39c86130838f3ae84"
#define MID_REFUSED  "8e733dde265643bf8264a04ff4bed1fc"
#define MID_NOTICE   "3c0ec765f65b4713b9757b4273974bf6"

static bool use_journal;
static bool use_stderr = true;
static int journal_fd = -1;

static bool stderr_is_fd(int fd) {
        struct stat a, b;

        if (fd < 0 || fstat(STDERR_FILENO, &a) < 0 || fstat(fd, &b) < 0)
                return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void gate_log_init(gate_log_target target, int conn_fd) {
        bool stderr_ok = !stderr_is_fd(conn_fd) && fcntl(STDERR_FILENO, F_GETFD) >= 0;

        switch (target) {
        case GATE_LOG_JOURNAL:
                /* Where no journal listens, standard error (if it is not
                 * the connection) keeps the records: warned once here,
                 * and each record falls back to it when a send fails. */
                use_journal = true;
                use_stderr = stderr_ok;
                if (stderr_ok && access(JOURNAL_SOCKET, W_OK) < 0)
                        fprintf(stderr, "svcid-gate[%d]: warning: --log-target=journal: no journal at %s (%m); "
                                "logging to standard error\n", (int) getpid(), JOURNAL_SOCKET);
                break;
        case GATE_LOG_STDERR:
                use_journal = false;
                use_stderr = stderr_ok;
                break;
        case GATE_LOG_AUTO:
        default:
                /* In inetd style under systemd, stderr defaults to the
                 * connection: writing there would talk to the client. */
                use_journal = stderr_is_journal() || (!stderr_ok && access(JOURNAL_SOCKET, W_OK) == 0);
                use_stderr = !use_journal && stderr_ok;
                break;
        }
}

typedef struct field {
        const char *name;
        const char *value;
} field;

static int journal_send(const field *f, size_t n) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        struct iovec iov[64];
        struct msghdr mh = { 0 };
        size_t k = 0;

        if (journal_fd < 0) {
                journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (journal_fd < 0)
                        return -errno;
        }
        for (size_t i = 0; i < n && k + 4 <= ELEMENTSOF(iov); i++) {
                if (!f[i].value)
                        continue;
                /* Our values are single lines; a newline would need the
                 * binary form, so such a field is left out. */
                if (strchr(f[i].value, '\n'))
                        continue;
                iov[k++] = (struct iovec) { .iov_base = (void *) f[i].name, .iov_len = strlen(f[i].name) };
                iov[k++] = (struct iovec) { .iov_base = (void *) "=", .iov_len = 1 };
                iov[k++] = (struct iovec) { .iov_base = (void *) f[i].value, .iov_len = strlen(f[i].value) };
                iov[k++] = (struct iovec) { .iov_base = (void *) "\n", .iov_len = 1 };
        }
        mh.msg_name = &sa;
        mh.msg_namelen = sizeof(sa);
        mh.msg_iov = iov;
        mh.msg_iovlen = k;
        return sendmsg(journal_fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void emit(int priority, const char *message_id, const char *message, const field *extra, size_t n_extra) {
        field f[24];
        char prio[4];
        size_t n = 0;

        if (use_journal) {
                snprintf(prio, sizeof(prio), "%d", priority);
                f[n++] = (field) { "MESSAGE", message };
                f[n++] = (field) { "PRIORITY", prio };
                f[n++] = (field) { "SYSLOG_IDENTIFIER", "svcid-gate" };
                f[n++] = (field) { "MESSAGE_ID", message_id };
                for (size_t i = 0; i < n_extra && n < ELEMENTSOF(f); i++)
                        f[n++] = extra[i];
                if (journal_send(f, n) >= 0)
                        return;
        }
        if (use_stderr)
                fprintf(stderr, "svcid-gate[%d]: %s\n", (int) getpid(), message);
}

/* The report's strings are already printable ASCII; quotes and
 * backslashes still need escaping inside "…" for an unambiguous line. */
static void quote(char *dst, size_t size, const char *src) {
        size_t k = 0;

        if (size < 3) {
                if (size)
                        dst[0] = '\0';
                return;
        }
        dst[k++] = '"';
        for (size_t i = 0; src && src[i] && k + 3 < size; i++) {
                if (src[i] == '"' || src[i] == '\\')
                        dst[k++] = '\\';
                dst[k++] = src[i];
        }
        dst[k++] = '"';
        dst[k] = '\0';
}

/* Appends " name=value" when value is non-empty. Every value that comes
 * from a token is quoted: the claims of a refused token are the caller's
 * own words, and unquoted they could pass for fields of the line. */
static void append(char *msg, size_t size, const char *name, const char *value, bool quoted) {
        char q[420];
        size_t used = strlen(msg);

        if (!value || !value[0] || used >= size)
                return;
        if (quoted)
                quote(q, sizeof(q), value);
        snprintf(msg + used, size - used, " %s=%s", name, quoted ? q : value);
}

void gate_log_admitted(const gate_peer *peer, const svcid_claims *claims,
                       const svcid_report *report, pid_t service_pid) {
        char msg[2048] = "admitted", unit[128] = "", uid[24] = "", pid[24];
        int64_t u;

        if (!use_journal && !use_stderr)
                return;
        if (claims) {
                /* A claim libsvcid did not make printable for us. */
                copy_printable(unit, sizeof(unit), svcid_claims_string(claims, "unit"));
                if (svcid_claims_int(claims, "uid", &u) == 0)
                        snprintf(uid, sizeof(uid), "%lld", (long long) u);
        }
        snprintf(pid, sizeof(pid), "%d", (int) service_pid);
        append(msg, sizeof(msg), "sub", report->sub, true);
        append(msg, sizeof(msg), "iss", report->iss, true);
        append(msg, sizeof(msg), "jti", report->jti, true);
        append(msg, sizeof(msg), "kid", report->kid, true);
        append(msg, sizeof(msg), "unit", unit, true);
        append(msg, sizeof(msg), "peer", peer->text, false);
        append(msg, sizeof(msg), "service_pid", pid, false);

        field f[] = {
                { "SVCID_EVENT", "admitted" },
                { "SVCID_SUB", report->sub },
                { "SVCID_ISS", report->iss },
                { "SVCID_JTI", report->jti },
                { "SVCID_KID", report->kid },
                { "SVCID_UID", uid[0] ? uid : NULL },
                { "SVCID_UNIT", unit[0] ? unit : NULL },
                { "SVCID_PEER", peer->text },
                { "SVCID_SERVICE_PID", pid },
        };
        emit(LOG_INFO, MID_ADMITTED, msg, f, ELEMENTSOF(f));
}

void gate_log_refused(const gate_peer *peer, const svcid_report *report) {
        char msg[2048];
        const char *reason = svcid_reason_str(report->reason);

        if (!use_journal && !use_stderr)
                return;
        snprintf(msg, sizeof(msg), "refused reason=%s", reason);
        append(msg, sizeof(msg), "detail", report->detail, true);
        append(msg, sizeof(msg), "iss", report->iss, true);
        append(msg, sizeof(msg), "sub", report->sub, true);
        append(msg, sizeof(msg), "kid", report->kid, true);
        append(msg, sizeof(msg), "jti", report->jti, true);
        append(msg, sizeof(msg), "peer", peer->text, false);

        field f[] = {
                { "SVCID_EVENT", "refused" },
                { "SVCID_REASON", reason },
                { "SVCID_DETAIL", report->detail[0] ? report->detail : NULL },
                { "SVCID_ISS", report->iss[0] ? report->iss : NULL },
                { "SVCID_SUB", report->sub[0] ? report->sub : NULL },
                { "SVCID_KID", report->kid[0] ? report->kid : NULL },
                { "SVCID_JTI", report->jti[0] ? report->jti : NULL },
                { "SVCID_PEER", peer->text },
        };
        emit(LOG_WARNING, MID_REFUSED, msg, f, ELEMENTSOF(f));
}

void gate_log(int priority, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        if (!use_journal && !use_stderr)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* Notices quote what the operator gave (the command, --issuer,
         * --require, paths), which may hold any byte: one printable line,
         * so that a newline forges no line on stderr nor costs the journal
         * record its MESSAGE (journal_send() leaves out such a value). */
        copy_printable_n(msg, sizeof(msg), msg, strlen(msg), true);
        emit(priority, MID_NOTICE, msg, NULL, 0);
}
