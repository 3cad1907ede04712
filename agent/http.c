/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/user.h"
#include "http.h"
#include "log.h"
#include "mint.h"
#include "peer.h"
#include "request.h"
#include "util.h"
#include "../common/json.h"

typedef struct uid_count {
        uid_t uid;
        unsigned n;
} uid_count;

/* A connection libmicrohttpd holds: its caller, and since when its next
 * request head has been awaited. */
typedef struct http_conn {
        peer peer;              /* first: the socket context is both */
        int fd;
        int64_t head_since;     /* CLOCK_MONOTONIC ms; 0 while a request is served (atomic) */
        bool cut;               /* shut down by sweep() */
        struct http_conn *prev, *next;  /* http_server.conns, under its conn_lock */
} http_conn;

struct http_server {
        struct MHD_Daemon *daemon;
        agent_shared *shared;
        unsigned connection_limit, per_uid_limit;
        /* open connections per uid: one local user must not be able to
         * take every connection slot (slowly sending, or just idling) */
        pthread_mutex_t uid_lock;
        uid_count *uids;        /* connection_limit entries */
        size_t n_uids;
        unsigned open;          /* connections libmicrohttpd holds (atomic) */
        int64_t full_warned;    /* CLOCK_MONOTONIC second of the last warning, +1 (atomic) */
        /* every connection, for sweep(), which a condition stops */
        pthread_mutex_t conn_lock;
        pthread_cond_t sweep_wake;
        http_conn *conns;
        bool stopping, sweeping;
        pthread_t sweeper;
};

#define FULL_WARNING_SECONDS 60

/* At the connection cap libmicrohttpd stops accepting, and a caller waits
 * in the socket's backlog without a word: say so, once a minute at most. */
static void note_open(http_server *s) {
        unsigned n = __atomic_add_fetch(&s->open, 1, __ATOMIC_RELAXED);
        struct timespec now;
        int64_t last;

        if (n < s->connection_limit)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        last = __atomic_load_n(&s->full_warned, __ATOMIC_RELAXED);
        if (last && now.tv_sec + 1 - last < FULL_WARNING_SECONDS)
                return;
        if (!__atomic_compare_exchange_n(&s->full_warned, &last, (int64_t) now.tv_sec + 1, false,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return;         /* another thread warns */
        log_warning("all %u connections in use: new callers wait until one closes (one idle, or slow to "
                    "send its request, within %u s)", s->connection_limit, HTTP_HEAD_TIMEOUT);
}

/* What a connection gets when its uid already holds its share, or (the
 * second) when the uids without a user name hold theirs. */
#define TOO_MANY_HEAD(length)                                                                   \
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n" \
        "Cache-Control: no-store\r\nContent-Length: " #length "\r\n\r\n"
#define TOO_MANY_BODY(message) "{\"error\":\"too_many_requests\",\"message\":\"" message "\"}"
#define TOO_MANY_USER "this user has too many connections to the agent open"
#define TOO_MANY_NAMELESS "the uids without a user name have too many connections to the agent open"
static const char too_many[] = TOO_MANY_HEAD(94) TOO_MANY_BODY(TOO_MANY_USER);
static const char too_many_nameless[] = TOO_MANY_HEAD(114) TOO_MANY_BODY(TOO_MANY_NAMELESS);
_Static_assert(sizeof TOO_MANY_BODY(TOO_MANY_USER) - 1 == 94 &&
               sizeof TOO_MANY_BODY(TOO_MANY_NAMELESS) - 1 == 114, "a 429's Content-Length");

static bool uid_acquire(http_server *s, uid_t uid) {
        bool ok = true;
        size_t i;

        pthread_mutex_lock(&s->uid_lock);
        for (i = 0; i < s->n_uids && s->uids[i].uid != uid; i++)
                ;
        if (i == s->n_uids) {
                if (s->n_uids >= s->connection_limit)
                        ok = false;
                else
                        s->uids[s->n_uids++] = (uid_count) { .uid = uid };
        }
        if (ok && s->uids[i].n >= s->per_uid_limit)
                ok = false;
        if (ok)
                s->uids[i].n++;
        pthread_mutex_unlock(&s->uid_lock);
        return ok;
}

static void uid_release(http_server *s, uid_t uid) {
        pthread_mutex_lock(&s->uid_lock);
        for (size_t i = 0; i < s->n_uids; i++)
                if (s->uids[i].uid == uid) {
                        if (--s->uids[i].n == 0)
                                s->uids[i] = s->uids[--s->n_uids];
                        break;
                }
        pthread_mutex_unlock(&s->uid_lock);
}

/* One request's query arguments, collected from libmicrohttpd. */
typedef struct arg_list {
        http_arg args[REQUEST_ARGS_MAX];
        size_t n;
        bool overflow;
} arg_list;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size) {
        arg_list *l = cls;

        (void) kind;
        if (l->n >= REQUEST_ARGS_MAX) {
                l->overflow = true;
                return MHD_NO;
        }
        l->args[l->n++] = (http_arg) { .key = key, .key_len = key_size, .value = value, .value_len = value_size };
        return MHD_YES;
}

#define NOT_FOUND "no such endpoint (try /v1/token, /v1/jwks, /v1/health)"

static bool is_endpoint(const char *url) {
        return strcmp(url, "/v1/token") == 0 || strcmp(url, "/v1/jwks") == 0 || strcmp(url, "/v1/health") == 0;
}

/* What a caller hears while the agent is not up (see main.c). */
static const char *not_up(void) {
        return log_to_journal() ? "the agent is not up: it could not start (journalctl -u svcid-agent says why); "
                                  "it tries again on its own and on a reload"
                                : "the agent is not up: it could not start (its log says why); "
                                  "it tries again on its own and on a reload";
}
/* ... and while the key files it must write first cannot be written. */
#define KEYS_UNWRITTEN "the agent cannot finish writing its key files; see its log"

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, const char *type,
                             struct MHD_Response *resp, bool close) {
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        /* tokens and keys are not for caches */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (close)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len, bool close) {
        return queue(conn, status, type,
                     MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY), close);
}

static void wipe_free(void *secret) {
        svcid_free_secret(secret);
}

/* Answers 200 with a body that holds a token, handing the buffer itself
 * to libmicrohttpd (no copy), which wipes and frees it once sent. */
static enum MHD_Result respond_secret(struct MHD_Connection *conn, char *body) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer_with_free_callback_cls(strlen(body), body, wipe_free, body);

        if (!resp) {
                svcid_free_secret(body);
                return MHD_NO;
        }
        return queue(conn, MHD_HTTP_OK, "application/json", resp, false);
}

/* The 200 body for a token, into res->body. Made once per minted token:
 * a token handed out again from the cache comes with its body. */
static int token_body(mint_result *res) {
        json_t *body = json_pack("{s:s, s:I, s:s}", "token", res->token, "expires_at", (json_int_t) res->exp,
                                 "sub", res->sub);

        if (!body)
                return -ENOMEM;
        res->body = json_dumps_whole(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(body);
        return res->body ? 0 : -ENOMEM;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, json_t *body, bool close) {
        _cleanup_(free_p) char *text = json_dumps_whole(body, JSON_COMPACT | JSON_PRESERVE_ORDER);

        json_decref(body);
        if (!text)
                return MHD_NO;
        return respond(conn, status, "application/json", text, strlen(text), close);
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *word,
                                     const char *message) {
        /* A request we could not make sense of ends its connection: what
         * follows it on the wire cannot be trusted to be a request. */
        bool close = status == MHD_HTTP_BAD_REQUEST || status == MHD_HTTP_CONTENT_TOO_LARGE ||
                     status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE ||
                     status == MHD_HTTP_EXPECTATION_FAILED;

        return respond_json(conn, status, json_pack("{s:s, s:s}", "error", word, "message", message), close);
}

/* 405, closing the connection as respond_error() does for a request it
 * cannot serve, with the methods url allows: HEAD everywhere but on
 * /v1/token, where it would mint a token nobody receives. */
static enum MHD_Result respond_not_allowed(struct MHD_Connection *conn, const char *url) {
        bool token = strcmp(url, "/v1/token") == 0;
        json_t *body = json_pack("{s:s, s:s}", "error", "method_not_allowed", "message",
                                 token ? "only GET is supported here" : "only GET and HEAD are supported");
        _cleanup_(free_p) char *text = body ? json_dumps_whole(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        struct MHD_Response *resp;

        json_decref(body);
        if (!text)
                return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
        if (resp)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, token ? "GET" : "GET, HEAD");
        return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", resp, true);
}

static void log_caller_from(const peer *p, const char *unit, log_caller *ret) {
        *ret = (log_caller) { .uid = p->uid, .gid = p->gid, .pid = p->pid, .unit = unit };
}

static enum MHD_Result handle_token(http_server *s, struct MHD_Connection *conn, const peer *p) {
        _cleanup_(free_p) char *unit = NULL, *user = NULL;
        mint_result res = {};
        mint_refusal refusal = {};
        const char *aud = NULL;
        arg_list args = {};
        log_caller lc;
        int64_t ttl = 0, now;
        char msg[200], *body;
        int r;

        MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
        if (args.overflow) {
                snprintf(msg, sizeof msg, "too many query parameters");
                r = -EINVAL;
        } else
                r = request_token_args(args.args, args.n, &aud, &ttl, msg, sizeof msg);
        if (r < 0) {
                /* The audience asked for, if any, helps whoever reads the
                 * log (log_refusal() makes it printable). */
                for (size_t i = 0; i < args.n && !aud; i++)
                        if (strcmp(args.args[i].key, "aud") == 0 && args.args[i].value)
                                aud = args.args[i].value;
                log_caller_from(p, NULL, &lc);
                log_refusal(&lc, "bad_request", aud, msg);
                return respond_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", msg);
        }

        /* An agent in a user namespace of its own (a container,
         * PrivateUsers=) hears every caller whose ids have no mapping
         * there as the overflow uid and gid: many users under one name,
         * none of them nobody for sure. */
        if (id_unmapped(p->uid, false) || id_unmapped(p->gid, true)) {
                log_caller_from(p, NULL, &lc);
                log_refusal(&lc, "forbidden", aud,
                            "uid or gid with no mapping in the user namespace of the agent");
                return respond_error(conn, MHD_HTTP_FORBIDDEN, "forbidden",
                                     "your uid or gid has no mapping in the agent's user namespace: "
                                     "the agent cannot tell who you are");
        }

        r = peer_resolve(p, &unit, &user);
        if (r == -ESRCH) {
                log_caller_from(p, NULL, &lc);
                log_refusal(&lc, "peer_gone", aud,
                            "the connecting process has exited (or its pid runs as another uid or gid); "
                            "its pid is not trusted");
                return respond_error(conn, MHD_HTTP_FORBIDDEN, "peer_gone",
                                     "the process that connected has exited, or its pid no longer runs with the "
                                     "uid and gid it connected with; connect from the process that asks");
        }
        if (r == -E2BIG) {
                snprintf(msg, sizeof msg,
                         "none of the first %d threads of the process with the connecting pid has the uid and gid "
                         "it connected with (a kernel without SO_PEERPIDFD); its pid is not trusted",
                         PEER_THREADS_READ);
                log_caller_from(p, NULL, &lc);
                log_refusal(&lc, "peer_gone", aud, msg);
                snprintf(msg, sizeof msg,
                         "the agent cannot tell that the process with your pid is the one that connected: "
                         "connect from its main thread, or one of its first %d", PEER_THREADS_READ);
                return respond_error(conn, MHD_HTTP_FORBIDDEN, "peer_gone", msg);
        }
        log_caller_from(p, unit, &lc);
        if (r < 0) {
                char why[128];

                if (p->pidfd < 0)
                        snprintf(why, sizeof why, "cannot pin the caller's process with a pidfd: %s", strerror(-r));
                else
                        snprintf(why, sizeof why, "cannot check the ids, unit or user name of the caller: %s",
                                 strerror(-r));
                log_refusal(&lc, "internal", aud, why);
                return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "cannot resolve the caller");
        }

        now = now_realtime();
        pthread_rwlock_rdlock(&s->shared->lock);
        {
                const agent_config *cfg = s->shared->config;
                keystore *ks = s->shared->keys;         /* NULL (and cfg): not up */
                const svcid_key *key = ks ? keystore_active(ks, now) : NULL;
                int64_t key_cap = ks ? keystore_ttl_cap(ks, now) : 0;
                mint_caller mc = { .uid = p->uid, .gid = p->gid, .pid = p->pid, .user = user, .unit = unit };
                const char *issuer = ks ? keystore_issuer(ks) : NULL;
                cache_key ck = { .uid = p->uid, .gid = p->gid, .user = user, .unit = unit, .aud = aud, .ttl = ttl,
                                 .iss = issuer };
                int64_t window = cfg ? cfg->token_reuse : 0;
                bool reused = false;

                if (!ks)
                        r = -ENOTCONN;
                else if (!key || !issuer)
                        r = -ENOKEY;
                else if (key_cap <= 0)
                        r = -ESTALE;    /* see keystore_ttl_cap() */
                else if (token_cache_get(s->shared->cache, &ck, svcid_key_kid(key), now, window, &res)) {
                        r = 0;
                        reused = true;
                } else {
                        r = mint_token(cfg, issuer, key, key_cap, &mc, aud, ttl, now, &refusal, &res);
                        if (r == 0 && token_body(&res) < 0) {
                                mint_result_done(&res);
                                refusal = (mint_refusal) { .word = "internal", .message = "out of memory" };
                                r = -ENOMEM;
                        }
                        if (r == 0)
                                keystore_note_signed(ks, now);
                        if (r == 0 && window > 0)
                                token_cache_put(s->shared->cache, &ck, svcid_key_kid(key), now, &res);
                }
                if (r == 0)
                        log_mint(&lc, res.sub, aud, res.jti, svcid_key_kid(key), res.exp, strlen(res.token), reused);
        }
        pthread_rwlock_unlock(&s->shared->lock);

        if (r == -ENOTCONN) {
                log_refusal(&lc, "unavailable", aud, "the agent is not up");
                return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", not_up());
        }
        if (r == -ENOKEY) {
                log_refusal(&lc, "unavailable", aud, "no signing key");
                return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "no signing key yet");
        }
        if (r == -ESTALE) {
                log_refusal(&lc, "unavailable", aud, "the key state on disk does not keep the signing key "
                            "published, and the key update that would cannot be written");
                return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", KEYS_UNWRITTEN);
        }
        if (r < 0) {
                unsigned status = r == -EACCES ? MHD_HTTP_FORBIDDEN :
                                  r == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR;

                log_refusal(&lc, refusal.word, aud, refusal.message);
                return respond_error(conn, status, refusal.word, refusal.message);
        }
        body = TAKE_PTR(res.body);
        mint_result_done(&res);
        if (!body)              /* not reached: a cached token has its body */
                return MHD_NO;
        return respond_secret(conn, body);
}

static enum MHD_Result handle_jwks(http_server *s, struct MHD_Connection *conn) {
        enum MHD_Result ret;
        const char *jwks;
        size_t len;

        pthread_rwlock_rdlock(&s->shared->lock);
        jwks = s->shared->keys ? keystore_jwks(s->shared->keys, &len) : NULL;
        ret = jwks ? respond(conn, MHD_HTTP_OK, "application/jwk-set+json", jwks, len, false) : MHD_NO;
        pthread_rwlock_unlock(&s->shared->lock);
        if (!jwks)
                return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", not_up());
        return ret;
}

/* When the last reload or forced rotation began (CLOCK_MONOTONIC ns, 0:
 * none yet) and why it failed, if it did: svcid-agent --reload and
 * --rotate wait for one that began after an answer's now_monotonic_ns
 * they had before they asked. Under the lock. */
static json_t *event_json(const agent_event *e) {
        return json_pack("{s:I, s:s*}", "monotonic_ns", (json_int_t) e->began, "error",
                         e->failure[0] ? e->failure : NULL);
}

static enum MHD_Result handle_health(http_server *s, struct MHD_Connection *conn) {
        bool stale = false;
        json_t *body;

        pthread_rwlock_rdlock(&s->shared->lock);
        if (!s->shared->keys) {
                body = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o}", "status", "not_up", "version",
                                 SVCID_VERSION, "message", not_up(), "pid", (json_int_t) getpid(),
                                 "now_monotonic_ns", (json_int_t) now_monotonic_ns(),
                                 "last_reload", event_json(&s->shared->reload),
                                 "last_rotation", event_json(&s->shared->rotation));
                pthread_rwlock_unlock(&s->shared->lock);
                return body ? respond_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body, false) : MHD_NO;
        }
        {
                int64_t now = now_realtime();
                const svcid_key *key = keystore_active(s->shared->keys, now);

                /* As /v1/token would answer: see keystore_ttl_cap(). */
                stale = key && keystore_ttl_cap(s->shared->keys, now) <= 0;
                /* A failed key update says why, also while the old key
                 * signs on (status ok): a rotation is stuck. */
                const char *failure = s->shared->key_update_failure;

                body = json_pack("{s:s, s:s, s:s*, s:s?, s:I, s:s*, s:s*, s:I, s:I, s:o, s:o}",
                                 "status", stale ? "unavailable" : key ? "ok" : "no_key",
                                 "version", SVCID_VERSION, "kid", key ? svcid_key_kid(key) : NULL,
                                 "issuer", keystore_issuer(s->shared->keys),
                                 "keys", (json_int_t) keystore_count(s->shared->keys),
                                 "message", stale ? KEYS_UNWRITTEN : NULL,
                                 "warning", failure[0] ? failure : NULL,
                                 "pid", (json_int_t) getpid(), "now_monotonic_ns", (json_int_t) now_monotonic_ns(),
                                 "last_reload", event_json(&s->shared->reload),
                                 "last_rotation", event_json(&s->shared->rotation));
        }
        pthread_rwlock_unlock(&s->shared->lock);
        if (!body)
                return MHD_NO;
        return respond_json(conn, stale ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, body, false);
}

static peer *peer_of(struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return info ? info->socket_context : NULL;
}

/* Strict percent-decoding of the path and of each query name and value,
 * which libmicrohttpd hands over before the request reaches handle(): a
 * "%" must start two hex digits, "%00" would cut a name, a value or the
 * path short ("/v1/token%00x" is not "/v1/token"), and a "#" has no
 * place in a request target. Any of these marks the request, and
 * handle() refuses it whatever it asks for. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *text) {
        peer *p = peer_of(conn);

        (void) cls;
        for (const unsigned char *c = (const unsigned char *) text; *c; c++)
                if (*c == '#' || (*c == '%' && (!isxdigit(c[1]) || !isxdigit(c[2]) || (c[1] == '0' && c[2] == '0')))) {
                        if (p)
                                p->bad_target = true;
                        break;
                }
        return MHD_http_unescape(text);
}

/* libmicrohttpd 0.9.75 keeps each query field of a request in the
 * connection's 16 KiB, beside the head, and when they do not fit there it
 * neither answers nor closes: the client waits out the idle timeout (240
 * short fields in a 1.6 KiB request line did, 64 in a 12 KiB one, one in
 * 16 KiB). This callback sees the request target in libmicrohttpd's own
 * buffer just before the query is split, and cuts the query off there
 * when it has too many fields, marking the request for handle() to
 * refuse, or when the target is over 8 KiB, a head handle() refuses
 * anyway. The path before the '?' is left as it came. */
static void *target_seen(void *cls, const char *uri, struct MHD_Connection *conn) {
        char *query = strchr(uri, '?');
        peer *p = peer_of(conn);
        size_t fields = 1;
        bool many;

        (void) cls;
        if (!query)
                return NULL;
        for (const char *c = query + 1; *c && fields <= HTTP_QUERY_FIELDS_MAX; c++)
                fields += *c == '&';
        many = fields > HTTP_QUERY_FIELDS_MAX;
        if (many || strlen(uri) > HTTP_HEAD_MAX)
                query[1] = '\0';
        if (many && p)
                p->long_query = true;
        return NULL;    /* handle()'s *req_cls: NULL on its first call */
}

/* What the header lines of a request head say about its framing. */
typedef struct head_scan {
        unsigned fields;        /* header lines and cookies: libmicrohttpd keeps each in the
                                 * connection's 16 KiB, beside the head itself */
        unsigned host, length, encoding;
        bool bad_name;
} head_scan;

static bool is_tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                  const char *value, size_t value_size) {
        head_scan *h = cls;

        (void) value;
        (void) value_size;
        h->fields++;
        if (kind != MHD_HEADER_KIND)
                return MHD_YES;
        /* "Content-Length : 5" is no Content-Length to libmicrohttpd, but
         * is one to a peer that trims the space */
        if (key_size == 0 || strlen(key) != key_size)
                h->bad_name = true;
        for (size_t i = 0; i < key_size; i++)
                if (!is_tchar(key[i]))
                        h->bad_name = true;
        h->host += strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0;
        h->length += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
        h->encoding += strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0;
        return MHD_YES;
}

/* The path of a request target. RFC 9112 asks a server to take the
 * absolute form too ("http://localhost/v1/token"), which a client set up
 * to use a proxy sends; its authority names no one here. NULL for one
 * with no authority, which RFC 3986 makes no http URI. */
static const char *target_path(const char *url) {
        const char *slash;

        if (strncasecmp(url, "http://", 7) != 0)
                return url;
        slash = strchr(url + 7, '/');
        if (slash == url + 7)
                return NULL;
        return slash ? slash : "/";
}

/* Whether p's uid and gid are known: it has all its credentials, or all
 * but a pid. */
static bool ids_known(const peer *p) {
        return p && (!p->cred_error || p->cred_error == -ENODATA);
}

/* A request for a token that the agent refuses for its head is a
 * refusal for the audit log, as those handle_token() refuses are; the
 * other endpoints mint nothing. Its unit is not looked up for a request
 * refused unread. */
static void log_head_refusal(struct MHD_Connection *conn, const peer *p, const char *url, const char *word,
                             const char *message) {
        log_caller lc;

        if (!ids_known(p) || strcmp(url, "/v1/token") != 0)
                return;
        log_caller_from(p, NULL, &lc);
        log_refusal(&lc, word, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "aud"), message);
}

static enum MHD_Result refuse_head(struct MHD_Connection *conn, const peer *p, const char *url, unsigned status,
                                   const char *word, const char *message) {
        log_head_refusal(conn, p, url, word, message);
        return respond_error(conn, status, word, message);
}

static enum MHD_Result refuse_method(struct MHD_Connection *conn, const peer *p, const char *url) {
        /* logged only for /v1/token, whose 405 says this */
        log_head_refusal(conn, p, url, "method_not_allowed", "only GET is supported here");
        return respond_not_allowed(conn, url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
        http_server *s = cls;
        const union MHD_ConnectionInfo *info;
        const char *cl, *te, *cookie;
        size_t cookie_size;
        head_scan head = {};
        peer *p = peer_of(conn);

        (void) version;
        (void) upload_data;
        if (!target_path(url))  /* its path still says what was asked, for the log */
                return refuse_head(conn, p, url + 7, MHD_HTTP_BAD_REQUEST, "bad_request",
                                   "the request target is an http URI with no host");
        url = target_path(url);
        if (!*req_cls) {
                /* First call, the head only. What we refuse outright is
                 * answered now; libmicrohttpd then closes the connection
                 * rather than read a body we do not take. The rest is
                 * answered on the next call, once the request is complete,
                 * so that the connection can be kept alive. */
                *req_cls = s;
                if (p)          /* the head came whole: no deadline while it is served */
                        __atomic_store_n(&((http_conn *) p)->head_since, 0, __ATOMIC_RELAXED);
                if (p && (p->bad_target || p->long_query)) {
                        const char *why = p->bad_target ? "the request target has a bad %-escape, %00 or #"
                                                        : "too many query parameters";

                        p->bad_target = p->long_query = false;
                        return refuse_head(conn, p, url, MHD_HTTP_BAD_REQUEST, "bad_request", why);
                }
                /* Where a request ends must not depend on who reads it:
                 * libmicrohttpd takes the first of two Content-Length
                 * lines and none with a space before its ':', and would
                 * read what a peer takes for a body as the next request.
                 * RFC 9112 wants a 400 for these, and for two Hosts. */
                MHD_get_connection_values_n(conn, MHD_HEADER_KIND | MHD_COOKIE_KIND, scan_field, &head);
                if (head.bad_name)
                        return refuse_head(conn, p, url, MHD_HTTP_BAD_REQUEST, "bad_request",
                                           "a header name is empty or has a space, a control byte or a separator");
                if (head.host > 1 || head.length > 1 || head.encoding > 1)
                        return refuse_head(conn, p, url, MHD_HTTP_BAD_REQUEST, "bad_request",
                                           "Host, Content-Length or Transfer-Encoding given twice");
                if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
                        /* 405 and its Allow are for a resource that exists */
                        if (!is_endpoint(url))
                                return respond_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NOT_FOUND);
                        return refuse_method(conn, p, url);
                }
                /* A head near libmicrohttpd's 16 KiB leaves no room for
                 * the answer: refused here, before a token is minted and
                 * logged that the caller would never get. Each header
                 * line and cookie takes room of its own there too: a
                 * 2 KiB head of some 220 short lines left none. */
                info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
                if (info && info->header_size > HTTP_HEAD_MAX)
                        return refuse_head(conn, p, url, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large",
                                           "the request head is over 8 KiB");
                /* libmicrohttpd copies the Cookie line into that 16 KiB
                 * to split it: a head under 8 KiB of which some 7 KiB
                 * were cookies left no room for the answer, and a token
                 * was minted that the caller never got. */
                if (info && MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE,
                                                          strlen(MHD_HTTP_HEADER_COOKIE), &cookie,
                                                          &cookie_size) == MHD_YES &&
                    info->header_size + cookie_size > HTTP_HEAD_MAX)
                        return refuse_head(conn, p, url, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large",
                                           "the request head is over 8 KiB, its cookies counted twice");
                if (head.fields > HTTP_HEAD_FIELDS_MAX)
                        return refuse_head(conn, p, url, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large",
                                           "the request head has over 64 header lines and cookies");
                /* A request has no body, so nothing to continue to: with
                 * "Expect: 100-continue", libmicrohttpd would answer 100
                 * and, on some input, nothing more. */
                if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT))
                        return refuse_head(conn, p, url, MHD_HTTP_EXPECTATION_FAILED, "bad_request",
                                           "requests carry no body: no Expect");
                cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
                if (te || (cl && strcmp(cl, "0") != 0))
                        return refuse_head(conn, p, url, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                                           "requests carry no body");
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                *upload_data_size = 0;  /* not reached: bodies are refused above */
                return MHD_YES;
        }

        if (strcmp(url, "/v1/token") == 0) {
                /* HEAD would mint a token nobody receives */
                if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
                        return refuse_method(conn, p, url);
                if (!ids_known(p)) {
                        if (p)
                                log_error("the credentials of a connection cannot be read, refusing it: %s",
                                          strerror(-p->cred_error));
                        else
                                log_error("a connection's credentials could not be kept, refusing it");
                        return respond_error(conn, MHD_HTTP_FORBIDDEN, "peer_gone", "caller unknown");
                }
                if (!p->counted)        /* past its uid's share: never served */
                        return respond_error(conn, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_requests",
                                             "this user has too many connections to the agent open");
                if (p->cred_error) {
                        /* ENODATA: a caller whose pid namespace is not
                         * within the agent's; the kernel has no pid of
                         * it to give, so there is no process to name */
                        log_caller lc;

                        log_caller_from(p, NULL, &lc);
                        log_refusal(&lc, "peer_gone", MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "aud"),
                                    "the caller has no pid in the pid namespace of the agent");
                        return respond_error(conn, MHD_HTTP_FORBIDDEN, "peer_gone",
                                             "your process has no pid in the agent's pid namespace, so the agent "
                                             "cannot tell which process you are: ask an agent whose pid namespace "
                                             "holds yours");
                }
                return handle_token(s, conn, p);
        }
        if (strcmp(url, "/v1/jwks") == 0)
                return handle_jwks(s, conn);
        if (strcmp(url, "/v1/health") == 0)
                return handle_health(s, conn);
        return respond_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NOT_FOUND);
}

/* Credentials are taken when the connection is accepted, once: the
 * kernel recorded them at connect() and nothing the client sends later
 * changes them. */
static void notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe) {
        http_server *s = cls;
        const union MHD_ConnectionInfo *info;
        http_conn *c;
        peer *p;
        int r;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                note_open(s);
                info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                c = malloc(sizeof *c);
                if (!c || !info) {
                        free(c);
                        *socket_context = NULL;     /* requests on it are refused */
                        return;
                }
                /* Listed before anything is read from it, and unlisted
                 * below before libmicrohttpd closes its fd. */
                p = &c->peer;
                c->fd = info->connect_fd;
                c->head_since = now_monotonic_ms();
                c->cut = false;
                pthread_mutex_lock(&s->conn_lock);
                c->prev = NULL;
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                pthread_mutex_unlock(&s->conn_lock);
                r = peer_from_socket(info->connect_fd, p);
                if (r < 0 && r != -ENODATA) {
                        /* Its token requests are refused, saying why. */
                        *p = (peer) { .pidfd = -1, .cred_error = r };
                        *socket_context = p;
                        return;
                }
                /* With no pid its token requests are refused too, but
                 * its uid is known: its connections count in its share,
                 * or one user in a pid namespace could take every slot */
                p->cred_error = r;
                p->share = peer_share(p->uid);
                p->counted = uid_acquire(s, p->share);
                if (!p->counted) {
                        log_caller lc = { .uid = p->uid, .gid = p->gid, .pid = p->pid };
                        ssize_t n;

                        log_refusal(&lc, "too_many_requests", NULL,
                                    p->share == PEER_SHARE_NAMELESS
                                    ? "connection refused: the uids without a user name hold their share"
                                    : "connection refused: this uid holds its share");
                        /* Answer and end it here, before libmicrohttpd
                         * reads a byte: the socket is fresh, the answer
                         * fits its buffer, and the shut-down reading side
                         * makes libmicrohttpd close the connection. */
                        n = p->share == PEER_SHARE_NAMELESS
                            ? write(info->connect_fd, too_many_nameless, sizeof too_many_nameless - 1)
                            : write(info->connect_fd, too_many, sizeof too_many - 1);
                        (void) n;
                        (void) shutdown(info->connect_fd, SHUT_RDWR);
                }
                *socket_context = p;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                __atomic_sub_fetch(&s->open, 1, __ATOMIC_RELAXED);
                c = *socket_context;
                if (c) {
                        pthread_mutex_lock(&s->conn_lock);
                        if (c->prev)
                                c->prev->next = c->next;
                        else
                                s->conns = c->next;
                        if (c->next)
                                c->next->prev = c->prev;
                        pthread_mutex_unlock(&s->conn_lock);
                        if (c->peer.counted)
                                uid_release(s, c->peer.share);
                        peer_done(&c->peer);
                        free(c);
                }
                *socket_context = NULL;
        }
}

/* A request answered, or given up: the connection awaits its next head. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
        http_conn *c = (http_conn *) peer_of(conn);

        (void) cls;
        (void) req_cls;
        (void) toe;
        if (c)
                __atomic_store_n(&c->head_since, now_monotonic_ms(), __ATOMIC_RELAXED);
}

/* libmicrohttpd's timeout counts only silence: a client that sends a
 * byte now and then would keep its connection for ever, and enough such
 * clients (from as many uids as it takes to fill their shares) every
 * connection. So once a second this shuts down each connection whose
 * request head has not come whole within HTTP_HEAD_TIMEOUT; libmicrohttpd
 * then closes it. The fd is still the connection's: notify() unlists a
 * connection, under the same lock, before libmicrohttpd closes its fd. */
static void *sweep(void *arg) {
        http_server *s = arg;
        int64_t warned = 0;
        unsigned cut = 0, peak = 0;

        pthread_mutex_lock(&s->conn_lock);
        while (!s->stopping) {
                int64_t now = now_monotonic_ms();
                unsigned open = __atomic_load_n(&s->open, __ATOMIC_RELAXED);
                struct timespec until;

                /* After a crowd of connections has gone, their memory goes
                 * back to the system: malloc() keeps what is freed, and
                 * each crowd would leave the agent larger. */
                if (open > peak)
                        peak = open;
                if (peak >= HTTP_TRIM_AFTER && open <= peak / 4) {
                        peak = open;
                        pthread_mutex_unlock(&s->conn_lock);    /* connections come and go meanwhile */
                        (void) malloc_trim(0);
                        pthread_mutex_lock(&s->conn_lock);
                        continue;
                }

                for (http_conn *c = s->conns; c; c = c->next) {
                        int64_t since = __atomic_load_n(&c->head_since, __ATOMIC_RELAXED);

                        if (since && !c->cut && now - since >= (int64_t) HTTP_HEAD_TIMEOUT * 1000) {
                                (void) shutdown(c->fd, SHUT_RDWR);
                                c->cut = true;
                                cut++;
                        }
                }
                if (cut && (!warned || now - warned >= (int64_t) FULL_WARNING_SECONDS * 1000)) {
                        unsigned n = cut;

                        cut = 0;
                        warned = now;
                        pthread_mutex_unlock(&s->conn_lock);
                        log_warning("closed %u connection%s whose request head did not come whole within %u s",
                                    n, n == 1 ? "" : "s", HTTP_HEAD_TIMEOUT);
                        pthread_mutex_lock(&s->conn_lock);
                        continue;
                }
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += 1;
                (void) pthread_cond_timedwait(&s->sweep_wake, &s->conn_lock, &until);
        }
        pthread_mutex_unlock(&s->conn_lock);
        return NULL;
}

int http_start(int listen_fd, agent_shared *shared, unsigned threads, http_server **ret_server) {
        _cleanup_(free_p) http_server *s = calloc(1, sizeof *s);
        /* Turbo: read, write and accept optimistically before asking
         * epoll, and skip shutdown() before close(). Requests and answers
         * here are small and on a local socket; the abuse tests show bad
         * requests still get their 4xx before the close. */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                         MHD_USE_ITC;   /* MHD_quiesce_daemon() needs it */

        struct rlimit rl;

        if (!s)
                return -ENOMEM;
        s->shared = shared;
        /* As many connections as fds allow, two fds each, less some for
         * keys and logs: a connection accepted with no fd left for its
         * pidfd could not be served, and past the limit libmicrohttpd
         * stops accepting, so a cap the fds cannot back lets a few uids
         * starve everyone. */
        s->connection_limit = HTTP_CONNECTION_LIMIT;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < (rlim_t) HTTP_FD_WANTED)
                s->connection_limit =
                        rl.rlim_cur >= HTTP_FD_RESERVE + HTTP_FDS_PER_CONNECTION * HTTP_CONNECTION_MIN ?
                        (unsigned) ((rl.rlim_cur - HTTP_FD_RESERVE) / HTTP_FDS_PER_CONNECTION) :
                        HTTP_CONNECTION_MIN;
        s->per_uid_limit = HTTP_PER_UID_LIMIT < s->connection_limit / 2 ? HTTP_PER_UID_LIMIT : s->connection_limit / 2;
        s->uids = calloc(s->connection_limit, sizeof *s->uids);
        if (!s->uids)
                return -ENOMEM;
        pthread_mutex_init(&s->uid_lock, NULL);
        pthread_mutex_init(&s->conn_lock, NULL);
        {
                pthread_condattr_t attr;

                pthread_condattr_init(&attr);
                pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_init(&s->sweep_wake, &attr);
                pthread_condattr_destroy(&attr);
        }
        s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
                                     MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                     MHD_OPTION_THREAD_POOL_SIZE, threads,
                                     MHD_OPTION_CONNECTION_LIMIT, s->connection_limit,
                                     MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_MEMORY_LIMIT,
                                     MHD_OPTION_NOTIFY_CONNECTION, notify, s,
                                     MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
                                     MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                                     MHD_OPTION_URI_LOG_CALLBACK, target_seen, NULL,
                                     MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
                                     /* stricter parsing: Host required (0.9.75 still takes bare LF) */
                                     MHD_OPTION_STRICT_FOR_CLIENT, 1,
                                     MHD_OPTION_END);
        if (!s->daemon) {
                free(s->uids);
                return -EIO;
        }
        s->sweeping = pthread_create(&s->sweeper, NULL, sweep, s) == 0;
        if (!s->sweeping) {
                MHD_stop_daemon(s->daemon);
                pthread_cond_destroy(&s->sweep_wake);
                pthread_mutex_destroy(&s->conn_lock);
                pthread_mutex_destroy(&s->uid_lock);
                free(s->uids);
                return -EAGAIN;
        }
        *ret_server = TAKE_PTR(s);
        return 0;
}

void http_drain(http_server *s) {
        const union MHD_DaemonInfo *info;

        if (!s || MHD_quiesce_daemon(s->daemon) == MHD_INVALID_SOCKET)
                return;
        for (unsigned waited = 0; waited < HTTP_DRAIN_MS; waited += 10) {
                info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
                if (!info || info->num_connections == 0)
                        return;
                (void) poll(NULL, 0, 10);
        }
}

void http_stop(http_server *s) {
        if (!s)
                return;
        pthread_mutex_lock(&s->conn_lock);
        s->stopping = true;
        pthread_cond_signal(&s->sweep_wake);
        pthread_mutex_unlock(&s->conn_lock);
        if (s->sweeping)
                pthread_join(s->sweeper, NULL);
        MHD_stop_daemon(s->daemon);
        pthread_cond_destroy(&s->sweep_wake);
        pthread_mutex_destroy(&s->conn_lock);
        pthread_mutex_destroy(&s->uid_lock);
        free(s->uids);
        free(s);
}
