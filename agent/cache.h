/* SPDX-License-Identifier: MIT */
/* Reuse of a freshly minted token for the same identity and request, for
 * a few seconds (token_reuse in svcid.conf(5)), the way SPIRE hands out a
 * cached SVID: signing is the agent's largest cost per request, and a
 * caller that asks again moments later gains nothing from a new signature.
 *
 * The trade-off, documented for operators: within the window the same
 * caller identity (uid, gid, unit, user, hence sub and claims) asking for
 * the same audience and ttl gets the same token — the same jti, and a
 * little less remaining life (at most a tenth of the ttl less). No token
 * ever reaches an identity other than the one it names. The cache is
 * emptied on every reload and key change, is bounded, and tokens in it are
 * wiped when dropped. Thread-safe. */
#ifndef SVCID_AGENT_CACHE_H
#define SVCID_AGENT_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mint.h"

#define CACHE_MAX_ENTRIES 1024

typedef struct token_cache token_cache;

int token_cache_new(token_cache **ret_cache);
void token_cache_free(token_cache *cache);      /* NULL is fine */

/* The request a token answered; every field takes part in the match. */
typedef struct cache_key {
        uid_t uid;
        gid_t gid;
        const char *user;       /* may be NULL */
        const char *unit;       /* may be NULL */
        const char *aud;
        int64_t ttl;            /* as asked (0: the default) */
        const char *iss;
} cache_key;

/* On a hit (an entry for key made by the same key kid at most `window`
 * seconds before now, and at most a tenth of its token's life ago), fills
 * *ret_result with copies and returns true. */
bool token_cache_get(token_cache *cache, const cache_key *key, const char *kid, int64_t now,
                     int64_t window, mint_result *ret_result);

/* Remembers result (copied) for key, made at now. */
void token_cache_put(token_cache *cache, const cache_key *key, const char *kid, int64_t now,
                     const mint_result *result);

/* Forgets every token (reload, rotation). */
void token_cache_clear(token_cache *cache);

#endif
