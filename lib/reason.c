/* SPDX-License-Identifier: MIT */
/* Names: reasons, algorithms, the version. */
#include <string.h>

#include "internal.h"

static const char *const reason_words[_SVCID_REASON_MAX] = {
        [SVCID_OK] = "ok",
        [SVCID_MALFORMED] = "malformed",
        [SVCID_TOO_LARGE] = "too_large",
        [SVCID_BAD_HEADER] = "bad_header",
        [SVCID_ALG_NOT_ALLOWED] = "alg_not_allowed",
        [SVCID_UNKNOWN_ISSUER] = "unknown_issuer",
        [SVCID_UNKNOWN_KEY] = "unknown_key",
        [SVCID_BAD_SIGNATURE] = "bad_signature",
        [SVCID_EXPIRED] = "expired",
        [SVCID_NOT_YET_VALID] = "not_yet_valid",
        [SVCID_ISSUED_IN_FUTURE] = "issued_in_future",
        [SVCID_LIFETIME_TOO_LONG] = "lifetime_too_long",
        [SVCID_WRONG_AUDIENCE] = "wrong_audience",
        [SVCID_MISSING_CLAIM] = "missing_claim",
        [SVCID_CLAIM_MISMATCH] = "claim_mismatch",
        [SVCID_NO_TOKEN] = "no_token",
        [SVCID_TRUNCATED] = "truncated",
        [SVCID_SUBJECT_MISMATCH] = "subject_mismatch",
        [SVCID_PEER_MISMATCH] = "peer_mismatch",
        [SVCID_TIMEOUT] = "timeout",
        [SVCID_INTERNAL_ERROR] = "internal_error",
};

const char *svcid_reason_str(svcid_reason reason) {
        if ((unsigned) reason >= _SVCID_REASON_MAX)
                return "unknown";
        return reason_words[reason];
}

const char *svcid_version(void) {
        return SVCID_VERSION;
}

static const char *const alg_names[] = {
        [SVCID_ALG_ES256] = "ES256",
        [SVCID_ALG_EDDSA] = "EdDSA",
        [SVCID_ALG_RS256] = "RS256",
        [SVCID_ALG_PS256] = "PS256",
};

const char *svcid_alg_str(svcid_alg alg) {
        if (alg <= SVCID_ALG_INVALID || (size_t) alg >= ELEMENTSOF(alg_names))
                return NULL;
        return alg_names[alg];
}

int svcid_alg_from_str(const char *name, svcid_alg *ret_alg) {
        if (!name || !ret_alg)
                return -EINVAL;
        for (size_t i = 1; i < ELEMENTSOF(alg_names); i++)
                if (strcmp(name, alg_names[i]) == 0) {
                        *ret_alg = (svcid_alg) i;
                        return 0;
                }
        /* RFC 9864 names the Ed25519 instance of EdDSA "Ed25519". */
        if (strcmp(name, "Ed25519") == 0) {
                *ret_alg = SVCID_ALG_EDDSA;
                return 0;
        }
        return -EINVAL;
}

void svcid_free_secret(char *secret) {
        if (!secret)
                return;
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
}
