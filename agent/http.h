/* SPDX-License-Identifier: MIT */
/* The agent's HTTP/1.1 API on its Unix socket (DESIGN.md "Agent API"),
 * served by libmicrohttpd's own threads with epoll. */
#ifndef SVCID_AGENT_HTTP_H
#define SVCID_AGENT_HTTP_H

#include <pthread.h>

#include "config.h"
#include "keys.h"

/* Caps that keep idle, slow or hostile clients from hurting others. */
#define HTTP_CONNECTION_LIMIT   1000u           /* open connections in all */
#define HTTP_IDLE_TIMEOUT       10u             /* seconds without a byte */
#define HTTP_MEMORY_LIMIT       (16u * 1024u)   /* request head, per connection */

/* What the HTTP threads read and the main thread replaces, under lock. */
typedef struct agent_shared {
        pthread_rwlock_t lock;
        agent_config *config;
        char *issuer;
        keystore *keys;
} agent_shared;

typedef struct http_server http_server;

/* Serves on listen_fd (a listening AF_UNIX stream socket, not taken over:
 * the caller closes it after http_stop()). */
int http_start(int listen_fd, agent_shared *shared, unsigned threads, http_server **ret_server);

/* Stops accepting, closes every connection, joins the threads. */
void http_stop(http_server *server);      /* NULL is fine */

/* For the fuzz target: checks the query arguments of /v1/token, given as
 * n (key, value, value_len) triples. Returns 0 and the aud (borrowed) and
 * ttl (0 when absent), or -EINVAL with a message. */
typedef struct http_arg {
        const char *key;
        const char *value;      /* NULL for "?key" without '=' */
        size_t value_len;
} http_arg;

int http_token_args(const http_arg *args, size_t n, const char **ret_aud, int64_t *ret_ttl,
                    char *msg, size_t msg_len);

#endif
