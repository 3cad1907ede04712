/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the whole verify path on untrusted tokens and JWKS.
 *
 * Input: 2 bytes big-endian token length n, then n bytes of token (fewer if
 * the input is shorter), then the rest as a JWKS document. The token is
 * verified against
 *   - a fixed trust (one ES256 and one EdDSA key) under two policies: the
 *     defaults, and a strict one (issuer, required claims); and
 *   - the fuzzed JWKS, when svcid_trust_add_jwks() accepts it, under the
 *     same two policies, so the fuzzer can pair a token with a key it
 *     controls and reach the claim checks (strict ones included) for
 *     RS256/PS256 too.
 * The clock is fixed so that the seed tokens stay valid forever. The whole
 * input also goes through svcid_b64url_decode().
 *
 * Beyond "no crash, no leak", it checks what the API promises: the report's
 * reason equals the return value, its strings are NUL-terminated printable
 * ASCII, and a verified token has the claims the policy demanded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svcid/svcid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIXED_NOW 1700000000
#define AUDIENCE "ssh:web01"
#define FIXED_ISSUER "svcid://fuzz.example"

/* Public keys only; the seed tokens in fuzz/corpus/fuzz_verify were signed
 * with their private halves, which were thrown away. */
static const char fixed_jwks[] =
        "{\"iss\":\"" FIXED_ISSUER "\",\"keys\":["
        "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"4o-zkITIUorWY0lY4s70FptX_zReBKEqaYFIJGSx-uM\","
        "\"y\":\"atMoEOWpNuIfsnrM4rWUrwzskkvwGRso9gkSzO04_sE\","
        "\"kid\":\"5wMAZVNKk6JKng5kRKo6XLYw1j1Sd2dHpUkLBwZXOM4\",\"alg\":\"ES256\",\"use\":\"sig\"},"
        "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"w03jeAJTuqx_85ZbXoB7dW7zTCeaZckM2NAgfg5rf9g\","
        "\"kid\":\"rGqX-n1IkjerhjepV3BzQD8LG4hgmUnq0VxUpOyOlbI\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}";

static svcid_trust *fixed_trust;
static svcid_policy *policy_default, *policy_strict;

static int64_t fixed_clock(void *userdata) {
        (void) userdata;
        return FIXED_NOW;
}

static void die(const char *what) {
        fprintf(stderr, "fuzz_verify: %s\n", what);
        abort();
}

/* The strict policy: issuer, required claims, no leeway, a short life.
 * NULL if the trust has no keys of that issuer. */
static svcid_policy *strict_policy(const svcid_trust *trust) {
        svcid_policy *p = NULL;
        int r;

        if (svcid_policy_new(trust, AUDIENCE, &p) < 0)
                die("policy_new failed");
        svcid_policy_set_clock(p, fixed_clock, NULL);
        r = svcid_policy_set_issuer(p, FIXED_ISSUER);
        if (r == -ENOENT) {
                svcid_policy_free(p);
                return NULL;
        }
        if (r < 0 ||
            svcid_policy_require(p, "unit", "deploy-*.service") < 0 ||
            svcid_policy_require_arg(p, "uid=1001") < 0 ||
            svcid_policy_set_leeway(p, 0) < 0 ||
            svcid_policy_set_max_lifetime(p, 600) < 0)
                die("strict policy setup failed");
        return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        char err[256] = "";
        if (svcid_trust_new(&fixed_trust) < 0 ||
            svcid_trust_add_jwks(fixed_trust, fixed_jwks, strlen(fixed_jwks), "fixed", err, sizeof(err)) < 0)
                die(err);
        if (svcid_trust_key_count(fixed_trust) != 2)
                die("fixed trust does not hold two keys");
        if (svcid_policy_new(fixed_trust, AUDIENCE, &policy_default) < 0)
                die("policy_new failed");
        svcid_policy_set_clock(policy_default, fixed_clock, NULL);
        policy_strict = strict_policy(fixed_trust);
        if (!policy_strict)
                die("fixed trust without the fixed issuer");
        return 0;
}

static void check_string(const char *s, size_t cap, const char *what) {
        size_t n = strnlen(s, cap);
        if (n == cap)
                die(what);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
                        die(what);
}

static void verify_one(const svcid_policy *policy, const char *token, size_t len, bool strict) {
        svcid_report report;
        svcid_claims *claims = NULL;
        memset(&report, 0xa5, sizeof(report));  /* must be overwritten, whatever happens */
        svcid_reason r = svcid_verify(policy, token, len, &claims, &report);
        if (report.reason != r)
                die("report.reason differs from the return value");
        check_string(report.detail, sizeof(report.detail), "report.detail not printable/terminated");
        check_string(report.iss, sizeof(report.iss), "report.iss not printable/terminated");
        check_string(report.sub, sizeof(report.sub), "report.sub not printable/terminated");
        check_string(report.kid, sizeof(report.kid), "report.kid not printable/terminated");
        check_string(report.jti, sizeof(report.jti), "report.jti not printable/terminated");
        if (r != SVCID_OK) {
                if (claims)
                        die("claims returned for a refused token");
                if (report.detail[0] == '\0')
                        die("refused without detail");
                return;
        }
        if (!claims)
                die("SVCID_OK without claims");
        const char *sub = svcid_claims_string(claims, "sub");
        if (!sub || !*sub)
                die("verified token without a sub");
        if (!svcid_claims_string(claims, "iss") || !svcid_claims_kid(claims))
                die("verified token without iss or kid");
        int64_t exp, iat;
        if (svcid_claims_int(claims, "exp", &exp) < 0 || svcid_claims_int(claims, "iat", &iat) < 0)
                die("verified token without integer exp/iat");
        if (exp <= FIXED_NOW - SVCID_LEEWAY_DEFAULT)
                die("expired token verified");
        if (strict) {
                const char *iss = svcid_claims_string(claims, "iss");
                if (strcmp(iss, FIXED_ISSUER) != 0)
                        die("strict policy accepted another issuer");
                if (exp <= FIXED_NOW || iat > FIXED_NOW || exp - iat > 600)
                        die("strict policy accepted a time outside its bounds");
        }
        char *json = NULL;
        if (svcid_claims_json(claims, &json) < 0)
                die("svcid_claims_json failed on verified claims");
        free(json);
        svcid_claims_free(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned char *decoded = NULL;
        size_t decoded_len = 0;
        if (svcid_b64url_decode((const char *) data, size, &decoded, &decoded_len) == 0) {
                if (decoded_len > size)
                        die("decoded longer than its text");
                free(decoded);
        }

        if (size < 2)
                return 0;
        size_t n = (size_t) data[0] << 8 | data[1];
        if (n > size - 2)
                n = size - 2;
        const char *token = (const char *) data + 2;
        const char *jwks = token + n;
        size_t jwks_len = size - 2 - n;

        verify_one(policy_default, token, n, false);
        verify_one(policy_strict, token, n, true);

        if (jwks_len == 0)
                return 0;
        svcid_trust *trust = NULL;
        if (svcid_trust_new(&trust) < 0)
                die("trust_new failed");
        char err[256];
        if (svcid_trust_add_jwks(trust, jwks, jwks_len, "fuzz", err, sizeof(err)) == 0) {
                svcid_policy *policy = NULL;
                if (svcid_policy_new(trust, AUDIENCE, &policy) < 0)
                        die("policy_new failed");
                svcid_policy_set_clock(policy, fixed_clock, NULL);
                verify_one(policy, token, n, false);
                svcid_policy_free(policy);
                policy = strict_policy(trust);
                if (policy) {
                        verify_one(policy, token, n, true);
                        svcid_policy_free(policy);
                }
        } else if (svcid_trust_key_count(trust) != 0) {
                die("a refused JWKS left keys behind");
        }
        svcid_trust_free(trust);
        return 0;
}
