/* SPDX-License-Identifier: MIT */
/* Turning a caller and a request into a token, by the policy of
 * agent.conf (svcid.conf(5)) and DESIGN.md's token profile. */
#ifndef SVCID_AGENT_MINT_H
#define SVCID_AGENT_MINT_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "svcid/svcid.h"

typedef struct mint_caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const char *user;       /* NULL: no passwd entry */
        const char *unit;       /* NULL: not in a unit */
} mint_caller;

typedef struct mint_result {
        char *token;            /* malloc'd */
        char *sub;              /* malloc'd */
        char jti[32];
        int64_t exp;
        /* The 200 answer's body, {"token":…,"expires_at":…,"sub":…},
         * malloc'd, or NULL: made once per minted token by the HTTP layer
         * and kept with the token in the reuse cache, so that a token
         * handed out again costs no JSON encoding. Holds the token, so it
         * is wiped like it. */
        char *body;
} mint_result;

/* Wipes the token and the body, frees everything; r is zeroed. */
void mint_result_done(mint_result *r);

/* Why a mint was refused: a stable word for the HTTP "error" member and
 * the audit log, and a sentence for the caller. */
typedef struct mint_refusal {
        const char *word;
        char message[200];
} mint_refusal;

/* Mints a token for caller, audience aud and ttl (0: the default) at now,
 * signed by key under issuer; key_cap (keystore_ttl_cap()) bounds the ttl
 * as max_ttl does. Returns 0; -EACCES when policy refuses (the refusal
 * says why); -EINVAL for a bad request; -errno otherwise. */
int mint_token(const agent_config *config, const char *issuer, const svcid_key *key, int64_t key_cap,
               const mint_caller *caller, const char *aud, int64_t ttl, int64_t now,
               mint_refusal *refusal, mint_result *ret_result);

#endif
