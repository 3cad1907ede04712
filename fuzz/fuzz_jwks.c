/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: JWK and JWKS parsing (svcid_key_from_jwk,
 * svcid_trust_add_jwks) on untrusted bytes.
 *
 * Beyond "no crash, no leak": a key that loads exports a public JWK that
 * loads again as the same public key with the same alg, contains no private
 * member, and has a 43-character thumbprint; a JWKS that is refused adds
 * nothing to the trust; one that is accepted contains no private key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "svcid/svcid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
        fprintf(stderr, "fuzz_jwks: %s\n", what);
        abort();
}

static void check_key(svcid_key *key) {
        svcid_alg alg = svcid_key_alg(key);
        if (!svcid_alg_str(alg))
                die("key without an alg");
        const char *kid = svcid_key_kid(key);
        if (!kid || !*kid)
                die("key without a kid");

        char *jwk = NULL;
        if (svcid_key_public_jwk(key, &jwk) < 0)
                die("svcid_key_public_jwk failed on a loaded key");
        /* A public export is one JSON object that never carries a
         * private member. */
        json_t *obj = json_loads(jwk, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(obj))
                die("public JWK is not a JSON object");
        static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
        for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
                if (json_object_get(obj, private_members[i]))
                        die("public JWK has a private member");
        json_decref(obj);
        svcid_key *again = NULL;
        if (svcid_key_from_jwk(jwk, strlen(jwk), &again) < 0)
                die("exported public JWK does not load again");
        if (!svcid_key_equal_public(key, again) || svcid_key_alg(again) != alg)
                die("public JWK round trip changed the key");
        if (svcid_key_is_private(again))
                die("public JWK loaded as private");
        svcid_key_unref(again);
        free(jwk);

        char *tp = NULL;
        if (svcid_key_thumbprint(key, &tp) < 0)
                die("svcid_key_thumbprint failed");
        if (strlen(tp) != 43)
                die("thumbprint is not 43 characters");
        free(tp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;

        svcid_key *key = NULL;
        if (svcid_key_from_jwk(text, size, &key) == 0) {
                check_key(key);
                svcid_key_unref(key);
        }

        svcid_trust *trust = NULL;
        if (svcid_trust_new(&trust) < 0)
                die("trust_new failed");
        char err[256];
        err[0] = '\0';
        int r = svcid_trust_add_jwks(trust, text, size, "fuzz", err, sizeof(err));
        if (r < 0) {
                if (svcid_trust_key_count(trust) != 0)
                        die("a refused JWKS left keys behind");
                if (strnlen(err, sizeof(err)) == sizeof(err))
                        die("error message not terminated");
        }
        svcid_trust_free(trust);
        return 0;
}
