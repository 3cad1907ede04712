/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "mint.h"
#include "util.h"
#include "../common/json.h"

void mint_result_done(mint_result *r) {
        svcid_free_secret(r->token);
        svcid_free_secret(r->body);
        free(r->sub);
        *r = (mint_result) {};
}

static int refuse(mint_refusal *refusal, int error, const char *word, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int refuse(mint_refusal *refusal, int error, const char *word, const char *fmt, ...) {
        va_list ap;

        refusal->word = word;
        va_start(ap, fmt);
        vsnprintf(refusal->message, sizeof refusal->message, fmt, ap);
        va_end(ap);
        return error;
}

/* A local user name as a token's sub: valid UTF-8, no spaces or control
 * characters (a sub goes into pam_svcid's map= lines and log lines). */
static bool sub_ok(const char *s) {
        json_t *j;
        bool ok;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p <= 0x20 || *p == 0x7f)
                        return false;
        j = json_string(s);     /* NULL for invalid UTF-8 */
        ok = j != NULL;
        json_decref(j);
        return ok;
}

int mint_token(const agent_config *cfg, const char *issuer, const svcid_key *key, int64_t key_cap,
               const mint_caller *c, const char *aud, int64_t ttl, int64_t now,
               mint_refusal *refusal, mint_result *ret) {
        _cleanup_(json_decrefp) json_t *claims = NULL;
        _cleanup_(free_p) char *jti = NULL, *payload = NULL, *sub = NULL;
        const agent_account *account;
        const char *name, *k;
        char *token = NULL;
        json_t *v;
        int64_t cap;
        int r;

        if (!name_ok(aud))
                return refuse(refusal, -EINVAL, "bad_request",
                              "aud must be 1 to 255 printable ASCII characters without spaces");
        if (ttl < 0 || ttl > CONFIG_TTL_MAX)
                return refuse(refusal, -EINVAL, "bad_request", "ttl must be between 1 and %d", CONFIG_TTL_MAX);

        account = config_match(cfg, c->uid, c->user, c->unit);
        if (account) {
                name = account->name;
                if (!config_audience_allowed(account, aud))
                        return refuse(refusal, -EACCES, "forbidden",
                                      "account %s may not ask for this audience", account->name);
        } else {
                if (!cfg->anonymous)
                        return refuse(refusal, -EACCES, "forbidden",
                                      "no account matches this caller and anonymous callers are denied");
                if (!c->user)
                        return refuse(refusal, -EACCES, "forbidden",
                                      "uid %u has no user name to put in a token", (unsigned) c->uid);
                if (!sub_ok(c->user))
                        return refuse(refusal, -EACCES, "forbidden",
                                      "the user name of uid %u cannot be a token's sub: it has spaces, "
                                      "control characters or invalid UTF-8", (unsigned) c->uid);
                /* A sub names one principal: an account's name is its own,
                 * not that of a local user who happens to bear it and
                 * whom the account's user or unit did not match. */
                for (size_t i = 0; i < cfg->n_accounts; i++)
                        if (strcmp(cfg->accounts[i].name, c->user) == 0)
                                return refuse(refusal, -EACCES, "forbidden",
                                              "user %s does not match account %s, which owns that sub",
                                              c->user, c->user);
                name = c->user;
        }

        /* ttl: asked for (or the default), capped by the account and by
         * max_ttl, and by how long the key stays published after it signs
         * (a raised max_ttl not yet written). A cap shortens the token
         * rather than refusing it; the caller sees the real expiry in
         * expires_at. */
        if (ttl == 0)
                ttl = cfg->default_ttl;
        cap = cfg->max_ttl;
        if (account && account->ttl > 0 && account->ttl < cap)
                cap = account->ttl;
        if (key_cap < cap)
                cap = key_cap;
        if (ttl > cap)
                ttl = cap;

        r = svcid_jti_new(&jti);
        if (r < 0)
                return refuse(refusal, r, "internal", "cannot make a token id");
        sub = strdup(name);
        claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I}",
                           "iss", issuer, "sub", name, "aud", aud,
                           "iat", (json_int_t) now, "exp", (json_int_t) (now + ttl),
                           "jti", jti,
                           "uid", (json_int_t) c->uid, "gid", (json_int_t) c->gid);
        if (!claims || !sub)
                return refuse(refusal, -ENOMEM, "internal", "out of memory");
        if (c->unit && json_object_set_new(claims, "unit", json_string(c->unit)) < 0)
                return refuse(refusal, -EINVAL, "internal", "unit name is not UTF-8");
        /* Copies: the config's values are shared by every HTTP thread, and
         * a reference would have them all write its count. */
        if (account)
                json_object_foreach(account->claims, k, v)      /* names checked at load */
                        if (json_object_set_new(claims, k, json_deep_copy(v)) < 0)
                                return refuse(refusal, -ENOMEM, "internal", "out of memory");

        payload = json_dumps_whole(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!payload)
                return refuse(refusal, -ENOMEM, "internal", "out of memory");
        r = svcid_jwt_sign(key, payload, strlen(payload), &token);
        if (r == -EFBIG)
                return refuse(refusal, r, "internal", "the token would be over %u bytes: the claims are too long",
                              SVCID_TOKEN_MAX);
        if (r < 0)
                return refuse(refusal, r, "internal", "signing failed");

        *ret = (mint_result) { .token = token, .sub = TAKE_PTR(sub), .exp = now + ttl };
        snprintf(ret->jti, sizeof ret->jti, "%s", jti);
        return 0;
}
