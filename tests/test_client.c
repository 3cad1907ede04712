/* SPDX-License-Identifier: MIT */
/*
 * lib/client.c, the agent client, against a fake agent: a Unix socket this
 * test listens on, answered by a child process that records the request
 * line it got. The agent tests see a request only after the agent parsed
 * it; here the bytes on the wire are checked, and a request the client
 * refuses is shown never to reach the socket at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "svcid/svcid.h"
#include "../common/cleanup.h"

#define AUDIENCE_MAX 255        /* the longest audience the agent takes */
#define REPLY_BODY   "{\"token\":\"aGVhZGVy.cGF5bG9hZA.c2ln\",\"expires_at\":1800000300,\"sub\":\"x\"}"

static char dir[64], sock_path[128];

static int setup(void **state) {
        (void) state;
        snprintf(dir, sizeof dir, "/tmp/svcid-test-client.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(sock_path, sizeof sock_path, "%s/agent.sock", dir);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        unlink(sock_path);
        rmdir(dir);
        return 0;
}

/* A socket bound at sock_path; listening unless listening is false. */
static int bind_agent(bool listening) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        unlink(sock_path);
        assert_true((size_t) snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path) < sizeof sa.sun_path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        if (listening)
                assert_int_equal(listen(fd, 4), 0);
        return fd;
}

/* True if a client has connected to the listening socket lfd. */
static bool connected(int lfd) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };

        return poll(&p, 1, 0) == 1;
}

/* The status line fake_agent() answers with. */
static const char *reply_status = "200 OK";

/* The fake agent, in a child: takes one connection on lfd that sends a
 * request (passing over any closed before a byte came), reads the
 * request head, answers reply_status with body (len bytes, any bytes),
 * and writes the request line to out. Exit status 0 when all of that
 * happened. */
static void fake_agent(int lfd, int out, const char *body, size_t body_len) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        static const char reply[] =
                "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                "Content-Length: %zu\r\n\r\n";
        char head[16384], answer[512];
        size_t len = 0;
        char *eol;
        int c;

        do {
                if (poll(&p, 1, 10000) != 1 || (c = accept(lfd, NULL, NULL)) < 0)
                        _exit(2);
                while (!memmem(head, len, "\r\n\r\n", 4)) {
                        ssize_t n = read(c, head + len, sizeof head - len);
                        if (n == 0 && len == 0) {
                                close(c);
                                c = -1;
                                break;
                        }
                        if (n <= 0)
                                _exit(3);
                        len += (size_t) n;
                }
        } while (c < 0);
        snprintf(answer, sizeof answer, reply, reply_status, body_len);
        if (write(c, answer, strlen(answer)) != (ssize_t) strlen(answer) ||
            write(c, body, body_len) != (ssize_t) body_len)
                _exit(4);
        eol = memmem(head, len, "\r\n", 2);
        if (write(out, head, (size_t) (eol - head)) != eol - head)
                _exit(5);
        _exit(0);
}

/* Runs fake_agent() answering body in a child; *ret_out then reads the
 * request line it got. */
static pid_t spawn_agent(int lfd, const char *body, size_t len, int *ret_out) {
        int fds[2];
        pid_t pid;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                fake_agent(lfd, fds[1], body, len);
        }
        close(fds[1]);
        *ret_out = fds[0];
        return pid;
}

/* Asks the fake agent for a token for aud and ttl; returns the request
 * line it received. */
static char *request_line(const char *aud, int64_t ttl) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        _cleanup_(free_p) char *token = NULL;
        char err[256] = "", *line;
        int out, status, r;
        int64_t expires_at = 0;
        size_t len = 0;
        pid_t pid = spawn_agent(lfd, REPLY_BODY, strlen(REPLY_BODY), &out);

        r = svcid_agent_token(sock_path, aud, ttl, err, sizeof err, &token, &expires_at);
        line = calloc(1, 16384);
        assert_non_null(line);
        for (;;) {
                ssize_t n = read(out, line + len, 16383 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(out);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (r < 0)
                fail_msg("svcid_agent_token: %d: %s", r, err);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_string_equal(token, "aGVhZGVy.cGF5bG9hZA.c2ln");
        assert_int_equal(expires_at, 1800000300);
        return line;
}

static char *repeat(char c, size_t n) {
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* Out-of-range arguments are refused before anything is sent: the
 * listening agent sees no connection, and the error is -EINVAL, not the
 * -ENOENT or -ECONNREFUSED of an absent agent. */
static void test_refused_before_sending(void **state) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        _cleanup_(free_p) char *too_long = repeat(':', AUDIENCE_MAX + 1);
        char err[256] = "", *token = NULL;
        (void) state;

        assert_int_equal(svcid_agent_token(sock_path, too_long, 3600, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the audience must be 1 to 255 printable ASCII characters without spaces");
        assert_int_equal(svcid_agent_token(sock_path, "", 0, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the audience must be 1 to 255 printable ASCII characters without spaces");
        /* a space (which the agent would also refuse, with a hint about
         * '+' that fits only hand-made queries) and a byte outside ASCII */
        assert_int_equal(svcid_agent_token(sock_path, "ci build", 0, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the audience must be 1 to 255 printable ASCII characters without spaces");
        assert_int_equal(svcid_agent_token(sock_path, "ci:b\xc3\xa9", 0, err, sizeof err, &token, NULL), -EINVAL);
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", -1, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the ttl must be 0 to 86400 seconds, not -1");
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", 86401, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the ttl must be 0 to 86400 seconds, not 86401");
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", 0, err, sizeof err, NULL, NULL), -EINVAL);
        assert_string_equal(err, "no place for the token");
        assert_null(token);
        /* svcid_agent_jwks() says why as well */
        err[0] = '\0';
        assert_int_equal(svcid_agent_jwks(sock_path, err, sizeof err, NULL), -EINVAL);
        assert_string_equal(err, "no place for the JWKS");
        assert_false(connected(lfd));
}

/* What an absent agent looks like, for contrast with the above. */
static void test_no_agent(void **state) {
        char err[256] = "", *token = NULL;
        (void) state;

        unlink(sock_path);
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", 0, err, sizeof err, &token, NULL), -ENOENT);
        assert_non_null(strstr(err, "cannot reach the agent"));
        /* bound, but nobody listening */
        close(bind_agent(false));
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", 0, err, sizeof err, &token, NULL),
                         -ECONNREFUSED);
        assert_null(token);
        /* a file that is no socket: connect(2) says "refused" of it too */
        unlink(sock_path);
        close(open(sock_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        assert_int_equal(svcid_agent_token(sock_path, "ci:build", 0, err, sizeof err, &token, NULL),
                         -ECONNREFUSED);
        assert_non_null(strstr(err, ": not a socket"));
        unlink(sock_path);
}

/* An empty socket path names no file: connect(2) would take it as the
 * abstract socket "" (a leading NUL), which any local user may bind and
 * answer with a token or a JWKS of their own. It is refused before a
 * connection is made, as NULL is taken for the default. */
static void test_empty_socket_path(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(close_fdp) int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char err[256] = "", *token = NULL, *jwks = NULL;
        bool bound;
        (void) state;

        /* Where the client went before: the abstract name of no bytes,
         * unless another process on this machine holds it already. */
        assert_true(lfd >= 0);
        bound = bind(lfd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + 1) == 0 &&
                listen(lfd, 4) == 0;
        if (!bound)
                print_message("cannot bind the abstract socket \"\" (%s): checking the errors only\n",
                              strerror(errno));
        assert_int_equal(svcid_agent_token("", "ci:build", 0, err, sizeof err, &token, NULL), -EINVAL);
        assert_string_equal(err, "the agent socket path is empty");
        assert_null(token);
        err[0] = '\0';
        assert_int_equal(svcid_agent_jwks("", err, sizeof err, &jwks), -EINVAL);
        assert_string_equal(err, "the agent socket path is empty");
        assert_null(jwks);
        if (bound)
                assert_false(connected(lfd));
}

/* An agent that takes the connection and dies before it answers (as
 * one does when socket-activated with a config it refuses): the message
 * says so, not libcurl's words for it. */
static void test_agent_hangs_up(void **state) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        char err[256] = "", *token = NULL;
        int status;
        pid_t pid;
        (void) state;

        for (int read_first = 0; read_first <= 1; read_first++) {
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        char buf[4096];
                        int c = accept(lfd, NULL, NULL);

                        if (c < 0)
                                _exit(2);
                        if (read_first && read(c, buf, sizeof buf) <= 0)
                                _exit(3);
                        _exit(0);
                }
                assert_int_equal(svcid_agent_token(sock_path, "ci:build", 0, err, sizeof err, &token, NULL), -EPROTO);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                assert_non_null(strstr(err, "closed the connection without answering"));
                assert_non_null(strstr(err, sock_path));
                /* the hint names the packaged agent only for its socket */
                assert_null(strstr(err, "journalctl"));
                assert_null(token);
        }
}

/* Connects a non-blocking socket to sock_path: 0, or the errno. */
static int try_connect(int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r;

        assert_true(fd >= 0);
        assert_true((size_t) snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path) < sizeof sa.sun_path);
        r = connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0 ? 0 : errno;
        if (r == 0 && ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return r;
}

/* An agent whose queue of connections is full (it has not taken those
 * before): the client waits for room, and is answered once there is,
 * rather than fail at once as if the agent had hung up. */
static void test_agent_queue_full(void **state) {
        _cleanup_(close_fdp) int lfd = bind_agent(false);
        struct pollfd p;
        char got[256] = "";
        int filler = -1, result[2], status, line;
        pid_t client, agent;
        ssize_t n;
        (void) state;

        /* A backlog of 0 holds one connection: the filler's. */
        assert_int_equal(listen(lfd, 0), 0);
        assert_int_equal(try_connect(&filler), 0);
        assert_int_equal(try_connect(NULL), EAGAIN);

        assert_int_equal(pipe2(result, O_CLOEXEC), 0);
        client = fork();
        assert_true(client >= 0);
        if (client == 0) {
                char *token = NULL, err[256] = "";
                int r;

                close(filler);
                r = svcid_agent_token(sock_path, "x", 0, err, sizeof err, &token, NULL);
                dprintf(result[1], "%d %s", r, r == 0 ? token : err);
                _exit(0);
        }
        close(result[1]);
        /* Still waiting half a second on: before, it failed at once. */
        p = (struct pollfd) { .fd = result[0], .events = POLLIN };
        assert_int_equal(poll(&p, 1, 500), 0);

        /* Room: the filler is taken (its client gone), then the request. */
        close(filler);
        agent = spawn_agent(lfd, REPLY_BODY, strlen(REPLY_BODY), &line);
        n = read(result[0], got, sizeof got - 1);
        assert_true(n > 0);
        got[n] = '\0';
        assert_string_equal(got, "0 aGVhZGVy.cGF5bG9hZA.c2ln");
        assert_int_equal(waitpid(client, &status, 0), client);
        assert_int_equal(waitpid(agent, &status, 0), agent);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(line);
        close(result[0]);
}

/* The longest audience, every character %-escaped, with the largest ttl:
 * the agent must get all of it, not a request cut to another audience or
 * another ttl. */
static void test_escaped_audience_whole(void **state) {
        static const int64_t ttls[] = { 3600, 86400, 0 };
        _cleanup_(free_p) char *aud = repeat(':', AUDIENCE_MAX);
        _cleanup_(free_p) char *escaped = calloc(3 * AUDIENCE_MAX + 1, 1);
        (void) state;

        assert_non_null(escaped);
        for (size_t i = 0; i < AUDIENCE_MAX; i++)
                memcpy(escaped + 3 * i, "%3A", 3);

        for (size_t i = 0; i < ELEMENTSOF(ttls); i++) {
                _cleanup_(free_p) char *want = NULL, *got = NULL;

                if (ttls[i] > 0)
                        assert_true(asprintf(&want, "GET /v1/token?aud=%s&ttl=%lld HTTP/1.1", escaped,
                                             (long long) ttls[i]) > 0);
                else
                        assert_true(asprintf(&want, "GET /v1/token?aud=%s HTTP/1.1", escaped) > 0);
                got = request_line(aud, ttls[i]);
                assert_string_equal(got, want);
        }
}

/* What the client makes of a 200 answer with body: the result of
 * svcid_agent_jwks() if jwks, else of svcid_agent_token(). */
static int answer_taken(const char *body, size_t len, bool jwks) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        char err[256] = "", *out = NULL;
        int line, status, r;
        pid_t pid = spawn_agent(lfd, body, len, &line);

        r = jwks ? svcid_agent_jwks(sock_path, err, sizeof err, &out)
                 : svcid_agent_token(sock_path, "x", 0, err, sizeof err, &out, NULL);
        close(line);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        free(out);
        return r;
}

/* A 200 answer is used only if it has the shape of what was asked for:
 * a compact JWS (three non-empty segments), or a whole JWKS. */
static void test_answer_shape(void **state) {
        static const char *const bad_tokens[] = {
                "abc", "a.b", ".b.c", "a.b.", "a..c", "a.b.c.d", "a.b c.d", "a.b.c\n", "",
        };
        static const char *const bad_jwks[] = {
                "[1,2]", "{\"keys\":[]}", "{\"iss\":5,\"keys\":[]}", "{\"iss\":\"x\",\"keys\":{}}", "\"x\"",
        };
        static const char *const bad_expiries[] = {
                "", ",\"expires_at\":\"1800000300\"", ",\"expires_at\":1800000300.5", ",\"expires_at\":null",
        };
        static const char cut[] = "{\"iss\":\"x\",\"keys\":[]}\0garbage";
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad_tokens); i++) {
                _cleanup_(free_p) char *body = NULL;

                assert_true(asprintf(&body, "{\"token\":\"%s\",\"expires_at\":1}", bad_tokens[i]) > 0);
                if (answer_taken(body, strlen(body), false) != -EPROTO)
                        fail_msg("token \"%s\" was taken", bad_tokens[i]);
        }
        assert_int_equal(answer_taken(REPLY_BODY, strlen(REPLY_BODY), false), 0);

        /* a token without a whole expires_at is no answer either */
        for (size_t i = 0; i < ELEMENTSOF(bad_expiries); i++) {
                _cleanup_(free_p) char *body = NULL;

                assert_true(asprintf(&body, "{\"token\":\"a.b.c\"%s}", bad_expiries[i]) > 0);
                if (answer_taken(body, strlen(body), false) != -EPROTO)
                        fail_msg("a token with %s was taken", body);
        }

        for (size_t i = 0; i < ELEMENTSOF(bad_jwks); i++)
                if (answer_taken(bad_jwks[i], strlen(bad_jwks[i]), true) != -EPROTO)
                        fail_msg("JWKS %s was taken", bad_jwks[i]);
        assert_int_equal(answer_taken(cut, sizeof cut - 1, true), -EPROTO);
        assert_int_equal(answer_taken(cut, strlen(cut), true), 0);
}

/* svcid_agent_token() (or, if jwks, svcid_agent_jwks()) against an agent
 * answering status with body: its result, err filled. */
static int refusal_taken(const char *status, const char *body, bool jwks, char *err, size_t err_len) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        char *out = NULL, buf[512];
        int line, wstatus, r;
        pid_t pid;

        reply_status = status;
        pid = spawn_agent(lfd, body, strlen(body), &line);
        r = jwks ? svcid_agent_jwks(sock_path, err, err_len, &out)
                 : svcid_agent_token(sock_path, "x", 0, err, err_len, &out, NULL);
        reply_status = "200 OK";
        /* to its end: the fake agent writes the request line last */
        while (read(line, buf, sizeof buf) > 0)
                ;
        close(line);
        assert_int_equal(waitpid(pid, &wstatus, 0), pid);
        assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        assert_null(out);
        return r;
}

/* A refusal becomes the -errno svcid.h documents for its status, and the
 * agent's error word and message when its body has both; any other body
 * is named by the status alone. */
static void test_refusals(void **state) {
        static const struct {
                const char *status;
                int error;
                const char *word;
        } cases[] = {
                { "400 Bad Request", -EINVAL, "bad_request" },
                { "403 Forbidden", -EACCES, "forbidden" },
                { "429 Too Many Requests", -EBUSY, "too_many_requests" },
                { "503 Service Unavailable", -EBUSY, "unavailable" },
                { "500 Internal Server Error", -EPROTO, "internal" },
                { "404 Not Found", -EPROTO, "not_found" },
        };
        char err[256], want[256], body[256];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                long code = strtol(cases[i].status, NULL, 10);

                snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"why %zu\"}", cases[i].word, i);
                snprintf(want, sizeof want, "agent refused (%ld %s): why %zu", code, cases[i].word, i);
                assert_int_equal(refusal_taken(cases[i].status, body, false, err, sizeof err), cases[i].error);
                assert_string_equal(err, want);
                assert_int_equal(refusal_taken(cases[i].status, body, true, err, sizeof err), cases[i].error);
                assert_string_equal(err, want);
        }
        /* only a 200 carries a token: another success is none */
        assert_int_equal(refusal_taken("201 Created", REPLY_BODY, false, err, sizeof err), -EPROTO);
        assert_string_equal(err, "agent answered HTTP 201");
        assert_int_equal(refusal_taken("302 Found", REPLY_BODY, false, err, sizeof err), -EPROTO);
        assert_string_equal(err, "agent answered HTTP 302");
        /* no message, or no JSON: the status says it all */
        assert_int_equal(refusal_taken("403 Forbidden", "{\"error\":\"forbidden\"}", false, err, sizeof err),
                         -EACCES);
        assert_string_equal(err, "agent answered HTTP 403");
        assert_int_equal(refusal_taken("503 Service Unavailable", "<html>busy</html>", false, err, sizeof err),
                         -EBUSY);
        assert_string_equal(err, "agent answered HTTP 503");
        /* a body over 4 KiB is not read for words, however well formed */
        {
                _cleanup_(free_p) char *words = repeat('w', 5000);
                _cleanup_(free_p) char *big = NULL;

                assert_true(asprintf(&big, "{\"error\":\"forbidden\",\"message\":\"%s\"}", words) > 0);
                assert_int_equal(refusal_taken("403 Forbidden", big, false, err, sizeof err), -EACCES);
                assert_string_equal(err, "agent answered HTTP 403");
        }
}

/* An answer over the size the client takes is refused, however well
 * formed: the cap is on what the agent sends, not only on the token. */
static void test_answer_too_large(void **state) {
        _cleanup_(close_fdp) int lfd = bind_agent(true);
        _cleanup_(free_p) char *pad = repeat('x', 16384);
        _cleanup_(free_p) char *body = NULL;
        char err[256] = "", *out = NULL, buf[512];
        int line, wstatus, r;
        pid_t pid;
        (void) state;

        assert_true(asprintf(&body, "{\"token\":\"a.b.c\",\"expires_at\":1800000300,\"pad\":\"%s\"}", pad) > 0);
        pid = spawn_agent(lfd, body, strlen(body), &line);
        r = svcid_agent_token(sock_path, "x", 0, err, sizeof err, &out, NULL);
        while (read(line, buf, sizeof buf) > 0)
                ;
        close(line);
        /* the fake agent's last writes may fail: the client has gone */
        assert_int_equal(waitpid(pid, &wstatus, 0), pid);
        assert_int_equal(r, -EPROTO);
        assert_null(out);
        assert_non_null(strstr(err, "too large"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refused_before_sending),
                cmocka_unit_test(test_no_agent),
                cmocka_unit_test(test_empty_socket_path),
                cmocka_unit_test(test_agent_hangs_up),
                cmocka_unit_test(test_agent_queue_full),
                cmocka_unit_test(test_escaped_audience_whole),
                cmocka_unit_test(test_answer_shape),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_answer_too_large),
        };

        /* the fake agent may close first */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}
