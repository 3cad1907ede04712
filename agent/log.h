/* SPDX-License-Identifier: MIT */
/* The agent's log: the journal with structured fields, or one line per
 * event on stderr. Audit events (each mint, each refusal) carry their own
 * MESSAGE_ID so that they can be selected with journalctl MESSAGE_ID=…;
 * a token or a private key is never passed here. Thread-safe. */
#ifndef SVCID_AGENT_LOG_H
#define SVCID_AGENT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

typedef enum log_target {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
} log_target;

/* "auto", "journal", "stderr"; -EINVAL otherwise. */
int log_target_from_str(const char *s, log_target *ret_target);

/* Auto picks the journal when stderr is connected to it ($JOURNAL_STREAM
 * names stderr's device and inode), else stderr. */
void log_open(log_target target);
/* Whether the log goes to the journal (else to standard error). */
bool log_to_journal(void);

/* Plain operational messages (priority is a syslog LOG_* level). */
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)

/* What audit entries say about the caller. unit may be NULL. */
typedef struct log_caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const char *unit;
} log_caller;

/* A token was minted (or, reused, handed out again from the cache).
 * Never the token itself. */
void log_mint(const log_caller *caller, const char *sub, const char *aud,
              const char *jti, const char *kid, int64_t exp, size_t token_len, bool reused);

/* A request was refused: reason is a stable word (the "error" of the
 * HTTP body), detail a human explanation. aud may be NULL. */
void log_refusal(const log_caller *caller, const char *reason, const char *aud,
                 const char *detail);

/* Key life cycle: event is "created", "activated", "retired", "removed". */
void log_key(const char *event, const char *kid, const char *alg);

#endif
