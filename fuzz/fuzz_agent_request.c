/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what a GET /v1/token may carry (agent/request.c):
 * the input is a raw query string, split and percent-decoded here the way
 * libmicrohttpd does (a "%00" becomes a NUL inside a value), then checked.
 * Whatever passes must be something the agent can put in a token. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/http.h"
#include "../agent/request.c"
#include "../agent/util.c"

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = tolower(c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* In place: '+' is a space, %XX a byte; returns the decoded length. */
static size_t unescape(char *s) {
        char *w = s;

        for (char *r = s; *r; r++) {
                if (*r == '+')
                        *w++ = ' ';
                else if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
                        *w++ = (char) (hexval(r[1]) * 16 + hexval(r[2]));
                        r += 2;
                } else
                        *w++ = *r;
        }
        *w = '\0';
        return (size_t) (w - s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        http_arg args[REQUEST_ARGS_MAX];
        size_t n = 0;
        char *q, *rest, *part, msg[200];
        const char *aud = NULL;
        int64_t ttl = -1;
        int r;

        if (size > HTTP_HEAD_MAX)
                return 0;       /* the agent refuses a longer request head */
        q = malloc(size + 1);
        if (!q)
                return 0;
        memcpy(q, data, size);
        q[size] = '\0';
        /* empty fields too ("&&"): libmicrohttpd hands those over, but
         * for a trailing one */
        rest = q;
        while ((part = strsep(&rest, "&"))) {
                char *eq = strchr(part, '=');

                if (n == REQUEST_ARGS_MAX) {
                        /* http.c refuses a 9th parameter itself: request.c
                         * never sees such a query */
                        free(q);
                        return 0;
                }
                if (eq)
                        *eq = '\0';
                args[n].key_len = unescape(part);
                args[n].key = part;
                args[n].value = eq ? eq + 1 : NULL;
                args[n].value_len = eq ? unescape(eq + 1) : 0;
                n++;
        }
        r = request_token_args(args, n, &aud, &ttl, msg, sizeof msg);
        if (r == 0) {
                if (!aud || !name_ok(aud) || ttl < 0 || ttl > 3600)
                        abort();
        } else if (r != -EINVAL || !msg[0]) {
                abort();
        }
        free(q);
        return 0;
}
