/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "text.h"

void copy_printable(char *dst, size_t n, const char *src) {
        size_t o = 0;

        if (n == 0)
                return;
        for (; src && *src; src++) {
                unsigned char c = (unsigned char) *src;

                if (o + 1 >= n) {
                        if (n > 4) {
                                memcpy(dst + n - 4, "...", 3);
                                o = n - 1;
                        }
                        break;
                }
                dst[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char) c : '?';
        }
        dst[o] = '\0';
}

bool env_value_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
                        return false;
        return true;
}

bool name_ok(const char *s) {
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++)
                if (s[n] <= 0x20 || s[n] >= 0x7f)
                        return false;
        return n > 0 && n <= 255;
}
