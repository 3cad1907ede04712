/* SPDX-License-Identifier: MIT */
/*
 * Sign and verify throughput of libsvcid, per alg, on agent-shaped tokens.
 *
 * Trust and policy are built once, as a long-lived verifier (the gate in
 * Accept=no mode, a service linking libsvcid) holds them; each iteration is
 * one full svcid_verify() with the claims returned and freed, or one
 * svcid_jwt_sign() of the same claims. Each loop runs for $BENCH_SECONDS
 * (default 3) of CLOCK_MONOTONIC time, single-threaded, and is reported
 * twice: per wall-clock second (BENCH verify_es256), and per second of this
 * process's CPU time (BENCH verify_es256_cpu). `openssl speed` counts its
 * operations per second of user CPU time, so bench/run.sh compares the
 * _cpu figures with it: on a shared machine, wall-clock rates measured a
 * minute apart reflect the neighbours' load more than the code.
 *
 * RS256/PS256 are measured with 2048-bit keys, to compare with
 * `openssl speed rsa2048` (bench/run.sh), and again with 3072-bit keys, the
 * size svcid_key_generate() gives the agent (the *_3072 lines).
 *
 * verify_raw_* times svcid_key_verify_raw() alone on the same signature,
 * so the JWT layer's own cost can be told from the signature layer's.
 *
 * openssl_evp_verify_* (RSA only) is OpenSSL's own rate for the alg's
 * primitive, timed here the way `openssl speed` times it: EVP_PKEY_verify()
 * of a SHA-256 digest on one context prepared once, no svcid code. `openssl
 * speed` has RSA with PKCS#1 v1.5 padding (RS256) but no PSS, so this is
 * the reference for PS256; for RS256 it doubles as a check that this
 * harness agrees with `openssl speed rsa2048`.
 *
 * claims_json times jansson's json_loadb() and json_decref() of the same
 * claims alone, the parse every svcid_verify() makes of a payload: the
 * part of the JWT layer's cost that is the JSON parser's.
 *
 * Output, one figure a line: BENCH <name> <value> <unit>.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <jansson.h>

#include "svcid/svcid.h"

#define ISSUER "svcid://build01.example.com"
#define AUDIENCE "ssh:web01"

static double bench_seconds = 3.0;

static double clock_seconds(clockid_t id) {
        struct timespec ts;
        if (clock_gettime(id, &ts) < 0) {
                perror("clock_gettime");
                exit(EXIT_FAILURE);
        }
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double now_seconds(void) {
        return clock_seconds(CLOCK_MONOTONIC);
}

static double cpu_seconds(void) {
        return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

static void report(const char *what, const char *label, uint64_t n, double wall, double cpu) {
        printf("BENCH %s_%s %.0f ops/s\n", what, label, (double) n / wall);
        if (cpu > 0)
                printf("BENCH %s_%s_cpu %.0f ops/s\n", what, label, (double) n / cpu);
        fflush(stdout);
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench_sign_verify: %s: %s\n", what, r < 0 ? strerror(-r) : "failed");
        exit(EXIT_FAILURE);
}

/* An RSA key of the given size for alg, made with OpenSSL and loaded
 * through PEM as any operator-supplied key would be. *ret_pkey keeps
 * OpenSSL's own copy for the reference loop. */
static int rsa_key(int bits, svcid_alg alg, svcid_key **ret_key, EVP_PKEY **ret_pkey) {
        EVP_PKEY *pkey = EVP_RSA_gen((unsigned) bits);
        if (!pkey)
                return -ENOMEM;
        BIO *bio = BIO_new(BIO_s_mem());
        int r = -ENOMEM;
        if (bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
                char *pem;
                long len = BIO_get_mem_data(bio, &pem);
                r = len > 0 ? svcid_key_from_pem(pem, (size_t) len, alg, ret_key) : -EINVAL;
        }
        BIO_free(bio);
        if (r < 0)
                EVP_PKEY_free(pkey);
        else
                *ret_pkey = pkey;
        return r;
}

/* OpenSSL alone: see the top of this file. */
static void bench_openssl_rsa(const char *label, svcid_alg alg, EVP_PKEY *pkey, const char *signing_input,
                              size_t signing_len, const unsigned char *sig, size_t sig_len) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        unsigned char digest[32];
        unsigned digest_len = 0;

        if (!ctx || EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, alg == SVCID_ALG_PS256 ? RSA_PKCS1_PSS_PADDING
                                                                     : RSA_PKCS1_PADDING) != 1 ||
            (alg == SVCID_ALG_PS256 && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32) != 1) ||
            EVP_Digest(signing_input, signing_len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
            EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) != 1)
                die("OpenSSL reference verify", 0);

        uint64_t n = 0;
        double start = now_seconds(), cpu_start = cpu_seconds(), elapsed;
        do {
                if (EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) != 1)
                        die("EVP_PKEY_verify", -EBADMSG);
                n++;
                elapsed = now_seconds() - start;
        } while (elapsed < bench_seconds);
        report("openssl_evp_verify", label, n, elapsed, cpu_seconds() - cpu_start);
        EVP_PKEY_CTX_free(ctx);
}

static char *agent_claims(void) {
        char *jti = NULL;
        int r = svcid_jti_new(&jti);
        if (r < 0)
                die("svcid_jti_new", r);
        long long iat = (long long) time(NULL);
        char *json = NULL;
        if (asprintf(&json,
                     "{\"iss\":\"" ISSUER "\",\"sub\":\"deploy-bot\",\"aud\":\"" AUDIENCE "\","
                     "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\",\"uid\":1001,\"gid\":1001,"
                     "\"unit\":\"deploy-web.service\"}",
                     iat, iat + 300, jti) < 0)
                die("asprintf", -ENOMEM);
        free(jti);
        return json;
}

static void bench_alg(const char *label, svcid_alg alg, int rsa_bits) {
        EVP_PKEY *rsa_pkey = NULL;
        svcid_key *key = NULL;
        int r = rsa_bits ? rsa_key(rsa_bits, alg, &key, &rsa_pkey) : svcid_key_generate(alg, &key);
        if (r < 0)
                die("key", r);

        char *claims = agent_claims();
        size_t claims_len = strlen(claims);
        char *token = NULL;
        r = svcid_jwt_sign(key, claims, claims_len, &token);
        if (r < 0)
                die("svcid_jwt_sign", r);
        size_t token_len = strlen(token);

        /* The verifier knows only the public half. */
        char *jwk = NULL;
        svcid_key *pub = NULL;
        svcid_trust *trust = NULL;
        svcid_policy *policy = NULL;
        if ((r = svcid_key_public_jwk(key, &jwk)) < 0 ||
            (r = svcid_key_from_jwk(jwk, strlen(jwk), &pub)) < 0 ||
            (r = svcid_trust_new(&trust)) < 0 ||
            (r = svcid_trust_add_key(trust, ISSUER, pub)) < 0 ||
            (r = svcid_policy_new(trust, AUDIENCE, &policy)) < 0)
                die("trust/policy setup", r);

        /* Warm caches and check the token verifies before timing it. */
        for (int i = 0; i < 10; i++) {
                svcid_report rep;
                svcid_claims *c = NULL;
                svcid_reason reason = svcid_verify(policy, token, token_len, &c, &rep);
                if (reason != SVCID_OK) {
                        fprintf(stderr, "bench_sign_verify: %s: %s: %s\n", label,
                                svcid_reason_str(reason), rep.detail);
                        exit(EXIT_FAILURE);
                }
                svcid_claims_free(c);
        }

        /* The signature layer alone, svcid_key_verify_raw() on the same
         * signing input: what the JWT checks (split, base64url, JSON,
         * trust lookup, claims) cost on top of it shows as the gap between
         * verify_raw_* and verify_*. */
        const char *last_dot = strrchr(token, '.');
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (!last_dot ||
            (r = svcid_b64url_decode(last_dot + 1, strlen(last_dot + 1), &sig, &sig_len)) < 0)
                die("signature segment", last_dot ? r : -EINVAL);
        size_t signing_len = (size_t) (last_dot - token);
        if ((r = svcid_key_verify_raw(pub, token, signing_len, sig, sig_len)) < 0)
                die("svcid_key_verify_raw", r);

        uint64_t n = 0;
        double start = now_seconds(), cpu_start = cpu_seconds(), elapsed;
        do {
                if (svcid_key_verify_raw(pub, token, signing_len, sig, sig_len) < 0)
                        die("svcid_key_verify_raw", -EBADMSG);
                n++;
                elapsed = now_seconds() - start;
        } while (elapsed < bench_seconds);
        report("verify_raw", label, n, elapsed, cpu_seconds() - cpu_start);
        if (rsa_pkey)
                bench_openssl_rsa(label, alg, rsa_pkey, token, signing_len, sig, sig_len);
        free(sig);
        EVP_PKEY_free(rsa_pkey);

        n = 0;
        start = now_seconds();
        cpu_start = cpu_seconds();
        do {
                svcid_report rep;
                svcid_claims *c = NULL;
                if (svcid_verify(policy, token, token_len, &c, &rep) != SVCID_OK)
                        die("svcid_verify", -EBADMSG);
                svcid_claims_free(c);
                n++;
                elapsed = now_seconds() - start;
        } while (elapsed < bench_seconds);
        report("verify", label, n, elapsed, cpu_seconds() - cpu_start);

        n = 0;
        start = now_seconds();
        cpu_start = cpu_seconds();
        do {
                char *t = NULL;
                r = svcid_jwt_sign(key, claims, claims_len, &t);
                if (r < 0)
                        die("svcid_jwt_sign", r);
                free(t);
                n++;
                elapsed = now_seconds() - start;
        } while (elapsed < bench_seconds);
        report("sign", label, n, elapsed, cpu_seconds() - cpu_start);
        printf("BENCH token_bytes_%s %zu bytes\n", label, token_len);
        fflush(stdout);

        svcid_policy_free(policy);
        svcid_trust_free(trust);
        svcid_key_unref(pub);
        svcid_key_unref(key);
        free(jwk);
        free(token);
        free(claims);
}

static void bench_claims_json(void) {
        char *claims = agent_claims();
        size_t len = strlen(claims);
        json_error_t error;
        uint64_t n = 0;
        double start = now_seconds(), cpu_start = cpu_seconds(), elapsed;

        do {
                json_t *j = json_loadb(claims, len, JSON_REJECT_DUPLICATES, &error);
                if (!j)
                        die("json_loadb", -EINVAL);
                json_decref(j);
                n++;
                elapsed = now_seconds() - start;
        } while (elapsed < bench_seconds);
        report("parse", "claims_json", n, elapsed, cpu_seconds() - cpu_start);
        free(claims);
}

int main(int argc, char **argv) {
        const char *s = getenv("BENCH_SECONDS");
        if (s && *s) {
                char *end;
                errno = 0;
                double v = strtod(s, &end);
                if (errno != 0 || *end != '\0' || !(v > 0.0 && v <= 600.0)) {
                        fprintf(stderr, "bench_sign_verify: bad BENCH_SECONDS '%s'\n", s);
                        return EXIT_FAILURE;
                }
                bench_seconds = v;
        }

        static const struct {
                const char *label;
                svcid_alg alg;
                int rsa_bits;
        } cases[] = {
                { "es256", SVCID_ALG_ES256, 0 },
                { "eddsa", SVCID_ALG_EDDSA, 0 },
                { "rs256", SVCID_ALG_RS256, 2048 },
                { "ps256", SVCID_ALG_PS256, 2048 },
                { "rs256_3072", SVCID_ALG_RS256, 3072 },
                { "ps256_3072", SVCID_ALG_PS256, 3072 },
        };
        /* Optional filter: bench_sign_verify es256 eddsa claims_json */
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool wanted = argc < 2;
                for (int a = 1; a < argc; a++)
                        if (strcmp(argv[a], cases[i].label) == 0)
                                wanted = true;
                if (wanted)
                        bench_alg(cases[i].label, cases[i].alg, cases[i].rsa_bits);
        }
        for (int a = 1; a < argc; a++)
                if (strcmp(argv[a], "claims_json") == 0)
                        bench_claims_json();
        if (argc < 2)
                bench_claims_json();
        return EXIT_SUCCESS;
}
