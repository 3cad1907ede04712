/* SPDX-License-Identifier: MIT */
/*
 * lib/key.c: thumbprint vectors (RFC 7638, RFC 8037), the RFC 8037 Ed25519
 * signature, sign/verify round trips for every alg, JWK and PEM round trips,
 * and the keys and signatures that must be refused. Each refusal is made by
 * changing one thing in a JWK that is first shown to load, so a test cannot
 * pass because the base input was already broken.
 *
 * Only the public API is used; OpenSSL builds the foreign keys (P-384,
 * RSA-1024, X25519, encrypted PEM, PSS with another salt) and checks PSS
 * parameters independently.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "svcid/svcid.h"
#include "../lib/internal.h"    /* lib_key_from_jwk: the reason for a refusal */

/* ---- helpers ----------------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        return s;
}

static char *xstrdup_json(const char *s) {
        char *d = strdup(s);

        assert_non_null(d);
        return d;
}

static char *b64(const void *data, size_t len) {
        char *s = NULL;

        assert_int_equal(svcid_b64url_encode(data, len, &s), 0);
        return s;
}

static unsigned char *unb64(const char *s, size_t *ret_len) {
        unsigned char *d = NULL;

        assert_int_equal(svcid_b64url_decode(s, strlen(s), &d, ret_len), 0);
        return d;
}

/* A BIGNUM as a minimal (pad 0) or fixed-width base64url string. */
static char *bn_b64(const BIGNUM *bn, int pad) {
        int n = pad ? pad : BN_num_bytes(bn);
        unsigned char *buf = malloc((size_t) n);
        char *s;

        assert_non_null(buf);
        assert_int_equal(BN_bn2binpad(bn, buf, n), n);
        s = b64(buf, (size_t) n);
        free(buf);
        return s;
}

static char *pkey_bn_b64(const EVP_PKEY *pkey, const char *param, int pad) {
        BIGNUM *bn = NULL;
        char *s;

        assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
        s = bn_b64(bn, pad);
        BN_clear_free(bn);
        return s;
}

static int load_jwk(const char *json, svcid_key **ret) {
        return svcid_key_from_jwk(json, strlen(json), ret);
}

/* from_jwk must return want, and a refusal must say why (a substring of
 * the reason libsvcid gives); on success the key is released. */
static void expect_jwk(const char *what, const char *json, int want, const char *why) {
        svcid_key *key = NULL;
        char err[160] = "";
        int r = lib_key_from_jwk(json, strlen(json), &key, err, sizeof err);

        if (r != want)
                fail_msg("%s: svcid_key_from_jwk returned %d, want %d\n%s", what, r, want, json);
        if (why && !strstr(err, why))
                fail_msg("%s: reason '%s', want '%s'", what, err, why);
        if (r == 0)
                assert_non_null(key);
        else
                assert_null(key);
        svcid_key_unref(key);
}

static int load_pem(const char *pem, svcid_alg alg, svcid_key **ret) {
        return svcid_key_from_pem(pem, strlen(pem), alg, ret);
}

static char *pkey_pem(EVP_PKEY *pkey, bool private) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL, *s;
        long n;

        assert_non_null(bio);
        if (private)
                assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
        else
                assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
        n = BIO_get_mem_data(bio, &data);
        s = strndup(data, (size_t) n);
        BIO_free(bio);
        return s;
}

/* The OpenSSL view of a key, through its PEM. */
static EVP_PKEY *key_pkey(const svcid_key *key) {
        char *pem = NULL;
        BIO *bio;
        EVP_PKEY *pkey;

        if (svcid_key_is_private(key))
                assert_int_equal(svcid_key_private_pem(key, &pem), 0);
        else
                assert_int_equal(svcid_key_public_pem(key, &pem), 0);
        bio = BIO_new_mem_buf(pem, -1);
        pkey = svcid_key_is_private(key) ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                         : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        assert_non_null(pkey);
        BIO_free(bio);
        svcid_free_secret(pem);
        return pkey;
}

static json_t *jwk_json(const svcid_key *key) {
        char *text = NULL;
        json_t *j;

        assert_int_equal(svcid_key_public_jwk(key, &text), 0);
        j = json_loads(text, 0, NULL);
        assert_non_null(j);
        free(text);
        return j;
}

static const char *member(const json_t *j, const char *name) {
        const char *s = json_string_value(json_object_get(j, name));

        assert_non_null(s);
        return s;
}

static const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";

/* ---- fixed vectors ------------------------------------------------------- */

/* RFC 7638 §3.1 (a 2048-bit RSA key). */
static const char rfc7638_n[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

/* RFC 8037 A.1 (Ed25519 private key, and its public x). */
static const char rfc8037_d[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char rfc8037_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

/* RFC 7517 A.1/A.2 (a P-256 key pair). */
static const char rfc7517_x[] = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
static const char rfc7517_y[] = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
static const char rfc7517_d[] = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";

static void test_thumbprint_rfc7638(void **state) {
        svcid_key *key = NULL;
        char *tp = NULL, *json;

        (void) state;
        json = xasprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\","
                         "\"kid\":\"2011-04-29\"}", rfc7638_n);
        assert_int_equal(load_jwk(json, &key), 0);
        assert_int_equal(svcid_key_thumbprint(key, &tp), 0);
        assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        /* An explicit kid wins over the thumbprint. */
        assert_string_equal(svcid_key_kid(key), "2011-04-29");
        assert_int_equal(svcid_key_alg(key), SVCID_ALG_RS256);
        assert_false(svcid_key_is_private(key));
        free(tp);
        svcid_key_unref(key);
        free(json);
}

static void test_thumbprint_rfc8037(void **state) {
        svcid_key *key = NULL;
        char *tp = NULL, *json;

        (void) state;
        json = xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", rfc8037_x);
        assert_int_equal(load_jwk(json, &key), 0);
        assert_int_equal(svcid_key_thumbprint(key, &tp), 0);
        assert_string_equal(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        /* Without a "kid" member, the kid is the thumbprint. */
        assert_string_equal(svcid_key_kid(key), tp);
        assert_int_equal(svcid_key_alg(key), SVCID_ALG_EDDSA);
        free(tp);
        svcid_key_unref(key);
        free(json);
}

/* No published EC vector: hash the RFC 7638 canonical form here, apart
 * from the library's own serialization. */
static void test_thumbprint_ec(void **state) {
        svcid_key *key = NULL;
        char *tp = NULL, *json, *canonical, *want;
        unsigned char digest[32];
        unsigned digest_len = 0;

        (void) state;
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"use\":\"sig\"}",
                         rfc7517_x, rfc7517_y);
        assert_int_equal(load_jwk(json, &key), 0);
        canonical = xasprintf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                              rfc7517_x, rfc7517_y);
        assert_int_equal(EVP_Digest(canonical, strlen(canonical), digest, &digest_len, EVP_sha256(), NULL), 1);
        want = b64(digest, digest_len);
        assert_int_equal(svcid_key_thumbprint(key, &tp), 0);
        assert_string_equal(tp, want);
        assert_string_equal(svcid_key_kid(key), want);
        assert_int_equal(svcid_key_alg(key), SVCID_ALG_ES256);
        free(tp);
        free(want);
        free(canonical);
        free(json);
        svcid_key_unref(key);
}

/* Adds L to the little-endian S half of an Ed25519 signature: the same
 * point equation holds, so only an explicit S < L check refuses it. */
static void ed25519_add_l(unsigned char *s) {
        static const unsigned char l[32] = {
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        };
        unsigned carry = 0;

        for (size_t i = 0; i < 32; i++) {
                unsigned v = s[i] + l[i] + carry;
                s[i] = (unsigned char) v;
                carry = v >> 8;
        }
        assert_int_equal(carry, 0);
}

/* RFC 8037 A.4/A.5: Ed25519 is deterministic, so signing must reproduce
 * the published signature exactly. */
static void test_ed25519_rfc8037(void **state) {
        static const char input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        static const char want[] =
                "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        svcid_key *priv = NULL, *pub = NULL;
        unsigned char *sig = NULL, *ref;
        size_t sig_len = 0, ref_len = 0;
        char *json, *got;

        (void) state;
        json = xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"%s\",\"x\":\"%s\"}", rfc8037_d, rfc8037_x);
        assert_int_equal(load_jwk(json, &priv), 0);
        assert_true(svcid_key_is_private(priv));
        free(json);
        json = xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"alg\":\"Ed25519\"}", rfc8037_x);
        assert_int_equal(load_jwk(json, &pub), 0);
        assert_int_equal(svcid_key_alg(pub), SVCID_ALG_EDDSA);
        assert_true(svcid_key_equal_public(priv, pub));
        free(json);

        assert_int_equal(svcid_key_sign_raw(priv, input, strlen(input), &sig, &sig_len), 0);
        got = b64(sig, sig_len);
        assert_string_equal(got, want);
        free(got);

        ref = unb64(want, &ref_len);
        assert_int_equal(svcid_key_verify_raw(pub, input, strlen(input), ref, ref_len), 0);
        assert_int_equal(svcid_key_verify_raw(pub, input, strlen(input) - 1, ref, ref_len), -EBADMSG);
        /* S + L: refused, though [S+L]B = [S]B. */
        ed25519_add_l(ref + 32);
        assert_int_equal(svcid_key_verify_raw(pub, input, strlen(input), ref, ref_len), -EBADMSG);

        free(ref);
        free(sig);
        svcid_key_unref(priv);
        svcid_key_unref(pub);
}

/* ---- round trips ------------------------------------------------------------ */

static void check_signatures(svcid_key *signer, svcid_key *verifier, size_t want_len) {
        unsigned char *sig = NULL, *again = NULL;
        size_t sig_len = 0, again_len = 0;
        svcid_alg alg = svcid_key_alg(signer);

        assert_int_equal(svcid_key_sign_raw(signer, msg, strlen(msg), &sig, &sig_len), 0);
        assert_int_equal(sig_len, want_len);
        assert_int_equal(svcid_key_verify_raw(verifier, msg, strlen(msg), sig, sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(verifier, msg, strlen(msg) - 1, sig, sig_len), -EBADMSG);
        assert_int_equal(svcid_key_verify_raw(verifier, msg, strlen(msg), sig, sig_len - 1), -EBADMSG);

        /* Signing again reuses the key's prepared context: ES256 draws a
         * fresh nonce and PS256 a fresh salt each time, RS256 and Ed25519
         * are deterministic. */
        assert_int_equal(svcid_key_sign_raw(signer, msg, strlen(msg), &again, &again_len), 0);
        assert_int_equal(again_len, sig_len);
        assert_int_equal(svcid_key_verify_raw(verifier, msg, strlen(msg), again, again_len), 0);
        if (alg == SVCID_ALG_ES256 || alg == SVCID_ALG_PS256)
                assert_memory_not_equal(sig, again, sig_len);
        else
                assert_memory_equal(sig, again, sig_len);

        sig[sig_len / 3] ^= 0x01;
        assert_int_equal(svcid_key_verify_raw(verifier, msg, strlen(msg), sig, sig_len), -EBADMSG);
        free(sig);
        free(again);
}

static void roundtrip(svcid_alg alg, size_t sig_len) {
        svcid_key *key = NULL, *pub = NULL, *again = NULL, *pempriv = NULL, *pempub = NULL;
        unsigned char *sig = NULL;
        size_t len = 0;
        char *jwk = NULL, *pem = NULL, *tp = NULL, *pub_pem = NULL;
        svcid_alg pem_alg = alg == SVCID_ALG_RS256 || alg == SVCID_ALG_PS256 ? alg : SVCID_ALG_INVALID;
        json_t *j;

        assert_int_equal(svcid_key_generate(alg, &key), 0);
        assert_int_equal(svcid_key_alg(key), alg);
        assert_true(svcid_key_is_private(key));
        assert_int_equal(svcid_key_thumbprint(key, &tp), 0);
        assert_string_equal(svcid_key_kid(key), tp);
        check_signatures(key, key, sig_len);

        /* public JWK → key: same kid and alg, public only, verifies. */
        assert_int_equal(svcid_key_public_jwk(key, &jwk), 0);
        assert_null(strchr(jwk, ' '));
        assert_null(strstr(jwk, "\"d\""));
        assert_null(strstr(jwk, "\"p\""));
        j = jwk_json(key);
        assert_string_equal(member(j, "kid"), tp);
        assert_string_equal(member(j, "alg"), svcid_alg_str(alg));
        assert_string_equal(member(j, "use"), "sig");
        assert_string_equal(member(j, "kty"), alg == SVCID_ALG_ES256 ? "EC" : alg == SVCID_ALG_EDDSA ? "OKP" : "RSA");
        json_decref(j);
        assert_int_equal(load_jwk(jwk, &pub), 0);
        assert_false(svcid_key_is_private(pub));
        assert_string_equal(svcid_key_kid(pub), tp);
        assert_int_equal(svcid_key_alg(pub), alg);
        assert_true(svcid_key_equal_public(key, pub));
        check_signatures(key, pub, sig_len);
        assert_int_equal(svcid_key_sign_raw(pub, msg, strlen(msg), &sig, &len), -ENOKEY);
        assert_int_equal(svcid_key_private_pem(pub, &pem), -ENOKEY);
        assert_null(pem);
        /* And the export of the import is the same text. */
        free(jwk);
        jwk = NULL;
        assert_int_equal(svcid_key_public_jwk(pub, &jwk), 0);
        assert_int_equal(load_jwk(jwk, &again), 0);
        assert_true(svcid_key_equal_public(pub, again));
        svcid_key_unref(again);

        /* PEM both ways. */
        assert_int_equal(svcid_key_private_pem(key, &pem), 0);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(load_pem(pem, pem_alg, &pempriv), 0);
        assert_true(svcid_key_is_private(pempriv));
        assert_string_equal(svcid_key_kid(pempriv), tp);
        assert_int_equal(svcid_key_alg(pempriv), alg);
        assert_true(svcid_key_equal_public(key, pempriv));
        check_signatures(pempriv, key, sig_len);
        svcid_free_secret(pem);

        assert_int_equal(svcid_key_public_pem(key, &pub_pem), 0);
        assert_non_null(strstr(pub_pem, "-----BEGIN PUBLIC KEY-----"));
        assert_int_equal(load_pem(pub_pem, pem_alg, &pempub), 0);
        assert_false(svcid_key_is_private(pempub));
        assert_string_equal(svcid_key_kid(pempub), tp);
        assert_true(svcid_key_equal_public(pub, pempub));
        check_signatures(key, pempub, sig_len);

        /* References: the key survives until the last unref. */
        assert_ptr_equal(svcid_key_ref(key), key);
        svcid_key_unref(key);
        assert_string_equal(svcid_key_kid(key), tp);

        free(pub_pem);
        free(jwk);
        free(tp);
        svcid_key_unref(key);
        svcid_key_unref(pub);
        svcid_key_unref(pempriv);
        svcid_key_unref(pempub);
}

static void test_roundtrip_es256(void **state) {
        (void) state;
        roundtrip(SVCID_ALG_ES256, 64);
}

static void test_roundtrip_eddsa(void **state) {
        (void) state;
        roundtrip(SVCID_ALG_EDDSA, 64);
}

static void test_roundtrip_rs256(void **state) {
        (void) state;
        roundtrip(SVCID_ALG_RS256, 384);
}

static void test_roundtrip_ps256(void **state) {
        (void) state;
        roundtrip(SVCID_ALG_PS256, 384);
}

/* PS256 means salt 32 and MGF1-SHA-256 exactly, checked against OpenSSL
 * directly; and one RSA key under RS256 does not take PS256 signatures. */
static void test_ps256_parameters(void **state) {
        svcid_key *key = NULL, *as_rs = NULL;
        unsigned char *sig = NULL, other[384];
        size_t sig_len = 0, other_len = sizeof other;
        EVP_PKEY *pkey;
        EVP_MD_CTX *ctx;
        EVP_PKEY_CTX *pctx = NULL;
        char *pem = NULL;

        (void) state;
        assert_int_equal(svcid_key_generate(SVCID_ALG_PS256, &key), 0);
        assert_int_equal(svcid_key_sign_raw(key, msg, strlen(msg), &sig, &sig_len), 0);
        pkey = key_pkey(key);

        ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pkey), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
        assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *) msg, strlen(msg)), 1);
        EVP_MD_CTX_free(ctx);

        /* A valid PSS signature with a 64-byte salt: not PS256. */
        ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, pkey), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 64), 1);
        assert_int_equal(EVP_DigestSign(ctx, other, &other_len, (const unsigned char *) msg, strlen(msg)), 1);
        EVP_MD_CTX_free(ctx);
        assert_int_equal(svcid_key_verify_raw(key, msg, strlen(msg), other, other_len), -EBADMSG);

        assert_int_equal(svcid_key_private_pem(key, &pem), 0);
        assert_int_equal(load_pem(pem, SVCID_ALG_RS256, &as_rs), 0);
        assert_false(svcid_key_equal_public(key, as_rs));      /* alg differs */
        assert_int_equal(svcid_key_verify_raw(as_rs, msg, strlen(msg), sig, sig_len), -EBADMSG);
        /* RSA needs its alg named. */
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &as_rs), -EINVAL);
        assert_int_equal(load_pem(pem, SVCID_ALG_ES256, &as_rs), -EINVAL);

        svcid_free_secret(pem);
        EVP_PKEY_free(pkey);
        free(sig);
        svcid_key_unref(key);
        svcid_key_unref(as_rs);
}

/* One key shared by threads that sign and verify at once, as the agent's
 * and a verifying service's threads do: each signature verifies, and a bad
 * one is still refused, whichever thread holds the key's spare context. */
struct shared_key_job {
        svcid_key *key;
        int rounds, failures;
};

static void *shared_key_worker(void *arg) {
        struct shared_key_job *job = arg;

        for (int i = 0; i < job->rounds; i++) {
                unsigned char *sig = NULL;
                size_t sig_len = 0;

                if (svcid_key_sign_raw(job->key, msg, strlen(msg), &sig, &sig_len) < 0 ||
                    svcid_key_verify_raw(job->key, msg, strlen(msg), sig, sig_len) != 0)
                        job->failures++;
                else {
                        sig[0] ^= 0x80;
                        if (svcid_key_verify_raw(job->key, msg, strlen(msg), sig, sig_len) != -EBADMSG)
                                job->failures++;
                }
                free(sig);
        }
        return NULL;
}

static void test_shared_key_threads(void **state) {
        static const struct {
                svcid_alg alg;
                int rounds;
        } cases[] = { { SVCID_ALG_ES256, 200 }, { SVCID_ALG_EDDSA, 200 }, { SVCID_ALG_PS256, 10 } };
        enum { THREADS = 4 };

        (void) state;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                pthread_t threads[THREADS];
                struct shared_key_job jobs[THREADS];
                svcid_key *key = NULL;

                assert_int_equal(svcid_key_generate(cases[c].alg, &key), 0);
                for (int t = 0; t < THREADS; t++) {
                        jobs[t] = (struct shared_key_job) { .key = key, .rounds = cases[c].rounds };
                        assert_int_equal(pthread_create(&threads[t], NULL, shared_key_worker, &jobs[t]), 0);
                }
                for (int t = 0; t < THREADS; t++) {
                        assert_int_equal(pthread_join(threads[t], NULL), 0);
                        assert_int_equal(jobs[t].failures, 0);
                }
                svcid_key_unref(key);
        }
}

/* ---- private JWKs ------------------------------------------------------------ */

static void test_private_jwk_ec(void **state) {
        svcid_key *key = NULL, *pub = NULL;
        char *json;

        (void) state;
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}",
                         rfc7517_x, rfc7517_y, rfc7517_d);
        assert_int_equal(load_jwk(json, &key), 0);
        assert_true(svcid_key_is_private(key));
        free(json);
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", rfc7517_x, rfc7517_y);
        assert_int_equal(load_jwk(json, &pub), 0);
        check_signatures(key, pub, 64);
        free(json);
        svcid_key_unref(key);
        svcid_key_unref(pub);

        /* d of another key ('E' → 'A' changes the last bits). */
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
                         "\"d\":\"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAA\"}", rfc7517_x, rfc7517_y);
        expect_jwk("EC with mismatched d", json, -EINVAL, "the private key does not match the public one");
        free(json);

        /* A private key whose key_ops say only verify is refused; in a
         * JWKS, it is refused as a private key before anything else. */
        expect_jwk("EC private, key_ops verify", json = xasprintf(
                   "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\",\"key_ops\":[\"verify\"]}",
                   rfc7517_x, rfc7517_y, rfc7517_d), -EINVAL, "\"key_ops\" is not an array with \"sign\"");
        free(json);
        json = xasprintf("{\"iss\":\"svcid://leak\",\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
                         "\"y\":\"%s\",\"d\":\"%s\",\"key_ops\":[\"verify\"]}]}", rfc7517_x, rfc7517_y, rfc7517_d);
        {
                svcid_trust *trust = NULL;
                char err[256] = "";

                assert_int_equal(svcid_trust_new(&trust), 0);
                assert_int_equal(svcid_trust_add_jwks(trust, json, strlen(json), NULL, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, "key 0 is a private key"));
                svcid_trust_free(trust);
        }
        free(json);
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%.42s\"}",
                         rfc7517_x, rfc7517_y, "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eA");
        expect_jwk("EC with 31-byte d", json, -EINVAL, "\"d\" is 31 bytes, must be 32");
        free(json);
        /* The same d, one zero byte longer: RFC 7518 §6.2.2.1 fixes 32. */
        {
                size_t d_len = 0;
                unsigned char *d = unb64(rfc7517_d, &d_len), d33[33] = { 0 };
                char *s;

                memcpy(d33 + 1, d, 32);
                s = b64(d33, 33);
                json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}",
                                 rfc7517_x, rfc7517_y, s);
                expect_jwk("EC with 33-byte d", json, -EINVAL, "\"d\" is 33 bytes, must be 32");
                free(json);
                free(s);
                free(d);
        }
        json = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":7}",
                         rfc7517_x, rfc7517_y);
        expect_jwk("EC with numeric d", json, -EINVAL, "\"d\" is not a string");
        free(json);
}

static void test_private_jwk_okp(void **state) {
        char *json;

        (void) state;
        json = xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"%s\",\"x\":\"%s\"}", rfc8037_d, rfc8037_x);
        expect_jwk("OKP private", json, 0, NULL);
        free(json);
        json = xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"%s\",\"x\":\"%s\"}",
                         "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2E", rfc8037_x);
        expect_jwk("OKP with mismatched d", json, -EINVAL, "the private key does not match");
        free(json);
}

typedef struct rsa_parts {
        char *n, *e, *d, *p, *q, *dp, *dq, *qi;
} rsa_parts;

static rsa_parts rsa_parts_of(EVP_PKEY *pkey) {
        return (rsa_parts) {
                .n = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0),
                .e = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0),
                .d = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_D, 0),
                .p = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0),
                .q = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0),
                .dp = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0),
                .dq = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0),
                .qi = pkey_bn_b64(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0),
        };
}

static void rsa_parts_done(rsa_parts *r) {
        free(r->n), free(r->e), free(r->d), free(r->p), free(r->q);
        free(r->dp), free(r->dq), free(r->qi);
}

static void test_private_jwk_rsa(void **state) {
        EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        rsa_parts pa, pb;
        svcid_key *key = NULL, *pub = NULL;
        char *json;

        (void) state;
        assert_non_null(a);
        assert_non_null(b);
        pa = rsa_parts_of(a);
        pb = rsa_parts_of(b);

        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"PS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\","
                         "\"q\":\"%s\",\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\"}",
                         pa.n, pa.e, pa.d, pa.p, pa.q, pa.dp, pa.dq, pa.qi);
        assert_int_equal(load_jwk(json, &key), 0);
        assert_true(svcid_key_is_private(key));
        assert_int_equal(svcid_key_alg(key), SVCID_ALG_PS256);
        free(json);
        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"PS256\",\"n\":\"%s\",\"e\":\"%s\"}", pa.n, pa.e);
        assert_int_equal(load_jwk(json, &pub), 0);
        check_signatures(key, pub, 256);
        free(json);

        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\","
                         "\"q\":\"%s\",\"dp\":\"%s\",\"dq\":\"%s\"}",
                         pa.n, pa.e, pa.d, pa.p, pa.q, pa.dp, pa.dq);
        expect_jwk("RSA private without qi", json, -EINVAL, "RSA private key without all of");
        free(json);
        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\"}",
                         pa.n, pa.e, pa.d);
        expect_jwk("RSA private with d only", json, -EINVAL, "RSA private key without all of");
        free(json);
        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\","
                         "\"q\":\"%s\",\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\"}",
                         pa.n, pa.e, pb.d, pa.p, pa.q, pa.dp, pa.dq, pa.qi);
        expect_jwk("RSA private with another key's d", json, -EINVAL, "the private key does not match");
        free(json);
        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\","
                         "\"q\":\"%s\",\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\"}",
                         pa.n, pa.e, pa.d, pb.p, pb.q, pa.dp, pa.dq, pa.qi);
        expect_jwk("RSA private with another key's factors", json, -EINVAL, "the private key does not match");
        free(json);
        json = xasprintf("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\","
                         "\"q\":\"%s\",\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\",\"oth\":[]}",
                         pa.n, pa.e, pa.d, pa.p, pa.q, pa.dp, pa.dq, pa.qi);
        expect_jwk("RSA private with oth", json, -EINVAL, "multi-prime RSA (\"oth\")");
        free(json);

        /* In a JWKS, any private member makes the key a private one, said
         * before what else is wrong with it: the factors alone, or only the
         * CRT values, give the key away as its d does. */
        {
                const char *const leaks[][2] = {
                        { "p", pa.p }, { "q", pa.q }, { "dp", pa.dp }, { "dq", pa.dq }, { "qi", pa.qi },
                };

                for (size_t i = 0; i <= ELEMENTSOF(leaks); i++) {
                        svcid_trust *trust = NULL;
                        char err[256] = "";

                        json = i < ELEMENTSOF(leaks)
                                ? xasprintf("{\"iss\":\"svcid://leak\",\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS256\","
                                            "\"n\":\"%s\",\"e\":\"%s\",\"%s\":\"%s\"}]}",
                                            pa.n, pa.e, leaks[i][0], leaks[i][1])
                                : xasprintf("{\"iss\":\"svcid://leak\",\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS256\","
                                            "\"n\":\"%s\",\"e\":\"%s\",\"oth\":[]}]}", pa.n, pa.e);
                        assert_int_equal(svcid_trust_new(&trust), 0);
                        assert_int_equal(svcid_trust_add_jwks(trust, json, strlen(json), NULL, err, sizeof err),
                                         -EINVAL);
                        if (!strstr(err, "key 0 is a private key"))
                                fail_msg("JWKS with only %s: \"%s\"", i < ELEMENTSOF(leaks) ? leaks[i][0] : "oth", err);
                        svcid_trust_free(trust);
                        free(json);
                }
        }
        /* A symmetric key is all secret (RFC 7518 §6.4.1). */
        {
                static const char oct[] = "{\"iss\":\"svcid://leak\",\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\","
                                          "\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";
                svcid_trust *trust = NULL;
                char err[256] = "";

                assert_int_equal(svcid_trust_new(&trust), 0);
                assert_int_equal(svcid_trust_add_jwks(trust, oct, strlen(oct), NULL, err, sizeof err), -EINVAL);
                if (!strstr(err, "key 0 is a private key"))
                        fail_msg("JWKS with an oct key: \"%s\"", err);
                svcid_trust_free(trust);
        }

        rsa_parts_done(&pa);
        rsa_parts_done(&pb);
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
        svcid_key_unref(key);
        svcid_key_unref(pub);
}

/* ---- refused JWKs ------------------------------------------------------------ */

static void test_jwk_ec_refused(void **state) {
        unsigned char *x, buf[33];
        size_t x_len = 0;
        char *x31, *x33, *json, *p384x, *p384y;
        EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        const char *base = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s}";

        (void) state;
        x = unb64(rfc7517_x, &x_len);
        assert_int_equal(x_len, 32);
        memcpy(buf, x, 32);
        buf[32] = 0;
        x31 = b64(x + 1, 31);
        x33 = b64(buf, 33);

#define EC(extra) xasprintf(base, rfc7517_x, rfc7517_y, extra)
#define CASE(what, json_expr, want, why) do { json = (json_expr); expect_jwk(what, json, want, why); free(json); } while (0)
        CASE("EC base", EC(""), 0, NULL);
        CASE("EC alg ES256", EC(",\"alg\":\"ES256\""), 0, NULL);
        CASE("EC key_ops verify", EC(",\"key_ops\":[\"verify\"]"), 0, NULL);
        CASE("EC extra members ignored", EC(",\"x5c\":[\"MIIB\"],\"ext\":true"), 0, NULL);
        CASE("EC alg RS256", EC(",\"alg\":\"RS256\""), -EINVAL, "\"alg\" does not fit \"kty\"");
        CASE("EC alg EdDSA", EC(",\"alg\":\"EdDSA\""), -EINVAL, "\"alg\" does not fit \"kty\"");
        CASE("EC alg ES384", EC(",\"alg\":\"ES384\""), -EINVAL, "\"alg\" is not ES256, EdDSA, RS256 or PS256");
        CASE("EC alg none", EC(",\"alg\":\"none\""), -EINVAL, "\"alg\" is not ES256");
        CASE("EC alg not a string", EC(",\"alg\":true"), -EINVAL, "\"alg\" is not a string");
        CASE("EC use enc", EC(",\"use\":\"enc\""), -EINVAL, "\"use\" is not \"sig\"");
        CASE("EC use not a string", EC(",\"use\":[\"sig\"]"), -EINVAL, "\"use\" is not \"sig\"");
        CASE("EC key_ops encrypt", EC(",\"key_ops\":[\"encrypt\"]"), -EINVAL, "\"key_ops\" allows more than sign and verify");
        CASE("EC key_ops verify+encrypt", EC(",\"key_ops\":[\"verify\",\"encrypt\"]"), -EINVAL, "\"key_ops\" allows more");
        CASE("EC key_ops empty", EC(",\"key_ops\":[]"), -EINVAL, "\"key_ops\" is not an array with \"verify\"");
        CASE("EC key_ops sign, a public key", EC(",\"key_ops\":[\"sign\"]"), -EINVAL,
             "\"key_ops\" is not an array with \"verify\"");
        CASE("EC key_ops a string", EC(",\"key_ops\":\"verify\""), -EINVAL, "\"key_ops\" is not an array");
        CASE("EC key_ops non-string", EC(",\"key_ops\":[1]"), -EINVAL, "\"key_ops\" allows more");
        CASE("EC kid number", EC(",\"kid\":3"), -EINVAL, "\"kid\" is not a string");
        CASE("EC kid empty", EC(",\"kid\":\"\""), -EINVAL, "\"kid\" is empty or longer than 255 bytes");
        CASE("EC kid with a newline", EC(",\"kid\":\"k1\\nk2\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with an escape", EC(",\"kid\":\"\\u001b[2J\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with a tab", EC(",\"kid\":\"a\\tb\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with DEL", EC(",\"kid\":\"a\\u007f\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with CSI (C1)", EC(",\"kid\":\"a\\u009b2J\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with U+0080", EC(",\"kid\":\"\\u0080\""), -EINVAL, "\"kid\" has a control character");
        CASE("EC kid with U+00A0", EC(",\"kid\":\"a\\u00a0b\""), 0, NULL);
        CASE("EC kid with a space and UTF-8", EC(",\"kid\":\"key \\u00e9 1\""), 0, NULL);
        CASE("EC kid 255", EC(",\"kid\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\""), 0, NULL);
        CASE("EC kid 256", EC(",\"kid\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""), -EINVAL, "\"kid\" is empty or longer than 255 bytes");
        CASE("EC off curve", xasprintf(base, rfc7517_x, "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyQ", ""), -EINVAL, "(x, y) is not a point on P-256");
        CASE("EC x 31 bytes", xasprintf(base, x31, rfc7517_y, ""), -EINVAL, "\"x\" is 31 bytes, must be 32 (leading zero bytes are kept)");
        CASE("EC x 33 bytes", xasprintf(base, x33, rfc7517_y, ""), -EINVAL, "\"x\" is 33 bytes, must be 32");
        CASE("EC x padded", xasprintf(base, "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4=", rfc7517_y, ""), -EINVAL, "\"x\" is not strict base64url");
        CASE("EC x number", xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":5,\"y\":\"%s\"}", rfc7517_y), -EINVAL, "\"x\" is not a string");
        CASE("EC y missing", xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", rfc7517_x), -EINVAL, "no \"y\"");
        CASE("EC crv p-256", xasprintf("{\"kty\":\"EC\",\"crv\":\"p-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                                       rfc7517_x, rfc7517_y), -EINVAL, "\"crv\" is not P-256");
        CASE("EC crv null", xasprintf("{\"kty\":\"EC\",\"crv\":null,\"x\":\"%s\",\"y\":\"%s\"}",
                                      rfc7517_x, rfc7517_y), -EINVAL, "\"crv\" is not a string");
        CASE("EC kty number", xasprintf("{\"kty\":1,\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                                        rfc7517_x, rfc7517_y), -EINVAL, "\"kty\" is not a string");
        CASE("EC kty missing", xasprintf("{\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                                         rfc7517_x, rfc7517_y), -EINVAL, "no \"kty\"");
        CASE("EC duplicate member", xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"crv\":\"P-256\"}",
                                              rfc7517_x, rfc7517_y), -EINVAL, "not a JSON object");

        /* A real P-384 key, named as such and as P-256. */
        assert_non_null(p384);
        p384x = pkey_bn_b64(p384, OSSL_PKEY_PARAM_EC_PUB_X, 48);
        p384y = pkey_bn_b64(p384, OSSL_PKEY_PARAM_EC_PUB_Y, 48);
        CASE("EC P-384", xasprintf("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", p384x, p384y), -EINVAL, "\"crv\" is not P-256");
        CASE("EC P-384 as P-256", xasprintf(base, p384x, p384y, ""), -EINVAL, "\"x\" is 48 bytes, must be 32");
        free(p384x);
        free(p384y);
        EVP_PKEY_free(p384);
#undef EC

        free(x);
        free(x31);
        free(x33);
}

static void test_jwk_other_refused(void **state) {
        char *json, *x31;
        unsigned char *x;
        size_t x_len = 0;

        (void) state;
        x = unb64(rfc8037_x, &x_len);
        x31 = b64(x, 31);
        CASE("OKP base", xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"alg\":\"EdDSA\"}", rfc8037_x), 0, NULL);
        CASE("OKP alg ES256", xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"alg\":\"ES256\"}", rfc8037_x), -EINVAL, "\"alg\" does not fit \"kty\"");
        CASE("OKP X25519", xasprintf("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"}", rfc8037_x), -EINVAL, "\"crv\" is not Ed25519");
        CASE("OKP Ed448", xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"%s\"}", rfc8037_x), -EINVAL, "\"crv\" is not Ed25519");
        CASE("OKP x 31 bytes", xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x31), -EINVAL, "\"x\" is 31 bytes, must be 32");
        CASE("kty oct", xstrdup_json("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\",\"alg\":\"HS256\"}"), -EINVAL, "\"alg\" is not ES256");
        CASE("kty oct without alg", xstrdup_json("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}"), -EINVAL, "\"kty\" is not EC, OKP or RSA");
        CASE("kty unknown", xstrdup_json("{\"kty\":\"DSA\"}"), -EINVAL, "\"kty\" is not EC, OKP or RSA");
        CASE("not an object", xstrdup_json("[]"), -EINVAL, "not a JSON object");
        CASE("a string", xstrdup_json("\"kty\""), -EINVAL, "not a JSON object");
        CASE("empty", xstrdup_json(""), -EINVAL, "not a JSON object");
        CASE("trailing garbage", xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}x", rfc8037_x), -EINVAL, "not a JSON object");
        free(x);
        free(x31);
}

static void test_jwk_rsa_refused(void **state) {
        EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        const char *base = "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}";
        char *json, *n1024, *e1024, *n_zero, *n_even;
        unsigned char *n, *n0;
        size_t n_len = 0;

        (void) state;
        assert_non_null(small);
        n1024 = pkey_bn_b64(small, OSSL_PKEY_PARAM_RSA_N, 0);
        e1024 = pkey_bn_b64(small, OSSL_PKEY_PARAM_RSA_E, 0);
        n = unb64(rfc7638_n, &n_len);
        n0 = calloc(1, n_len + 1);
        memcpy(n0 + 1, n, n_len);
        n_zero = b64(n0, n_len + 1);

#define RSA(e, extra) xasprintf(base, rfc7638_n, e, extra)
        CASE("RSA base", RSA("AQAB", ",\"alg\":\"RS256\""), 0, NULL);
        CASE("RSA PS256", RSA("AQAB", ",\"alg\":\"PS256\""), 0, NULL);
        CASE("RSA e=3", RSA("Aw", ",\"alg\":\"RS256\""), 0, NULL);
        CASE("RSA without alg", RSA("AQAB", ""), -EINVAL, "an RSA JWK needs \"alg\" RS256 or PS256");
        CASE("RSA alg ES256", RSA("AQAB", ",\"alg\":\"ES256\""), -EINVAL, "an RSA JWK needs \"alg\"");
        CASE("RSA alg RS384", RSA("AQAB", ",\"alg\":\"RS384\""), -EINVAL, "\"alg\" is not ES256");
        CASE("RSA alg HS256", RSA("AQAB", ",\"alg\":\"HS256\""), -EINVAL, "\"alg\" is not ES256");
        CASE("RSA e=1", RSA("AQ", ",\"alg\":\"RS256\""), -EINVAL, "RSA public exponent is even, 1 or wider than 64 bits");
        CASE("RSA e=2^63+1", RSA("gAAAAAAAAAE", ",\"alg\":\"RS256\""), 0, NULL);
        CASE("RSA e=2^64+1", RSA("AQAAAAAAAAAB", ",\"alg\":\"RS256\""), -EINVAL, "RSA public exponent");
        CASE("RSA e=2", RSA("Ag", ",\"alg\":\"RS256\""), -EINVAL, "RSA public exponent");
        CASE("RSA e=65536", RSA("AQAA", ",\"alg\":\"RS256\""), -EINVAL, "RSA public exponent");
        CASE("RSA e with leading zero", RSA("AAEAAQ", ",\"alg\":\"RS256\""), -EINVAL, "\"e\" is not a minimal unsigned integer");
        CASE("RSA e number", xasprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":65537,\"alg\":\"RS256\"}", rfc7638_n), -EINVAL, "\"e\" is not a string");
        CASE("RSA n with leading zero", xasprintf(base, n_zero, "AQAB", ",\"alg\":\"RS256\""), -EINVAL, "\"n\" is not a minimal unsigned integer");
        CASE("RSA-1024", xasprintf(base, n1024, e1024, ",\"alg\":\"RS256\""), -EINVAL, "RSA modulus of 1024 bits (2048 to 16384 accepted)");
        n[n_len - 1] &= 0xfe;   /* the RFC's n, made even */
        n_even = b64(n, n_len);
        CASE("RSA n even", xasprintf(base, n_even, "AQAB", ",\"alg\":\"RS256\""), -EINVAL, "RSA modulus is even");
        CASE("RSA use enc", RSA("AQAB", ",\"alg\":\"RS256\",\"use\":\"enc\""), -EINVAL, "\"use\" is not \"sig\"");
        CASE("RSA key_ops encrypt", RSA("AQAB", ",\"alg\":\"RS256\",\"key_ops\":[\"encrypt\"]"), -EINVAL, "\"key_ops\" allows more");
        CASE("RSA key_ops sign", RSA("AQAB", ",\"alg\":\"RS256\",\"key_ops\":[\"sign\",\"verify\"]"), 0, NULL);
#undef RSA

        free(n1024);
        free(e1024);
        free(n);
        free(n0);
        free(n_zero);
        free(n_even);
        EVP_PKEY_free(small);
}

/* ROCA: a 2048-bit modulus congruent to a power of 65537 modulo every
 * prime of the fingerprint is refused; one congruent to 2 is not. */
static char *roca_like_modulus(unsigned long residue_exp, bool power) {
        static const unsigned primes[] = {
                3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61,
                67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131,
                137, 139, 149, 151, 157, 163, 167,
        };
        BN_CTX *ctx = BN_CTX_new();
        BIGNUM *m = BN_new(), *c = BN_new(), *g = BN_new(), *a = BN_new(), *k = BN_new(), *n = BN_new();
        char *s;

        assert_true(ctx && m && c && g && a && k && n);
        BN_one(m);
        for (size_t i = 0; i < sizeof primes / sizeof primes[0]; i++)
                assert_int_equal(BN_mul_word(m, primes[i]), 1);
        if (power) {
                BN_set_word(g, 65537);
                BN_set_word(a, residue_exp);
                assert_int_equal(BN_mod_exp(c, g, a, m, ctx), 1);
        } else
                BN_set_word(c, 2);
        do {
                assert_int_equal(BN_rand(k, 2048 - BN_num_bits(m), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), 1);
                assert_int_equal(BN_mul(n, k, m, ctx), 1);
                assert_int_equal(BN_add(n, n, c), 1);
                /* M is odd: adding it fixes the parity, not the residues. */
                if (!BN_is_odd(n))
                        assert_int_equal(BN_add(n, n, m), 1);
        } while (BN_num_bits(n) != 2048);
        s = bn_b64(n, 0);
        BN_free(m), BN_free(c), BN_free(g), BN_free(a), BN_free(k), BN_free(n);
        BN_CTX_free(ctx);
        return s;
}

static void test_jwk_roca(void **state) {
        char *n, *json;

        (void) state;
        n = roca_like_modulus(0x1234567, true);
        CASE("RSA ROCA modulus", xasprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\"}", n), -EINVAL, "RSA modulus has the ROCA weakness (CVE-2017-15361)");
        free(n);
        n = roca_like_modulus(0, false);
        CASE("RSA non-ROCA control", xasprintf("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"alg\":\"RS256\"}", n), 0, NULL);
        free(n);
}

/* Real keys: Wycheproof's json_web_key_test.json (Apache-2.0, see
 * tests/vectors/wycheproof/LICENSE) has an RSA key with the ROCA
 * fingerprint; its plain RS256 key is the control. */
static json_t *wycheproof_jwk(json_t *doc, const char *comment, const char *set) {
        json_t *group;
        size_t i;

        json_array_foreach(json_object_get(doc, "testGroups"), i, group) {
                const char *c = json_string_value(json_object_get(group, "comment"));

                if (c && strcmp(c, comment) == 0)
                        return json_array_get(json_object_get(json_object_get(group, set), "keys"), 0);
        }
        fail_msg("no group %s", comment);
        return NULL;
}

static void test_jwk_roca_wycheproof(void **state) {
        const char *src = getenv("SVCID_SRC");
        char *path = xasprintf("%s/tests/vectors/wycheproof/json_web_key_test.json", src ? src : ".");
        json_t *doc = json_load_file(path, 0, NULL);
        char *json;

        (void) state;
        if (!doc)
                fail_msg("cannot read %s (run from the source tree or set SVCID_SRC)", path);
        CASE("Wycheproof RS256 key", json_dumps(wycheproof_jwk(doc, "rs256", "public"), JSON_COMPACT), 0, NULL);
        CASE("Wycheproof ROCA key", json_dumps(wycheproof_jwk(doc, "jws_rsa_roca_key", "public"), JSON_COMPACT), -EINVAL, "ROCA");
        CASE("Wycheproof ROCA private key", json_dumps(wycheproof_jwk(doc, "jws_rsa_roca_key", "private"), JSON_COMPACT), -EINVAL, "ROCA");
        json_decref(doc);
        free(path);
}

static void test_jwk_too_large(void **state) {
        size_t len = SVCID_JWKS_MAX + 1;
        char *big = malloc(len + 1);
        svcid_key *key = NULL;

        (void) state;
        assert_non_null(big);
        memset(big, ' ', len);
        big[len] = '\0';
        memcpy(big, "{\"kty\":\"OKP\"", 12);
        big[len - 1] = '}';
        assert_int_equal(svcid_key_from_jwk(big, len, &key), -EFBIG);
        assert_null(key);
        free(big);
}

/* ---- PEM refusals -------------------------------------------------------------- */

static void test_pem_refused(void **state) {
        EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        EVP_PKEY *ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        static const char *const other_curves[] = { "secp256k1", "brainpoolP256r1", "secp224r1" };
        svcid_key *key = NULL;
        char *pem, *data = NULL;
        BIO *bio;
        long n;

        (void) state;
        assert_true(p384 && rsa1024 && x25519 && p256 && ed25519);

        pem = pkey_pem(p384, true);
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &key), -EINVAL);
        assert_int_equal(load_pem(pem, SVCID_ALG_ES256, &key), -EINVAL);
        free(pem);
        pem = pkey_pem(p384, false);
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &key), -EINVAL);
        free(pem);
        pem = pkey_pem(rsa1024, true);
        assert_int_equal(load_pem(pem, SVCID_ALG_RS256, &key), -EINVAL);
        free(pem);
        pem = pkey_pem(x25519, false);
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &key), -EINVAL);
        assert_int_equal(load_pem(pem, SVCID_ALG_EDDSA, &key), -EINVAL);
        free(pem);

        pem = pkey_pem(p256, true);
        assert_int_equal(load_pem(pem, SVCID_ALG_RS256, &key), -EINVAL);
        assert_int_equal(load_pem(pem, SVCID_ALG_EDDSA, &key), -EINVAL);
        assert_int_equal(load_pem(pem, (svcid_alg) 99, &key), -EINVAL);
        assert_null(key);
        assert_int_equal(load_pem(pem, SVCID_ALG_ES256, &key), 0);
        svcid_key_unref(key);
        key = NULL;
        free(pem);

        /* The traditional "EC PRIVATE KEY" form loads too. */
        bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, p256, NULL, NULL, 0, NULL, NULL), 1);
        n = BIO_get_mem_data(bio, &data);
        pem = strndup(data, (size_t) n);
        BIO_free(bio);
        assert_non_null(strstr(pem, "BEGIN EC PRIVATE KEY"));
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &key), 0);
        assert_true(svcid_key_is_private(key));
        svcid_key_unref(key);
        key = NULL;
        free(pem);

        /* An encrypted key is refused, without asking anyone for a passphrase. */
        bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PrivateKey(bio, p256, EVP_aes_256_cbc(), (unsigned char *) "secret", 6,
                                                  NULL, NULL), 1);
        n = BIO_get_mem_data(bio, &data);
        pem = strndup(data, (size_t) n);
        BIO_free(bio);
        assert_int_equal(load_pem(pem, SVCID_ALG_INVALID, &key), -EINVAL);
        free(pem);

        /* Curves other than P-256 whose coordinates still fit 32 bytes: the
         * curve name is all that refuses these (a P-384 key also fails on
         * its 48-byte coordinates). */
        for (size_t i = 0; i < ELEMENTSOF(other_curves); i++) {
                EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", other_curves[i]);

                assert_non_null(other);
                for (int private = 0; private <= 1; private++) {
                        pem = pkey_pem(other, private);
                        if (load_pem(pem, SVCID_ALG_INVALID, &key) != -EINVAL ||
                            load_pem(pem, SVCID_ALG_ES256, &key) != -EINVAL)
                                fail_msg("%s %s key: not refused", other_curves[i], private ? "private" : "public");
                        assert_null(key);
                        free(pem);
                }
                EVP_PKEY_free(other);
        }

        /* P-256 itself, written with explicit curve parameters (RFC 5480
         * wants the name): refused though the group is the right one. */
        assert_int_equal(EVP_PKEY_set_utf8_string_param(p256, OSSL_PKEY_PARAM_EC_ENCODING,
                                                         OSSL_PKEY_EC_ENCODING_EXPLICIT), 1);
        for (int private = 0; private <= 1; private++) {
                pem = pkey_pem(p256, private);
                if (load_pem(pem, SVCID_ALG_INVALID, &key) != -EINVAL ||
                    load_pem(pem, SVCID_ALG_ES256, &key) != -EINVAL)
                        fail_msg("explicit-parameter P-256 %s key: not refused", private ? "private" : "public");
                assert_null(key);
                free(pem);
        }

        /* An Ed25519 key is for EdDSA only, whatever alg the caller names. */
        for (int private = 0; private <= 1; private++) {
                pem = pkey_pem(ed25519, private);
                assert_int_equal(load_pem(pem, SVCID_ALG_EDDSA, &key), 0);
                assert_int_equal(svcid_key_alg(key), SVCID_ALG_EDDSA);
                svcid_key_unref(key);
                key = NULL;
                assert_int_equal(load_pem(pem, SVCID_ALG_ES256, &key), -EINVAL);
                assert_int_equal(load_pem(pem, SVCID_ALG_RS256, &key), -EINVAL);
                assert_int_equal(load_pem(pem, SVCID_ALG_PS256, &key), -EINVAL);
                assert_null(key);
                free(pem);
        }

        assert_int_equal(load_pem("", SVCID_ALG_INVALID, &key), -EINVAL);
        assert_int_equal(load_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                  SVCID_ALG_INVALID, &key), -EINVAL);
        assert_null(key);
        /* Nothing is left in OpenSSL's error queue for the caller to trip on. */
        assert_int_equal(ERR_peek_error(), 0);

        EVP_PKEY_free(ed25519);
        EVP_PKEY_free(p384);
        EVP_PKEY_free(rsa1024);
        EVP_PKEY_free(x25519);
        EVP_PKEY_free(p256);
}

/* A public RSA key of modulus n and e = 65537, as OpenSSL builds it from
 * the numbers alone (no key generation: any n will do). */
static char *rsa_public_pem(const BIGNUM *n) {
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        BIGNUM *e = BN_new();
        OSSL_PARAM *params;
        EVP_PKEY *pkey = NULL;
        char *pem;

        assert_true(bld && ctx && e);
        assert_int_equal(BN_set_word(e, 65537), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
        params = OSSL_PARAM_BLD_to_param(bld);
        assert_non_null(params);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
        pem = pkey_pem(pkey, false);
        EVP_PKEY_free(pkey);
        OSSL_PARAM_free(params);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_BLD_free(bld);
        BN_free(e);
        return pem;
}

/* A random modulus of bits bits (top bit set), odd or even. */
static BIGNUM *rsa_modulus(int bits, bool odd) {
        BIGNUM *n = BN_new();

        assert_non_null(n);
        assert_int_equal(BN_rand(n, bits, BN_RAND_TOP_ONE, odd ? BN_RAND_BOTTOM_ODD : BN_RAND_BOTTOM_ANY), 1);
        if (!odd)
                assert_int_equal(BN_clear_bit(n, 0), 1);
        return n;
}

/* The RSA modulus checks of a PEM key, which has no JWK length cap before
 * them: at most 16384 bits, and odd. Each refusal has a twin one bit away
 * that loads. */
static void test_pem_rsa_refused(void **state) {
        static const struct { const char *what; int bits; bool odd; int want; } cases[] = {
                { "RSA-16384",          16384, true,  0 },
                { "RSA-16392",          16392, true,  -EINVAL },
                { "RSA-16385",          16385, true,  -EINVAL },
                { "RSA-2048 odd",       2048,  true,  0 },
                { "RSA-2048 even",      2048,  false, -EINVAL },
                { "RSA-4096 even",      4096,  false, -EINVAL },
        };
        static const svcid_alg algs[] = { SVCID_ALG_RS256, SVCID_ALG_PS256 };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                BIGNUM *n = rsa_modulus(cases[i].bits, cases[i].odd);
                char *pem = rsa_public_pem(n);

                assert_int_equal(BN_num_bits(n), cases[i].bits);
                assert_int_equal(BN_is_odd(n), cases[i].odd);
                for (size_t j = 0; j < ELEMENTSOF(algs); j++) {
                        svcid_key *key = NULL;
                        int r = load_pem(pem, algs[j], &key);

                        if (r != cases[i].want)
                                fail_msg("%s as %s: svcid_key_from_pem returned %d, want %d", cases[i].what,
                                         svcid_alg_str(algs[j]), r, cases[i].want);
                        if (r == 0)
                                assert_int_equal(svcid_key_alg(key), algs[j]);
                        else
                                assert_null(key);
                        svcid_key_unref(key);
                }
                free(pem);
                BN_free(n);
        }
        assert_int_equal(ERR_peek_error(), 0);
}

/* ---- signature shape ------------------------------------------------------------ */

static const unsigned char p256_n[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static void test_es256_signature_shape(void **state) {
        svcid_key *key = NULL;
        unsigned char *sig = NULL, bad[65];
        size_t sig_len = 0, len = strlen(msg);

        (void) state;
        assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &key), 0);
        assert_int_equal(svcid_key_sign_raw(key, msg, len, &sig, &sig_len), 0);
        assert_int_equal(sig_len, 64);
        assert_int_equal(svcid_key_verify_raw(key, msg, len, sig, 64), 0);

        assert_int_equal(svcid_key_verify_raw(key, msg, len, sig, 63), -EBADMSG);
        memcpy(bad, sig, 64);
        bad[64] = 0;
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 65), -EBADMSG);
        /* Left-padded to 65 with the zero in front: still not R||S. */
        bad[0] = 0;
        memcpy(bad + 1, sig, 64);
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 65), -EBADMSG);
        assert_int_equal(svcid_key_verify_raw(key, msg, len, NULL, 0), -EBADMSG);
        assert_int_equal(svcid_key_verify_raw(key, msg, len, sig, 0), -EBADMSG);

        memcpy(bad, sig, 64);
        memset(bad, 0, 32);                             /* r = 0 */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 64), -EBADMSG);
        memcpy(bad, p256_n, 32);                        /* r = n */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 64), -EBADMSG);
        memset(bad, 0xff, 32);                          /* r > n */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 64), -EBADMSG);
        memcpy(bad, sig, 64);
        memset(bad + 32, 0, 32);                        /* s = 0 */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 64), -EBADMSG);
        memcpy(bad + 32, p256_n, 32);                   /* s = n */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, bad, 64), -EBADMSG);
        /* And the untouched signature still verifies. */
        assert_int_equal(svcid_key_verify_raw(key, msg, len, sig, 64), 0);

        free(sig);
        svcid_key_unref(key);
}

static void test_other_signature_shape(void **state) {
        svcid_key *ed = NULL, *rsa = NULL;
        unsigned char *sig = NULL, *longer;
        size_t sig_len = 0, len = strlen(msg);

        (void) state;
        assert_int_equal(svcid_key_generate(SVCID_ALG_EDDSA, &ed), 0);
        assert_int_equal(svcid_key_sign_raw(ed, msg, len, &sig, &sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(ed, msg, len, sig, sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(ed, msg, len, sig, 63), -EBADMSG);
        longer = calloc(1, 65);
        memcpy(longer, sig, 64);
        assert_int_equal(svcid_key_verify_raw(ed, msg, len, longer, 65), -EBADMSG);
        ed25519_add_l(longer + 32);
        assert_int_equal(svcid_key_verify_raw(ed, msg, len, longer, 64), -EBADMSG);
        free(longer);
        free(sig);
        sig = NULL;

        assert_int_equal(svcid_key_generate(SVCID_ALG_RS256, &rsa), 0);
        assert_int_equal(svcid_key_sign_raw(rsa, msg, len, &sig, &sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(rsa, msg, len, sig, sig_len), 0);
        /* Empty data is data too. */
        free(sig);
        assert_int_equal(svcid_key_sign_raw(rsa, NULL, 0, &sig, &sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(rsa, "", 0, sig, sig_len), 0);
        assert_int_equal(svcid_key_verify_raw(rsa, msg, len, sig, sig_len), -EBADMSG);
        /* A leading zero byte changes nothing numerically; still refused. */
        longer = calloc(1, sig_len + 1);
        memcpy(longer + 1, sig, sig_len);
        assert_int_equal(svcid_key_verify_raw(rsa, "", 0, longer, sig_len + 1), -EBADMSG);
        free(longer);
        free(sig);
        svcid_key_unref(ed);
        svcid_key_unref(rsa);
}

static void test_arguments(void **state) {
        svcid_key *key = NULL;
        char *s = NULL;

        (void) state;
        assert_int_equal(svcid_key_generate(SVCID_ALG_INVALID, &key), -EINVAL);
        assert_int_equal(svcid_key_generate((svcid_alg) 42, &key), -EINVAL);
        assert_null(key);
        assert_int_equal(svcid_key_alg(NULL), SVCID_ALG_INVALID);
        assert_null(svcid_key_kid(NULL));
        assert_false(svcid_key_is_private(NULL));
        assert_false(svcid_key_equal_public(NULL, NULL));
        assert_null(svcid_key_ref(NULL));
        svcid_key_unref(NULL);
        assert_int_equal(svcid_key_public_jwk(NULL, &s), -EINVAL);
        assert_int_equal(svcid_key_thumbprint(NULL, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(svcid_key_from_jwk(NULL, 0, &key), -EINVAL);

        /* Keys of different algs are never "equal". */
        {
                svcid_key *a = NULL, *b = NULL;

                assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &a), 0);
                assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &b), 0);
                assert_true(svcid_key_equal_public(a, a));
                assert_false(svcid_key_equal_public(a, b));
                assert_string_not_equal(svcid_key_kid(a), svcid_key_kid(b));
                svcid_key_unref(a);
                svcid_key_unref(b);
        }
}

/* Ed25519 public keys that verify forgeries, or that are encoded two ways,
 * are refused from JWK, PEM and JWKS alike; lib/key.c says why. Each y is
 * tried with both signs of x. The y values are the library's, checked
 * apart from it with Python big integers: each decodes to a curve point P
 * with [8]P the identity. */
static void test_ed25519_weak_public_refused(void **state) {
        static const char *const small[] = {
                "1 (identity)", "p - 1 (order 2)", "0 (order 4)", "order 8, a", "order 8, b",
        };
        static const unsigned char small_y[][32] = {
                { 0x01 },
                { 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
                { 0x00 },
                { 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
                  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
                { 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
                  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
        };
        /* y >= p: p itself (0 again), p + 2, and 2^255 - 1. */
        static const unsigned char low_bytes[] = { 0xed, 0xef, 0xff };
        /* The DER of an Ed25519 SubjectPublicKeyInfo, up to the key. */
        static const unsigned char spki[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
                                              0x70, 0x03, 0x21, 0x00 };
        unsigned char y[32], der[sizeof spki + 32];
        char what[64], *json, *x;
        svcid_key *key = NULL;
        svcid_trust *trust = NULL;
        char err[200] = "";

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(small_y); i++)
                for (unsigned sign = 0; sign < 2; sign++) {
                        memcpy(y, small_y[i], 32);
                        y[31] |= (unsigned char) (sign << 7);
                        x = b64(y, 32);
                        snprintf(what, sizeof what, "y = %s, sign %u", small[i], sign);
                        CASE(what, xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x), -EINVAL,
                             "Ed25519 public key is a point of small order");
                        free(x);

                        /* The same key as PEM. */
                        memcpy(der, spki, sizeof spki);
                        memcpy(der + sizeof spki, y, 32);
                        BIO *bio = BIO_new(BIO_s_mem());
                        char *pem;
                        long pem_len;
                        assert_non_null(bio);
                        assert_true(PEM_write_bio(bio, "PUBLIC KEY", "", der, (long) sizeof der) > 0);
                        pem_len = BIO_get_mem_data(bio, &pem);
                        assert_true(pem_len > 0);
                        assert_int_equal(svcid_key_from_pem(pem, (size_t) pem_len, SVCID_ALG_INVALID, &key),
                                         -EINVAL);
                        assert_null(key);
                        BIO_free(bio);
                }
        for (size_t i = 0; i < sizeof low_bytes; i++)
                for (unsigned sign = 0; sign < 2; sign++) {
                        memset(y, 0xff, 32);
                        y[0] = low_bytes[i];
                        y[31] = sign ? 0xff : 0x7f;
                        x = b64(y, 32);
                        snprintf(what, sizeof what, "y = 0x..%02x >= p, sign %u", low_bytes[i], sign);
                        CASE(what, xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x), -EINVAL,
                             "Ed25519 public key is not canonically encoded");
                        free(x);
                }

        /* In a JWKS, as a verifier would load it: the whole set is refused. */
        x = b64(small_y[0], 32);
        json = xasprintf("{\"iss\":\"svcid://victim\",\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                         "\"alg\":\"EdDSA\",\"use\":\"sig\",\"kid\":\"k1\",\"x\":\"%s\"}]}", x);
        assert_int_equal(svcid_trust_new(&trust), 0);
        assert_int_equal(svcid_trust_add_jwks(trust, json, strlen(json), NULL, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "small order"));
        assert_false(svcid_trust_has_issuer(trust, "svcid://victim"));
        svcid_trust_free(trust);
        free(json);
        free(x);
}

/* Every call leaves OpenSSL's error queue as the application had it:
 * what OpenSSL queued inside (a refusal's reasons, a private-key read
 * that failed on the way to a public one) goes; the application's own
 * errors stay. pam_svcid shares a process, and its queue, with sshd. */
static unsigned long queue_mine(void) {
        ERR_clear_error();
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "the application's own");
        return ERR_peek_last_error();
}

static void expect_mine(const char *what, unsigned long mine) {
        unsigned long e = ERR_get_error(), extra = ERR_peek_error();

        if (e != mine || extra != 0)
                fail_msg("%s: the error queue holds %lx then %lx, not only the application's %lx", what, e, extra,
                         mine);
}

static void test_error_queue_kept(void **state) {
        static const char bad_ec[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
                                     "\"y\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\"}";
        static const svcid_alg algs[] = { SVCID_ALG_ES256, SVCID_ALG_EDDSA, SVCID_ALG_RS256, SVCID_ALG_PS256 };
        unsigned char zeros[512] = { 0 };
        char *text = NULL, *pem = NULL;
        svcid_key *key = NULL, *pub = NULL;
        unsigned long mine;
        unsigned char *sig = NULL;
        size_t sig_len;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
                const char *name = svcid_alg_str(algs[i]);
                char what[64];

#define STEP(label, call)                                                         \
                do {                                                              \
                        snprintf(what, sizeof what, "%s: %s", name, label);       \
                        mine = queue_mine();                                      \
                        call;                                                     \
                        expect_mine(what, mine);                                  \
                } while (0)

                STEP("generate", assert_int_equal(svcid_key_generate(algs[i], &key), 0));
                STEP("private PEM", assert_int_equal(svcid_key_private_pem(key, &pem), 0));
                STEP("private PEM loaded", assert_int_equal(load_pem(pem, algs[i], &pub), 0));
                svcid_key_unref(pub);
                svcid_free_secret(pem);
                STEP("public PEM", assert_int_equal(svcid_key_public_pem(key, &pem), 0));
                STEP("public PEM loaded", assert_int_equal(load_pem(pem, algs[i], &pub), 0));
                free(pem);
                STEP("public JWK", assert_int_equal(svcid_key_public_jwk(key, &text), 0));
                free(text);
                STEP("thumbprint", assert_int_equal(svcid_key_thumbprint(key, &text), 0));
                free(text);
                STEP("same public key", assert_true(svcid_key_equal_public(key, pub)));
                STEP("sign", assert_int_equal(svcid_key_sign_raw(key, msg, strlen(msg), &sig, &sig_len), 0));
                STEP("verify", assert_int_equal(svcid_key_verify_raw(pub, msg, strlen(msg), sig, sig_len), 0));
                sig[sig_len / 2] ^= 1;
                STEP("bad signature", assert_int_equal(svcid_key_verify_raw(pub, msg, strlen(msg), sig, sig_len),
                                                       -EBADMSG));
                STEP("zero signature", assert_int_equal(svcid_key_verify_raw(pub, msg, strlen(msg), zeros, sig_len),
                                                        -EBADMSG));
                free(sig);
                svcid_key_unref(pub);
                svcid_key_unref(key);
                pub = key = NULL;
#undef STEP
        }

        mine = queue_mine();
        assert_int_equal(load_jwk(bad_ec, &key), -EINVAL);
        expect_mine("a JWK off the curve", mine);
        mine = queue_mine();
        assert_int_equal(load_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", SVCID_ALG_INVALID,
                                  &key),
                         -EINVAL);
        expect_mine("a PEM that is no key", mine);
        mine = queue_mine();
        assert_int_equal(svcid_jti_new(&text), 0);
        free(text);
        expect_mine("a jti", mine);
        assert_null(key);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_thumbprint_rfc7638),
                cmocka_unit_test(test_thumbprint_rfc8037),
                cmocka_unit_test(test_thumbprint_ec),
                cmocka_unit_test(test_ed25519_rfc8037),
                cmocka_unit_test(test_roundtrip_es256),
                cmocka_unit_test(test_roundtrip_eddsa),
                cmocka_unit_test(test_roundtrip_rs256),
                cmocka_unit_test(test_roundtrip_ps256),
                cmocka_unit_test(test_ps256_parameters),
                cmocka_unit_test(test_shared_key_threads),
                cmocka_unit_test(test_private_jwk_ec),
                cmocka_unit_test(test_private_jwk_okp),
                cmocka_unit_test(test_private_jwk_rsa),
                cmocka_unit_test(test_jwk_ec_refused),
                cmocka_unit_test(test_jwk_other_refused),
                cmocka_unit_test(test_ed25519_weak_public_refused),
                cmocka_unit_test(test_jwk_rsa_refused),
                cmocka_unit_test(test_error_queue_kept),
                cmocka_unit_test(test_jwk_roca),
                cmocka_unit_test(test_jwk_roca_wycheproof),
                cmocka_unit_test(test_jwk_too_large),
                cmocka_unit_test(test_pem_refused),
                cmocka_unit_test(test_pem_rsa_refused),
                cmocka_unit_test(test_es256_signature_shape),
                cmocka_unit_test(test_other_signature_shape),
                cmocka_unit_test(test_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
