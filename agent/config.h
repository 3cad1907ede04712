/* SPDX-License-Identifier: MIT */
/* agent.conf: the agent's policy (svcid.conf(5)), parsed with libinih.
 * Every error names "file:line: reason"; an unknown section, key or a bad
 * value is an error, so a typo never silently widens or narrows policy. */
#ifndef SVCID_AGENT_CONFIG_H
#define SVCID_AGENT_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "svcid/svcid.h"

#define CONFIG_PATH_DEFAULT      "/etc/svcid/agent.conf"
#define CONFIG_STATE_DIR_DEFAULT "/var/lib/svcid"
#define CONFIG_FILE_MAX          (64u * 1024u)
#define CONFIG_TTL_MAX           3600            /* DESIGN.md: ttl max 3600 s */
#define CONFIG_KEY_LIFETIME_MIN  2
#define CONFIG_KEY_LIFETIME_MAX  (366 * 86400)
#define CONFIG_RETIRED_KEYS_MAX  60              /* max_ttl / key_lifetime at most */
#define CONFIG_REUSE_MAX         300
#define CONFIG_NAME_MAX          255             /* issuer, sub, audience, glob */

typedef struct agent_account {
        char *name;             /* the sub of its tokens */
        unsigned line;          /* where its section starts, for messages */
        char *user;             /* user name to match, or NULL */
        bool has_uid;           /* user was given as a number */
        uid_t uid;
        char *unit;             /* fnmatch glob on the caller's unit, or NULL */
        char **audiences;       /* NULL-terminated globs; NULL: any audience */
        int64_t ttl;            /* cap on the ttl, 0: only max_ttl */
        json_t *claims;         /* claim.* members, an object (never NULL) */
} agent_account;

typedef struct agent_config {
        char *issuer;           /* NULL: the default svcid://<fqdn> */
        svcid_alg alg;
        int64_t default_ttl;
        int64_t max_ttl;
        int64_t key_lifetime;
        int64_t token_reuse;    /* seconds a token may be handed out again */
        char *state_dir;        /* NULL: not set in the file */
        bool anonymous;         /* callers no account matches get tokens */
        agent_account *accounts;
        size_t n_accounts;
        char **warnings;        /* "file:line: message": valid, but likely a mistake */
        size_t n_warnings;
} agent_config;

/* Parses agent.conf text (len bytes, at most CONFIG_FILE_MAX). origin
 * names the file in messages. On failure err gets "origin:line: reason"
 * and -EINVAL (or -ENOMEM, -EFBIG) is returned. */
int config_parse(const char *text, size_t len, const char *origin,
                 char *err, size_t err_len, agent_config **ret_config);

/* Reads and parses path: 0, or 1 for a missing file when missing_ok,
 * which gives the defaults; a file that others may write is refused. */
int config_load(const char *path, bool missing_ok, char *err, size_t err_len,
                agent_config **ret_config);

void config_free(agent_config *config);        /* NULL is fine */

/* The first account whose user and unit match the caller, or NULL.
 * user_name and unit may be NULL (no passwd entry, no unit). */
const agent_account *config_match(const agent_config *config, uid_t uid,
                                  const char *user_name, const char *unit);

/* Whether account lets its callers ask for aud. */
bool config_audience_allowed(const agent_account *account, const char *aud);

#endif
