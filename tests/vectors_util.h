/* SPDX-License-Identifier: MIT */
/* Helpers for tests that read conformance vectors from tests/vectors/:
 * loading a vector file, hex and base64url decoding that do not rely on
 * libsvcid (the code under test), and reading a JWS header member. */
#ifndef SVCID_TESTS_VECTORS_UTIL_H
#define SVCID_TESTS_VECTORS_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "svcid/svcid.h"

static inline void vec_key_unrefp(svcid_key **k) { svcid_key_unref(*k); }
static inline void vec_trust_freep(svcid_trust **t) { svcid_trust_free(*t); }

/* Loads "$SVCID_SRC/tests/vectors/<rel>" (SVCID_SRC defaults to "."),
 * refusing duplicate members. NULL (with a message) if it cannot. */
static inline json_t *vec_load(const char *rel) {
        const char *src = getenv("SVCID_SRC");
        json_error_t err;
        char path[4096];
        json_t *j;

        if (!src || !*src)
                src = ".";
        if (snprintf(path, sizeof path, "%s/tests/vectors/%s", src, rel) >= (int) sizeof path)
                return NULL;
        j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                fprintf(stderr, "vectors: cannot load %s: %s (line %d)\n", path, err.text, err.line);
        return j;
}

static inline int vec_hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes hex text. The buffer is always allocated (at least one byte), so
 * an empty message is a valid pointer with length 0. */
static inline int vec_hex(const char *hex, unsigned char **ret, size_t *ret_len) {
        size_t n = strlen(hex);
        unsigned char *out;

        if (n % 2)
                return -1;
        out = malloc(n / 2 + 1);
        if (!out)
                return -1;
        for (size_t i = 0; i < n / 2; i++) {
                int hi = vec_hexval(hex[2 * i]), lo = vec_hexval(hex[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        free(out);
                        return -1;
                }
                out[i] = (unsigned char) (hi << 4 | lo);
        }
        *ret = out;
        *ret_len = n / 2;
        return 0;
}

static inline int vec_b64val(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* A strict base64url decoder of its own (RFC 4648 §5, no padding, zero
 * trailing bits), so that expected payloads do not come from the library
 * being tested. The result is NUL-terminated; always allocated. */
static inline int vec_b64url(const char *s, size_t n, unsigned char **ret, size_t *ret_len) {
        unsigned char *out;
        unsigned acc = 0, bits = 0;
        size_t o = 0;

        if (n % 4 == 1)
                return -1;
        out = malloc(n * 3 / 4 + 2);
        if (!out)
                return -1;
        for (size_t i = 0; i < n; i++) {
                int v = vec_b64val(s[i]);
                if (v < 0)
                        goto fail;
                acc = (acc << 6 | (unsigned) v) & 0xffffu;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (unsigned char) (acc >> bits);
                }
        }
        if (acc & ((1u << bits) - 1))
                goto fail;
        out[o] = 0;
        *ret = out;
        *ret_len = o;
        return 0;
fail:
        free(out);
        return -1;
}

/* The n-th (0, 1, 2) dot-separated segment of a compact JWS: start and
 * length. False if the text does not have that many segments. */
static inline bool vec_segment(const char *jws, unsigned n, const char **ret_start, size_t *ret_len) {
        const char *p = jws;

        for (unsigned i = 0; i < n; i++) {
                p = strchr(p, '.');
                if (!p)
                        return false;
                p++;
        }
        *ret_start = p;
        *ret_len = strcspn(p, ".");
        return true;
}

/* A copy of the string member name of the JWS's protected header, or NULL
 * when the header does not decode or has no such string member. */
static inline char *vec_header_string(const char *jws, const char *name) {
        unsigned char *raw = NULL;
        const char *seg;
        size_t seg_len, raw_len;
        json_t *h, *v;
        char *out = NULL;

        if (!vec_segment(jws, 0, &seg, &seg_len) || vec_b64url(seg, seg_len, &raw, &raw_len) < 0)
                return NULL;
        h = json_loadb((const char *) raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
        free(raw);
        v = json_object_get(h, name);
        if (json_is_string(v))
                out = strdup(json_string_value(v));
        json_decref(h);
        return out;
}

/* svcid's profile, written out here rather than asked of the library:
 * ES256, EdDSA (also named Ed25519), RS256, PS256. */
static inline bool vec_alg_in_profile(const char *alg) {
        static const char *const profile[] = { "ES256", "EdDSA", "Ed25519", "RS256", "PS256" };

        if (!alg)
                return false;
        for (size_t i = 0; i < sizeof profile / sizeof profile[0]; i++)
                if (strcmp(alg, profile[i]) == 0)
                        return true;
        return false;
}

static inline bool vec_streq(json_t *j, const char *s) {
        return json_is_string(j) && strcmp(json_string_value(j), s) == 0;
}

/* Whether a JWK's type, curve and alg (when it names one) are in the
 * profile. Key size, "use" and the like are key policy, not profile. */
static inline bool vec_jwk_in_profile(json_t *jwk) {
        json_t *kty = json_object_get(jwk, "kty"), *alg = json_object_get(jwk, "alg");

        if (alg && !vec_alg_in_profile(json_string_value(alg)))
                return false;
        if (vec_streq(kty, "EC"))
                return vec_streq(json_object_get(jwk, "crv"), "P-256");
        if (vec_streq(kty, "OKP"))
                return vec_streq(json_object_get(jwk, "crv"), "Ed25519");
        return vec_streq(kty, "RSA");
}

#endif
