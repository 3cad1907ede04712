/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: svcid_key_from_pem() (lib/key.c), what svcid-agent
 * reads its key files with and `svcid` reads a --key with. OpenSSL
 * decodes; svcid's own part is what it does around that: a private key
 * tried first, then a public one, never a passphrase prompt, the checks
 * of key_validate() (curve, explicit parameters, RSA size and exponent,
 * ROCA, Ed25519 small order, a private half that matches its public
 * half), the alg asked for, and the retry when memory ran out.
 *
 * The first input byte: its low 3 bits pick the alg asked for (none,
 * ES256, EdDSA, RS256, PS256); with bit 3 the rest is PEM text as it is,
 * else it is DER, wrapped here as PEM under the label bits 4 to 6 pick
 * (PRIVATE KEY, PUBLIC KEY, EC PRIVATE KEY, RSA PRIVATE KEY, ...), so
 * that the fuzzer works on the key's structure rather than its base64.
 *
 * Beyond "no crash, no leak", it checks the promises: a refused key leaves
 * no key and nothing in OpenSSL's error queue; a loaded key has the alg
 * asked for (or one the key's type implies, never RSA unasked), the RFC
 * 7638 thumbprint as its kid, a public PEM that loads again as the same
 * public key, and, private, a private PEM that loads again as the same
 * private key and signatures that its public half verifies.
 * SVCID_FUZZ_VERBOSE set in the environment: says what became of each
 * input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "svcid/svcid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
        fprintf(stderr, "fuzz_key_pem: %s\n", what);
        abort();
}

/* DER as PEM under label. NULL if out of memory. */
static char *wrap(const char *label, const uint8_t *der, size_t len) {
        size_t b64_len = 4 * ((len + 2) / 3), cap = b64_len + b64_len / 64 + 2 * strlen(label) + 64;
        char *pem = malloc(cap), *p;
        int n;

        if (!pem)
                return NULL;
        p = pem + sprintf(pem, "-----BEGIN %s-----\n", label);
        for (size_t i = 0; i < len; i += 48) {
                n = EVP_EncodeBlock((unsigned char *) p, der + i, (int) (len - i < 48 ? len - i : 48));
                p += n;
                *p++ = '\n';
        }
        sprintf(p, "-----END %s-----\n", label);
        return pem;
}

static void check_key(svcid_key *key, svcid_alg asked) {
        svcid_alg alg = svcid_key_alg(key);
        svcid_key *again = NULL;
        char *tp = NULL, *pem = NULL;
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        static const char msg[] = "fuzz";

        if (!svcid_alg_str(alg) || (asked != SVCID_ALG_INVALID && alg != asked))
                die("a key loaded for another alg than the one asked for");
        if (asked == SVCID_ALG_INVALID && alg != SVCID_ALG_ES256 && alg != SVCID_ALG_EDDSA)
                die("an RSA key loaded with no alg asked for");
        if (svcid_key_thumbprint(key, &tp) < 0 || strcmp(tp, svcid_key_kid(key)) != 0)
                die("kid is not the thumbprint");
        free(tp);

        if (svcid_key_public_pem(key, &pem) < 0)
                die("no public PEM for a loaded key");
        if (svcid_key_from_pem(pem, strlen(pem), alg, &again) < 0)
                die("the public PEM of a loaded key does not load");
        if (svcid_key_is_private(again) || !svcid_key_equal_public(key, again) ||
            strcmp(svcid_key_kid(key), svcid_key_kid(again)) != 0)
                die("the public PEM loads as another key");
        free(pem);
        pem = NULL;

        if (!svcid_key_is_private(key)) {
                if (svcid_key_private_pem(key, &pem) != -ENOKEY || svcid_key_sign_raw(key, msg, 4, &sig, &sig_len) >= 0)
                        die("a public key has a private half");
                svcid_key_unref(again);
                return;
        }
        if (svcid_key_sign_raw(key, msg, 4, &sig, &sig_len) < 0)
                die("a private key does not sign");
        if (svcid_key_verify_raw(again, msg, 4, sig, sig_len) != 0)
                die("its public half does not verify what a private key signs");
        free(sig);
        svcid_key_unref(again);
        again = NULL;
        if (svcid_key_private_pem(key, &pem) < 0)
                die("no private PEM for a private key");
        if (svcid_key_from_pem(pem, strlen(pem), alg, &again) < 0 || !svcid_key_is_private(again) ||
            !svcid_key_equal_public(key, again))
                die("the private PEM loads as another key");
        svcid_free_secret(pem);
        svcid_key_unref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const svcid_alg algs[] = {
                SVCID_ALG_INVALID, SVCID_ALG_ES256, SVCID_ALG_EDDSA, SVCID_ALG_RS256, SVCID_ALG_PS256,
                SVCID_ALG_INVALID, SVCID_ALG_ES256, SVCID_ALG_RS256,
        };
        static const char *const labels[] = {
                "PRIVATE KEY", "PUBLIC KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY",
                "RSA PUBLIC KEY", "ENCRYPTED PRIVATE KEY", "ANY PRIVATE KEY", "EC PARAMETERS",
        };
        svcid_key *key = (svcid_key *) &algs;   /* must stay untouched on a refusal */
        svcid_alg alg;
        char *pem;
        size_t len;
        int r;

        if (size < 1)
                return 0;
        alg = algs[data[0] & 7];
        if (data[0] & 8) {
                pem = malloc(size - 1 ? size - 1 : 1);
                if (!pem)
                        return 0;
                memcpy(pem, data + 1, size - 1);
                len = size - 1;
        } else {
                pem = wrap(labels[(data[0] >> 4) & 7], data + 1, size - 1);
                if (!pem)
                        return 0;
                len = strlen(pem);
        }
        ERR_clear_error();
        r = svcid_key_from_pem(pem, len, alg, &key);
        if (ERR_peek_error() != 0)
                die("OpenSSL's error queue is left with errors");
        if (getenv("SVCID_FUZZ_VERBOSE"))
                fprintf(stderr, "fuzz_key_pem: %d %s %s\n", r, r < 0 ? "" : svcid_alg_str(svcid_key_alg(key)),
                        r < 0 ? "" : svcid_key_is_private(key) ? "private" : "public");
        if (r < 0) {
                if (key != (svcid_key *) &algs)
                        die("a refusal wrote a key");
                if (r != -EINVAL && r != -EFBIG && r != -ENOMEM)
                        die("refused with an unexpected errno");
        } else {
                check_key(key, alg);
                svcid_key_unref(key);
        }
        free(pem);
        return 0;
}
