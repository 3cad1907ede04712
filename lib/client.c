/* SPDX-License-Identifier: MIT */
/* The agent client: HTTP/1.1 over the agent's Unix socket with libcurl.
 * Nothing here is on the verify path, and libcurl is loaded only when a
 * client call is first made: a program that links libsvcid to verify
 * would otherwise map libcurl and the TLS, LDAP and Kerberos libraries it
 * needs, and run their start-up code, for nothing. */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/json.h"
#include "../common/text.h"
#include "internal.h"

#define CLIENT_TIMEOUT_MS 30000L
#define TOKEN_BODY_MAX    (SVCID_TOKEN_MAX + 4096u)
#define ERROR_BODY_MAX    4096u
#define HEALTH_BODY_MAX   8192u
#define AUDIENCE_MAX      255u          /* as the agent takes (DESIGN.md) */
#define TTL_MAX           86400

/* "/v1/token?aud=AUD&ttl=TTL" at its longest: every audience byte may be
 * %-escaped into three, and the ttl has at most 20 digits. */
#define TOKEN_PATH_MAX    (sizeof "/v1/token?aud=" - 1 + 3 * AUDIENCE_MAX + sizeof "&ttl=" + 20)

/* The libcurl of Debian's libcurl4 and of Fedora's libcurl; the headers
 * give the types, the loaded library the functions. */
#define LIBCURL_SONAME "libcurl.so.4"

static struct {
        __typeof__(curl_easy_init) *easy_init;
        __typeof__(curl_easy_setopt) *easy_setopt;
        __typeof__(curl_easy_perform) *easy_perform;
        __typeof__(curl_easy_getinfo) *easy_getinfo;
        __typeof__(curl_easy_cleanup) *easy_cleanup;
        __typeof__(curl_easy_strerror) *easy_strerror;
        __typeof__(curl_easy_escape) *easy_escape;
        __typeof__(curl_free) *free;
        __typeof__(curl_slist_append) *slist_append;
        __typeof__(curl_slist_free_all) *slist_free_all;
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static char cu_missing[200];    /* why libcurl could not be used; "" once it can */

static void cu_load(void) {
        static const struct {
                const char *name;
                size_t offset;
        } syms[] = {
#define SYM(field, name) { name, offsetof(__typeof__(cu), field) }
                SYM(easy_init, "curl_easy_init"),
                SYM(easy_setopt, "curl_easy_setopt"),
                SYM(easy_perform, "curl_easy_perform"),
                SYM(easy_getinfo, "curl_easy_getinfo"),
                SYM(easy_cleanup, "curl_easy_cleanup"),
                SYM(easy_strerror, "curl_easy_strerror"),
                SYM(easy_escape, "curl_easy_escape"),
                SYM(free, "curl_free"),
                SYM(slist_append, "curl_slist_append"),
                SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
        };
        /* Kept loaded for good: libcurl cannot be unloaded safely. */
        void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

        if (!h) {
                snprintf(cu_missing, sizeof cu_missing, "%s", dlerror());
                return;
        }
        for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
                void *f = dlsym(h, syms[i].name);

                if (!f) {
                        snprintf(cu_missing, sizeof cu_missing, "%s has no %s", LIBCURL_SONAME, syms[i].name);
                        return;
                }
                /* POSIX: a function's address from dlsym() is stored so */
                memcpy((char *) &cu + syms[i].offset, &f, sizeof f);
        }
}

static int client_errf(char *err, size_t err_len, int error, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* libcurl, loaded once; a clear error if it cannot be. */
static int cu_ready(char *err, size_t err_len) {
        if (pthread_once(&cu_once, cu_load) != 0)
                return client_errf(err, err_len, -EIO, "cannot load %s", LIBCURL_SONAME);
        if (cu_missing[0])
                return client_errf(err, err_len, -ENOPKG, "cannot load libcurl, needed to talk to the agent: %s",
                                   cu_missing);
        return 0;
}

const char *svcid_agent_socket(void) {
        /* secure_getenv: a setuid program must not be pointed elsewhere */
        const char *e = secure_getenv("SVCID_AGENT_SOCKET");

        return e && *e ? e : SVCID_AGENT_SOCKET_DEFAULT;
}

typedef struct body {
        char *data;
        size_t len, max;
        bool overflow;
} body;

static void body_wipe(body *b) {
        if (b->data) {
                OPENSSL_cleanse(b->data, b->len);
                free(b->data);
        }
        *b = (body) {};
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
        body *b = userdata;
        size_t n = size * nmemb;
        char *grown;

        if (n > b->max - b->len) {
                b->overflow = true;
                return 0;       /* makes curl stop with CURLE_WRITE_ERROR */
        }
        grown = malloc(b->len + n + 1);
        if (!grown)
                return 0;
        if (b->data) {
                memcpy(grown, b->data, b->len);
                OPENSSL_cleanse(b->data, b->len);       /* may hold a token */
                free(b->data);
        }
        memcpy(grown + b->len, ptr, n);
        b->len += n;
        grown[b->len] = '\0';
        b->data = grown;
        return n;
}

static int client_errf(char *err, size_t err_len, int error, const char *fmt, ...) {
        va_list ap;

        if (err && err_len) {
                va_start(ap, fmt);
                vsnprintf(err, err_len, fmt, ap);
                va_end(ap);
                /* the agent's words are printed by callers: keep them tame */
                lib_sanitize(err, err_len, err, strlen(err));
        }
        return error;
}

/* Whether the agent's queue of connections is full, so that a connection
 * cannot be made for now: libcurl's non-blocking connect(2) then fails
 * with no errno, as when the agent takes the connection and closes it. A
 * connection made here to find out is closed unused. */
static bool queue_full(const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_path) >= (int) sizeof sa.sun_path)
                return false;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return false;
        r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
        r = r < 0 ? errno : 0;
        close(fd);
        return r == EAGAIN;
}

/* GETs path from the agent; on any HTTP answer returns 0 with the status
 * and the body (NUL-terminated, at most max bytes). */
static int agent_get(const char *socket_path, const char *path, size_t max, long *ret_status,
                     body *ret_body, char *err, size_t err_len) {
        struct curl_slist *headers = NULL;
        CURL *curl;
        CURLcode rc;
        body b = { .max = max };
        char url[1024];
        long status = 0, os_errno = 0;
        int64_t deadline;
        CURLcode set;
        char curl_why[CURL_ERROR_SIZE] = "";
        int r;

        if (!socket_path)
                socket_path = svcid_agent_socket();
        /* "" would reach connect(2) as the abstract socket of no name
         * (sun_path[0] is NUL), which any local user may bind. */
        if (!*socket_path)
                return client_errf(err, err_len, -EINVAL, "the agent socket path is empty");
        /* libcurl would try it as a host name and say it cannot resolve. */
        if (strlen(socket_path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return client_errf(err, err_len, -ENAMETOOLONG, "the agent socket path is %zu bytes, the limit is %zu",
                                   strlen(socket_path), sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1);
        if ((size_t) snprintf(url, sizeof url, "http://localhost%s", path) >= sizeof url)
                return client_errf(err, err_len, -EINVAL, "request too long");
        r = cu_ready(err, err_len);
        if (r < 0)
                return r;
        curl = cu.easy_init();
        if (!curl)
                return client_errf(err, err_len, -ENOMEM, "cannot initialize libcurl");
        /* What makes the request go to the agent, and only there, in its
         * time: without any of these it is not made. */
        if ((set = cu.easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path)) != CURLE_OK ||
            (set = cu.easy_setopt(curl, CURLOPT_URL, url)) != CURLE_OK ||
            (set = cu.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
            (set = cu.easy_setopt(curl, CURLOPT_TIMEOUT_MS, CLIENT_TIMEOUT_MS)) != CURLE_OK ||
            (set = cu.easy_setopt(curl, CURLOPT_NOPROXY, "*")) != CURLE_OK) {
                cu.easy_cleanup(curl);
                if (set == CURLE_OUT_OF_MEMORY)
                        return client_errf(err, err_len, -ENOMEM, "out of memory");
                return client_errf(err, err_len, -ENOPKG, "%s cannot make a request on a Unix socket",
                                   LIBCURL_SONAME);
        }
        cu.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
        cu.easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        cu.easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        /* libcurl's own words for what failed, where it has more than
         * its error code's */
        cu.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_why);
        /* One request per handle: saying so lets the agent close the
         * connection with its answer (svcid-agent(8)). Without the header
         * the request still works, only less cheaply. */
        headers = cu.slist_append(NULL, "Connection: close");
        if (headers)
                cu.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        /* An agent whose queue is full is waited for, within the same
         * time as an answer. Once the queue was seen full, a connection
         * refused with no errno is taken for it again (the check itself
         * may have had the room): no request went out, so it is made
         * again, until the time is up. */
        deadline = now_monotonic_ms() + CLIENT_TIMEOUT_MS;
        for (bool was_full = false;;) {
                int64_t left = deadline - now_monotonic_ms();

                cu.easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) (left > 1 ? left : 1));
                rc = cu.easy_perform(curl);
                cu.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
                cu.easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
                if (rc != CURLE_COULDNT_CONNECT || os_errno > 0)
                        break;
                if (!was_full && !queue_full(socket_path))
                        break;
                was_full = true;
                if (now_monotonic_ms() >= deadline) {
                        cu.easy_cleanup(curl);
                        cu.slist_free_all(headers);
                        return client_errf(err, err_len, -EBUSY, "the agent at %s took no connection in %ld s: "
                                           "its queue of connections stayed full (is it stuck?)", socket_path,
                                           CLIENT_TIMEOUT_MS / 1000);
                }
                poll(NULL, 0, 20);
        }
        cu.easy_cleanup(curl);
        cu.slist_free_all(headers);

        /* libcurl's word, with no errno, for a connection the agent took
         * and closed before the request went out: it was reached. */
        if (rc == CURLE_COULDNT_CONNECT && os_errno <= 0)
                rc = CURLE_GOT_NOTHING;
        if (rc == CURLE_COULDNT_CONNECT) {
                int e = (int) os_errno;
                struct stat st;

                body_wipe(&b);
                /* connect(2) says "refused" of a file that is no socket */
                return client_errf(err, err_len, -e, "cannot reach the agent at %s: %s%s", socket_path,
                                   e == ECONNREFUSED && stat(socket_path, &st) == 0 && !S_ISSOCK(st.st_mode)
                                           ? "not a socket"
                                           : strerror(e),
                                   e == ENOENT && strcmp(socket_path, SVCID_AGENT_SOCKET_DEFAULT) == 0
                                           ? " (systemctl status svcid-agent.socket says whether it listens; "
                                             "$SVCID_AGENT_SOCKET names another socket)"
                                           : "");
        }
        if (rc != CURLE_OK) {
                bool overflow = b.overflow;
                body_wipe(&b);
                if (overflow)
                        return client_errf(err, err_len, -EPROTO, "the agent's answer is too large");
                /* What a caller sees when the agent dies before it answers,
                 * e.g. socket-activated with a config it refuses: no
                 * answer, a reset or a broken pipe. A send or receive
                 * that failed otherwise (EIO, ENOMEM...) is ours, said
                 * in libcurl's words with the errno below. */
                if (status == 0 &&
                    (rc == CURLE_GOT_NOTHING ||
                     ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) &&
                      (os_errno <= 0 || os_errno == ECONNRESET || os_errno == EPIPE))))
                        return client_errf(err, err_len, -EPROTO, "the agent at %s closed the connection without answering%s",
                                           socket_path, strcmp(socket_path, SVCID_AGENT_SOCKET_DEFAULT) == 0
                                                   ? " (did it fail to start? journalctl -u svcid-agent says why)"
                                                   : "");
                /* libcurl's code for a header line over its limit */
                if (rc == CURLE_OUT_OF_MEMORY)
                        return client_errf(err, err_len, -EPROTO, "the agent at %s sent an answer too large or "
                                           "malformed to read (libcurl: %s)", socket_path, cu.easy_strerror(rc));
                /* Something that speaks no HTTP listens there (libcurl
                 * calls it HTTP/0.9, or a weird reply). */
                if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY)
                        return client_errf(err, err_len, -EPROTO, "%s answered with something that is not HTTP: "
                                           "is it svcid-agent's socket? (libcurl: %s)", socket_path,
                                           curl_why[0] ? curl_why : cu.easy_strerror(rc));
                return client_errf(err, err_len, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EPROTO,
                                   "talking to the agent at %s: %s", socket_path,
                                   curl_why[0] ? curl_why : cu.easy_strerror(rc));
        }
        if (!b.data) {
                b.data = calloc(1, 1);
                if (!b.data)
                        return -ENOMEM;
        }
        *ret_status = status;
        *ret_body = b;
        return 0;
}

/* Turns a non-200 answer into -errno and the agent's message. */
static int agent_error(long status, const body *b, char *err, size_t err_len) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *word = NULL, *message = NULL;
        int error;

        switch (status) {
        case 400: error = -EINVAL; break;
        case 403: error = -EACCES; break;
        case 429: case 503: error = -EBUSY; break;
        default: error = -EPROTO;
        }
        if (b->len <= ERROR_BODY_MAX)
                j = json_load_guarded(b->data, b->len, NULL, NULL);
        word = json_string_value(json_object_get(j, "error"));
        message = json_string_value(json_object_get(j, "message"));
        if (word && message)
                return client_errf(err, err_len, error, "agent refused (%ld %.40s): %.200s", status, word, message);
        return client_errf(err, err_len, error, "agent answered HTTP %ld", status);
}

/* GET path from the agent, whose answer must be 200 (or also_ok, if not
 * 0) with at most max bytes: the body, and its JSON (NULL if it is none).
 * On failure the body is wiped and err says why. */
static int agent_get_json(const char *socket_path, const char *path, size_t max, long also_ok, body *ret_body,
                          json_t **ret_json, char *err, size_t err_len) {
        long status;
        bool oom;
        int r;

        r = agent_get(socket_path, path, max, &status, ret_body, err, err_len);
        if (r < 0)
                return r;
        if (status != 200 && (also_ok == 0 || status != also_ok)) {
                r = agent_error(status, ret_body, err, err_len);
                body_wipe(ret_body);
                return r;
        }
        *ret_json = json_load_guarded(ret_body->data, ret_body->len, NULL, &oom);
        if (oom) {
                body_wipe(ret_body);
                return client_errf(err, err_len, -ENOMEM, "out of memory reading the agent's answer");
        }
        return 0;
}

/* Three non-empty base64url segments, at most SVCID_TOKEN_MAX bytes: a
 * compact JWS, as far as the client can tell without the keys. */
static bool looks_like_jws(const char *t) {
        size_t len = strlen(t), dots = 0;

        if (len == 0 || len > SVCID_TOKEN_MAX ||
            strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != len ||
            t[0] == '.' || t[len - 1] == '.' || strstr(t, ".."))
                return false;
        for (const char *p = t; *p; p++)
                dots += *p == '.';
        return dots == 2;
}

int svcid_agent_token(const char *socket_path, const char *audience, int64_t ttl,
                      char *err, size_t err_len, char **ret_token, int64_t *ret_expires_at) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        char path[TOKEN_PATH_MAX], *esc, *copy;
        const char *token;
        json_t *exp;
        body b;
        int n, r;

        if (!ret_token)
                return client_errf(err, err_len, -EINVAL, "no place for the token");
        if (!name_ok(audience))
                return client_errf(err, err_len, -EINVAL,
                                   "the audience must be 1 to %u printable ASCII characters without spaces",
                                   AUDIENCE_MAX);
        if (ttl < 0 || ttl > TTL_MAX)
                return client_errf(err, err_len, -EINVAL, "the ttl must be 0 to %d seconds, not %lld", TTL_MAX,
                                   (long long) ttl);
        r = cu_ready(err, err_len);
        if (r < 0)
                return r;
        esc = cu.easy_escape(NULL, audience, 0);
        if (!esc)
                return -ENOMEM;
        if (ttl > 0)
                n = snprintf(path, sizeof path, "/v1/token?aud=%s&ttl=%lld", esc, (long long) ttl);
        else
                n = snprintf(path, sizeof path, "/v1/token?aud=%s", esc);
        cu.free(esc);
        /* A cut request would ask for another audience or ttl than the
         * caller's: never send one. (path is sized so this cannot happen.) */
        if (n < 0 || (size_t) n >= sizeof path)
                return client_errf(err, err_len, -EINVAL, "request too long");

        r = agent_get_json(socket_path, path, TOKEN_BODY_MAX, 0, &b, &j, err, err_len);
        if (r < 0)
                return r;
        body_wipe(&b);
        token = json_string_value(json_object_get(j, "token"));
        exp = json_object_get(j, "expires_at");
        if (!token || !looks_like_jws(token) || !json_is_integer(exp)) {
                r = client_errf(err, err_len, -EPROTO, "the agent's answer is not a token");
                goto wipe;
        }
        copy = strdup(token);
        if (!copy) {
                r = -ENOMEM;
                goto wipe;
        }
        *ret_token = copy;      /* outputs written on success only */
        if (ret_expires_at)
                *ret_expires_at = json_integer_value(exp);
        r = 0;
wipe:
        /* the parsed copy of the token goes with j: wipe it first */
        if (token)
                OPENSSL_cleanse((char *) token, strlen(token));
        return r;
}

int svcid_agent_jwks(const char *socket_path, char *err, size_t err_len, char **ret_jwks) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        body b;
        int r;

        if (!ret_jwks)
                return client_errf(err, err_len, -EINVAL, "no place for the JWKS");
        r = agent_get_json(socket_path, "/v1/jwks", SVCID_JWKS_MAX, 0, &b, &j, err, err_len);
        if (r < 0)
                return r;
        /* All of it (no NUL cuts it short), and shaped like a JWKS. */
        if (strlen(b.data) != b.len || !json_is_string(json_object_get(j, "iss")) ||
            !json_is_array(json_object_get(j, "keys"))) {
                body_wipe(&b);
                return client_errf(err, err_len, -EPROTO, "the agent's answer is not a JWKS");
        }
        *ret_jwks = b.data;     /* public keys: no wiping needed */
        return 0;
}

int lib_agent_health(const char *socket_path, char *err, size_t err_len, json_t **ret_health) {
        json_t *j = NULL;
        body b;
        int r;

        /* 503 is an answer too: the agent is there, but not up */
        r = agent_get_json(socket_path, "/v1/health", HEALTH_BODY_MAX, 503, &b, &j, err, err_len);
        if (r < 0)
                return r;
        body_wipe(&b);
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "status"))) {
                json_decref(j);
                return client_errf(err, err_len, -EPROTO, "the agent's /v1/health answer is not its JSON");
        }
        *ret_health = j;
        return 0;
}
