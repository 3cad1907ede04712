/* SPDX-License-Identifier: MIT */
/* The signature layer: compact JWS (RFC 7515 §7.1) with one key and its
 * one alg. The JWT rules (header members, claims) live in verify.c. */
#include <string.h>

#include "internal.h"
#include "../common/json.h"

void lib_jws_done(struct lib_jws *jws) {
        /* The decoded parts are enough to rebuild a bearer token. */
        if (jws->block)
                OPENSSL_cleanse(jws->block, jws->block_len);
        free(jws->block);
        *jws = (struct lib_jws) {};
}

svcid_reason lib_jws_split(const char *token, size_t len, struct lib_jws *ret, char *detail, size_t detail_len) {
        static const char *const names[] = { "header", "payload", "signature" };
        struct lib_jws jws = {};
        const char *dot1, *dot2;
        size_t start[3], end[3];

        if (len > SVCID_TOKEN_MAX) {
                set_err(detail, detail_len, 0, "token is %zu bytes, more than %u", len, SVCID_TOKEN_MAX);
                return SVCID_TOO_LARGE;
        }
        if (!token || len == 0) {
                set_err(detail, detail_len, 0, "empty token");
                return SVCID_MALFORMED;
        }

        dot1 = memchr(token, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
        if (!dot2) {
                set_err(detail, detail_len, 0, "%d segment%s, not three", dot1 ? 2 : 1, dot1 ? "s" : "");
                return SVCID_MALFORMED;
        }
        if (memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token))) {
                set_err(detail, detail_len, 0, "more than three segments");
                return SVCID_MALFORMED;
        }
        start[0] = 0;
        end[0] = (size_t) (dot1 - token);
        start[1] = end[0] + 1;
        end[1] = (size_t) (dot2 - token);
        start[2] = end[1] + 1;
        end[2] = len;

        /* One block for the three parts (each decodes to fewer bytes than
         * its characters, plus a NUL): a token is verified often. */
        jws.block = malloc(len + 3);
        if (!jws.block) {
                set_err(detail, detail_len, 0, "out of memory");
                return SVCID_INTERNAL_ERROR;
        }
        jws.block_len = len + 3;

        unsigned char **out[3] = { &jws.header, &jws.payload, &jws.sig };
        size_t *out_len[3] = { &jws.header_len, &jws.payload_len, &jws.sig_len };
        unsigned char *p = jws.block;
        for (size_t i = 0; i < 3; i++) {
                if (lib_b64url_decode_into(token + start[i], end[i] - start[i], p, out_len[i]) < 0) {
                        /* Whitespace is invisible where a user pasted the
                         * token: name it. */
                        bool space = false;

                        for (size_t k = start[i]; k < end[i] && !space; k++)
                                space = token[k] != '\0' && strchr(" \t\r\n\v\f", token[k]);
                        set_err(detail, detail_len, 0, "%s is not canonical base64url%s", names[i],
                                space ? " (it holds whitespace)" : "");
                        lib_jws_done(&jws);
                        return SVCID_MALFORMED;
                }
                *out[i] = p;
                p += *out_len[i] + 1;
        }
        jws.header64_len = end[0];
        jws.signing_len = end[1];
        *ret = jws;
        return SVCID_OK;
}

int lib_jws_header64(svcid_alg alg, const char *kid, char **ret_header64) {
        _cleanup_(json_decrefp) json_t *h = json_pack("{s:s, s:s, s:s}", "alg", svcid_alg_str(alg),
                                                     "kid", kid, "typ", "JWT");
        _cleanup_(free_p) char *text = NULL;

        if (!h)
                return -ENOMEM;
        text = json_dumps_whole(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        return svcid_b64url_encode(text, strlen(text), ret_header64);
}

int svcid_jws_sign(const svcid_key *key, const char *header_json, const void *payload, size_t len, char **ret_jws) {
        _cleanup_(free_p) char *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
        _cleanup_(free_p) unsigned char *sig = NULL;
        size_t sig_len, input_len;
        int r;

        if (!key || (!payload && len > 0) || !ret_jws)
                return -EINVAL;

        /* Used byte for byte, so its base64url alone would be longer
         * than any token: too big, before it is judged as JSON. */
        if (header_json && strlen(header_json) > SVCID_TOKEN_MAX)
                return -EFBIG;
        if (header_json) {
                /* A caller-made header must still name this key's alg: the
                 * signature layer never signs under a name it isn't. */
                _cleanup_(json_decrefp) json_t *h = lib_json_object(header_json, strlen(header_json), SVCID_TOKEN_MAX);
                svcid_alg alg;
                if (!h && errno == ENOMEM)
                        return -ENOMEM;
                if (!h || svcid_alg_from_str(json_string_value(json_object_get(h, "alg")), &alg) < 0 ||
                    alg != key->alg)
                        return -EINVAL;
                r = svcid_b64url_encode(header_json, strlen(header_json), &h64);
                if (r < 0)
                        return r;
        }
        r = svcid_b64url_encode(payload, len, &p64);
        if (r < 0)
                return r;
        if (asprintf(&input, "%s.%s", h64 ? h64 : key->header64, p64) < 0)
                return -ENOMEM;
        input_len = strlen(input);
        if (input_len > SVCID_TOKEN_MAX)
                return -EFBIG;  /* too long whatever the signature: don't sign */

        r = svcid_key_sign_raw(key, input, input_len, &sig, &sig_len);
        if (r < 0)
                return r;
        r = svcid_b64url_encode(sig, sig_len, &s64);
        if (r < 0)
                return r;
        /* The cap is on the finished token: every verifier refuses one
         * longer, and an RSA signature adds hundreds of characters. */
        if (input_len + 1 + strlen(s64) > SVCID_TOKEN_MAX)
                return -EFBIG;
        if (asprintf(ret_jws, "%s.%s", input, s64) < 0)
                return -ENOMEM;
        return 0;
}

svcid_reason svcid_jws_verify(const svcid_key *key, const char *jws, size_t len,
                              unsigned char **ret_payload, size_t *ret_len) {
        _cleanup_(json_decrefp) json_t *header = NULL;
        struct lib_jws parts;
        svcid_reason reason;
        svcid_alg alg;
        json_t *alg_j;
        int r;

        if (!key)
                return SVCID_UNKNOWN_KEY;
        reason = lib_jws_split(jws, len, &parts, NULL, 0);
        if (reason != SVCID_OK)
                return reason;

        header = lib_json_object(parts.header, parts.header_len, SVCID_TOKEN_MAX);
        if (!header) {
                reason = errno == ENOMEM ? SVCID_INTERNAL_ERROR : SVCID_MALFORMED;
                goto out;
        }
        /* RFC 7515 §4.1.11: a "crit" we cannot honour makes the JWS invalid;
         * svcid understands no extension, so any "crit" is refused. */
        if (json_object_get(header, "crit")) {
                reason = SVCID_BAD_HEADER;
                goto out;
        }
        alg_j = json_object_get(header, "alg");
        if (!json_is_string(alg_j) || svcid_alg_from_str(json_string_value(alg_j), &alg) < 0 ||
            alg != key->alg) {
                reason = SVCID_ALG_NOT_ALLOWED;
                goto out;
        }

        r = svcid_key_verify_raw(key, jws, parts.signing_len, parts.sig, parts.sig_len);
        if (r < 0) {
                reason = r == -EBADMSG ? SVCID_BAD_SIGNATURE : SVCID_INTERNAL_ERROR;
                goto out;
        }
        if (ret_payload) {
                /* The caller frees the payload alone: hand over a copy. */
                unsigned char *copy = malloc(parts.payload_len + 1);

                if (!copy) {
                        reason = SVCID_INTERNAL_ERROR;
                        goto out;
                }
                memcpy(copy, parts.payload, parts.payload_len + 1);
                *ret_payload = copy;
        }
        if (ret_len)
                *ret_len = parts.payload_len;
        reason = SVCID_OK;
out:
        lib_jws_done(&parts);
        return reason;
}
