/* SPDX-License-Identifier: MIT */
/* Telling a token cut short by the application that carried it from a
 * forged or garbled one. Only the audit word changes ("truncated" instead
 * of "malformed" or "bad_signature"): the token is refused either way. An
 * administrator who reads "truncated" knows to look at the transport (sudo
 * refuses answers of 512 bytes or more, the OpenSSH client cuts prompts at
 * 1023, sshd's password method stops at 1024, Linux-PAM's own buffers are
 * 512) rather than at the issuer. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "../common/cleanup.h"
#include "../common/json.h"

static bool is_cut_point(size_t len) {
        for (size_t p = 128; p <= SVCID_TOKEN_MAX; p *= 2)
                if (len == p || len == p - 1)
                        return true;
        return false;
}

/* base64url characters of the shortest signature alg can make. */
static size_t min_signature_chars(svcid_alg alg) {
        switch (alg) {
        case SVCID_ALG_ES256:
        case SVCID_ALG_EDDSA:
                return 86;              /* 64 bytes */
        case SVCID_ALG_RS256:
        case SVCID_ALG_PS256:
                return 342;             /* 256 bytes, RSA-2048 */
        default:
                return 0;
        }
}

static svcid_alg header_alg(const char *seg, size_t len) {
        _cleanup_(free_p) unsigned char *raw = NULL;
        _cleanup_(json_decrefp) json_t *header = NULL;
        size_t raw_len;
        svcid_alg alg;

        if (svcid_b64url_decode(seg, len, &raw, &raw_len) < 0)
                return SVCID_ALG_INVALID;
        header = json_load_guarded(raw, raw_len, NULL, NULL);
        if (!json_is_object(header) ||
            svcid_alg_from_str(json_string_value(json_object_get(header, "alg")), &alg) < 0)
                return SVCID_ALG_INVALID;
        return alg;
}

/* Whether every signature of alg has the same length (ES256, EdDSA): one
 * that long is whole, and so is the token it ends. An RSA signature is as
 * long as its key, which the token does not tell. */
static bool fixed_signature(svcid_alg alg) {
        return alg == SVCID_ALG_ES256 || alg == SVCID_ALG_EDDSA;
}

bool pam_svcid_looks_truncated(const char *token, size_t len, svcid_reason reason) {
        const char *dot1, *dot2;
        svcid_alg alg;
        size_t sig_len;

        /* A cut leaves a token that fails to split, to decode, or to
         * verify; any other reason means the token arrived whole. */
        if (reason != SVCID_MALFORMED && reason != SVCID_BAD_SIGNATURE)
                return false;
        if (!token || len == 0 || len > SVCID_TOKEN_MAX)
                return false;

        /* Three segments, the header whole and naming its alg: the last
         * segment tells. Shorter than any signature of that alg: cut. As
         * long as the alg's only length: whole, at a cut point or not (a
         * forged signature must not pass for the transport's doing). */
        dot1 = memchr(token, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
        if (dot2 && !memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token))) {
                alg = header_alg(token, (size_t) (dot1 - token));
                if (alg != SVCID_ALG_INVALID) {
                        sig_len = len - (size_t) (dot2 + 1 - token);
                        if (sig_len < min_signature_chars(alg))
                                return true;
                        if (fixed_signature(alg))
                                return false;
                }
        }
        /* Otherwise only the length counts. */
        return is_cut_point(len);
}
