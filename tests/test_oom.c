/* SPDX-License-Identifier: MIT */
/*
 * Running out of memory is no verdict on a token or a key. A verifier
 * short of memory must refuse (fail closed), but say internal_error or
 * -ENOMEM: not bad_signature or malformed, which an audit log would show
 * as a forgery, and not "not a point on P-256" for a good key.
 *
 * A failed allocation cannot be had for real on demand, so this test
 * makes one: through OpenSSL's allocator hook (CRYPTO_set_mem_functions),
 * which passes every allocation to malloc() except the Nth after arming,
 * which fails with errno ENOMEM as malloc() does. Each case is run for
 * N = 0, 1, 2... until one run makes fewer than N allocations, so every
 * OpenSSL allocation on its path fails once.
 *
 * jansson's allocations (json_set_alloc_funcs) fail only where jansson
 * says so: at the start of a parse, where it returns no object and no
 * words. Elsewhere jansson 2.14 drops a byte it cannot store and parses
 * on (a string comes out a character short), and neither its result nor
 * errno shows it, so svcid cannot tell that case from a token that says
 * so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "svcid/svcid.h"

#define ISS "svcid://oom.example"
#define AUD "oom"

static long armed = -1;         /* OpenSSL allocations to pass before one fails; -1: none fails */
static bool json_fail;          /* the next jansson allocation fails */

static bool fail_now(void) {
        if (armed < 0)
                return false;
        if (armed-- > 0)
                return false;
        errno = ENOMEM;
        return true;
}

static void *crypto_malloc(size_t n, const char *file, int line) {
        (void) file;
        (void) line;
        return fail_now() ? NULL : malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line) {
        (void) file;
        (void) line;
        return fail_now() ? NULL : realloc(p, n);
}

static void *json_malloc(size_t n) {
        if (json_fail) {
                json_fail = false;
                errno = ENOMEM;
                return NULL;
        }
        return malloc(n);
}

static void crypto_free(void *p, const char *file, int line) {
        (void) file;
        (void) line;
        free(p);
}

static const svcid_alg algs[] = { SVCID_ALG_ES256, SVCID_ALG_EDDSA, SVCID_ALG_RS256, SVCID_ALG_PS256 };

struct signer {
        svcid_key *key;
        char *jwks;             /* its public key, as a JWKS of ISS */
        svcid_policy *policy;   /* trusting that JWKS, for AUD */
        svcid_trust *trust;
};

static struct signer signer_new(svcid_alg alg) {
        struct signer s = {};
        char *jwk = NULL, err[256] = "";

        assert_int_equal(svcid_key_generate(alg, &s.key), 0);
        assert_int_equal(svcid_key_public_jwk(s.key, &jwk), 0);
        assert_true(asprintf(&s.jwks, "{\"iss\":\"" ISS "\",\"keys\":[%s]}", jwk) > 0);
        free(jwk);
        assert_int_equal(svcid_trust_new(&s.trust), 0);
        assert_int_equal(svcid_trust_add_jwks(s.trust, s.jwks, strlen(s.jwks), NULL, err, sizeof err), 0);
        assert_int_equal(svcid_policy_new(s.trust, AUD, &s.policy), 0);
        return s;
}

static void signer_done(struct signer *s) {
        svcid_policy_free(s->policy);
        svcid_trust_free(s->trust);
        svcid_key_unref(s->key);
        free(s->jwks);
}

static char *token_of(const struct signer *s, const char *aud) {
        char claims[256], *token = NULL;
        long long now = (long long) time(NULL);

        snprintf(claims, sizeof claims,
                 "{\"iss\":\"" ISS "\",\"sub\":\"s\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\"}",
                 aud, now, now + 300);
        assert_int_equal(svcid_jwt_sign(s->key, claims, strlen(claims), &token), 0);
        return token;
}

/* One verify with the Nth allocation failing: its reason, and whether
 * the failure was reached. */
static svcid_reason verify_failing(const struct signer *s, const char *token, long n, bool *reached,
                                   svcid_report *rep) {
        svcid_claims *claims = NULL;
        svcid_reason r;

        armed = n;
        r = svcid_verify(s->policy, token, strlen(token), &claims, rep);
        *reached = armed < 0;
        armed = -1;
        svcid_claims_free(claims);
        return r;
}

/* Verifies token with each allocation failing in turn: every outcome
 * is expected or internal_error (with a detail). Returns how many runs
 * ended in internal_error. */
static int sweep_verify(const struct signer *s, const char *token, svcid_reason expected) {
        int internal = 0;
        bool reached = true;

        for (long n = 0; reached; n++) {
                svcid_report rep;
                svcid_reason r = verify_failing(s, token, n, &reached, &rep);

                if (r == SVCID_INTERNAL_ERROR) {
                        assert_true(reached);
                        assert_true(rep.detail[0] != '\0');
                        internal++;
                } else if (r != expected)
                        fail_msg("%s, allocation %ld failing: %s (%s), not %s or internal_error",
                                 svcid_alg_str(svcid_key_alg(s->key)), n, svcid_reason_str(r), rep.detail,
                                 svcid_reason_str(expected));
        }
        return internal;
}

static void test_verify_valid(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);
                char *token = token_of(&s, AUD);

                /* A valid token: accepted, or refused as internal_error
                 * when an allocation it needed failed. */
                assert_true(sweep_verify(&s, token, SVCID_OK) > 0);
                svcid_free_secret(token);
                signer_done(&s);
        }
}

static void test_verify_refused(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);
                char *forged = token_of(&s, AUD), *elsewhere = token_of(&s, "another");
                char *c = strrchr(forged, '.') + 8;     /* inside the signature */

                *c = *c == 'A' ? 'B' : 'A';

                /* Never accepted, whichever allocation fails. */
                assert_true(sweep_verify(&s, forged, SVCID_BAD_SIGNATURE) > 0);
                assert_true(sweep_verify(&s, elsewhere, SVCID_WRONG_AUDIENCE) > 0);
                svcid_free_secret(forged);
                svcid_free_secret(elsewhere);
                signer_done(&s);
        }
}

/* A good JWKS loads, or is refused for want of memory, saying so. */
static void test_trust_load(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);
                int oom = 0;
                bool reached = true;

                for (long n = 0; reached; n++) {
                        svcid_trust *trust = NULL;
                        char err[256] = "";
                        int r;

                        assert_int_equal(svcid_trust_new(&trust), 0);
                        armed = n;
                        r = svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err);
                        reached = armed < 0;
                        armed = -1;
                        svcid_trust_free(trust);
                        if (r == 0)
                                continue;
                        if (r != -ENOMEM || !strstr(err, "out of memory"))
                                fail_msg("%s, allocation %ld failing: %d \"%s\"", svcid_alg_str(algs[i]), n, r, err);
                        oom++;
                }
                assert_true(oom > 0);
                signer_done(&s);
        }
}

/* jansson out of memory as a parse begins: no verdict on the token, and
 * a JWKS is not "not a JSON object". */
static void test_json_parse(void **state) {
        struct signer s = signer_new(SVCID_ALG_ES256);
        char *token = token_of(&s, AUD), err[256] = "";
        svcid_claims *claims = NULL;
        svcid_trust *trust = NULL;
        svcid_report rep;

        (void) state;
        json_fail = true;
        assert_int_equal(svcid_verify(s.policy, token, strlen(token), &claims, &rep), SVCID_INTERNAL_ERROR);
        assert_false(json_fail);
        assert_string_equal(rep.detail, "out of memory reading the payload");
        assert_int_equal(svcid_verify(s.policy, token, strlen(token), &claims, &rep), SVCID_OK);
        svcid_claims_free(claims);

        assert_int_equal(svcid_trust_new(&trust), 0);
        json_fail = true;
        assert_int_equal(svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err), -ENOMEM);
        assert_string_equal(err, "t.jwks: out of memory");
        assert_int_equal(svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err), 0);
        svcid_trust_free(trust);
        svcid_free_secret(token);
        signer_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verify_valid),
                cmocka_unit_test(test_verify_refused),
                cmocka_unit_test(test_trust_load),
                cmocka_unit_test(test_json_parse),
        };

        /* Before OpenSSL or jansson allocates anything. */
        if (CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) != 1) {
                fprintf(stderr, "test_oom: OpenSSL allocated before main()\n");
                return 1;
        }
        json_set_alloc_funcs(json_malloc, free);
        return cmocka_run_group_tests_name("allocation failures", tests, NULL, NULL);
}
