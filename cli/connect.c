/* SPDX-License-Identifier: MIT */
/* svcid connect: present a token to a line-mode svcid-gate, then relay
 * stdin and stdout over the connection. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/text.h"
#include "../gate/preamble.h"
#include "cli.h"
#include "util.h"

#define RELAY_BUF          65536

static void connect_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid connect -a AUD [--ttl S] unix:PATH|tcp:HOST:PORT\n"
                "\n"
                "Connect to a line-mode svcid-gate, present a fresh token for this process\n"
                "(the preamble \"SVCID1 <token>\"), then relay stdin to the service and the\n"
                "service's output to stdout. End of stdin half-closes the connection; the\n"
                "session ends when both directions are closed. For an http-mode gate, give any\n"
                "HTTP client the header on its standard input, not on a command line that\n"
                "any local user can read:\n"
                "  printf 'Authorization: Bearer %%s\\n' \"$(svcid token -a AUD)\" | curl -H @- URL\n"
                "\n"
                "  -a, --audience AUD   the audience the gate expects (required)\n"
                "  -t, --ttl S          token lifetime in seconds, 1..3600 (default: the agent's)\n"
                "  -h, --help           show this help\n"
                "\n"
                "Addresses: unix:/run/stage.sock, tcp:host.example:7000, tcp:[::1]:7000.\n"
                "The agent socket is $SVCID_AGENT_SOCKET, else %s.\n"
                "Exit status: 0 the session ran to its end; 1 no token, no connection, the\n"
                "gate refused (\"svcid: connect: refused: REASON\" on stderr) or an I/O error;\n"
                "2 usage error.\n", SVCID_AGENT_SOCKET_DEFAULT);
}

/* "unix:PATH": a path that fits sun_path. */
static int check_unix(const char *path, char *err, size_t err_len) {
        struct sockaddr_un sa;

        if (!*path) {
                snprintf(err, err_len, "unix: address has no socket path");
                return -EINVAL;
        }
        if (strlen(path) >= sizeof(sa.sun_path)) {
                snprintf(err, err_len, "socket path is %zu bytes, the limit is %zu", strlen(path),
                         sizeof(sa.sun_path) - 1);
                return -EINVAL;
        }
        return 0;
}

/* "tcp:HOST:PORT" or "tcp:[V6]:PORT", port 1..65535: *ret_host is the
 * host (malloc'd), *ret_port points into spec. */
static int split_tcp(const char *spec, char **ret_host, const char **ret_port, char *err, size_t err_len) {
        const char *colon, *h = spec;
        size_t hlen;
        int64_t port;

        colon = strrchr(spec, ':');
        if (!colon || parse_int64(colon + 1, 1, 65535, &port) < 0) {
                snprintf(err, err_len, "tcp address needs HOST:PORT with a port 1..65535, not '%s'", spec);
                return -EINVAL;
        }
        hlen = (size_t) (colon - spec);
        if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
                h = spec + 1;
                hlen -= 2;
        }
        /* brackets only around the whole host, as in [::1] */
        if (memchr(h, '[', hlen) || memchr(h, ']', hlen)) {
                snprintf(err, err_len, "tcp address has an unmatched '[' or ']': '%s' (an IPv6 host goes in "
                         "brackets: [::1]:PORT)", spec);
                return -EINVAL;
        }
        if (hlen == 0) {
                snprintf(err, err_len, "tcp address has no host: '%s'", spec);
                return -EINVAL;
        }
        *ret_host = strndup(h, hlen);
        if (!*ret_host)
                return -ENOMEM;
        *ret_port = colon + 1;
        return 0;
}

/* "svcid: connect: MSG" on stderr, MSG made printable: it may quote the
 * address, any byte of an argument. */
static void connect_error(const char *msg) {
        char shown[512];

        copy_printable_n(shown, sizeof(shown), msg, strlen(msg), true);
        fprintf(stderr, "svcid: connect: %s\n", shown);
}

/* A usage error in ADDRESS, found before the agent is asked for a token. */
static int check_address(const char *addr, char *err, size_t err_len) {
        _cleanup_(free_p) char *host = NULL;
        const char *port;

        if (strncmp(addr, "unix:", 5) == 0)
                return check_unix(addr + 5, err, err_len);
        if (strncmp(addr, "tcp:", 4) == 0)
                return split_tcp(addr + 4, &host, &port, err, err_len);
        snprintf(err, err_len, "address must be unix:PATH or tcp:HOST:PORT, not '%s'", addr);
        return -EINVAL;
}

static int connect_unix(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(close_fdp) int fd = -1;

        memcpy(sa.sun_path, path, strlen(path) + 1);    /* check_unix() said it fits */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int connect_tcp(const char *spec, char *err, size_t err_len, int *ret_fd) {
        _cleanup_(free_p) char *host = NULL;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        const char *port;
        int r, last = -ECONNREFUSED;

        r = split_tcp(spec, &host, &port, err, err_len);
        if (r < 0)
                return r;
        r = getaddrinfo(host, port, &hints, &res);
        if (r != 0) {
                snprintf(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(r));
                return -EHOSTUNREACH;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                        freeaddrinfo(res);
                        *ret_fd = fd;
                        return 0;
                }
                last = -errno;
                close(fd);
        }
        freeaddrinfo(res);
        snprintf(err, err_len, "cannot connect to %s: %s", spec, strerror(-last));
        return last;
}

static int send_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

/* relay() has already said what went wrong. */
#define RELAY_SAID (-ECANCELED)

typedef struct relay_buf {
        char data[RELAY_BUF];
        size_t off, len;
} relay_buf;

/* The relay. Until the first line from the gate is known not to be a
 * refusal, the service's first bytes are held back (at most one short
 * line), so that "SVCID1 ERR reason" becomes an error message and exit
 * status 1 instead of output. *ret_answered: the service's own bytes came,
 * so the gate admitted the token and ran it. */
static int relay(int sock, char *reason, size_t reason_len, bool *ret_answered) {
        _cleanup_(free_p) relay_buf *up = NULL, *down = NULL;
        char head[GATE_REFUSAL_LINE_MAX];
        size_t head_len = 0;
        bool judging = true, in_eof = false, sock_eof = false, shut = false, watch_hangup;
        int flags, lost = 0;    /* the first loss: -EPIPE input dropped, -ECONNRESET output cut */

        up = calloc(1, sizeof(*up));
        down = calloc(1, sizeof(*down));
        if (!up || !down)
                return -ENOMEM;
        flags = fcntl(sock, F_GETFL);
        if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) {
                fprintf(stderr, "svcid: connect: cannot make the connection non-blocking: %s\n", strerror(errno));
                return RELAY_SAID;
        }

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = !in_eof && up->len == 0 ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = sock, .events = (short) ((!sock_eof && down->len == 0 ? POLLIN : 0) |
                                                         (up->len > 0 ? POLLOUT : 0)) },
                        { .fd = down->len > 0 ? STDOUT_FILENO : -1, .events = POLLOUT },
                };
                ssize_t n;

                if (in_eof && up->len == 0 && !shut) {
                        /* Our end of input: the service sees EOF, and may
                         * still answer. Unless the end cannot be sent: then
                         * the service would wait for it, and we for its
                         * answer, for ever. ENOTCONN is a peer gone (a TCP
                         * reset), which the next recv() reports. */
                        if (shutdown(sock, SHUT_WR) < 0 && errno != ENOTCONN) {
                                fprintf(stderr, "svcid: connect: cannot send the end of input to the service: %s\n",
                                        strerror(errno));
                                return RELAY_SAID;
                        }
                        shut = true;
                }
                /* Both ways done: the service's output all written, and
                 * our input all sent (or refused). A service that shut
                 * only its sending side may still be reading. */
                if (sock_eof && down->len == 0 && shut)
                        return lost;
                /* Waiting on stdin alone after the service's EOF: a hangup
                 * says it closed both ways (on a Unix socket), and then
                 * nothing more can be sent. */
                watch_hangup = sock_eof && !shut && up->len == 0 && down->len == 0;
                if (p[1].events == 0 && !watch_hangup)
                        p[1].fd = -1;
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "svcid: connect: cannot wait on the connection: %s\n", strerror(errno));
                        return RELAY_SAID;
                }

                if (p[0].revents) {
                        n = read(STDIN_FILENO, up->data, sizeof(up->data));
                        if (n < 0 && errno == EBADF)
                                n = 0;  /* started with stdin closed: no input */
                        if (n < 0 && errno != EINTR && errno != EAGAIN) {
                                fprintf(stderr, "svcid: connect: cannot read standard input: %s\n",
                                        strerror(errno));
                                return RELAY_SAID;
                        }
                        if (n == 0)
                                in_eof = true;
                        if (n > 0) {
                                up->off = 0;
                                up->len = (size_t) n;
                        }
                }
                if (p[1].revents & POLLOUT || (up->len > 0 && p[1].revents & (POLLERR | POLLHUP))) {
                        n = send(sock, up->data + up->off, up->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0 && errno != EINTR && errno != EAGAIN) {
                                if (errno != EPIPE && errno != ECONNRESET) {
                                        fprintf(stderr, "svcid: connect: cannot send to the service: %s\n",
                                                strerror(errno));
                                        return RELAY_SAID;
                                }
                                /* The service stopped reading: drop the rest
                                 * of our input, keep its output coming (a
                                 * refusal line, say), but do not call it a
                                 * success. */
                                if (!lost)
                                        lost = -EPIPE;
                                up->len = 0;
                                in_eof = shut = true;
                        } else if (n > 0) {
                                up->off += (size_t) n;
                                up->len -= (size_t) n;
                        }
                }
                if (watch_hangup && p[1].revents & (POLLHUP | POLLERR) && up->len == 0) {
                        /* The service is gone both ways with nothing of
                         * ours in hand (what stdin gave in this round was
                         * offered above, and refused). An error means it
                         * left some of what it was sent unread. */
                        if (p[1].revents & POLLERR && !lost)
                                lost = -EPIPE;
                        return lost;
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && !sock_eof && down->len == 0) {
                        /* While judging, leave room to put the held
                         * bytes back in front. */
                        n = recv(sock, down->data, sizeof(down->data) - (judging ? sizeof(head) : 0),
                                 MSG_DONTWAIT);
                        if (n < 0 && errno != EINTR && errno != EAGAIN) {
                                if (errno != ECONNRESET) {
                                        fprintf(stderr, "svcid: connect: cannot read from the service: %s\n",
                                                strerror(errno));
                                        return RELAY_SAID;
                                }
                                if (!lost)      /* what it was sending may be cut */
                                        lost = -ECONNRESET;
                                n = 0;
                        }
                        if (n == 0)
                                sock_eof = true;
                        if (n > 0) {
                                down->off = 0;
                                down->len = (size_t) n;
                        }
                        if (judging && (down->len > 0 || sock_eof)) {
                                size_t take = 0, rest;

                                while (take < down->len && head_len < sizeof(head))
                                        head[head_len++] = down->data[take++];
                                switch (gate_reply_judge(head, head_len, sock_eof, reason, reason_len)) {
                                case GATE_REPLY_REFUSED:
                                        return -EACCES;
                                case GATE_REPLY_UNDECIDED:
                                        /* head is not full, so it took every byte */
                                        down->len = 0;
                                        break;
                                case GATE_REPLY_SERVICE:
                                        /* Release what was held, then the rest. */
                                        judging = false;
                                        /* not a close with nothing said */
                                        *ret_answered = head_len > 0;
                                        rest = down->len - take;
                                        memmove(down->data + head_len, down->data + take, rest);
                                        memcpy(down->data, head, head_len);
                                        down->off = 0;
                                        down->len = head_len + rest;
                                        break;
                                }
                        }
                }
                if (p[2].revents) {
                        n = write(STDOUT_FILENO, down->data + down->off, down->len);
                        if (n < 0 && errno != EINTR && errno != EAGAIN) {
                                /* Our reader's doing, not the service's. */
                                fprintf(stderr, "svcid: connect: cannot write standard output: %s\n",
                                        strerror(errno));
                                return RELAY_SAID;
                        }
                        if (n > 0) {
                                down->off += (size_t) n;
                                down->len -= (size_t) n;
                        }
                }
        }
}

int cmd_connect(int argc, char **argv) {
        static const struct option options[] = {
                { "audience", required_argument, NULL, 'a' },
                { "ttl",      required_argument, NULL, 't' },
                { "help",     no_argument,       NULL, 'h' },
                {}
        };
        _cleanup_(close_fdp) int fd = -1;
        _cleanup_(free_p) char *line = NULL;
        const char *aud = NULL, *addr;
        char err[512] = "", reason[GATE_REFUSAL_LINE_MAX];
        char *token = NULL;
        int64_t ttl = 0;
        size_t tlen;
        uint64_t seen = 0;
        bool answered = false;
        int c, r, prev_optind;

        optind = 0;
        opterr = 0;
        prev_optind = 1;
        while ((c = getopt_long(argc, argv, ":a:t:h", options, NULL)) >= 0) {
                r = cli_option_once("connect", c, options, NULL, &seen);
                if (r != 0)
                        return r;
                switch (c) {
                case 'a':
                        aud = optarg;
                        break;
                case 't':
                        r = cli_parse_seconds("connect", "--ttl", optarg, 1, 3600, &ttl);
                        if (r != 0)
                                return r;
                        break;
                case 'h':
                        connect_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error("connect", c, argv, prev_optind, options);
                }
                prev_optind = optind;
        }
        r = cli_check_audience("connect", aud);
        if (r != 0)
                return r;
        if (argc - optind != 1)
                return cli_usage_error("connect", "give exactly one address");
        addr = argv[optind];
        r = check_address(addr, err, sizeof(err));
        if (r == -EINVAL)
                return cli_usage_error("connect", "%s", err);
        if (r < 0) {
                connect_error(strerror(-r));
                return CLI_EXIT_REJECTED;
        }
        /* A socket path that cannot be one is said before a token is
         * minted for it (connect(2) would say "refused" of a file). */
        if (addr[0] == 'u') {
                struct stat st;

                r = stat(addr + 5, &st) < 0 ? -errno : S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
                if (r < 0) {
                        snprintf(err, sizeof(err), "cannot connect to %s: %s", addr + 5,
                                 r == -ENOTSOCK ? "not a socket" : strerror(-r));
                        connect_error(err);
                        return CLI_EXIT_REJECTED;
                }
        }
        /* Broken pipes are errors to report, not signals to die of. */
        signal(SIGPIPE, SIG_IGN);

        r = cli_agent_token("connect", aud, ttl, &token, NULL);
        if (r != 0)
                return r;

        if (addr[0] == 'u') {
                r = connect_unix(addr + 5, &fd);
                if (r < 0)
                        snprintf(err, sizeof(err), "cannot connect to %s: %s", addr + 5, strerror(-r));
        } else
                r = connect_tcp(addr + 4, err, sizeof(err), &fd);
        if (r < 0) {
                svcid_free_secret(token);
                connect_error(err);
                return r == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_REJECTED;
        }

        tlen = strlen(token);
        line = malloc(tlen + 9);
        if (!line) {
                svcid_free_secret(token);
                fprintf(stderr, "svcid: connect: %s\n", strerror(ENOMEM));
                return CLI_EXIT_REJECTED;
        }
        memcpy(line, "SVCID1 ", 7);
        memcpy(line + 7, token, tlen);
        line[7 + tlen] = '\n';
        r = send_all(fd, line, tlen + 8);
        /* The preamble copy is as secret as the token. */
        explicit_bzero(line, tlen + 8);
        svcid_free_secret(token);
        if (r == -EPIPE || r == -ECONNRESET) {
                /* A gate that cannot judge cuts the connection unanswered,
                 * and may do so before the preamble is out. */
                fprintf(stderr, "svcid: connect: the connection was %s before the preamble was sent\n",
                        r == -EPIPE ? "closed" : "reset");
                return CLI_EXIT_REJECTED;
        }
        if (r < 0) {
                fprintf(stderr, "svcid: connect: cannot send the preamble: %s\n", strerror(-r));
                return CLI_EXIT_REJECTED;
        }

        r = relay(fd, reason, sizeof(reason), &answered);
        if (r == RELAY_SAID)
                return CLI_EXIT_REJECTED;
        if (r == -EACCES) {
                /* svcid connect's own preamble is well formed: this is
                 * nearly always a gate that wants HTTP */
                fprintf(stderr, "svcid: connect: refused: %s%s\n", reason,
                        strcmp(reason, "malformed") == 0
                                ? " (a gate in http mode answers svcid connect so; it takes an HTTP request with "
                                  "Authorization: Bearer)"
                                : "");
                return CLI_EXIT_REJECTED;
        }
        if (r == -EPIPE) {
                fprintf(stderr, "svcid: connect: the connection was closed before all input was sent\n");
                return CLI_EXIT_REJECTED;
        }
        if (r == -ECONNRESET) {
                /* The service, or a gate that could not judge or could
                 * not run its command (it closes the connection unread):
                 * line mode has no sign to tell which until the service
                 * has said something. On a Unix socket a reset means input
                 * left unread, and what was sent before it still arrives;
                 * over TCP it may also have cut the answer. */
                const char *why;

                if (strncmp(addr, "unix:", 5) != 0)
                        why = "input may have gone unread, and the answer may be cut";
                else if (answered)
                        why = "the service ended with input unread (its answer came in full)";
                else
                        why = "the service closed it with input unread, or the gate could not judge the token "
                              "or run its command (its log says which)";
                fprintf(stderr, "svcid: connect: the connection was reset: %s\n", why);
                return CLI_EXIT_REJECTED;
        }
        if (r < 0) {
                fprintf(stderr, "svcid: connect: %s\n", strerror(-r));
                return CLI_EXIT_REJECTED;
        }
        return CLI_EXIT_OK;
}
