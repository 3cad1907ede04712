/* SPDX-License-Identifier: MIT */
/*
 * Sign and verify throughput of libsvcid, per alg, on agent-shaped tokens.
 *
 * Trust and policy are built once, as a long-lived verifier (the gate in
 * Accept=no mode, a service linking libsvcid) holds them; each operation is
 * one full svcid_verify() with the claims returned and freed, or one
 * svcid_jwt_sign() of the same claims. Single-threaded. Each figure is
 * reported twice: per wall-clock second (BENCH verify_es256), and per
 * second of this process's CPU time (BENCH verify_es256_cpu). `openssl
 * speed` counts its operations per second of user CPU time, so bench/run.sh
 * compares the _cpu figures with it.
 *
 * The three verify loops of an alg — OpenSSL alone, svcid's signature layer,
 * the full JWT verify — are interleaved: $BENCH_SECONDS (default 3) each,
 * cut into ROUNDS slices taken in turn, the order rotating every round. On
 * a shared machine the load changes from one second to the next; loops run
 * one after the other measure the neighbours as much as the code, while
 * interleaved ones see the same load, so their ratios hold from run to run.
 *
 * openssl_evp_verify_* is OpenSSL's own rate for the alg's primitive, timed
 * the way `openssl speed` times it, with no svcid code: a key made by
 * OpenSSL, a signature made by OpenSSL over the same signing input, then
 * EVP_PKEY_verify() of its SHA-256 digest on one context prepared once
 * (EVP_DigestVerify() of the message on one prepared context for EdDSA).
 * `openssl speed` has RSA with PKCS#1 v1.5 padding but no PSS, so this is
 * the only reference for PS256; for the others bench/run.sh also prints its
 * ratio to `openssl speed`, a check that this harness agrees with it.
 *
 * verify_raw_* times svcid_key_verify_raw() alone on the same signature,
 * so the JWT layer's own cost can be told from the signature layer's.
 *
 * RS256/PS256 are measured with 2048-bit keys, to compare with
 * `openssl speed rsa2048` (bench/run.sh), and again with 3072-bit keys, the
 * size svcid_key_generate() gives the agent (the *_3072 lines).
 *
 * claims_json times jansson's json_loadb() and json_decref() of the same
 * claims alone, the parse every svcid_verify() makes of a payload: the
 * part of the JWT layer's cost that is the JSON parser's.
 *
 * Output, one figure a line: BENCH <name> <value> <unit>.
 */
#include <errno.h>
#include <stdbool.h>
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
#include "loop.h"

#define ISSUER "svcid://build01.example.com"
#define AUDIENCE "ssh:web01"

static double bench_seconds = 3.0;

/* Slices per interleaved loop: 30 of 100 ms for the default 3 s. */
#define ROUNDS 30

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

/* A key made by OpenSSL, and svcid's own copy of it loaded through PEM as
 * any operator-supplied key would be. */
static int openssl_key(svcid_alg alg, int rsa_bits, EVP_PKEY **ret_pkey, svcid_key **ret_key) {
        EVP_PKEY *pkey = alg == SVCID_ALG_ES256   ? EVP_EC_gen("P-256")
                         : alg == SVCID_ALG_EDDSA ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                                                  : EVP_RSA_gen((unsigned) rsa_bits);
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
struct openssl_ref {
        EVP_PKEY_CTX *pctx;     /* ES256, RS256, PS256 */
        EVP_MD_CTX *mdctx;      /* EdDSA */
        unsigned char digest[32], sig[512];
        size_t sig_len;
        const char *msg;
        size_t msg_len;
};

static void openssl_ref_op(const void *arg) {
        const struct openssl_ref *o = arg;

        if ((o->mdctx ? EVP_DigestVerify(o->mdctx, o->sig, o->sig_len, (const unsigned char *) o->msg, o->msg_len)
                      : EVP_PKEY_verify(o->pctx, o->sig, o->sig_len, o->digest, sizeof o->digest)) != 1)
                die("OpenSSL reference verify", -EBADMSG);
}

static void openssl_ref_init(struct openssl_ref *o, svcid_alg alg, EVP_PKEY *pkey, const char *msg,
                             size_t msg_len) {
        EVP_MD_CTX *sctx = EVP_MD_CTX_new();
        bool eddsa = alg == SVCID_ALG_EDDSA;
        const EVP_MD *md = eddsa ? NULL : EVP_sha256();
        EVP_PKEY_CTX *sign_pctx = NULL;
        unsigned digest_len = 0;

        *o = (struct openssl_ref) { .msg = msg, .msg_len = msg_len, .sig_len = sizeof o->sig };
        if (!sctx || EVP_DigestSignInit(sctx, &sign_pctx, md, NULL, pkey) != 1 ||
            (alg == SVCID_ALG_PS256 &&
             (EVP_PKEY_CTX_set_rsa_padding(sign_pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(sign_pctx, 32) != 1)) ||
            EVP_DigestSign(sctx, o->sig, &o->sig_len, (const unsigned char *) msg, msg_len) != 1)
                die("OpenSSL reference sign", 0);
        EVP_MD_CTX_free(sctx);

        if (eddsa) {
                o->mdctx = EVP_MD_CTX_new();
                if (!o->mdctx || EVP_DigestVerifyInit(o->mdctx, NULL, NULL, NULL, pkey) != 1)
                        die("OpenSSL reference set-up", 0);
        } else {
                o->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
                if (!o->pctx || EVP_PKEY_verify_init(o->pctx) != 1 ||
                    EVP_PKEY_CTX_set_signature_md(o->pctx, md) != 1 ||
                    (alg == SVCID_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(o->pctx, RSA_PKCS1_PADDING) != 1) ||
                    (alg == SVCID_ALG_PS256 &&
                     (EVP_PKEY_CTX_set_rsa_padding(o->pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(o->pctx, 32) != 1)) ||
                    EVP_Digest(msg, msg_len, o->digest, &digest_len, md, NULL) != 1 ||
                    digest_len != sizeof o->digest)
                        die("OpenSSL reference set-up", 0);
        }
        /* Twice: a context that verifies only once would fail here. */
        openssl_ref_op(o);
        openssl_ref_op(o);
}

static void openssl_ref_done(struct openssl_ref *o) {
        EVP_PKEY_CTX_free(o->pctx);
        EVP_MD_CTX_free(o->mdctx);
}

/* svcid's signature layer alone, and the full JWT verify. */
struct svcid_raw {
        const svcid_key *pub;
        const char *msg;
        size_t msg_len;
        const unsigned char *sig;
        size_t sig_len;
};

static void svcid_raw_op(const void *arg) {
        const struct svcid_raw *s = arg;

        if (svcid_key_verify_raw(s->pub, s->msg, s->msg_len, s->sig, s->sig_len) != 0)
                die("svcid_key_verify_raw", -EBADMSG);
}

struct svcid_full {
        const svcid_policy *policy;
        const char *token;
        size_t token_len;
};

static void svcid_full_op(const void *arg) {
        const struct svcid_full *f = arg;
        svcid_report rep;
        svcid_claims *c = NULL;

        if (svcid_verify(f->policy, f->token, f->token_len, &c, &rep) != SVCID_OK)
                die("svcid_verify", -EBADMSG);
        svcid_claims_free(c);
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
        EVP_PKEY *pkey = NULL;
        svcid_key *key = NULL;
        int r = openssl_key(alg, rsa_bits, &pkey, &key);
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

        /* Check the token verifies, and warm caches, before timing it. */
        svcid_report rep;
        svcid_claims *c = NULL;
        svcid_reason reason = svcid_verify(policy, token, token_len, &c, &rep);
        if (reason != SVCID_OK) {
                fprintf(stderr, "bench_sign_verify: %s: %s: %s\n", label, svcid_reason_str(reason), rep.detail);
                exit(EXIT_FAILURE);
        }
        svcid_claims_free(c);

        const char *last_dot = strrchr(token, '.');
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (!last_dot ||
            (r = svcid_b64url_decode(last_dot + 1, strlen(last_dot + 1), &sig, &sig_len)) < 0)
                die("signature segment", last_dot ? r : -EINVAL);
        size_t signing_len = (size_t) (last_dot - token);

        struct openssl_ref ref;
        openssl_ref_init(&ref, alg, pkey, token, signing_len);
        struct svcid_raw raw = { pub, token, signing_len, sig, sig_len };
        struct svcid_full full = { policy, token, token_len };
        static const char *const names[] = { "openssl_evp_verify", "verify_raw", "verify" };
        struct loop ref_loop = { .run = openssl_ref_op, .arg = &ref }, raw_loop = { .run = svcid_raw_op, .arg = &raw },
                    full_loop = { .run = svcid_full_op, .arg = &full };
        struct loop *loops[] = { &ref_loop, &raw_loop, &full_loop };

        for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++)
                loops[i]->run(loops[i]->arg);   /* exits if it fails */
        run_interleaved(loops, sizeof loops / sizeof loops[0], ROUNDS, bench_seconds);
        for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++)
                report(names[i], label, loops[i]->n, loops[i]->wall, loops[i]->cpu);
        openssl_ref_done(&ref);
        free(sig);
        EVP_PKEY_free(pkey);

        uint64_t n = 0;
        double elapsed, start = now_seconds(), cpu_start = cpu_seconds();
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
