/* SPDX-License-Identifier: MIT */
/* Strict base64url (RFC 4648 §5, RFC 7515 §2): no padding, no whitespace,
 * nothing outside the alphabet, and no non-zero trailing bits — so every
 * byte string has exactly one accepted encoding, and a token cannot be
 * altered without changing its signing input. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0xff marks a byte outside the alphabet. */
static const uint8_t *decode_table(void) {
        static uint8_t table[256];
        static bool ready;

        if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
                uint8_t t[256];
                memset(t, 0xff, sizeof t);
                for (uint8_t i = 0; i < 64; i++)
                        t[(uint8_t) alphabet[i]] = i;
                memcpy(table, t, sizeof t);
                __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
        }
        return table;
}

int svcid_b64url_encode(const void *data, size_t len, char **ret_text) {
        const uint8_t *in = data;
        size_t out_len, o = 0, i = 0;
        char *out;

        if ((!data && len > 0) || !ret_text)
                return -EINVAL;
        if (len > (SIZE_MAX - 3) / 4 * 3)
                return -EFBIG;
        out_len = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
        out = malloc(out_len + 1);
        if (!out)
                return -ENOMEM;

        for (; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
                out[o++] = alphabet[v & 63];
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t) in[i] << 16;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
        } else if (len - i == 2) {
                uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
        }
        out[o] = '\0';
        *ret_text = out;
        return 0;
}

int svcid_b64url_decode(const char *text, size_t len, unsigned char **ret_data, size_t *ret_len) {
        const uint8_t *table = decode_table();
        size_t full = len / 4, rest = len % 4, o = 0;
        unsigned char *out;

        if ((!text && len > 0) || !ret_data || !ret_len)
                return -EINVAL;
        if (rest == 1)
                return -EINVAL;

        out = malloc(full * 3 + (rest ? rest - 1 : 0) + 1);
        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < full * 4; i += 4) {
                uint8_t a = table[(uint8_t) text[i]], b = table[(uint8_t) text[i + 1]],
                        c = table[(uint8_t) text[i + 2]], d = table[(uint8_t) text[i + 3]];
                if ((a | b | c | d) & 0x80)
                        goto fail;
                uint32_t v = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | d;
                out[o++] = (unsigned char) (v >> 16);
                out[o++] = (unsigned char) (v >> 8);
                out[o++] = (unsigned char) v;
        }
        if (rest) {
                const char *t = text + full * 4;
                uint8_t a = table[(uint8_t) t[0]], b = table[(uint8_t) t[1]];
                uint8_t c = rest == 3 ? table[(uint8_t) t[2]] : 0;
                if ((a | b | c) & 0x80)
                        goto fail;
                /* The bits after the last whole byte must be zero: 4 of them
                 * with two characters, 2 with three. */
                if (rest == 2 ? (b & 0x0f) : (c & 0x03))
                        goto fail;
                out[o++] = (unsigned char) (a << 2 | b >> 4);
                if (rest == 3)
                        out[o++] = (unsigned char) ((b & 0x0f) << 4 | c >> 2);
        }
        out[o] = '\0';
        *ret_data = out;
        *ret_len = o;
        return 0;
fail:
        free(out);
        return -EINVAL;
}
