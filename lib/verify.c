/* SPDX-License-Identifier: MIT */
/* The one verification policy of svcid (DESIGN.md "Verification"): every
 * check, in order; the first that fails names the reason. The CLI, the
 * PAM module and the gate all come through svcid_verify(). */
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "../common/json.h"

struct require {
        char *claim;
        char *glob;
};

struct svcid_policy {
        const svcid_trust *trust;
        char *audience;
        char *issuer;
        struct require *requires;
        size_t n_requires;
        int64_t leeway;
        int64_t max_lifetime;
        int64_t (*now)(void *userdata);
        void *userdata;
};

struct svcid_claims {
        json_t *payload;
        char *kid;
        svcid_alg alg;
};

int svcid_policy_new(const svcid_trust *trust, const char *audience, svcid_policy **ret_policy) {
        svcid_policy *p;

        if (!trust || !audience || !*audience || !ret_policy)
                return -EINVAL;
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->audience = strdup(audience);
        if (!p->audience) {
                free(p);
                return -ENOMEM;
        }
        p->trust = trust;
        p->leeway = SVCID_LEEWAY_DEFAULT;
        p->max_lifetime = SVCID_MAX_LIFETIME_DEFAULT;
        *ret_policy = p;
        return 0;
}

void svcid_policy_free(svcid_policy *policy) {
        if (!policy)
                return;
        for (size_t i = 0; i < policy->n_requires; i++) {
                free(policy->requires[i].claim);
                free(policy->requires[i].glob);
        }
        free(policy->requires);
        free(policy->audience);
        free(policy->issuer);
        free(policy);
}

int svcid_policy_set_issuer(svcid_policy *policy, const char *issuer) {
        char *copy;

        if (!policy || !issuer || !*issuer)
                return -EINVAL;
        /* One the trust does not hold could only refuse every token. */
        if (!svcid_trust_has_issuer(policy->trust, issuer))
                return -ENOENT;
        copy = strdup(issuer);
        if (!copy)
                return -ENOMEM;
        free(policy->issuer);
        policy->issuer = copy;
        return 0;
}

int svcid_policy_require(svcid_policy *policy, const char *claim, const char *glob) {
        struct require *r;

        if (!policy || !claim || !*claim || !glob || !*glob)
                return -EINVAL;
        r = reallocarray(policy->requires, policy->n_requires + 1, sizeof *r);
        if (!r)
                return -ENOMEM;
        policy->requires = r;
        r = &policy->requires[policy->n_requires];
        r->claim = strdup(claim);
        r->glob = strdup(glob);
        if (!r->claim || !r->glob) {
                free(r->claim);
                free(r->glob);
                return -ENOMEM;
        }
        policy->n_requires++;
        return 0;
}

int svcid_policy_require_arg(svcid_policy *policy, const char *arg) {
        _cleanup_(free_p) char *claim = NULL;
        const char *eq;

        if (!policy || !arg)
                return -EINVAL;
        eq = strchr(arg, '=');
        if (!eq || eq == arg)
                return -EINVAL;
        claim = strndup(arg, (size_t) (eq - arg));
        if (!claim)
                return -ENOMEM;
        return svcid_policy_require(policy, claim, eq + 1);
}

int svcid_policy_set_leeway(svcid_policy *policy, int64_t seconds) {
        if (!policy)
                return -EINVAL;
        if (seconds < 0 || seconds > 3600)
                return -ERANGE;
        policy->leeway = seconds;
        return 0;
}

int svcid_policy_set_max_lifetime(svcid_policy *policy, int64_t seconds) {
        if (!policy)
                return -EINVAL;
        if (seconds < 1 || seconds > 86400)
                return -ERANGE;
        policy->max_lifetime = seconds;
        return 0;
}

void svcid_policy_set_clock(svcid_policy *policy, int64_t (*now)(void *userdata), void *userdata) {
        if (!policy)
                return;
        policy->now = now;
        policy->userdata = userdata;
}

/* ---- claims ---- */

void svcid_claims_free(svcid_claims *claims) {
        if (!claims)
                return;
        json_decref(claims->payload);
        free(claims->kid);
        free(claims);
}

const char *svcid_claims_string(const svcid_claims *claims, const char *name) {
        if (!claims || !name)
                return NULL;
        return json_string_value(json_object_get(claims->payload, name));
}

int svcid_claims_int(const svcid_claims *claims, const char *name, int64_t *ret_value) {
        json_t *v;

        if (!claims || !name || !ret_value)
                return -EINVAL;
        v = json_object_get(claims->payload, name);
        if (!v)
                return -ENOENT;
        if (!json_is_integer(v))
                return -EINVAL;
        *ret_value = json_integer_value(v);
        return 0;
}

int svcid_claims_json(const svcid_claims *claims, char **ret_json) {
        char *s;

        if (!claims || !ret_json)
                return -EINVAL;
        s = json_dumps_whole(claims->payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

const char *svcid_claims_kid(const svcid_claims *claims) {
        return claims ? claims->kid : NULL;
}

svcid_alg svcid_claims_alg(const svcid_claims *claims) {
        return claims ? claims->alg : SVCID_ALG_INVALID;
}

/* ---- verification ---- */

static svcid_reason fail(svcid_report *report, svcid_reason reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static svcid_reason fail(svcid_report *report, svcid_reason reason, const char *fmt, ...) {
        char buf[sizeof report->detail];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        /* Details quote token contents: keep them printable. */
        lib_sanitize(report->detail, sizeof report->detail, buf, strlen(buf));
        report->reason = reason;
        return reason;
}

static void note(char *dst, size_t n, json_t *v) {
        if (json_is_string(v))
                lib_sanitize(dst, n, json_string_value(v), json_string_length(v));
}

/* A claim as text for glob matching: strings as they are, integers in
 * decimal, booleans as true/false. Anything else doesn't match. */
static bool claim_matches(json_t *v, const char *glob) {
        char buf[32];

        switch (json_typeof(v)) {
        case JSON_STRING:
                /* A claim with an embedded NUL can't match a C glob honestly. */
                if (strlen(json_string_value(v)) != json_string_length(v))
                        return false;
                return fnmatch(glob, json_string_value(v), 0) == 0;
        case JSON_INTEGER:
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return fnmatch(glob, buf, 0) == 0;
        case JSON_TRUE:
        case JSON_FALSE:
                return fnmatch(glob, json_is_true(v) ? "true" : "false", 0) == 0;
        default:
                return false;
        }
}

/* aud is a string or an array of strings (RFC 7519 §4.1.3); an array
 * with any other member is refused whatever else it holds. */
static bool audience_matches(json_t *aud, const char *want) {
        size_t i, n = strlen(want);
        bool found = false;
        json_t *v;

        if (json_is_string(aud))
                return json_string_length(aud) == n && memcmp(json_string_value(aud), want, n) == 0;
        if (!json_is_array(aud))
                return false;
        json_array_foreach(aud, i, v) {
                if (!json_is_string(v))
                        return false;
                found |= json_string_length(v) == n && memcmp(json_string_value(v), want, n) == 0;
        }
        return found;
}

static svcid_reason check_claims(const svcid_policy *p, json_t *payload, svcid_report *report) {
        int64_t now = p->now ? p->now(p->userdata) : (int64_t) time(NULL);
        json_t *exp = json_object_get(payload, "exp");
        json_t *iat = json_object_get(payload, "iat");
        json_t *nbf = json_object_get(payload, "nbf");
        json_t *sub = json_object_get(payload, "sub");
        json_t *aud = json_object_get(payload, "aud");
        int64_t lifetime, past, future;

        /* now -/+ leeway, saturated: an injected clock may be anywhere. */
        if (__builtin_sub_overflow(now, p->leeway, &past))
                past = INT64_MIN;
        if (__builtin_add_overflow(now, p->leeway, &future))
                future = INT64_MAX;
        if (!json_is_integer(exp))
                return fail(report, SVCID_MISSING_CLAIM, exp ? "exp is not an integer" : "no exp");
        if (json_integer_value(exp) <= past)
                return fail(report, SVCID_EXPIRED, "expired at %" JSON_INTEGER_FORMAT ", now %" PRId64,
                            json_integer_value(exp), now);
        if (!json_is_integer(iat))
                return fail(report, SVCID_MISSING_CLAIM, iat ? "iat is not an integer" : "no iat");
        if (json_integer_value(iat) > future)
                return fail(report, SVCID_ISSUED_IN_FUTURE, "issued at %" JSON_INTEGER_FORMAT ", now %" PRId64,
                            json_integer_value(iat), now);
        if (nbf) {
                if (!json_is_integer(nbf))
                        return fail(report, SVCID_MISSING_CLAIM, "nbf is not an integer");
                if (json_integer_value(nbf) > future)
                        return fail(report, SVCID_NOT_YET_VALID, "not before %" JSON_INTEGER_FORMAT ", now %" PRId64,
                                    json_integer_value(nbf), now);
        }
        if (__builtin_sub_overflow(json_integer_value(exp), json_integer_value(iat), &lifetime) ||
            lifetime > p->max_lifetime)
                return fail(report, SVCID_LIFETIME_TOO_LONG, "lifetime exp - iat exceeds %" PRId64 " s",
                            p->max_lifetime);
        if (!audience_matches(aud, p->audience))
                return fail(report, SVCID_WRONG_AUDIENCE, "audience is not \"%s\"", p->audience);
        if (!json_is_string(sub) || json_string_length(sub) == 0)
                return fail(report, SVCID_MISSING_CLAIM, sub ? "sub is not a non-empty string" : "no sub");

        for (size_t i = 0; i < p->n_requires; i++) {
                const struct require *r = &p->requires[i];
                json_t *v = json_object_get(payload, r->claim), *e;
                bool ok = false;
                size_t j;

                if (!v)
                        return fail(report, SVCID_MISSING_CLAIM, "no %s claim", r->claim);
                if (json_is_array(v)) {
                        json_array_foreach(v, j, e)
                                if ((ok = claim_matches(e, r->glob)))
                                        break;
                } else
                        ok = claim_matches(v, r->glob);
                if (!ok)
                        return fail(report, SVCID_CLAIM_MISMATCH, "%s does not match \"%s\"", r->claim, r->glob);
        }
        return SVCID_OK;
}

static void note_payload(svcid_report *report, json_t *payload) {
        note(report->iss, sizeof report->iss, json_object_get(payload, "iss"));
        note(report->sub, sizeof report->sub, json_object_get(payload, "sub"));
        note(report->jti, sizeof report->jti, json_object_get(payload, "jti"));
}

static bool issuer_allowed(const svcid_policy *p, const char *iss) {
        return svcid_trust_has_issuer(p->trust, iss) && (!p->issuer || strcmp(iss, p->issuer) == 0);
}

/* The header checks, then the issuer and its key, in the order of
 * DESIGN.md. On SVCID_OK, *ret_key is the key to verify with. */
static svcid_reason check_header(const svcid_policy *p, json_t *header, const char *iss,
                                 svcid_report *report, const svcid_key **ret_key) {
        const svcid_key *key;
        const char *name, *kid;
        json_t *v, *alg_j, *kid_j;
        svcid_alg alg;

        /* Only what the token profile defines. Anything else (jwk, jku,
         * x5c, crit, b64...) asks the verifier to trust the token's own
         * word about keys or encoding, which svcid never does. */
        json_object_foreach(header, name, v)
                if (strcmp(name, "alg") != 0 && strcmp(name, "kid") != 0 && strcmp(name, "typ") != 0)
                        return fail(report, SVCID_BAD_HEADER, "header member \"%s\" is not allowed", name);
        v = json_object_get(header, "typ");
        if (v && !(json_is_string(v) && strcmp(json_string_value(v), "JWT") == 0))
                return fail(report, SVCID_BAD_HEADER, "typ is not \"JWT\"");
        alg_j = json_object_get(header, "alg");
        if (!json_is_string(alg_j) || svcid_alg_from_str(json_string_value(alg_j), &alg) < 0)
                return fail(report, SVCID_ALG_NOT_ALLOWED, "alg %s%s%s is not allowed",
                            json_is_string(alg_j) ? "\"" : "",
                            json_is_string(alg_j) ? json_string_value(alg_j) : "(missing or not a string)",
                            json_is_string(alg_j) ? "\"" : "");

        if (!iss)
                return fail(report, SVCID_UNKNOWN_ISSUER, "no iss string");
        if (!issuer_allowed(p, iss))
                return svcid_trust_has_issuer(p->trust, iss)
                        ? fail(report, SVCID_UNKNOWN_ISSUER, "issuer \"%s\" is not the one required, \"%s\"", iss,
                               p->issuer)
                        : fail(report, SVCID_UNKNOWN_ISSUER, "issuer \"%s\" is not trusted", iss);
        /* A kid that is not a non-empty string names no key. */
        kid_j = json_object_get(header, "kid");
        if (kid_j && (!json_is_string(kid_j) || json_string_length(kid_j) == 0))
                return fail(report, SVCID_UNKNOWN_KEY, "kid is not a non-empty string");
        kid = json_string_value(kid_j);
        key = kid ? svcid_trust_find(p->trust, iss, kid) : NULL;
        if (!key)
                return fail(report, SVCID_UNKNOWN_KEY, kid ? "issuer has no key \"%s\"" : "%sno kid", kid ? kid : "");
        if (key->alg != alg)
                return fail(report, SVCID_UNKNOWN_KEY, "key \"%s\" is for %s, not %s", kid,
                            svcid_alg_str(key->alg), svcid_alg_str(alg));
        *ret_key = key;
        return SVCID_OK;
}

svcid_reason svcid_verify(const svcid_policy *p, const char *token, size_t len,
                          svcid_claims **ret_claims, svcid_report *ret_report) {
        _cleanup_(json_decrefp) json_t *header = NULL, *payload = NULL;
        svcid_report scratch;
        svcid_report *report = ret_report ? ret_report : &scratch;
        struct lib_jws parts = {};
        char why[JSON_ERROR_TEXT_LENGTH], payload_why[JSON_ERROR_TEXT_LENGTH];
        const svcid_key *key;
        const char *iss, *kid;
        svcid_reason reason;
        svcid_alg alg;
        bool payload_oom;
        int r;

        *report = (svcid_report) {};
        if (!p)
                return fail(report, SVCID_INTERNAL_ERROR, "no policy");

        reason = lib_jws_split(token, len, &parts, report->detail, sizeof report->detail);
        if (reason != SVCID_OK)
                return report->reason = reason;

        payload = lib_json_object_why(parts.payload, parts.payload_len, SVCID_TOKEN_MAX, payload_why,
                                      sizeof payload_why);
        payload_oom = !payload && errno == ENOMEM;
        iss = json_string_value(json_object_get(payload, "iss"));

        /* Fast path: a header segment byte-identical to the one svcid signs
         * with for a key of this issuer passes every header check below, so
         * its JSON need not be parsed. Any other header takes the full path;
         * the outcome is the same either way. */
        key = payload && iss && issuer_allowed(p, iss)
                ? lib_trust_find_header(p->trust, iss, token, parts.header64_len) : NULL;
        if (key) {
                alg = key->alg;
                kid = key->kid;
                lib_sanitize(report->kid, sizeof report->kid, kid, strlen(kid));
                note_payload(report, payload);
        } else {
                if (payload)
                        note_payload(report, payload);
                header = lib_json_object_why(parts.header, parts.header_len, SVCID_TOKEN_MAX, why, sizeof why);
                if (!header) {
                        /* Out of memory is no verdict on the token. */
                        reason = errno == ENOMEM
                                ? fail(report, SVCID_INTERNAL_ERROR, "out of memory reading the header")
                                : fail(report, SVCID_MALFORMED, "header is not a JSON object without duplicates: %s",
                                       why);
                        goto out;
                }
                note(report->kid, sizeof report->kid, json_object_get(header, "kid"));
                if (!payload) {
                        reason = payload_oom
                                ? fail(report, SVCID_INTERNAL_ERROR, "out of memory reading the payload")
                                : fail(report, SVCID_MALFORMED, "payload is not a JSON object without duplicates: %s",
                                       payload_why);
                        goto out;
                }
                reason = check_header(p, header, iss, report, &key);
                if (reason != SVCID_OK)
                        goto out;
                alg = key->alg;
                kid = key->kid;
        }

        r = svcid_key_verify_raw(key, token, parts.signing_len, parts.sig, parts.sig_len);
        if (r < 0) {
                reason = r == -EBADMSG ? fail(report, SVCID_BAD_SIGNATURE, "signature does not verify")
                                       : fail(report, SVCID_INTERNAL_ERROR, "signature check failed: %s",
                                              strerror(-r));
                goto out;
        }

        reason = check_claims(p, payload, report);
        if (reason != SVCID_OK)
                goto out;

        if (ret_claims) {
                svcid_claims *c = calloc(1, sizeof *c);
                if (!c || !(c->kid = strdup(kid))) {
                        free(c);
                        reason = fail(report, SVCID_INTERNAL_ERROR, "out of memory");
                        goto out;
                }
                c->payload = TAKE_PTR(payload);
                c->alg = alg;
                *ret_claims = c;
        }
        report->reason = SVCID_OK;
out:
        lib_jws_done(&parts);
        return reason;
}
