/* SPDX-License-Identifier: MIT */
/* What a request may ask for, checked apart from libmicrohttpd so that a
 * fuzz target can drive it (fuzz/fuzz_agent_request.c). */
#ifndef SVCID_AGENT_REQUEST_H
#define SVCID_AGENT_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* The query arguments a request may carry; http.c refuses one with more
 * ("too many query parameters") before request_token_args() sees it. */
#define REQUEST_ARGS_MAX 8

/* One query argument, as libmicrohttpd decoded it: key_len and value_len
 * count the bytes of each, which may hold a NUL from "%00". */
typedef struct http_arg {
        const char *key;
        size_t key_len;
        const char *value;      /* NULL for "?key" without '=' */
        size_t value_len;
} http_arg;

/* Checks the query of GET /v1/token: exactly one aud (1 to 255 printable
 * ASCII bytes, no space), at most one ttl (1 to 3600, strict decimal),
 * nothing else. Returns 0 with aud (borrowed from args) and ttl (0 when
 * absent), or -EINVAL with a one-line message for the caller. */
int request_token_args(const http_arg *args, size_t n, const char **ret_aud, int64_t *ret_ttl,
                       char *msg, size_t msg_len);

#endif
