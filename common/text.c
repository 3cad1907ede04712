/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

void copy_printable_n(char *dst, size_t n, const char *src, size_t len, bool keep_quotes) {
        size_t o = 0;

        if (n == 0)
                return;
        for (size_t i = 0; src && i < len; i++) {
                unsigned char c = (unsigned char) src[i];

                if (o + 1 >= n) {
                        if (n > 4) {
                                memcpy(dst + n - 4, "...", 3);
                                o = n - 1;
                        }
                        break;
                }
                dst[o++] = c >= 0x20 && c < 0x7f && (keep_quotes || (c != '"' && c != '\\')) ? (char) c : '?';
        }
        dst[o] = '\0';
}

void copy_printable(char *dst, size_t n, const char *src) {
        copy_printable_n(dst, n, src, src ? strlen(src) : 0, false);
}

void usage_error_print(const char *prefix, const char *help, const char *fmt, va_list ap) {
        char msg[512];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        copy_printable_n(msg, sizeof(msg), msg, strlen(msg), true);
        fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prefix, msg, help);
}

int set_err(char *err, size_t err_len, int error, const char *fmt, ...) {
        if (err && err_len > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, err_len, fmt, ap);
                va_end(ap);
        }
        return error;
}

const char *const identity_env[IDENTITY_ENV_N] = {
        "SVCID_SUB", "SVCID_ISS", "SVCID_JTI", "SVCID_UNIT", "SVCID_AUD", "SVCID_UID", "SVCID_CLAIMS",
};

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
