/* SPDX-License-Identifier: MIT */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/io.h"
#include "log.h"

#define SIZE_WARNING_SECONDS  60
#define SIZE_WARNING_SUBJECTS 32

/* One MESSAGE_ID per event kind (journalctl MESSAGE_ID=…). */
#define MID_MINT    "b00aafc18aa54a79adf612821e411e38"
#define MID_REFUSAL "b9fb12c29c0f4e6d8a9a48857f58a28e"
#define MID_KEY     "ca080c9cea3342f2a2363d3c432b1034"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static bool use_journal;

int log_target_from_str(const char *s, log_target *ret_target) {
        if (strcmp(s, "auto") == 0)
                *ret_target = LOG_TARGET_AUTO;
        else if (strcmp(s, "journal") == 0)
                *ret_target = LOG_TARGET_JOURNAL;
        else if (strcmp(s, "stderr") == 0)
                *ret_target = LOG_TARGET_STDERR;
        else
                return -EINVAL;
        return 0;
}

/* systemd sets JOURNAL_STREAM=DEV:INO for the stream it connects stdout
 * and stderr to; only if stderr is still that stream do we talk to the
 * journal directly (a shell redirect must keep working). */
void log_open(log_target target) {
        switch (target) {
        case LOG_TARGET_JOURNAL:
                /* sd_journal_send() reports success when no journald
                 * listens: the audit trail would vanish without a word. */
                use_journal = access(JOURNAL_SOCKET, W_OK) == 0;
                if (!use_journal)
                        fprintf(stderr, "svcid-agent: warning: --log-target=journal: no journal at %s (%m); "
                                "logging to standard error\n", JOURNAL_SOCKET);
                break;
        case LOG_TARGET_STDERR:
                use_journal = false;
                break;
        default:
                use_journal = stderr_is_journal();
        }
}

bool log_to_journal(void) {
        return use_journal;
}

/* Makes a caller-influenced string safe for one log line, and
 * unambiguous: anything outside printable ASCII, the quote and the
 * backslash as \xHH (a '?' would read the same as a real one in an
 * audience), and a value of just "-", which stands for none, as \x2d.
 * At most out_len - 1 bytes, whole escapes only. */
static const char *clean(const char *in, char *out, size_t out_len) {
        size_t o = 0;

        if (!in)
                return "-";
        if (strcmp(in, "-") == 0)
                return "\\x2d";
        for (; *in; in++) {
                unsigned char c = (unsigned char) *in;
                bool plain = c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';

                if (o + (plain ? 1 : 4) >= out_len)
                        break;
                if (plain)
                        out[o++] = (char) c;
                else
                        o += (size_t) snprintf(out + o, out_len - o, "\\x%02x", c);
        }
        out[o] = '\0';
        return out;
}

static const char *prio_word(int priority) {
        switch (priority) {
        case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
                return "error: ";
        case LOG_WARNING:
                return "warning: ";
        default:
                return "";
        }
}

void log_msg(int priority, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        if (use_journal)
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", priority,
                                "SYSLOG_IDENTIFIER=svcid-agent", NULL);
        else
                fprintf(stderr, "svcid-agent: %s%s\n", prio_word(priority), buf);
}

/* Whether a size warning for a token of subject sub is due: the first
 * in SIZE_WARNING_SECONDS for it. The last SIZE_WARNING_SUBJECTS subjects
 * warned about are remembered (by a hash of the name; a collision only
 * merges two subjects' counts), and *ret_others says how many tokens of
 * this one went unwarned since its last warning. */
static bool size_warning_due(const char *sub, unsigned long *ret_others) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static struct { uint64_t hash; int64_t at; unsigned long others; } seen[SIZE_WARNING_SUBJECTS];
        uint64_t h;
        struct timespec now;
        size_t i, oldest = 0;
        bool due;

        h = fnv1a(FNV1A_INIT, sub ? sub : "", sub ? strlen(sub) : 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&lock);
        for (i = 0; i < SIZE_WARNING_SUBJECTS && !(seen[i].at && seen[i].hash == h); i++)
                if (seen[i].at < seen[oldest].at)
                        oldest = i;
        if (i == SIZE_WARNING_SUBJECTS) {
                i = oldest;
                seen[i].hash = h;
                seen[i].at = 0;
                seen[i].others = 0;
        }
        due = !seen[i].at || now.tv_sec + 1 - seen[i].at >= SIZE_WARNING_SECONDS;
        *ret_others = due ? seen[i].others : 0;
        if (due) {
                seen[i].at = now.tv_sec + 1;    /* never 0 */
                seen[i].others = 0;
        } else
                seen[i].others++;
        pthread_mutex_unlock(&lock);
        return due;
}

void log_mint(const log_caller *c, const char *sub, const char *aud,
              const char *jti, const char *kid, int64_t exp, size_t token_len, bool reused) {
        char sb[520], ab[1024], ub[1024];
        const char *s = clean(sub, sb, sizeof sb), *a = clean(aud, ab, sizeof ab),
                   *u = clean(c->unit, ub, sizeof ub);

        if (use_journal)
                sd_journal_send("MESSAGE=%s a token for '%s' (aud '%s', uid %u, pid %i, unit %s)",
                                reused ? "handed out again" : "minted", s, a, (unsigned) c->uid, (int) c->pid, u,
                                "MESSAGE_ID=" MID_MINT, "PRIORITY=%i", LOG_INFO,
                                "SYSLOG_IDENTIFIER=svcid-agent",
                                "SVCID_SUB=%s", s, "SVCID_AUD=%s", a, "SVCID_JTI=%s", jti,
                                "SVCID_KID=%s", kid, "SVCID_UID=%u", (unsigned) c->uid,
                                "SVCID_GID=%u", (unsigned) c->gid, "SVCID_PID=%i", (int) c->pid,
                                "SVCID_UNIT=%s", u, "SVCID_EXP=%" PRIi64, exp,
                                "SVCID_TOKEN_BYTES=%zu", token_len, "SVCID_REUSED=%i", reused, NULL);
        else
                fprintf(stderr, "svcid-agent: mint sub='%s' aud='%s' jti=%s kid=%s uid=%u gid=%u pid=%i unit='%s' exp=%" PRIi64 " bytes=%zu%s\n",
                        s, a, jti, kid, (unsigned) c->uid, (unsigned) c->gid, (int) c->pid, u, exp, token_len,
                        reused ? " reused" : "");

        /* DESIGN.md's size budget: sudo refuses PAM answers of 512 bytes
         * or more, so a token that long is worth an operator's attention.
         * Once a minute a subject at most: a caller can ask for a long
         * audience at every mint, and a warning each time would flood
         * the log (each mint's record keeps its size). */
        if (token_len >= 512 && !reused) {
                unsigned long others;

                if (!size_warning_due(sub, &others))
                        return;
                if (others)
                        log_warning("token for '%s' (aud '%s') is %zu bytes, at or over the 512-byte budget, "
                                    "and so were %lu more for '%s' since the last such warning",
                                    s, a, token_len, others, s);
                else
                        log_warning("token for '%s' (aud '%s') is %zu bytes, at or over the 512-byte budget",
                                    s, a, token_len);
        }
}

void log_refusal(const log_caller *c, const char *reason, const char *aud, const char *detail) {
        char ab[1024], ub[1024], db[1200];
        const char *a = clean(aud, ab, sizeof ab), *u = clean(c->unit, ub, sizeof ub),
                   *d = clean(detail, db, sizeof db);

        if (use_journal)
                sd_journal_send("MESSAGE=refused a request from uid %u pid %i: %s: %s",
                                (unsigned) c->uid, (int) c->pid, reason, d,
                                "MESSAGE_ID=" MID_REFUSAL, "PRIORITY=%i", LOG_NOTICE,
                                "SYSLOG_IDENTIFIER=svcid-agent",
                                "SVCID_REASON=%s", reason, "SVCID_AUD=%s", a,
                                "SVCID_UID=%u", (unsigned) c->uid, "SVCID_GID=%u", (unsigned) c->gid,
                                "SVCID_PID=%i", (int) c->pid, "SVCID_UNIT=%s", u, NULL);
        else
                fprintf(stderr, "svcid-agent: refused reason=%s aud='%s' uid=%u gid=%u pid=%i unit='%s': %s\n",
                        reason, a, (unsigned) c->uid, (unsigned) c->gid, (int) c->pid, u, d);
}

void log_key(const char *event, const char *kid, const char *alg) {
        if (use_journal)
                sd_journal_send("MESSAGE=key %s %s: %s", kid, alg, event,
                                "MESSAGE_ID=" MID_KEY, "PRIORITY=%i", LOG_NOTICE,
                                "SYSLOG_IDENTIFIER=svcid-agent",
                                "SVCID_KID=%s", kid, "SVCID_ALG=%s", alg,
                                "SVCID_KEY_EVENT=%s", event, NULL);
        else
                fprintf(stderr, "svcid-agent: key %s kid=%s alg=%s\n", event, kid, alg);
}
