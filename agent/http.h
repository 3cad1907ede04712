/* SPDX-License-Identifier: MIT */
/* The agent's HTTP/1.1 API on its Unix socket (DESIGN.md "Agent API"),
 * served by libmicrohttpd's own threads with epoll. */
#ifndef SVCID_AGENT_HTTP_H
#define SVCID_AGENT_HTTP_H

#include <pthread.h>

#include "config.h"
#include "cache.h"
#include "keys.h"

/* Caps that keep idle, slow or hostile clients from hurting others. */
#define HTTP_CONNECTION_LIMIT   4000u           /* open connections in all (fds permitting) */
#define HTTP_CONNECTION_MIN     16u             /* ... however few fds there are */
#define HTTP_FDS_PER_CONNECTION 2u              /* its socket and its caller's pidfd */
#define HTTP_FD_RESERVE         64u             /* fds for all else: keys, logs, threads */
/* The fd limit the agent raises itself to, if it can. */
#define HTTP_FD_WANTED          (HTTP_FDS_PER_CONNECTION * HTTP_CONNECTION_LIMIT + HTTP_FD_RESERVE)
#define HTTP_PER_UID_LIMIT      256u            /* ... of which one uid may hold */
#define HTTP_IDLE_TIMEOUT       10u             /* seconds without a byte */
#define HTTP_HEAD_TIMEOUT       10u             /* seconds a request head may take to come whole */
#define HTTP_MEMORY_LIMIT       (16u * 1024u)   /* request head and answer, per connection */
#define HTTP_HEAD_MAX           (8u * 1024u)    /* a longer head is refused before anything is minted */
#define HTTP_HEAD_FIELDS_MAX    64u             /* ... and one of more header lines and cookies */
#define HTTP_QUERY_FIELDS_MAX   64u             /* ... and a request target of more query fields */
#define HTTP_DRAIN_MS           1000u           /* on stop, for accepted connections */
#define HTTP_TRIM_AFTER         64u             /* memory goes back once this many connections have gone */

/* A reload or a forced rotation done: when the agent took the signal that
 * asked for it (now_monotonic_ns(); 0 before the first), and why that one
 * failed ("" if it did not). */
typedef struct agent_event {
        int64_t began;
        char failure[600];
} agent_event;

/* What the HTTP threads read and the main thread replaces, under lock. */
typedef struct agent_shared {
        pthread_rwlock_t lock;
        agent_config *config;
        char *issuer;           /* the config's, which the next key update
                                 * publishes; tokens carry keystore_issuer() */
        keystore *keys;
        token_cache *cache;     /* its own lock; emptied under the write lock */
        char key_update_failure[600];   /* why the last key update failed
                                         * or what it left unfinished, ""
                                         * once one is done (main thread
                                         * writes, under the lock) */
        agent_event reload, rotation;   /* the last of each done, for
                                         * svcid-agent --reload and --rotate
                                         * (likewise) */
} agent_shared;

typedef struct http_server http_server;

/* Serves on listen_fd (a listening AF_UNIX stream socket, not taken over:
 * the caller closes it after http_stop()). */
int http_start(int listen_fd, agent_shared *shared, unsigned threads, http_server **ret_server);

/* Stops accepting, leaving callers still queued on the socket to the
 * next agent (under systemd the socket outlives this one), and gives the
 * connections already accepted up to HTTP_DRAIN_MS to be answered and
 * closed. An idle keep-alive connection holds it that long. */
void http_drain(http_server *server);

/* Stops accepting, closes every connection, joins the threads. */
void http_stop(http_server *server);      /* NULL is fine */

#endif
