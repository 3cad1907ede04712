/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: libsvcid's agent client (lib/client.c) reading what
 * the agent answers. `svcid token` and every caller of svcid_agent_token()
 * or svcid_agent_jwks() read from whatever socket SVCID_AGENT_SOCKET
 * names, and `svcid-agent --reload` the /v1/health of whatever listens on
 * its --socket, so the answer is untrusted bytes. A fake agent in a thread of
 * this process listens on a Unix socket, reads each request head and
 * answers with the input; the client is the real one, libcurl included.
 *
 * The first input byte: bit 0 asks for the JWKS rather than a token, and
 * bit 3, without bit 0, for /v1/health (lib_agent_health()); bit 1 sends
 * the rest of the input as it is (status line, headers and all), else it
 * is a body, sent with a Content-Length under the status the second byte
 * picks; bit 2 pads such a body with spaces to just past what the client
 * reads; bits 4 to 7 size the caller's error buffer.
 *
 * Beyond "no crash, no leak", it checks what callers rely on: a refusal
 * writes no output, says why in a NUL-terminated line of printable ASCII,
 * and for an HTTP error maps the status to its errno; a token handed out
 * is the "token" of a JSON object the agent sent, shaped as a compact
 * JWS of at most SVCID_TOKEN_MAX bytes, with its expires_at; a JWKS
 * handed out is the whole body, byte for byte, with an "iss" string and
 * a "keys" array; a health answer handed out came with 200 or 503 and is
 * the body's JSON, an object with a "status" string, and such a body
 * under either status is not refused. SVCID_FUZZ_VERBOSE set in the environment: says what
 * became of each input.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "svcid/svcid.h"
#include "../lib/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN_BODY_MAX (SVCID_TOKEN_MAX + 4096u)       /* as lib/client.c */
#define HEALTH_BODY_MAX 8192u                           /* as lib/client.c */

static char dir[64], sock_path[128];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static const char *answer;             /* under mutex */
static size_t answer_len;
static unsigned long accepted, served;  /* connections */

static void die(const char *what, const char *detail) {
        fprintf(stderr, "fuzz_agent_answer: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
}

static void cleanup(void) {
        unlink(sock_path);
        rmdir(dir);
}

/* The fake agent: one connection at a time; reads the request head,
 * sends the answer, closes its side and waits for the client's close,
 * so that the client never sees a reset. */
static void *agent(void *arg) {
        int lfd = *(int *) arg;

        for (;;) {
                char head[8192];
                size_t len = 0, off = 0;
                const char *a;
                size_t a_len;
                int c = accept(lfd, NULL, NULL);

                if (c < 0)
                        continue;
                pthread_mutex_lock(&mutex);
                accepted++;
                a = answer;
                a_len = answer_len;
                pthread_mutex_unlock(&mutex);
                while (len < sizeof head && !memmem(head, len, "\r\n\r\n", 4)) {
                        ssize_t n = read(c, head + len, sizeof head - len);
                        if (n <= 0)
                                break;
                        len += (size_t) n;
                }
                while (off < a_len) {
                        ssize_t n = send(c, a + off, a_len - off, MSG_NOSIGNAL);
                        if (n <= 0)
                                break;
                        off += (size_t) n;
                }
                shutdown(c, SHUT_WR);
                for (;;) {
                        struct pollfd p = { .fd = c, .events = POLLIN };

                        if (poll(&p, 1, 10000) != 1 || read(c, head, sizeof head) <= 0)
                                break;
                }
                close(c);
                pthread_mutex_lock(&mutex);
                served++;
                pthread_cond_broadcast(&cond);
                pthread_mutex_unlock(&mutex);
        }
        return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static int lfd;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pthread_t t;

        (void) argc;
        (void) argv;
        snprintf(dir, sizeof dir, "/tmp/svcid-fuzz-answer.XXXXXX");
        if (!mkdtemp(dir))
                die("mkdtemp", strerror(errno));
        snprintf(sock_path, sizeof sock_path, "%s/agent.sock", dir);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
                die("listen", strerror(errno));
        atexit(cleanup);
        if (pthread_create(&t, NULL, agent, &lfd) != 0)
                die("pthread_create", NULL);
        pthread_detach(t);
        return 0;
}

static void check_err(const char *err, size_t err_len) {
        size_t n = strnlen(err, err_len);

        if (n == err_len)
                die("error message not terminated", NULL);
        if (n == 0 && err_len > 1)
                die("refused without a reason", NULL);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) err[i] < 0x20 || (unsigned char) err[i] > 0x7e)
                        die("error message not printable", err);
}

/* A compact JWS as the client promises it: three non-empty base64url
 * segments. */
static bool jws_shaped(const char *t) {
        size_t len = strlen(t), dots = 0;
        const char *seg = t;

        if (len == 0 || len > SVCID_TOKEN_MAX)
                return false;
        for (const char *p = t;; p++) {
                if (*p == '.' || !*p) {
                        if (p == seg)
                                return false;
                        if (!*p)
                                break;
                        dots++;
                        seg = p + 1;
                } else if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p)) {
                        return false;
                }
        }
        return dots == 2;
}

static int status_errno(int status) {
        switch (status) {
        case 400: return -EINVAL;
        case 403: return -EACCES;
        case 429: case 503: return -EBUSY;
        default: return -EPROTO;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const int statuses[] = { 200, 400, 403, 429, 503, 500, 404, 204 };
        bool want_jwks, want_health, raw, pad, ok_status;
        const char *body = NULL;
        size_t body_len = 0, err_len, max_body;
        char err[257], *buf, *out = (char *) "untouched";
        json_t *health = NULL;
        int64_t expires = -12345;
        int status = 0, r;

        if (size < 1)
                return 0;
        want_jwks = data[0] & 1;
        want_health = !want_jwks && (data[0] & 8);
        raw = data[0] & 2;
        if (!raw && size < 2)
                return 0;
        max_body = want_jwks ? SVCID_JWKS_MAX : want_health ? HEALTH_BODY_MAX : TOKEN_BODY_MAX;
        pad = data[0] & 4;
        err_len = 1 + (size_t) (data[0] >> 4) * (sizeof err - 2) / 15;  /* 1 to 256 */
        if (raw) {
                buf = malloc(size);
                if (!buf)
                        return 0;
                memcpy(buf, data + 1, size - 1);
                body_len = size - 1;
        } else {
                size_t head_len;
                char head[128];

                status = statuses[data[1] % (sizeof statuses / sizeof *statuses)];
                body_len = size - 2;
                if (pad && body_len <= max_body)
                        body_len = max_body + 1;
                head_len = (size_t) snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
                                             "Connection: close\r\n\r\n", status, body_len);
                buf = malloc(head_len + body_len);
                if (!buf)
                        return 0;
                memcpy(buf, head, head_len);
                memcpy(buf + head_len, data + 2, size - 2);
                memset(buf + head_len + size - 2, ' ', body_len - (size - 2));
                body = buf + head_len;
        }
        pthread_mutex_lock(&mutex);
        answer = buf;
        answer_len = raw ? body_len : (size_t) (body - buf) + body_len;
        pthread_mutex_unlock(&mutex);

        memset(err, 'u', sizeof err);
        if (want_jwks)
                r = svcid_agent_jwks(sock_path, err, err_len, &out);
        else if (want_health)
                r = lib_agent_health(sock_path, err, err_len, &health);
        else
                r = svcid_agent_token(sock_path, "ssh:web01", 60, err, err_len, &out, &expires);

        /* the fake agent is done with this connection before buf goes */
        pthread_mutex_lock(&mutex);
        while (served != accepted)
                pthread_cond_wait(&cond, &mutex);
        answer = NULL;
        pthread_mutex_unlock(&mutex);

        if (getenv("SVCID_FUZZ_VERBOSE"))
                fprintf(stderr, "fuzz_agent_answer: %d %s\n", r, r < 0 ? err : want_health ? "health" : out);
        /* 503 is an answer from /v1/health: the agent there is not up */
        ok_status = status == 200 || (want_health && status == 503);
        if (r < 0) {
                if (strcmp(out, "untouched") != 0 || expires != -12345 || health)
                        die("a refusal wrote an output", NULL);
                check_err(err, err_len);
                if (err[err_len] != 'u')
                        die("error message written past its buffer", NULL);
                /* (a body over what the client reads is refused as such first) */
                if (!raw && !ok_status && body_len <= max_body && r != status_errno(status) && r != -ENOMEM)
                        die("an HTTP error mapped to another errno", err);
                if (want_health && !raw && ok_status && body_len <= max_body && r != -ENOMEM) {
                        json_t *j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
                        bool valid = json_is_object(j) && json_is_string(json_object_get(j, "status"));

                        json_decref(j);
                        if (valid)
                                die("a health answer refused", err);
                }
                free(buf);
                return 0;
        }
        if (!raw && !ok_status)
                die("an HTTP error taken as an answer", NULL);
        if (want_health) {
                json_t *j = raw ? NULL : json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);

                if (!json_is_object(health) || !json_is_string(json_object_get(health, "status")))
                        die("the health answer handed out is not an object with a status", NULL);
                if (!raw && !json_equal(health, j))
                        die("the health answer handed out is not the body's JSON", NULL);
                json_decref(j);
                json_decref(health);
                free(buf);
                return 0;
        }
        if (want_jwks) {
                json_t *j = json_loads(out, 0, NULL);

                if (!raw && (strlen(out) != body_len || memcmp(out, body, body_len) != 0))
                        die("the JWKS handed out is not the body", NULL);
                if (!json_is_object(j) || !json_is_string(json_object_get(j, "iss")) ||
                    !json_is_array(json_object_get(j, "keys")))
                        die("the JWKS handed out has no iss or keys", out);
                json_decref(j);
        } else {
                json_t *j = NULL;

                if (!jws_shaped(out) || expires == -12345)
                        die("the token handed out is no compact JWS, or has no expires_at", out);
                if (!raw) {
                        j = json_loadb(body, body_len, 0, NULL);
                        if (!json_is_string(json_object_get(j, "token")) ||
                            strcmp(json_string_value(json_object_get(j, "token")), out) != 0 ||
                            !json_is_integer(json_object_get(j, "expires_at")) ||
                            json_integer_value(json_object_get(j, "expires_at")) != expires)
                                die("the token handed out is not the one the agent sent", out);
                        json_decref(j);
                }
        }
        free(out);
        free(buf);
        return 0;
}
