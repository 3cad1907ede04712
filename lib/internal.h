/* SPDX-License-Identifier: MIT */
/* What the parts of libsvcid share and nobody else sees. */
#ifndef SVCID_INTERNAL_H
#define SVCID_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/crypto.h>

#include "svcid/svcid.h"
#include "../common/cleanup.h"

#define SVCID_EXPORT __attribute__((visibility("default")))

struct svcid_key {
        unsigned refs;
        svcid_alg alg;
        bool private;
        EVP_PKEY *pkey;
        char *kid;
};

DEFINE_PTR_CLEANUP(EVP_PKEY, EVP_PKEY_free)
DEFINE_PTR_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_PTR_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_PTR_CLEANUP(BIGNUM, BN_free)
DEFINE_PTR_CLEANUP(ECDSA_SIG, ECDSA_SIG_free)
DEFINE_PTR_CLEANUP(svcid_key, svcid_key_unref)

/* Parses a JSON object with duplicate members refused, after a size cap.
 * NULL if not an object or not JSON. */
json_t *svcid_json_object(const char *text, size_t len);

/* Writes a one-line message into err (when non-NULL); returns error. */
int svcid_errf(char *err, size_t err_len, int error, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
