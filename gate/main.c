/* SPDX-License-Identifier: MIT */
/* svcid-gate: init, pick the style from the socket systemd handed us,
 * run it. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../common/cleanup.h"
#include "../common/opt.h"
#include "../common/text.h"
#include "gate.h"

static void help(void) {
        printf("Usage: svcid-gate -a AUDIENCE [OPTION]... [--] COMMAND [ARG]...\n"
               "\n"
               "Admit a socket-activated connection only with a valid svcid token, then run\n"
               "COMMAND with the connection on stdin, stdout and fd 3 (LISTEN_FDS=1).\n"
               "Given one connection (Accept=yes, on fd 3 or on stdin) it judges it and becomes\n"
               "COMMAND; given a listening socket (Accept=no) it accepts itself and starts\n"
               "COMMAND once per admitted connection.\n"
               "\n"
               "  -a, --audience AUD      the audience tokens must carry (required)\n"
               "  -t, --trust PATH        JWKS file or directory of *.jwks (repeatable; default\n"
               "                          " TRUST_DIR_DEFAULT " and " TRUST_JWKS_DEFAULT ")\n"
               "      --issuer ISS        accept only this issuer\n"
               "  -r, --require C=GLOB    require claim C to match GLOB (repeatable)\n"
               "  -m, --mode line|http    line: first line \"SVCID1 <token>\"; http: the request's\n"
               "                          Authorization: Bearer header (default line)\n"
               "      --peer-uid          AF_UNIX only: the token's uid must be the peer's uid and\n"
               "                          its issuer this host's\n"
               "      --local-jwks PATH   this host's JWKS, naming its issuer (default\n"
               "                          " TRUST_JWKS_DEFAULT ")\n"
               "      --timeout S         seconds to wait for the preamble or request head\n"
               "                          (default 5)\n"
               "      --leeway S          clock leeway in seconds (default 60)\n"
               "      --max-lifetime S    longest token lifetime accepted (default 3600)\n"
               "      --max-services N    long-lived: services running at once, connections\n"
               "                          being judged counted in (1..65536, default 512)\n"
               "      --log-target T      auto, journal or stderr (default auto)\n"
               "      --check-config      load the trust and find COMMAND as a connection would,\n"
               "                          say what is wrong, and exit (no socket needed)\n"
               "  -h, --help              show this help\n"
               "      --version           show the version\n"
               "\n"
               "Exit status: COMMAND's once admitted; 1 connection refused; 2 usage or\n"
               "configuration error, or (long-lived) COMMAND cannot be executed; 127\n"
               "(per connection) COMMAND could not be executed.\n");
}

enum {
        OPT_ISSUER = 0x100,
        OPT_PEER_UID,
        OPT_LOCAL_JWKS,
        OPT_TIMEOUT,
        OPT_LEEWAY,
        OPT_MAX_LIFETIME,
        OPT_LOG_TARGET,
        OPT_MAX_SERVICES,
        OPT_CHECK_CONFIG,
        OPT_VERSION,
};

static const struct option options[] = {
        { "audience",     required_argument, NULL, 'a' },
        { "trust",        required_argument, NULL, 't' },
        { "issuer",       required_argument, NULL, OPT_ISSUER },
        { "require",      required_argument, NULL, 'r' },
        { "mode",         required_argument, NULL, 'm' },
        { "peer-uid",     no_argument,       NULL, OPT_PEER_UID },
        { "local-jwks",   required_argument, NULL, OPT_LOCAL_JWKS },
        { "timeout",      required_argument, NULL, OPT_TIMEOUT },
        { "leeway",       required_argument, NULL, OPT_LEEWAY },
        { "max-lifetime", required_argument, NULL, OPT_MAX_LIFETIME },
        { "log-target",   required_argument, NULL, OPT_LOG_TARGET },
        { "max-services", required_argument, NULL, OPT_MAX_SERVICES },
        { "check-config", no_argument,       NULL, OPT_CHECK_CONFIG },
        { "help",         no_argument,       NULL, 'h' },
        { "version",      no_argument,       NULL, OPT_VERSION },
        {}
};

static bool is_listening(int fd) {
        int v = 0;
        socklen_t sl = sizeof(v);

        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &sl) == 0 && v != 0;
}

/* Where the socket we were given is: fd 3 when LISTEN_PID and LISTEN_FDS
 * name us (-1 if LISTEN_FDS is not exactly one), else stdin. */
static int given_fd(void) {
        const char *e_pid = getenv("LISTEN_PID"), *e_fds = getenv("LISTEN_FDS");
        int64_t pid, n;

        if (e_pid && e_fds && parse_int64(e_pid, 1, INT32_MAX, &pid) == 0 && pid == getpid())
                return parse_int64(e_fds, 0, 1024, &n) == 0 && n == 1 ? 3 : -1;
        return STDIN_FILENO;
}

/* A usage error while a connection waits (the unit's command line is
 * wrong): no service will answer it. It is reset, as when the trust does
 * not load, so that a client cannot take its end for a service that said
 * nothing; a listening socket is left as it is (gate_reset_on_close). */
static int usage_exit(void) {
        int fd = given_fd(), type = 0;
        socklen_t sl = sizeof(type);

        if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0 && type == SOCK_STREAM &&
            !is_listening(fd))
                gate_reset_on_close(fd);
        return 2;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        usage_error_print("svcid-gate", "svcid-gate", fmt, ap);
        va_end(ap);
        return usage_exit();
}


/* The one socket we were given: LISTEN_FDS (fd 3) when it names us, else
 * stdin. LISTEN_* is dropped from our environment either way so that it
 * never reaches the service unchanged. */
static int find_socket(int *ret_fd) {
        int type = 0, fd = given_fd();
        socklen_t sl = sizeof(type);

        if (fd < 0) {
                const char *e_fds = getenv("LISTEN_FDS");
                char shown[64];

                /* as usage errors: the variable may hold any byte */
                copy_printable_n(shown, sizeof shown, e_fds, strlen(e_fds), true);
                fprintf(stderr, "svcid-gate: expected exactly one socket (LISTEN_FDS=%s)\n", shown);
                return -EINVAL;
        }
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM) {
                fprintf(stderr, "svcid-gate: no stream socket on fd %d: run it under systemd socket "
                        "activation (Accept=yes or no) or inetd\n", fd);
                return -ENOTSOCK;
        }
        *ret_fd = fd;
        return 0;
}

/* In the per-connection style this process lives for one connection,
 * and OpenSSL's start-up is most of its work. Skipped, none of it needed
 * to verify a signature with the default provider (callgrind, instructions
 * in one admission):
 *  - openssl.cnf, unless $OPENSSL_CONF names a file: Debian's stock file
 *    alone is 0.7 M to parse and asks for nothing the gate uses; naming it
 *    (or a FIPS one) in the unit's environment opts in, at that cost;
 *  - the legacy cipher and digest name tables;
 *  - the error strings, 0.9 M, loaded with the first error-queue mark:
 *    nothing here prints OpenSSL's error texts;
 *  - OPENSSL_cleanup() at exit, 0.4 M on every refusal, freeing memory the
 *    kernel reclaims anyway (no private key here).
 * Must run before any other OpenSSL call. On failure, why says what failed.
 * Fail closed: an administrator who named a configuration (a FIPS
 * provider, say) gets it or no service. */
static int openssl_init(char *why, size_t why_len) {
        uint64_t opts = OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
                        OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_NO_ATEXIT;
        const char *conf = getenv("OPENSSL_CONF");

        if (conf && *conf) {
                /* OpenSSL skips a missing file silently; a name given on
                 * purpose must not be. */
                if (access(conf, R_OK) < 0) {
                        snprintf(why, why_len, "cannot load the OpenSSL configuration \"%s\": no such readable file",
                                 conf);
                        return -ENOENT;
                }
                opts |= OPENSSL_INIT_LOAD_CONFIG;
        } else
                opts |= OPENSSL_INIT_NO_LOAD_CONFIG;
        if (OPENSSL_init_crypto(opts, NULL) != 1) {
                if (conf && *conf)
                        snprintf(why, why_len, "cannot load the OpenSSL configuration \"%s\"", conf);
                else
                        snprintf(why, why_len, "cannot initialise OpenSSL");
                return -EIO;
        }
        return 0;
}

/* --check-config: what a connection would meet before its token is read
 * (OpenSSL's set-up, COMMAND, the trust), said on stderr; exit 0 or 2. */
static int check_config(gate_config *cfg) {
        _cleanup_(free_p) char *command = NULL;
        gate_trust *t = NULL;
        char err[512] = "";
        int r;

        r = openssl_init(err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "svcid-gate: %s\n", err);
                return 2;
        }
        r = gate_command_find(cfg->argv[0], &command);
        if (r < 0) {
                fprintf(stderr, "svcid-gate: cannot execute \"%s\": %s\n", cfg->argv[0], strerror(-r));
                return 2;
        }
        cfg->command = command;
        r = gate_trust_load(cfg, &t, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "svcid-gate: cannot load trust: %s\n", err);
                return 2;
        }
        gate_trust_free(t);
        printf("ok: command %s, trust loaded\n", command);
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_(free_p) const char **trust = NULL;
        _cleanup_(free_p) const char **requires = NULL;
        _cleanup_(free_p) char *command = NULL;
        gate_config cfg = {
                .leeway = -1,
                .max_lifetime = -1,
                .mode = GATE_MODE_LINE,
                .local_jwks = TRUST_JWKS_DEFAULT,
                .timeout_ms = GATE_TIMEOUT_DEFAULT_MS,
                .max_services = 512,
        };
        gate_log_target log_target = GATE_LOG_AUTO;
        static const int repeatable[] = { 't', 'r', 0 };
        uint64_t seen = 0;
        char msg[512];
        int64_t v;
        int c, fd, r, prev_optind = optind;
        bool listening, check_only = false;

        trust = calloc((size_t) argc + 1, sizeof(char *));
        requires = calloc((size_t) argc + 1, sizeof(char *));
        if (!trust || !requires)
                return 1;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:a:t:r:m:h", options, NULL)) >= 0) {
                if (option_repeated(msg, sizeof msg, c, options, repeatable, &seen))
                        return usage_error("%s", msg);
                switch (c) {
                case 'a':
                        if (!*optarg)
                                return usage_error("empty audience");
                        cfg.audience = optarg;
                        break;
                case 't':
                        if (!*optarg)
                                return usage_error("empty --trust path");
                        trust[cfg.n_trust++] = optarg;
                        break;
                case 'r':
                        if (!strchr(optarg, '=') || optarg[0] == '=' || strchr(optarg, '=')[1] == '\0')
                                return usage_error("--require needs CLAIM=GLOB, neither empty, not \"%s\"", optarg);
                        requires[cfg.n_requires++] = optarg;
                        break;
                case OPT_ISSUER:
                        cfg.issuer = optarg;
                        break;
                case 'm':
                        if (strcmp(optarg, "line") == 0)
                                cfg.mode = GATE_MODE_LINE;
                        else if (strcmp(optarg, "http") == 0)
                                cfg.mode = GATE_MODE_HTTP;
                        else
                                return usage_error("unknown mode \"%s\" (line or http)", optarg);
                        break;
                case OPT_PEER_UID:
                        cfg.peer_uid = true;
                        break;
                case OPT_LOCAL_JWKS:
                        if (optarg[0] != '/')
                                return usage_error("--local-jwks needs an absolute path, not \"%s\"", optarg);
                        cfg.local_jwks = optarg;
                        break;
                case OPT_TIMEOUT:
                        if (parse_int64(optarg, 1, 3600, &v) < 0)
                                return usage_error("--timeout: \"%s\" is not a number of seconds in 1..3600", optarg);
                        cfg.timeout_ms = (int) v * 1000;
                        break;
                case OPT_LEEWAY:
                        if (parse_int64(optarg, 0, 3600, &v) < 0)
                                return usage_error("--leeway: \"%s\" is not a number of seconds in 0..3600", optarg);
                        cfg.leeway = v;
                        break;
                case OPT_MAX_LIFETIME:
                        if (parse_int64(optarg, 1, 86400, &v) < 0)
                                return usage_error("--max-lifetime: \"%s\" is not a number of seconds in 1..86400", optarg);
                        cfg.max_lifetime = v;
                        break;
                case OPT_MAX_SERVICES:
                        if (parse_int64(optarg, 1, 65536, &v) < 0)
                                return usage_error("--max-services: \"%s\" is not a number in 1..65536", optarg);
                        cfg.max_services = (unsigned) v;
                        break;
                case OPT_LOG_TARGET:
                        if (strcmp(optarg, "auto") == 0)
                                log_target = GATE_LOG_AUTO;
                        else if (strcmp(optarg, "journal") == 0)
                                log_target = GATE_LOG_JOURNAL;
                        else if (strcmp(optarg, "stderr") == 0)
                                log_target = GATE_LOG_STDERR;
                        else
                                return usage_error("unknown log target \"%s\" (auto, journal, stderr)", optarg);
                        break;
                case OPT_CHECK_CONFIG:
                        check_only = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("svcid-gate %s\n", svcid_version());
                        return 0;
                default:
                        option_error_message(msg, sizeof(msg), c, argv, prev_optind, options);
                        return usage_error("%s", msg);
                }
                prev_optind = optind;
        }
        if (!cfg.audience)
                return usage_error("an audience is required (-a AUD)");
        if (optind >= argc)
                return usage_error("no command to run after the options");
        cfg.trust = trust;
        cfg.requires = requires;
        cfg.argv = argv + optind;
        if (check_only)
                return check_config(&cfg);

        r = find_socket(&fd);
        if (r < 0)
                return 2;
        gate_log_init(log_target, fd);
        listening = is_listening(fd);
        if (cfg.peer_uid && listening) {
                struct sockaddr_storage ss = {};
                socklen_t sl = sizeof(ss);

                /* Each connection would be refused: say so once, now. (One
                 * per connection is refused, peer_mismatch, saying why.) */
                if (getsockname(fd, (struct sockaddr *) &ss, &sl) == 0 && ss.ss_family != AF_UNIX) {
                        gate_log(LOG_ERR, "--peer-uid needs an AF_UNIX socket, and the one given is not, closing");
                        (void) close(fd);
                        return 2;
                }
        }
        r = openssl_init(msg, sizeof(msg));
        if (r < 0) {
                gate_log(LOG_ERR, "%s, closing", msg);
                /* A connection is reset; a listening socket is left
                 * alone: systemd keeps it, and every connection accepted
                 * from it later would inherit SO_LINGER 0. */
                if (!listening)
                        gate_reset_on_close(fd);
                (void) close(fd);
                return 2;
        }

        /* Before any token is read: a command that cannot run must not
         * pass for a service that said nothing. The per-connection style
         * ends its connection unread (a reset) and exits as a failed exec
         * would; the long-lived style does not start. */
        r = gate_command_find(cfg.argv[0], &command);
        if (r < 0) {
                gate_log(LOG_ERR, "cannot execute \"%s\": %s, closing", cfg.argv[0], strerror(-r));
                if (!listening)
                        gate_reset_on_close(fd);
                (void) close(fd);
                return listening ? 2 : 127;
        }
        cfg.command = command;

        if (listening)
                return gate_run_listener(&cfg, fd);
        return gate_run_connection(&cfg, fd);
}
