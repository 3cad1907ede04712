/* SPDX-License-Identifier: MIT */
/*
 * libsvcid — strict JWT signing and offline verification for svcid.
 *
 * Conventions for every function below:
 *  - Functions returning int return >= 0 on success and a negative errno
 *    value on failure (-EINVAL bad input, -ENOMEM, -EBADMSG bad signature,
 *    -EFBIG over a size cap, -ENOKEY no private key, ...).
 *  - Output parameters are named ret_*, come last, and are written only on
 *    success. Strings returned through ret_* are heap-allocated, NUL
 *    terminated, and owned by the caller (free() them).
 *  - Verification returns an svcid_reason: SVCID_OK or the first check
 *    that failed. It never logs and never exits.
 *  - Objects are not internally locked: share one read-only svcid_trust or
 *    svcid_policy between threads only while nobody modifies it.
 */
#ifndef SVCID_SVCID_H
#define SVCID_SVCID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SVCID_TOKEN_MAX      8192u           /* bytes in a compact token */
#define SVCID_JWKS_MAX       (1024u * 1024u) /* bytes in one JWKS file */
#define SVCID_LEEWAY_DEFAULT 60
#define SVCID_MAX_LIFETIME_DEFAULT 3600

/* The one signature algorithm a key is used with. */
typedef enum svcid_alg {
        SVCID_ALG_INVALID = 0,
        SVCID_ALG_ES256,        /* ECDSA P-256 SHA-256, 64-byte R||S */
        SVCID_ALG_EDDSA,        /* Ed25519 (also named "Ed25519", RFC 9864) */
        SVCID_ALG_RS256,        /* RSASSA-PKCS1-v1_5 SHA-256, >= 2048 bits */
        SVCID_ALG_PS256,        /* RSASSA-PSS SHA-256, MGF1-SHA-256, salt 32 */
} svcid_alg;

/* Why a token was refused. The words of svcid_reason_str() are stable. */
typedef enum svcid_reason {
        SVCID_OK = 0,
        SVCID_MALFORMED,
        SVCID_TOO_LARGE,
        SVCID_BAD_HEADER,
        SVCID_ALG_NOT_ALLOWED,
        SVCID_UNKNOWN_ISSUER,
        SVCID_UNKNOWN_KEY,
        SVCID_BAD_SIGNATURE,
        SVCID_EXPIRED,
        SVCID_NOT_YET_VALID,
        SVCID_ISSUED_IN_FUTURE,
        SVCID_LIFETIME_TOO_LONG,
        SVCID_WRONG_AUDIENCE,
        SVCID_MISSING_CLAIM,
        SVCID_CLAIM_MISMATCH,
        /* Used by the PAM module and the gate, never by svcid_verify(). */
        SVCID_NO_TOKEN,
        SVCID_TRUNCATED,
        SVCID_SUBJECT_MISMATCH,
        SVCID_PEER_MISMATCH,
        SVCID_TIMEOUT,
        /* Out of memory or an OpenSSL failure: the token was not judged. */
        SVCID_INTERNAL_ERROR,
        _SVCID_REASON_MAX
} svcid_reason;

/* "0.1.0" — the library's version. */
const char *svcid_version(void);

/* The stable word for a reason ("ok", "malformed", "bad_signature", ...);
 * "unknown" for a value outside the enum. Never NULL. */
const char *svcid_reason_str(svcid_reason reason);

/* "ES256", "EdDSA", "RS256", "PS256"; NULL for SVCID_ALG_INVALID. */
const char *svcid_alg_str(svcid_alg alg);

/* Parses a JOSE alg name, exactly (case-sensitive). Accepts "Ed25519" as
 * EdDSA. Returns 0, or -EINVAL for any other name (none, HS256, ES384...). */
int svcid_alg_from_str(const char *name, svcid_alg *ret_alg);

/* ---- base64url (RFC 4648 §5), strict ----------------------------------- */

/* Encodes len bytes without padding. ret_text is malloc'd. */
int svcid_b64url_encode(const void *data, size_t len, char **ret_text);

/* Decodes exactly len characters. Refuses ('-EINVAL') padding, any
 * character outside A-Za-z0-9-_, a length of 1 mod 4 and non-zero
 * trailing bits. ret_data is malloc'd (one spare NUL byte is appended,
 * not counted in ret_len). */
int svcid_b64url_decode(const char *text, size_t len, unsigned char **ret_data, size_t *ret_len);

/* ---- keys --------------------------------------------------------------- */

/* A reference-counted key bound to exactly one alg. Public, or private
 * (which includes the public half). */
typedef struct svcid_key svcid_key;

/* A fresh key for alg (P-256, Ed25519, or RSA-3072 for RS256/PS256). */
int svcid_key_generate(svcid_alg alg, svcid_key **ret_key);

/* Loads a PEM private key (PKCS#8 or traditional) or public key (SPKI).
 * alg may be SVCID_ALG_INVALID to infer it from the key type (P-256 →
 * ES256, Ed25519 → EdDSA); RSA keys need an explicit RS256 or PS256.
 * Refuses (-EINVAL) other curves, RSA under 2048 bits, a bad exponent, an
 * Ed25519 key of small order or not canonically encoded (as for JWK), and
 * a key that does not fit alg. kid is the RFC 7638 thumbprint. */
int svcid_key_from_pem(const char *pem, size_t len, svcid_alg alg, svcid_key **ret_key);

/* Loads one JWK (public, or private with "d"...). Requires kty EC (crv
 * P-256, 32-byte x and y on the curve), OKP (crv Ed25519, 32-byte x
 * encoding y < p, not one of the 8 points of small order, with which
 * forged signatures verify) or RSA (>= 2048 bits, odd e >= 3 of at most
 * 64 bits, not a ROCA-weak modulus). "use", if present,
 * must be "sig"; "alg", if present, must fit the key type (RSA keys need
 * it); "key_ops", if present, may list only "sign" and "verify", and must
 * list "verify" for a public key, "sign" for a private one. kid is the JWK's "kid"
 * (1 to 255 bytes, no control character) when it has one, else the RFC 7638
 * thumbprint. -EINVAL on anything
 * else; input over SVCID_JWKS_MAX is -EFBIG. */
int svcid_key_from_jwk(const char *json, size_t len, svcid_key **ret_key);

/* Exports the public JWK as compact JSON with kty, crv/x/y or n/e, and
 * "kid", "alg", "use":"sig". Never includes private members. */
int svcid_key_public_jwk(const svcid_key *key, char **ret_json);

/* PEM of the private key (PKCS#8; -ENOKEY if the key is public only) or of
 * the public key (SPKI). The private PEM must be wiped and freed by the
 * caller (svcid_free_secret()). */
int svcid_key_private_pem(const svcid_key *key, char **ret_pem);
int svcid_key_public_pem(const svcid_key *key, char **ret_pem);

/* RFC 7638 JWK SHA-256 thumbprint, base64url. */
int svcid_key_thumbprint(const svcid_key *key, char **ret_thumbprint);

svcid_alg svcid_key_alg(const svcid_key *key);
const char *svcid_key_kid(const svcid_key *key);   /* owned by the key */
bool svcid_key_is_private(const svcid_key *key);
/* True if both keys have the same public key and alg. */
bool svcid_key_equal_public(const svcid_key *a, const svcid_key *b);

svcid_key *svcid_key_ref(svcid_key *key);
void svcid_key_unref(svcid_key *key);               /* NULL is fine */

/* The raw primitive, without JWS framing: sign/verify data with the key's
 * alg. ES256 signatures are 64-byte R||S. verify returns 0 for a valid
 * signature, -EBADMSG for an invalid one, and another negative errno when
 * it could not judge (out of memory, an OpenSSL failure). */
int svcid_key_sign_raw(const svcid_key *key, const void *data, size_t len,
                       unsigned char **ret_sig, size_t *ret_sig_len);
int svcid_key_verify_raw(const svcid_key *key, const void *data, size_t len,
                         const void *sig, size_t sig_len);

/* ---- JWS compact serialization (signature layer) ------------------------ */

/* Signs payload. header_json NULL means {"alg":…,"kid":…,"typ":"JWT"};
 * otherwise it must be a JSON object whose "alg" is the key's alg, and it
 * is used byte for byte. ret_jws is malloc'd. -EFBIG if the finished JWS,
 * signature included, would be longer than SVCID_TOKEN_MAX bytes (no
 * verifier would accept it). */
int svcid_jws_sign(const svcid_key *key, const char *header_json,
                   const void *payload, size_t len, char **ret_jws);

/* Verifies a compact JWS with the given key: size cap, three strict
 * base64url segments, a header that is a JSON object without duplicate
 * members or "crit", whose "alg" is the key's alg, and the signature.
 * Any payload bytes. On SVCID_OK, *ret_payload (malloc'd, NUL-terminated)
 * and *ret_len are set when non-NULL. */
svcid_reason svcid_jws_verify(const svcid_key *key, const char *jws, size_t len,
                              unsigned char **ret_payload, size_t *ret_len);

/* ---- trust: issuers and their public keys ------------------------------- */

typedef struct svcid_trust svcid_trust;

int svcid_trust_new(svcid_trust **ret_trust);
void svcid_trust_free(svcid_trust *trust);        /* NULL is fine */

/* Adds a JWKS document: a JSON object with a string "iss" and a "keys"
 * array of public JWKs (see svcid_key_from_jwk). The whole document is
 * refused if any key is unusable, private, or repeats a kid. A kid already
 * trusted for the same issuer is refused unless it is the same key, and so
 * is an RSA key listed, or trusted, under the other RSA alg (-EEXIST).
 * origin names the source in error messages (may be NULL). On failure a
 * one-line reason goes into err (if non-NULL) and nothing is added; the
 * origin, kid and iss it quotes have every byte outside printable ASCII
 * replaced by '?', so it is safe to print and log. */
int svcid_trust_add_jwks(svcid_trust *trust, const char *json, size_t len,
                         const char *origin, char *err, size_t err_len);

/* Adds a JWKS file, or every "*.jwks" file of a directory (sorted by name,
 * hidden files skipped). The path and each file are opened O_NOFOLLOW (a
 * symbolic link is refused, -ELOOP) and files are capped at
 * SVCID_JWKS_MAX; anything but a regular file (a FIFO, a device) is
 * refused at once, never waited on, and so is a file or directory that
 * group or others may write, or that is owned by anyone but root, the
 * caller (effective uid) or the "svcid" user (-EPERM: a writer could add
 * a key), and so is one below a directory that fails the same test (a
 * writer could put another file in its place), checked from "/" down
 * along the path with symbolic links resolved; a directory above the one
 * named that others may write passes if it is sticky, as /tmp is (the
 * trust directory itself never does). An empty directory is not an
 * error, nor is a file removed while the directory is read (it is no
 * longer in it). Each file is added whole or not at all, but a directory
 * is not: on failure, files read before the failing one stay added, so
 * discard the store. err as for svcid_trust_add_jwks(). */
int svcid_trust_load(svcid_trust *trust, const char *path, char *err, size_t err_len);

/* Trusts key (a new reference is taken) for issuer iss under its kid.
 * Returns 0 (also when the same key is already there), or -EEXIST if
 * (iss, kid) holds another key, or if an RSA key is already trusted, for
 * any issuer, under the other RSA alg: a key is used with one alg. */
int svcid_trust_add_key(svcid_trust *trust, const char *iss, svcid_key *key);

/* The key (borrowed) trusted for (iss, kid), or NULL. */
const svcid_key *svcid_trust_find(const svcid_trust *trust, const char *iss, const char *kid);
bool svcid_trust_has_issuer(const svcid_trust *trust, const char *iss);
size_t svcid_trust_key_count(const svcid_trust *trust);

/* ---- JWT verification policy -------------------------------------------- */

typedef struct svcid_policy svcid_policy;

/* A policy for audience (required, non-empty) over trust, which is
 * borrowed and must outlive the policy. Defaults: any trusted issuer,
 * leeway SVCID_LEEWAY_DEFAULT, max lifetime SVCID_MAX_LIFETIME_DEFAULT,
 * the real clock, no required claims. */
int svcid_policy_new(const svcid_trust *trust, const char *audience, svcid_policy **ret_policy);
void svcid_policy_free(svcid_policy *policy);     /* NULL is fine */

/* Accept only this issuer. -ENOENT if the policy's trust holds no key of
 * it (it could only refuse every token), -EINVAL for NULL or "". */
int svcid_policy_set_issuer(svcid_policy *policy, const char *issuer);
/* Require claim to match glob (fnmatch(3)): a string as it is, an integer
 * by its decimal text, a boolean as "true" or "false", an array if one such
 * element matches; anything else (a real number, an object, null) never
 * matches. Repeatable; all must match. claim and glob must not be empty
 * (-EINVAL). */
int svcid_policy_require(svcid_policy *policy, const char *claim, const char *glob);
/* The same from "CLAIM=GLOB" text, as command lines take it. */
int svcid_policy_require_arg(svcid_policy *policy, const char *arg);
/* leeway in [0, 3600]; max lifetime in [1, 86400]. -ERANGE otherwise. */
int svcid_policy_set_leeway(svcid_policy *policy, int64_t seconds);
int svcid_policy_set_max_lifetime(svcid_policy *policy, int64_t seconds);
/* Injectable clock for tests and tools; NULL restores time(NULL). */
void svcid_policy_set_clock(svcid_policy *policy, int64_t (*now)(void *userdata), void *userdata);

/* What a verification saw, for audit logs: filled as far as the token was
 * parsed, whatever the outcome. Strings are truncated and have every byte
 * outside printable ASCII replaced by '?', so they cannot split a log line
 * or drive a terminal; '"' and '\\' stay, and for a refused token iss,
 * sub, kid, jti and parts of detail are its sender's words (libsvcid(3)).
 * The token and its signature are never copied here. */
typedef struct svcid_report {
        svcid_reason reason;
        char detail[200];
        char iss[128];
        char sub[128];
        char kid[96];
        char jti[64];
} svcid_report;

/* Verified claims, owned by the caller. */
typedef struct svcid_claims svcid_claims;

/* Runs every check of the verification policy, in order, and returns the
 * first that fails, or SVCID_OK. token need not be NUL-terminated. On
 * SVCID_OK and non-NULL ret_claims, *ret_claims receives the claims.
 * report (may be NULL) is always filled. A NULL policy is
 * SVCID_INTERNAL_ERROR. */
svcid_reason svcid_verify(const svcid_policy *policy, const char *token, size_t len,
                          svcid_claims **ret_claims, svcid_report *report);

/* A string claim (borrowed from claims), or NULL if absent or not a string. */
const char *svcid_claims_string(const svcid_claims *claims, const char *name);
/* An integer claim: 0, or -ENOENT if absent, -EINVAL if not an integer. */
int svcid_claims_int(const svcid_claims *claims, const char *name, int64_t *ret_value);
/* The payload as compact JSON (malloc'd). */
int svcid_claims_json(const svcid_claims *claims, char **ret_json);
/* The header's kid and alg of the verified token (borrowed). */
const char *svcid_claims_kid(const svcid_claims *claims);
svcid_alg svcid_claims_alg(const svcid_claims *claims);
void svcid_claims_free(svcid_claims *claims);     /* NULL is fine */

/* ---- minting ------------------------------------------------------------ */

/* Signs a JWT: header {"alg","kid","typ":"JWT"} from key, claims_json a
 * JSON object (re-serialized compactly, member order kept). The caller
 * supplies every claim (iss, sub, aud, iat, exp, jti, ...). -EFBIG if the
 * token, signature included, would be longer than SVCID_TOKEN_MAX. */
int svcid_jwt_sign(const svcid_key *key, const char *claims_json, size_t len, char **ret_token);

/* 128 random bits, base64url (22 characters). */
int svcid_jti_new(char **ret_jti);

/* Wipes and frees a NUL-terminated secret string (NULL is fine). */
void svcid_free_secret(char *secret);

/* ---- agent client (lib/client.c) ---------------------------------------- */
/* HTTP over the agent's Unix socket (libcurl). Never on the verify path. */

#define SVCID_AGENT_SOCKET_DEFAULT "/run/svcid/agent.sock"

/* $SVCID_AGENT_SOCKET when set and non-empty, else the default. Borrowed.
 * The variable is read with secure_getenv(3): a set-uid or set-gid
 * process always gets the default. A relative path is taken from the
 * current directory when a request connects. */
const char *svcid_agent_socket(void);

/* Asks the agent listening on socket_path (NULL: svcid_agent_socket(); ""
 * is -EINVAL, as it names no file) for a token naming the calling process,
 * for audience (1 to 255 printable ASCII characters without spaces, escaped
 * here as a query needs: a '+' stays a '+'), ttl seconds from 0 to 86400
 * (0: the agent's default; svcid-agent itself takes 1 to 3600 and refuses
 * more, -EINVAL); anything else is -EINVAL before a connection is made. On
 * success *ret_token (malloc'd) and, if non-NULL, *ret_expires_at. Errors:
 * -ENOENT/-ECONNREFUSED no agent there, -EACCES the agent's policy refused
 * (403) or the socket may not be opened (err tells which), -EINVAL bad
 * request (400), -EBUSY (429/503), -ENAMETOOLONG a socket path over 107
 * bytes, -ETIMEDOUT no answer in 30 s, -ENOPKG libcurl could not be loaded,
 * -EPROTO anything else; err (if non-NULL) gets a one-line message, the
 * agent's own when it sent one. */
int svcid_agent_token(const char *socket_path, const char *audience, int64_t ttl,
                      char *err, size_t err_len, char **ret_token, int64_t *ret_expires_at);

/* The agent's JWKS document (GET /v1/jwks), malloc'd. Errors as above. */
int svcid_agent_jwks(const char *socket_path, char *err, size_t err_len, char **ret_jwks);

#ifdef __cplusplus
}
#endif
#endif
