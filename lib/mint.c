/* SPDX-License-Identifier: MIT */
/* Minting: what the agent signs. */
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "internal.h"
#include "../common/json.h"

int svcid_jwt_sign(const svcid_key *key, const char *claims_json, size_t len, char **ret_token) {
        _cleanup_(json_decrefp) json_t *claims = NULL;
        _cleanup_(free_p) char *payload = NULL;

        if (!key || !claims_json || !ret_token)
                return -EINVAL;
        if (!svcid_key_is_private(key))
                return -ENOKEY;
        /* Whitespace may make the text longer than the token it gives, so
         * the token's own size decides (-EFBIG below); this cap only keeps
         * the parser bounded. */
        if (len > SVCID_JWKS_MAX)
                return -EFBIG;
        claims = lib_json_object(claims_json, len, SVCID_JWKS_MAX);
        if (!claims)
                return errno == ENOMEM ? -ENOMEM : -EINVAL;
        payload = json_dumps_whole(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!payload)
                return -ENOMEM;
        return svcid_jws_sign(key, NULL, payload, strlen(payload), ret_token);
}

int svcid_jti_new(char **ret_jti) {
        unsigned char bits[16];
        int r;

        if (!ret_jti)
                return -EINVAL;
        ERR_set_mark();         /* the application's OpenSSL errors stay, ours go */
        r = RAND_bytes(bits, sizeof bits) == 1 ? 0 : -EIO;
        ERR_pop_to_mark();
        if (r < 0)
                return r;
        r = svcid_b64url_encode(bits, sizeof bits, ret_jti);
        OPENSSL_cleanse(bits, sizeof bits);
        return r;
}
