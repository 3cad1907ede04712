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

/* The alphabet's inverse; X (0xff) marks a byte outside it. Row n holds
 * bytes 16n..16n+15: '-' is 0x2d, '0'-'9' 0x30-0x39, 'A' 0x41, '_' 0x5f,
 * 'a' 0x61. test_jwt checks it against the alphabet, byte by byte. */
#define X 0xff
static const uint8_t decode_table[256] = {
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, 62,  X,  X,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61,  X,  X,  X,  X,  X,  X,
         X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,  X,  X,  X,  X, 63,
         X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
         X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
};
#undef X

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

size_t lib_b64url_decoded_len(size_t len) {
        return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

int lib_b64url_decode_into(const char *text, size_t len, unsigned char *out, size_t *ret_len) {
        const uint8_t *in = (const uint8_t *) text;
        size_t full = len / 4 * 4, rest = len % 4, o = 0;

        if (rest == 1)
                return -EINVAL;
        for (size_t i = 0; i < full; i += 4) {
                uint8_t a = decode_table[in[i]], b = decode_table[in[i + 1]],
                        c = decode_table[in[i + 2]], d = decode_table[in[i + 3]];
                if ((a | b | c | d) & 0x80)
                        return -EINVAL;
                uint32_t v = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | d;
                out[o++] = (unsigned char) (v >> 16);
                out[o++] = (unsigned char) (v >> 8);
                out[o++] = (unsigned char) v;
        }
        if (rest) {
                uint8_t a = decode_table[in[full]], b = decode_table[in[full + 1]];
                uint8_t c = rest == 3 ? decode_table[in[full + 2]] : 0;
                if ((a | b | c) & 0x80)
                        return -EINVAL;
                /* The bits after the last whole byte must be zero: 4 of them
                 * with two characters, 2 with three. */
                if (rest == 2 ? (b & 0x0f) : (c & 0x03))
                        return -EINVAL;
                out[o++] = (unsigned char) (a << 2 | b >> 4);
                if (rest == 3)
                        out[o++] = (unsigned char) ((b & 0x0f) << 4 | c >> 2);
        }
        out[o] = '\0';
        *ret_len = o;
        return 0;
}

int svcid_b64url_decode(const char *text, size_t len, unsigned char **ret_data, size_t *ret_len) {
        unsigned char *out;
        int r;

        if ((!text && len > 0) || !ret_data || !ret_len)
                return -EINVAL;
        if (len % 4 == 1)
                return -EINVAL;
        out = malloc(lib_b64url_decoded_len(len) + 1);
        if (!out)
                return -ENOMEM;
        r = lib_b64url_decode_into(text, len, out, ret_len);
        if (r < 0) {
                free(out);
                return r;
        }
        *ret_data = out;
        return 0;
}
