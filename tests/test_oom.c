/* SPDX-License-Identifier: MIT */
/*
 * Running out of memory is no verdict on a token or a key. A verifier
 * short of memory must refuse (fail closed), but say internal_error or
 * -ENOMEM: not bad_signature or malformed, which an audit log would show
 * as a forgery, and not "not a point on P-256" for a good key.
 *
 * A failed allocation cannot be had for real on demand, so this test
 * makes one: through OpenSSL's allocator hook (CRYPTO_set_mem_functions),
 * which passes every allocation to malloc() except, after arming, the Nth:
 *  - ONCE: it fails, with errno ENOMEM as malloc() sets it (memory short
 *    for a moment: svcid tries once more, and may then succeed);
 *  - FROM: it and all after it fail (memory gone);
 *  - SPURIOUS: it succeeds but leaves errno ENOMEM, as glibc's malloc()
 *    does when its first way to grow the heap fails and another works:
 *    no verdict may change.
 * Each case is run for N = 0, 1, 2... until one run makes fewer than N
 * allocations, so every OpenSSL allocation on its path is hit once.
 *
 * jansson's allocations (json_set_alloc_funcs) are made to fail too. At
 * the start of a parse jansson returns no object and no words. Inside a
 * document, jansson 2.14 drops a byte it cannot store and parses on: it
 * then meets a syntax error (svcid reads such text again), or a string
 * comes out a character short, which neither its result nor errno shows,
 * so svcid cannot tell that case from a token that says so.
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
#include <openssl/err.h>

#include "svcid/svcid.h"

#define ISS "svcid://oom.example"
#define AUD "oom"

enum mode { ONCE, FROM, SPURIOUS };
static const char *const mode_names[] = { "failing once", "failing from then on", "setting errno only" };

static enum mode mode;
static long armed = -1;         /* OpenSSL allocations to pass before the Nth; -1: not armed */
static bool reached;            /* the Nth was made */
static long json_armed = -1;    /* jansson allocations to pass before one fails; -1: none */

static bool fail_now(void) {
        if (armed < 0)
                return false;
        if (armed > 0) {
                armed--;
                return false;
        }
        reached = true;
        if (mode != FROM)
                armed = -1;
        errno = ENOMEM;
        return mode != SPURIOUS;
}

static void arm(enum mode m, long n) {
        mode = m;
        armed = n;
        reached = false;
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
        if (json_armed >= 0 && json_armed-- == 0) {
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

/* Verifies token with each allocation hit in turn (mode m): every outcome
 * is expected, or internal_error (with a detail) where memory ran out.
 * Returns how many runs ended in internal_error. */
static int sweep_verify(const struct signer *s, const char *token, svcid_reason expected, enum mode m) {
        int internal = 0;

        for (long n = 0;; n++) {
                svcid_claims *claims = NULL;
                svcid_report rep;
                svcid_reason r;

                arm(m, n);
                r = svcid_verify(s->policy, token, strlen(token), &claims, &rep);
                armed = -1;
                svcid_claims_free(claims);
                /* Nothing left for an application's own use of OpenSSL
                 * (sshd, say, with pam_svcid loaded), even after a retry. */
                if (ERR_peek_error() != 0)
                        fail_msg("%s, allocation %ld %s: OpenSSL errors left behind",
                                 svcid_alg_str(svcid_key_alg(s->key)), n, mode_names[m]);
                if (!reached)
                        break;
                if (r == SVCID_INTERNAL_ERROR && m != SPURIOUS) {
                        assert_true(rep.detail[0] != '\0');
                        internal++;
                } else if (r != expected)
                        fail_msg("%s, allocation %ld %s: %s (%s), not %s", svcid_alg_str(svcid_key_alg(s->key)), n,
                                 mode_names[m], svcid_reason_str(r), rep.detail, svcid_reason_str(expected));
        }
        return internal;
}

static void test_verify_valid(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);
                char *token = token_of(&s, AUD);

                /* A valid token: accepted, or refused as internal_error
                 * when the allocations it needed failed; one that failed
                 * once is made good by the second try. */
                assert_int_equal(sweep_verify(&s, token, SVCID_OK, ONCE), 0);
                assert_true(sweep_verify(&s, token, SVCID_OK, FROM) > 0);
                sweep_verify(&s, token, SVCID_OK, SPURIOUS);
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

                /* Never accepted, whichever allocation fails; and a
                 * forgery is named so unless memory really ran out. */
                for (enum mode m = ONCE; m <= SPURIOUS; m++) {
                        int internal = sweep_verify(&s, forged, SVCID_BAD_SIGNATURE, m);

                        assert_true(m != FROM || internal > 0);
                        internal = sweep_verify(&s, elsewhere, SVCID_WRONG_AUDIENCE, m);
                        assert_true(m != FROM || internal > 0);
                }
                svcid_free_secret(forged);
                svcid_free_secret(elsewhere);
                signer_done(&s);
        }
}

/* Signing, as the agent does: a shortage for a moment is made good by the
 * second try, a lasting one is -ENOMEM, and a token made is a good one. */
static void test_sign(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);
                char claims[256];

                snprintf(claims, sizeof claims,
                         "{\"iss\":\"" ISS "\",\"sub\":\"s\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
                         (long long) time(NULL), (long long) time(NULL) + 300);
                for (enum mode m = ONCE; m <= SPURIOUS; m++) {
                        int oom = 0;

                        for (long n = 0;; n++) {
                                svcid_report rep;
                                char *token = NULL;
                                int r;

                                arm(m, n);
                                r = svcid_jwt_sign(s.key, claims, strlen(claims), &token);
                                armed = -1;
                                if (ERR_peek_error() != 0)
                                        fail_msg("%s, allocation %ld %s: OpenSSL errors left behind",
                                                 svcid_alg_str(algs[i]), n, mode_names[m]);
                                if (r == -ENOMEM && m == FROM)
                                        oom++;
                                else if (r != 0)
                                        fail_msg("%s, allocation %ld %s: sign returned %d", svcid_alg_str(algs[i]),
                                                 n, mode_names[m], r);
                                else if (svcid_verify(s.policy, token, strlen(token), NULL, &rep) != SVCID_OK)
                                        fail_msg("%s, allocation %ld %s: the token made does not verify: %s",
                                                 svcid_alg_str(algs[i]), n, mode_names[m], rep.detail);
                                free(token);
                                if (!reached)
                                        break;
                        }
                        assert_true(m != FROM || oom > 0);
                }
                signer_done(&s);
        }
}

/* jansson out of memory inside a token's payload: never a verdict on the
 * token, and never jansson's own handling of it, which loses a byte and,
 * when that byte is a string's closing quote, writes past its buffers:
 * a sub of 14 characters puts its quote on the 16th byte of jansson's
 * first buffer (a crash before svcid parsed tokens with a reserve). */
static void test_json_inside(void **state) {
        static const char *const subs[] = { "s", "abcdefghijklmn", "abcdefghijklmnopqrstuvwxyz01234" };
        struct signer s = signer_new(SVCID_ALG_ES256);

        (void) state;
        for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
                char claims[256], *token = NULL;
                long n;

                snprintf(claims, sizeof claims,
                         "{\"sub\":\"%s\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}", subs[i],
                         (long long) time(NULL), (long long) time(NULL) + 300);
                assert_int_equal(svcid_jwt_sign(s.key, claims, strlen(claims), &token), 0);
                for (n = 0;; n++) {
                        svcid_claims *claims_out = NULL;
                        svcid_report rep;
                        svcid_reason r;

                        json_armed = n;
                        r = svcid_verify(s.policy, token, strlen(token), &claims_out, &rep);
                        svcid_claims_free(claims_out);
                        if (json_armed >= 0) {          /* fewer than n + 1 made */
                                json_armed = -1;
                                assert_int_equal(r, SVCID_OK);
                                break;
                        }
                        if (r != SVCID_INTERNAL_ERROR || strncmp(rep.detail, "out of memory", 13) != 0)
                                fail_msg("sub \"%s\", jansson allocation %ld failing: %s (%s)", subs[i], n,
                                         svcid_reason_str(r), rep.detail);
                }
                assert_true(n > 3);
                svcid_free_secret(token);
        }
        signer_done(&s);
}

/* jansson short of memory while it writes a token's payload: the token is
 * signed over the claims given, whole, or not made at all (jansson 2.14's
 * json_dumps() could drop a key and write on). */
static void test_sign_json(void **state) {
        struct signer s = signer_new(SVCID_ALG_ES256);
        char claims[512];
        long n;

        (void) state;
        snprintf(claims, sizeof claims,
                 "{\"iss\":\"" ISS "\",\"sub\":\"deploy-bot-production\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                 "\"exp\":%lld,\"unit\":\"deploy\\\\x2dweb@a\\\\x2db.service\",\"roles\":[\"deploy\",\"read\"]}",
                 (long long) time(NULL), (long long) time(NULL) + 300);
        for (n = 0;; n++) {
                svcid_claims *got = NULL;
                char *token = NULL, *text = NULL;
                svcid_report rep;
                int r;

                json_armed = n;
                r = svcid_jwt_sign(s.key, claims, strlen(claims), &token);
                if (json_armed >= 0) {
                        json_armed = -1;
                        assert_int_equal(r, 0);
                        free(token);
                        break;
                }
                json_armed = -1;
                if (r == -ENOMEM)
                        continue;
                if (r != 0)
                        fail_msg("jansson allocation %ld failing: sign returned %d", n, r);
                if (svcid_verify(s.policy, token, strlen(token), &got, &rep) != SVCID_OK)
                        fail_msg("jansson allocation %ld failing: the token made does not verify: %s", n, rep.detail);
                assert_int_equal(svcid_claims_json(got, &text), 0);
                if (strcmp(text, claims) != 0)
                        fail_msg("jansson allocation %ld failing: signed %s\n  not %s", n, text, claims);
                free(text);
                svcid_claims_free(got);
                free(token);
        }
        assert_true(n > 3);
        signer_done(&s);
}

/* A guarded parse's reserve covers the most jansson needs: every byte it
 * allocates for a document, counted here for the costliest shapes of 8 KiB,
 * stays under the reserve's 96 bytes per byte (common/json.c). */
static size_t json_bytes;
static void *json_counting_malloc(size_t n) {
        json_bytes += (n + 15) & ~(size_t) 15;
        return json_malloc(n);
}

static void test_json_reserve(void **state) {
        static char doc[8193];
        json_malloc_t m;
        json_free_t f;
        size_t most = 0;
        json_t *j;

        (void) state;
        json_get_alloc_funcs(&m, &f);
        for (int shape = 0; shape < 4; shape++) {
                size_t len = 0;

                switch (shape) {
                case 0:         /* nested arrays, as deep as jansson goes */
                        memset(doc, '[', 2048);
                        memset(doc + 2048, ']', 2048);
                        len = 4096;
                        break;
                case 1:         /* an object of one-character members */
                        len = (size_t) snprintf(doc, sizeof doc, "{");
                        for (int k = 0; len < 8180; k++)
                                len += (size_t) snprintf(doc + len, sizeof doc - len, "%s\"%x\":0", k ? "," : "", k);
                        doc[len++] = '}';
                        break;
                case 2:         /* an array of empty objects */
                        doc[len++] = '[';
                        while (len < 8188)
                                len += (size_t) snprintf(doc + len, sizeof doc - len, "{},");
                        doc[len - 1] = ']';
                        break;
                case 3:         /* one long string */
                        doc[len++] = '"';
                        memset(doc + len, 'a', 8190);
                        len += 8190;
                        doc[len++] = '"';
                        break;
                }
                json_bytes = 0;
                json_set_alloc_funcs(json_counting_malloc, free);
                j = json_loadb(doc, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
                json_set_alloc_funcs(m, f);
                json_decref(j);
                print_message("shape %d: jansson allocated %zu bytes for %zu\n", shape, json_bytes, len);
                assert_true(json_bytes < 96 * len);
                if (json_bytes > most)
                        most = json_bytes;
        }
        assert_true(most < 1024 * 1024);        /* the reserve each thread keeps */
}

/* A JWKS larger than the kept reserve gets one of its own, and a string
 * whose closing quote falls where jansson's buffer grows (16384 bytes)
 * is read under every failing allocation without harm. */
static void test_trust_guarded(void **state) {
        struct signer s = signer_new(SVCID_ALG_ES256);
        size_t pad = 16382, len = strlen(s.jwks) + pad + 16;
        char *doc = malloc(len);
        long n;

        (void) state;
        assert_non_null(doc);
        memcpy(doc, "{\"pad\":\"", 8);
        memset(doc + 8, 'a', pad);
        snprintf(doc + 8 + pad, len - 8 - pad, "\",%s", s.jwks + 1);
        for (n = 0;; n++) {
                svcid_trust *trust = NULL;
                char err[256] = "";
                int r;

                assert_int_equal(svcid_trust_new(&trust), 0);
                json_armed = n;
                r = svcid_trust_add_jwks(trust, doc, strlen(doc), "big.jwks", err, sizeof err);
                svcid_trust_free(trust);
                if (json_armed >= 0) {
                        json_armed = -1;
                        assert_int_equal(r, 0);
                        break;
                }
                if (r != 0 && (r != -ENOMEM || strcmp(err, "big.jwks: out of memory") != 0))
                        fail_msg("jansson allocation %ld failing: %d \"%s\"", n, r, err);
        }
        assert_true(n > 3);
        free(doc);
        signer_done(&s);
}

/* A good JWKS loads, or is refused for want of memory, saying so. */
static void test_trust_load(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct signer s = signer_new(algs[i]);

                for (enum mode m = ONCE; m <= SPURIOUS; m++) {
                        int oom = 0;

                        for (long n = 0;; n++) {
                                svcid_trust *trust = NULL;
                                char err[256] = "";
                                int r;

                                assert_int_equal(svcid_trust_new(&trust), 0);
                                arm(m, n);
                                r = svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err);
                                armed = -1;
                                svcid_trust_free(trust);
                                if (!reached)
                                        break;
                                if (r == 0 && ERR_peek_error() != 0)
                                        fail_msg("%s, allocation %ld %s: loaded, OpenSSL errors left behind",
                                                 svcid_alg_str(algs[i]), n, mode_names[m]);
                                if (r == 0)
                                        continue;
                                if (m == SPURIOUS || r != -ENOMEM || !strstr(err, "out of memory"))
                                        fail_msg("%s, allocation %ld %s: %d \"%s\"", svcid_alg_str(algs[i]), n,
                                                 mode_names[m], r, err);
                                oom++;
                        }
                        assert_true(m != FROM || oom > 0);
                }
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
        json_armed = 0;
        assert_int_equal(svcid_verify(s.policy, token, strlen(token), &claims, &rep), SVCID_INTERNAL_ERROR);
        assert_int_equal(json_armed, -1);
        assert_string_equal(rep.detail, "out of memory reading the payload");
        assert_int_equal(svcid_verify(s.policy, token, strlen(token), &claims, &rep), SVCID_OK);
        svcid_claims_free(claims);

        /* The signature layer, and signing, the same. */
        json_armed = 0;
        assert_int_equal(svcid_jws_verify(s.key, token, strlen(token), NULL, NULL), SVCID_INTERNAL_ERROR);
        assert_int_equal(json_armed, -1);
        assert_int_equal(svcid_jws_verify(s.key, token, strlen(token), NULL, NULL), SVCID_OK);
        {
                static const char claims_json[] = "{\"sub\":\"s\"}";
                char *signed_token = NULL;

                json_armed = 0;
                assert_int_equal(svcid_jwt_sign(s.key, claims_json, strlen(claims_json), &signed_token), -ENOMEM);
                assert_null(signed_token);
        }

        assert_int_equal(svcid_trust_new(&trust), 0);
        json_armed = 0;
        assert_int_equal(svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err), -ENOMEM);
        assert_string_equal(err, "t.jwks: out of memory");
        assert_int_equal(svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err), 0);
        svcid_trust_free(trust);
        svcid_free_secret(token);
        signer_done(&s);
}

/* A bad key stays a bad key when a successful allocation on the way
 * leaves errno ENOMEM: its second try judges it. */
static void test_bad_key_spurious(void **state) {
        static const char bad[] = "{\"iss\":\"" ISS "\",\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
                                  "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                                  "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}";

        (void) state;
        for (long n = 0;; n++) {
                svcid_trust *trust = NULL;
                char err[256] = "";
                int r;

                assert_int_equal(svcid_trust_new(&trust), 0);
                arm(SPURIOUS, n);
                r = svcid_trust_add_jwks(trust, bad, strlen(bad), "bad.jwks", err, sizeof err);
                armed = -1;
                svcid_trust_free(trust);
                if (!reached)
                        break;
                if (r != -EINVAL || !strstr(err, "key 0 is not a usable signature key"))
                        fail_msg("allocation %ld setting errno only: %d \"%s\"", n, r, err);
        }
}

/* A key load takes away what OpenSSL queued on its way, not the errors
 * the application had queued before. */
static void test_error_queue_kept(void **state) {
        struct signer s = signer_new(SVCID_ALG_ES256);
        svcid_trust *trust = NULL;
        char err[256] = "";
        unsigned long e;

        (void) state;
        ERR_clear_error();
        ERR_raise(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT);
        e = ERR_peek_last_error();
        assert_int_equal(svcid_trust_new(&trust), 0);
        assert_int_equal(svcid_trust_add_jwks(trust, s.jwks, strlen(s.jwks), "t.jwks", err, sizeof err), 0);
        assert_int_equal(ERR_peek_last_error(), e);
        assert_int_equal(ERR_get_error(), e);
        assert_int_equal(ERR_get_error(), 0);
        svcid_trust_free(trust);
        signer_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verify_valid),
                cmocka_unit_test(test_verify_refused),
                cmocka_unit_test(test_sign),
                cmocka_unit_test(test_trust_load),
                cmocka_unit_test(test_json_parse),
                cmocka_unit_test(test_json_inside),
                cmocka_unit_test(test_sign_json),
                cmocka_unit_test(test_json_reserve),
                cmocka_unit_test(test_trust_guarded),
                cmocka_unit_test(test_error_queue_kept),
                cmocka_unit_test(test_bad_key_spurious),
        };

        /* Before OpenSSL or jansson allocates anything. */
        if (CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) != 1) {
                fprintf(stderr, "test_oom: OpenSSL allocated before main()\n");
                return 1;
        }
        json_set_alloc_funcs(json_malloc, free);
        return cmocka_run_group_tests_name("allocation failures", tests, NULL, NULL);
}
