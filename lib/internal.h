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
#include "../common/text.h"

/* What one operation of a key (verify; sign too for a private key) needs,
 * set up once so that the hot path does no fetches. */
struct lib_key_op {
        /* ES256/RS256/PS256: a context for the operation over a SHA-256
         * digest, its padding and salt set, duplicated per call. */
        EVP_PKEY_CTX *ctx;
        /* A copy of ctx that the last call left for the next, taken and
         * given back with atomic operations (a thread that finds none makes
         * its own copy): a process busy with one key skips a dup and a free
         * per token. */
        EVP_PKEY_CTX *spare;
        /* EdDSA: a DigestVerify or DigestSign context initialised once and
         * copied per call, for the same reason. */
        EVP_MD_CTX *mdctx;
};

struct svcid_key {
        unsigned refs;
        svcid_alg alg;
        bool private;
        EVP_PKEY *pkey;
        struct lib_key_op verify, sign;
        char *kid;
        /* base64url of {"alg":…,"kid":…,"typ":"JWT"}: the header svcid
         * signs with, and on verify a token whose header segment is these
         * very bytes skips the header's JSON parse. */
        char *header64;
        size_t header64_len;
};

DEFINE_PTR_CLEANUP(EVP_PKEY, EVP_PKEY_free)
DEFINE_PTR_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_PTR_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_PTR_CLEANUP(BIGNUM, BN_free)
DEFINE_PTR_CLEANUP(ECDSA_SIG, ECDSA_SIG_free)
DEFINE_PTR_CLEANUP(svcid_key, svcid_key_unref)

/* Internal helpers are named lib_*: the version script exports svcid_*
 * only, so nothing here leaves libsvcid.so.1. */

/* Parses text as a JSON object, refusing duplicate members, invalid UTF-8,
 * \u0000 and nesting deeper than jansson's limit. NULL if text is longer
 * than max, not JSON, or not an object (errno EINVAL), or if memory ran
 * out (errno ENOMEM: no verdict on the text). Read with
 * json_load_guarded(), so that a failed allocation inside jansson shows
 * as ENOMEM rather than as a byte lost (common/json.h). */
json_t *lib_json_object(const void *text, size_t len, size_t max);
/* The same, saying why in why (when non-NULL): jansson's words ("too big
 * integer", "duplicate object key"...), or "not an object". */
json_t *lib_json_object_why(const void *text, size_t len, size_t max, char *why, size_t why_len);

/* svcid_key_from_jwk, saying in err (when non-NULL) why a key is refused:
 * members are named, their values never echoed. */
int lib_key_from_jwk(const char *json, size_t len, svcid_key **ret_key, char *err, size_t err_len);

/* Whether a and b hold the same public key, whatever alg each is for. */
bool lib_key_same_public(const svcid_key *a, const svcid_key *b);

/* Copies src into dst (size n), replacing each byte outside printable
 * ASCII by '?', truncating with "..." — safe to put in a log line. This is
 * copy_printable_n() keeping '"' and '\\': the report's details quote
 * ("audience is not \"x\""), and whoever quotes a report field escapes
 * them (svcid-gate) or replaces them (pam_svcid). dst may be src. */
void lib_sanitize(char *dst, size_t n, const char *src, size_t src_len);

/* lib_sanitize() of the string s (NULL: "") into buf, which holds
 * LIB_SHOWN_MAX bytes; returns buf. */
#define LIB_SHOWN_MAX 256
const char *lib_shown_into(char *buf, const char *s);

/* A printable copy of s for a message, in a buffer that lives until the
 * end of the enclosing block: write set_err(..., "%s", lib_shown(kid)).
 * Every string read from a file (kid, iss, file names) goes into an error
 * message this way, so no control byte reaches a terminal or a log. */
#define lib_shown(s) lib_shown_into((char[LIB_SHOWN_MAX]) { 0 }, (s))

/* Bytes that len characters of base64url decode to (len % 4 != 1). */
size_t lib_b64url_decoded_len(size_t len);

/* Strict base64url decode of len characters into out, which has room for
 * lib_b64url_decoded_len(len) + 1 bytes (a NUL follows the data). Returns
 * 0 with *ret_len set, or -EINVAL. */
int lib_b64url_decode_into(const char *text, size_t len, unsigned char *out, size_t *ret_len);

/* A compact JWS split into its parts, every segment strictly decoded into
 * one block (each part NUL-terminated); lib_jws_done() frees it. */
struct lib_jws {
        size_t header64_len;            /* bytes of the header segment */
        size_t signing_len;             /* bytes of "header.payload" */
        unsigned char *block;           /* the three parts, decoded */
        size_t block_len;
        unsigned char *header;
        size_t header_len;
        unsigned char *payload;
        size_t payload_len;
        unsigned char *sig;
        size_t sig_len;
};
void lib_jws_done(struct lib_jws *jws);

/* The base64url default header of a key with this alg and kid. */
int lib_jws_header64(svcid_alg alg, const char *kid, char **ret_header64);

/* The key of issuer iss whose default header is exactly the header
 * segment given, or NULL. */
const svcid_key *lib_trust_find_header(const svcid_trust *trust, const char *iss, const char *segment, size_t len);

/* Size cap, exactly three segments, strict base64url in each. An empty
 * segment is canonical too: an unsecured token ("alg":"none", empty
 * signature) is then refused by its alg, which is the honest reason. Returns SVCID_OK, SVCID_TOO_LARGE or
 * SVCID_MALFORMED (with a detail), or SVCID_INTERNAL_ERROR. */
svcid_reason lib_jws_split(const char *token, size_t len, struct lib_jws *ret, char *detail, size_t detail_len);

/* The agent's GET /v1/health answer, 200 or 503 (an agent not up), as a
 * JSON object with a "status" string. Errors as svcid_agent_jwks(). */
int lib_agent_health(const char *socket_path, char *err, size_t err_len, json_t **ret_health);

#endif
