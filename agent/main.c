/* SPDX-License-Identifier: MIT */
/* svcid-agent: mints short-lived tokens for local processes over a Unix
 * socket and publishes the public keys to verify them (svcid-agent(8)).
 * main() is a script: options, policy, keys, socket, serve, and teardown
 * in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/json.h"
#include "../common/opt.h"
#include "../common/text.h"
#include "../common/user.h"
#include "ask.h"
#include "config.h"
#include "http.h"
#include "keys.h"
#include "listen.h"
#include "log.h"
#include "peer.h"
#include "util.h"

/* When a key update fails (disk full...), try again this much later; the
 * active key signs meanwhile while the state on disk keeps it published. */
#define RETRY_SECONDS 10

typedef struct options {
        const char *config_path;
        bool config_given;
        const char *state_dir;
        const char *socket_path;
        log_target log_target;
        bool check_config;
        agent_ask ask;                  /* --reload PID, --rotate PID: ask that */
        pid_t ask_pid;                  /* agent, then exit */
} options;

static void usage(void) {
        printf("Usage: svcid-agent [OPTIONS]\n"
                "\n"
                "Mints short-lived tokens for local processes on a Unix socket.\n"
                "\n"
                "  -c, --config FILE        policy file (default " CONFIG_PATH_DEFAULT ")\n"
                "  -d, --state-dir DIR      keys and jwks.json (default: state_dir from\n"
                "                           the config, else " CONFIG_STATE_DIR_DEFAULT ")\n"
                "  -s, --socket PATH        socket when not socket-activated\n"
                "                           (default " SVCID_AGENT_SOCKET_DEFAULT ")\n"
                "  -f, --foreground         accepted for compatibility; never forks anyway\n"
                "      --log-target=auto|journal|stderr\n"
                "      --check-config       parse the policy file, report, and exit\n"
                "      --reload PID         make the agent of process PID reload its policy,\n"
                "                           wait until it has, and exit (with --socket if\n"
                "                           it serves another socket)\n"
                "      --rotate PID         the same for a rotation of its signing key\n"
                "  -h, --help               this text\n"
                "      --version            the version\n"
                "\n"
                "Signals: SIGHUP reloads the policy, SIGUSR2 rotates the signing key now,\n"
                "SIGTERM stops. See svcid-agent(8) and svcid.conf(5).\n");
}

/* Returns the exit status for usage errors. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        usage_error_print("svcid-agent", "svcid-agent", fmt, ap);
        va_end(ap);
        return 2;
}

static int parse_options(int argc, char **argv, options *o) {
        enum { OPT_LOG_TARGET = 0x100, OPT_VERSION, OPT_CHECK, OPT_RELOAD, OPT_ROTATE };
        static const struct option longopts[] = {
                { "config",       required_argument, NULL, 'c' },
                { "state-dir",    required_argument, NULL, 'd' },
                { "socket",       required_argument, NULL, 's' },
                { "foreground",   no_argument,       NULL, 'f' },
                { "log-target",   required_argument, NULL, OPT_LOG_TARGET },
                { "check-config", no_argument,       NULL, OPT_CHECK },
                { "reload",       required_argument, NULL, OPT_RELOAD },
                { "rotate",       required_argument, NULL, OPT_ROTATE },
                { "help",         no_argument,       NULL, 'h' },
                { "version",      no_argument,       NULL, OPT_VERSION },
                {}
        };
        uint64_t seen = 0;
        char msg[512];
        int c, prev_optind = optind;

        *o = (options) { .config_path = CONFIG_PATH_DEFAULT, .log_target = LOG_TARGET_AUTO };
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:d:s:fh", longopts, NULL)) >= 0) {
                if (option_repeated(msg, sizeof msg, c, longopts, NULL, &seen))
                        return usage_error("%s", msg);
                switch (c) {
                case 'c':
                        if (!optarg[0])
                                return usage_error("--config needs a file name");
                        o->config_path = optarg;
                        o->config_given = true;
                        break;
                case 'd':
                        if (optarg[0] != '/')
                                return usage_error("--state-dir needs an absolute path");
                        o->state_dir = optarg;
                        break;
                case 's':
                        if (!optarg[0])
                                return usage_error("--socket needs a path");
                        o->socket_path = optarg;
                        break;
                case 'f':
                        break;
                case OPT_LOG_TARGET:
                        if (log_target_from_str(optarg, &o->log_target) < 0)
                                return usage_error("--log-target must be auto, journal or stderr");
                        break;
                case OPT_CHECK:
                        o->check_config = true;
                        break;
                case OPT_RELOAD:
                case OPT_ROTATE: {
                        const char *name = c == OPT_RELOAD ? "--reload" : "--rotate";
                        int64_t pid;

                        if (o->ask)
                                return usage_error("--reload and --rotate are asked one at a time");
                        /* 1 too: the agent may be a container's pid 1 */
                        if (parse_int64(optarg, 1, INT32_MAX, &pid) < 0)
                                return usage_error("%s needs the agent's pid, not '%s'", name, optarg);
                        o->ask = c == OPT_RELOAD ? ASK_RELOAD : ASK_ROTATE;
                        o->ask_pid = (pid_t) pid;
                        break;
                }
                case 'h':
                        usage();
                        return 0;
                case OPT_VERSION:
                        printf("svcid-agent %s\n", SVCID_VERSION);
                        return 0;
                default:
                        option_error_message(msg, sizeof(msg), c, argv, prev_optind, longopts);
                        return usage_error("%s", msg);
                }
                prev_optind = optind;
        }
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        /* --reload and --rotate read no file: the agent uses its own */
        if (o->ask && (o->config_given || o->state_dir || o->check_config))
                return usage_error("%s takes no --config, --state-dir or --check-config: the agent uses "
                                   "those it was started with", o->ask == ASK_RELOAD ? "--reload" : "--rotate");
        return -1;
}

/* svcid://<fqdn>: the host name if it has a dot, else its canonical name
 * from the resolver (which reads /etc/hosts first), else the plain name. */
static char *default_issuer(void) {
        struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *ai = NULL;
        char host[256] = "", *iss = NULL;

        if (gethostname(host, sizeof host - 1) < 0 || !host[0])
                strcpy(host, "localhost");
        if (!strchr(host, '.') && getaddrinfo(host, NULL, &hints, &ai) == 0) {
                if (ai && ai->ai_canonname && strchr(ai->ai_canonname, '.') &&
                    strlen(ai->ai_canonname) < sizeof host)
                        strcpy(host, ai->ai_canonname);
                freeaddrinfo(ai);
        }
        if (asprintf(&iss, "svcid://%s", host) < 0)
                return NULL;
        if (!name_ok(iss)) {
                free(iss);
                return strdup("svcid://localhost");
        }
        return iss;
}

/* The default issuer, worked out once at start: a reload must not change
 * the issuer because the host name changed since. */
static char *fallback_issuer;

static char *issuer_for(const agent_config *cfg) {
        return strdup(cfg->issuer ? cfg->issuer : fallback_issuer);
}

/* --check-config as root: whether the unit's user, if this host has it,
 * can open path too. A child takes that user's ids and tries. */
static void check_unit_user_reads(const char *path) {
        struct passwd *pw;
        int status;
        pid_t pid;

        if (geteuid() != 0 || !(pw = getpwnam(SVCID_USER)))
                return;
        pid = fork();
        if (pid == 0) {
                if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
                        _exit(2);
                _exit(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) < 0 ? 1 : 0);
        }
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 1)
                log_warning("%s: user %s, which the shipped unit runs the agent as, cannot read it: "
                            "that agent would not start", path, SVCID_USER);
}

static void log_config_warnings(const agent_config *cfg) {
        for (size_t i = 0; i < cfg->n_warnings; i++)
                log_warning("%s", cfg->warnings[i]);
}

/* STATUS=, in printable ASCII: systemd ignores one that is not UTF-8,
 * and a policy file's or a directory's own bytes may be in it. */
static void __attribute__((format(printf, 1, 2))) notify_statusf(const char *fmt, ...) {
        char status[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(status, sizeof status, fmt, ap);
        va_end(ap);
        copy_printable_n(status, sizeof status, status, strlen(status), true);
        sd_notifyf(false, "STATUS=%s", status);
}

/* Why the last reload failed, until one succeeds (main thread only):
 * STATUS= keeps saying it, for whoever watches the unit rather than the log. */
static char reload_failure[600];

/* STATUS=: which key signs, then warning (when not ""), then the last
 * reload's failure. */
static void notify_status(agent_shared *sh, const char *warning) {
        const svcid_key *key;
        char signing[128] = "no key signs now";
        int64_t now = now_realtime();

        pthread_rwlock_rdlock(&sh->lock);
        key = keystore_active(sh->keys, now);
        /* as /v1/token would answer: see keystore_ttl_cap() */
        if (key && keystore_ttl_cap(sh->keys, now) > 0)
                snprintf(signing, sizeof signing, "signing with kid %s (%s)", svcid_key_kid(key),
                         svcid_alg_str(svcid_key_alg(key)));
        notify_statusf("%s, %zu key(s) published%s%s%s%s", signing, keystore_count(sh->keys),
                       warning[0] ? "; " : "", warning, reload_failure[0] ? "; the last reload failed: " : "",
                       reload_failure);
        pthread_rwlock_unlock(&sh->lock);
}

/* Says how the last key update went, in /v1/health's warning and in
 * STATUS= after the signing key: failed (failed_why), or done but for key
 * files it could not finish (keystore_unfinished()), or all done. */
static void report_keys(agent_shared *sh, const char *state_dir, const char *failed_why) {
        char failure[sizeof sh->key_update_failure] = "";
        const char *unfinished;

        if (failed_why)
                snprintf(failure, sizeof failure, "key update failed, retrying every %d s: %s", RETRY_SECONDS,
                         failed_why);
        else if ((unfinished = keystore_unfinished(sh->keys))) {
                int n = snprintf(failure, sizeof failure, "key update unfinished, retrying every %d s: in %s: %s",
                                 KEYSTORE_COMMIT_RETRY, state_dir, unfinished);

                /* a state directory too long to leave room for what is
                 * unfinished is left out, as keys_update() does */
                if (n < 0 || (size_t) n >= sizeof failure)
                        snprintf(failure, sizeof failure, "key update unfinished, retrying every %d s: %s",
                                 KEYSTORE_COMMIT_RETRY, unfinished);
        }
        /* JSON for /v1/health: a state directory named in another
         * encoding, or a name cut in a character, must not make it fail */
        copy_printable_n(failure, sizeof failure, failure, strlen(failure), true);
        if (strcmp(failure, sh->key_update_failure) != 0) {
                pthread_rwlock_wrlock(&sh->lock);
                memcpy(sh->key_update_failure, failure, sizeof failure);
                pthread_rwlock_unlock(&sh->lock);
        }
        notify_status(sh, failure);
}

static void log_serving(agent_shared *sh, const listener *lis, const char *state_dir) {
        log_info("serving on %s, issuer %s, state in %s", lis->from_systemd ? "the socket from systemd" : lis->path,
                 sh->issuer, state_dir);
        report_keys(sh, state_dir, NULL);
}

/* The reload or forced rotation asked for by the signal taken at began
 * is done, and failed for failure ("": it did not): /v1/health says so,
 * for svcid-agent --reload and --rotate. Both together, so that no
 * answer pairs one event's time with another's failure. */
static void event_finish(agent_shared *sh, agent_event *e, int64_t began, const char *failure) {
        char shown[sizeof e->failure];

        /* JSON for /v1/health: a policy file's own bytes may be in it */
        copy_printable_n(shown, sizeof shown, failure, strlen(failure), true);
        pthread_rwlock_wrlock(&sh->lock);
        e->began = began;
        memcpy(e->failure, shown, sizeof shown);
        pthread_rwlock_unlock(&sh->lock);
}

/* keystore_update(), whose messages name files in the state directory:
 * err says which directory. */
static int keys_update(keystore *ks, const agent_config *cfg, const char *issuer, const char *state_dir,
                       int64_t now, bool force, char *err, size_t err_len) {
        int n = snprintf(err, err_len, "in %s: ", state_dir);
        size_t off = n > 0 && (size_t) n + 128 <= err_len ? (size_t) n : 0;    /* room for the message */

        return keystore_update(ks, cfg, issuer, now, force, err + off, err_len - off);
}

/* Runs keystore_update() and reports; returns when to try again. A
 * forced rotation that failed is forced again at the retry: the operator
 * may have asked for it because a key is in doubt. If it failed and
 * failure is not NULL, failure gets why. */
static int64_t update_keys(agent_shared *sh, const char *state_dir, bool force, char *failure,
                           size_t failure_len) {
        static bool force_pending;      /* main thread only */
        char err[512] = "";
        int64_t now = now_realtime();
        int r;

        force = force || force_pending;
        r = keys_update(sh->keys, sh->config, sh->issuer, state_dir, now, force, err, sizeof err);
        force_pending = r < 0 && force;
        if (r < 0)
                /* Whether the active key may still sign is keystore_ttl_cap()'s
                 * to say, per request; /v1/health says it too, and why. */
                log_error("key update failed; retrying %sin %d s: %s", force ? "the forced rotation " : "",
                          RETRY_SECONDS, err);
        report_keys(sh, state_dir, r < 0 ? err : NULL);
        if (failure && r < 0)
                snprintf(failure, failure_len, "%s", err);
        return r < 0 ? now + RETRY_SECONDS : keystore_next_event(sh->keys, sh->config, now);
}

/* Reloads the policy; on failure, failure says why. */
static void reload(agent_shared *sh, const options *o, const char *state_dir, char *failure, size_t failure_len) {
        agent_config *cfg = NULL, *old;
        char err[512], *issuer, *old_issuer;
        int r;

        sd_notify(false, "RELOADING=1");
        /* A missing file gives the defaults only at start: on a running
         * agent it drops every account and restriction, so it is an
         * error like any other. */
        r = config_load(o->config_path, false, err, sizeof err, &cfg);
        if (r < 0) {
                log_error("reload: %s; keeping the old policy", err);
                snprintf(failure, failure_len, "%s (the old policy runs)", err);
                snprintf(reload_failure, sizeof reload_failure, "%s", failure);
                sd_notify(false, "READY=1");
                return;
        }
        if (!o->state_dir && strcmp(cfg->state_dir ? cfg->state_dir : CONFIG_STATE_DIR_DEFAULT, state_dir) != 0)
                log_warning("reload: state_dir changed to '%s'; that takes a restart, ignoring",
                            cfg->state_dir ? cfg->state_dir : CONFIG_STATE_DIR_DEFAULT);
        issuer = issuer_for(cfg);
        if (!issuer) {
                log_error("reload: out of memory; keeping the old policy");
                snprintf(failure, failure_len, "out of memory (the old policy runs)");
                snprintf(reload_failure, sizeof reload_failure, "%s", failure);
                config_free(cfg);
                sd_notify(false, "READY=1");
                return;
        }
        if (strcmp(issuer, sh->issuer) != 0)
                log_warning("reload: the issuer changes from %s to %s: tokens name it once jwks.json does, "
                            "and other hosts must trust it", sh->issuer, issuer);
        if (cfg->alg != sh->config->alg)
                log_info("reload: the algorithm changes from %s to %s: the next key is made for it (a "
                         "pending one is replaced now), published half a key's life before it signs; "
                         "SIGUSR2 makes one that signs at once", svcid_alg_str(sh->config->alg),
                         svcid_alg_str(cfg->alg));
        log_config_warnings(cfg);
        pthread_rwlock_wrlock(&sh->lock);
        old = sh->config;
        old_issuer = sh->issuer;
        sh->config = cfg;
        sh->issuer = issuer;
        /* under the write lock: no reader can put an old-policy token back */
        token_cache_clear(sh->cache);
        pthread_rwlock_unlock(&sh->lock);
        config_free(old);
        free(old_issuer);
        reload_failure[0] = '\0';
        log_info("reloaded %s: %zu account(s), anonymous %s", o->config_path, cfg->n_accounts,
                 cfg->anonymous ? "allowed" : "denied");
        sd_notify(false, "READY=1");
}

/* What the agent needs to mint: the policy, the issuer, the state
 * directory and its keys. On success they are in sh and *ret_state_dir;
 * on failure err says why and sh is as it was. A missing default policy
 * file gives the defaults here: this is (still) the start. */
static int bring_up(agent_shared *sh, const options *o, char **ret_state_dir, char *err, size_t err_len) {
        agent_config *cfg = NULL;
        char *issuer = NULL, *dir = NULL;
        keystore *ks = NULL;
        int r;

        r = config_load(o->config_path, !o->config_given, err, err_len, &cfg);
        if (r < 0)
                return r;
        issuer = issuer_for(cfg);
        dir = strdup(o->state_dir ? o->state_dir : cfg->state_dir ? cfg->state_dir : CONFIG_STATE_DIR_DEFAULT);
        r = !issuer || !dir ? -ENOMEM : 0;
        if (r < 0)
                snprintf(err, err_len, "out of memory");
        if (r == 0)
                r = keystore_open(dir, &sh->lock, err, err_len, &ks);
        if (r == 0)
                r = keys_update(ks, cfg, issuer, dir, now_realtime(), false, err, err_len);
        if (r < 0) {
                keystore_free(ks);
                config_free(cfg);
                free(issuer);
                free(dir);
                return r;
        }
        log_config_warnings(cfg);
        pthread_rwlock_wrlock(&sh->lock);
        sh->config = cfg;
        sh->issuer = issuer;
        sh->keys = ks;
        pthread_rwlock_unlock(&sh->lock);
        *ret_state_dir = dir;
        return 0;
}

static void notify_down(const char *why) {
        notify_statusf("not up: %s; trying again every %d s and on a reload (SIGHUP)", why, RETRY_SECONDS);
}

/* Another try of bring_up() for an agent that is not up. A reload asked
 * for it (SIGHUP) always logs its cause, so that whoever asked sees an
 * answer; a try of its own only when the cause differs from the last one
 * (why), which STATUS= then says. Returns when to act next. */
static int64_t retry_up(agent_shared *sh, const options *o, const listener *lis, bool reload,
                        char **state_dir, char *why, size_t why_len) {
        char err[512] = "";

        if (bring_up(sh, o, state_dir, err, sizeof err) < 0) {
                if (reload || strcmp(err, why) != 0) {
                        log_error("%s%s; still answering 503", reload ? "reload: " : "", err);
                        if (strcmp(err, why) != 0)
                                notify_down(err);
                        snprintf(why, why_len, "%s", err);
                }
                return now_realtime() + RETRY_SECONDS;
        }
        log_serving(sh, lis, *state_dir);
        return keystore_next_event(sh->keys, sh->config, now_realtime());
}

/* HTTP threads: half the CPUs, 1 to 4. The callers need CPU too, and a
 * mint is short; on a 2-CPU host one thread gave the best tail latency. */
static unsigned http_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;

        return n < 1 ? 1 : n > 4 ? 4 : (unsigned) n;
}

static void raise_fd_limit(void) {
        struct rlimit rl;

        /* the connection cap needs its fds, two a connection (epoll has
         * no FD_SETSIZE limit); http_start() sizes the cap to what we get */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < HTTP_FD_WANTED) {
                rl.rlim_cur = rl.rlim_max < HTTP_FD_WANTED ? rl.rlim_max : HTTP_FD_WANTED;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char **argv) {
        agent_shared sh = { .lock = PTHREAD_RWLOCK_INITIALIZER };
        pthread_rwlockattr_t lock_attr;
        listener lis = { .fd = -1 };
        http_server *server = NULL;
        _cleanup_(close_fdp) int sfd = -1;
        _cleanup_(free_p) char *state_dir = NULL;     /* outlives a reloaded config */
        uint64_t watchdog_usec = 0;
        sigset_t mask;
        char err[512] = "", down_why[512] = "";
        options o;
        int r, ret = 1;
        int64_t next;

        r = parse_options(argc, argv, &o);
        if (r >= 0)
                return r;
        log_open(o.log_target);
        json_guard_install();   /* before any thread that uses jansson */
        /* The signing keys live in this process's memory: no core file
         * (wherever core_pattern puts one) and no ptrace by another
         * process of the same user, as ssh-agent does. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                log_warning("prctl(PR_SET_DUMPABLE): %m: a crash could write the keys into a core file");
        /* A reload or a rotation asked for while the agent starts waits
         * for its loop (their default action would end it). */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR2);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        /* The legacy cipher and digest name tables are not needed to sign
         * with the default provider, nor OpenSSL's error texts (nothing
         * here prints them); openssl.cnf is still read, for sites that
         * configure providers (FIPS) there. */
        (void) OPENSSL_init_crypto(OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS |
                                           OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
                                   NULL);

        if (o.ask)
                return ask_agent(o.socket_path, o.ask_pid, o.ask);
        if (o.check_config) {
                agent_config *cfg;

                r = config_load(o.config_path, !o.config_given, err, sizeof err, &cfg);
                if (r < 0) {
                        log_error("%s", err);
                        return 1;
                }
                log_config_warnings(cfg);
                if (r == 0)
                        check_unit_user_reads(o.config_path);
                if (r > 0)
                        printf("%s: not present: the defaults apply\n", o.config_path);
                else
                        printf("%s: ok (%zu account(s))\n", o.config_path, cfg->n_accounts);
                config_free(cfg);
                return 0;
        }
        fallback_issuer = default_issuer();
        if (!fallback_issuer) {
                log_error("out of memory");
                goto out;
        }

        /* Writers (key rotation, reload) must not starve behind a stream
         * of mints. */
        pthread_rwlockattr_init(&lock_attr);
        pthread_rwlockattr_setkind_np(&lock_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&sh.lock, &lock_attr);
        pthread_rwlockattr_destroy(&lock_attr);

        r = token_cache_new(&sh.cache);
        if (r < 0) {
                log_error("cannot set up the token cache: %s", strerror(-r));
                goto out;
        }
        /* Not started by a socket: a bad policy stops the start before
         * anything is bound or made. */
        if (sd_listen_fds(false) <= 0) {
                agent_config *cfg = NULL;

                r = config_load(o.config_path, !o.config_given, err, sizeof err, &cfg);
                config_free(cfg);
                if (r < 0) {
                        log_error("%s", err);
                        goto out;
                }
        }
        r = peer_check_proc(err, sizeof err);
        if (r >= 0)
                r = peer_check_unit_root(err, sizeof err);
        if (r < 0) {
                log_error("%s", err);
                goto out;
        }
        /* The socket before the keys: an agent that will not serve (another
         * answers there) must not have made keys first. */
        raise_fd_limit();
        r = listener_open(o.socket_path ? o.socket_path : SVCID_AGENT_SOCKET_DEFAULT, &lis, err, sizeof err);
        if (r < 0) {
                log_error("%s", err);
                goto out;
        }
        if (!lis.from_systemd && listener_hidden(&lis, err, sizeof err))
                log_warning("other users cannot reach %s: they may not search %s", lis.path, err);
        /* Started by its socket, an agent that cannot come up stays, and
         * answers 503 until a reload brings it up: exiting would have
         * systemd start it again for the same waiting caller, until the
         * start limit stops the socket too. */
        r = bring_up(&sh, &o, &state_dir, err, sizeof err);
        if (r < 0 && !lis.from_systemd) {
                log_error("%s", err);
                goto out;
        }
        if (r < 0) {
                log_error("%s; answering 503, and trying again every %d s and on a reload (SIGHUP)", err,
                          RETRY_SECONDS);
                snprintf(down_why, sizeof down_why, "%s", err);
        }

        /* Signals go to the signalfd; the HTTP threads inherit the mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR2);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                log_error("signalfd: %m");
                goto out;
        }

        r = http_start(lis.fd, &sh, http_threads(), &server);
        if (r < 0) {
                log_error("cannot start the HTTP server");
                goto out;
        }

        sd_notify(false, "READY=1");
        if (sh.keys)
                log_serving(&sh, &lis, state_dir);
        else
                notify_down(down_why);
        if (sd_watchdog_enabled(false, &watchdog_usec) <= 0)
                watchdog_usec = 0;

        next = sh.keys ? keystore_next_event(sh.keys, sh.config, now_realtime()) : now_realtime() + RETRY_SECONDS;
        for (;;) {
                struct pollfd pfd = { .fd = sfd, .events = POLLIN };
                struct timespec ts;
                int64_t wait_ms;

                clock_gettime(CLOCK_REALTIME, &ts);
                wait_ms = (next - (int64_t) ts.tv_sec) * 1000 - ts.tv_nsec / 1000000;
                if (wait_ms < 50)
                        wait_ms = 50;   /* never spin, even if the clock jumps */
                if (wait_ms > 3600 * 1000)
                        wait_ms = 3600 * 1000;
                if (watchdog_usec && wait_ms > (int64_t) (watchdog_usec / 2000))
                        wait_ms = (int64_t) (watchdog_usec / 2000);

                r = poll(&pfd, 1, (int) wait_ms);
                if (r < 0 && errno != EINTR) {
                        log_error("poll: %m");
                        break;
                }
                if (watchdog_usec)
                        sd_notify(false, "WATCHDOG=1");
                if (r > 0) {
                        struct signalfd_siginfo si;
                        bool stop = false;

                        while (read(sfd, &si, sizeof si) == (ssize_t) sizeof si) {
                                switch (si.ssi_signo) {
                                case SIGHUP: {
                                        /* taken once the signal is read: later than any
                                         * answer given before it was sent (--reload) */
                                        int64_t began = now_monotonic_ns();
                                        char failure[sizeof sh.reload.failure] = "", keys[512] = "";

                                        if (!sh.keys) {
                                                next = retry_up(&sh, &o, &lis, true, &state_dir, down_why,
                                                               sizeof down_why);
                                                if (!sh.keys)
                                                        snprintf(failure, sizeof failure,
                                                                 "%s (the agent is still not up)", down_why);
                                        } else {
                                                reload(&sh, &o, state_dir, failure, sizeof failure);
                                                /* a new issuer or max_ttl is in force only
                                                 * once the key files say it */
                                                next = update_keys(&sh, state_dir, false, keys, sizeof keys);
                                                if (!failure[0] && keys[0])
                                                        snprintf(failure, sizeof failure,
                                                                 "the policy is loaded, but the key update failed "
                                                                 "(retrying every %d s): %s", RETRY_SECONDS, keys);
                                        }
                                        event_finish(&sh, &sh.reload, began, failure);
                                        break;
                                }
                                case SIGUSR2: {
                                        int64_t began = now_monotonic_ns();
                                        char failure[sizeof sh.rotation.failure] = "";

                                        if (!sh.keys) {
                                                log_warning("SIGUSR2: the agent is not up, it has no key to rotate");
                                                snprintf(failure, sizeof failure,
                                                         "the agent is not up: it has no key to rotate");
                                        } else {
                                                log_notice("forced key rotation (SIGUSR2)");
                                                next = update_keys(&sh, state_dir, true, failure, sizeof failure);
                                        }
                                        event_finish(&sh, &sh.rotation, began, failure);
                                        break;
                                }
                                default:
                                        stop = true;
                                }
                        }
                        if (stop)
                                break;
                }
                if (now_realtime() >= next)
                        next = sh.keys ? update_keys(&sh, state_dir, false, NULL, 0)
                                       : retry_up(&sh, &o, &lis, false, &state_dir, down_why, sizeof down_why);
        }

        log_info("stopping");
        sd_notify(false, "STOPPING=1");
        http_drain(server);
        ret = 0;
out:
        http_stop(server);
        listener_close(&lis);
        keystore_free(sh.keys);
        token_cache_free(sh.cache);
        peer_cache_free();
        config_free(sh.config);
        free(sh.issuer);
        free(fallback_issuer);
        return ret;
}
