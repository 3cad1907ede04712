/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "request.h"
#include "util.h"

int request_token_args(const http_arg *args, size_t n, const char **ret_aud, int64_t *ret_ttl,
                       char *msg, size_t msg_len) {
        const char *aud = NULL, *ttl_s = NULL;
        int64_t ttl = 0;

        for (size_t i = 0; i < n; i++) {
                const char **slot;

                /* Nothing in a request may say who the caller is: only the
                 * two knobs exist, and an unknown one is an error rather
                 * than ignored, so a client never believes it set sub.
                 * "%00" decodes to a NUL that would cut a name or value
                 * short: "aud%00x" is not "aud". */
                /* "?&aud=x" and "?aud=x&&ttl=5": an empty field says
                 * nothing, as libmicrohttpd takes a trailing "&" */
                if (args[i].key_len == 0 && !args[i].value)
                        continue;
                if (strlen(args[i].key) != args[i].key_len) {
                        snprintf(msg, msg_len, "a query parameter name has a NUL byte");
                        return -EINVAL;
                }
                if (strcmp(args[i].key, "aud") == 0)
                        slot = &aud;
                else if (strcmp(args[i].key, "ttl") == 0)
                        slot = &ttl_s;
                else {
                        snprintf(msg, msg_len, "unknown query parameter (only aud and ttl)");
                        return -EINVAL;
                }
                if (*slot) {
                        snprintf(msg, msg_len, "query parameter %s given twice", args[i].key);
                        return -EINVAL;
                }
                if (!args[i].value) {
                        snprintf(msg, msg_len, "query parameter %s needs a value (%s=...)", args[i].key,
                                 args[i].key);
                        return -EINVAL;
                }
                if (strlen(args[i].value) != args[i].value_len) {
                        snprintf(msg, msg_len, "query parameter %s needs a value without NUL bytes", args[i].key);
                        return -EINVAL;
                }
                *slot = args[i].value;
        }
        if (!aud) {
                snprintf(msg, msg_len, "the aud query parameter is required");
                return -EINVAL;
        }
        if (!name_ok(aud)) {
                snprintf(msg, msg_len, "aud must be 1 to 255 printable ASCII characters without spaces%s",
                         strchr(aud, ' ') ? " (if it was a '+': in a query that is a space; send %2B)" : "");
                return -EINVAL;
        }
        if (ttl_s && parse_int64(ttl_s, 1, CONFIG_TTL_MAX, &ttl) < 0) {
                snprintf(msg, msg_len, "ttl must be a whole number of seconds from 1 to %d", CONFIG_TTL_MAX);
                return -EINVAL;
        }
        *ret_aud = aud;
        *ret_ttl = ttl;
        return 0;
}
