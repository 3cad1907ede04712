/* SPDX-License-Identifier: MIT */
/*
 * pam_svcid in-process: the real module (build/pam_svcid.so) loaded by the
 * real Linux-PAM through pam_start_confdir() with service files in a temp
 * dir, tokens minted here with libsvcid, trust written as JWKS files.
 *
 * The module's own parsers (args.c, map.c, file.c, trust.c, token.c) are
 * also compiled into this test to check them directly, most of all on
 * malformed input.
 *
 * Audit lines: this machine runs no syslog daemon, so the test captures
 * what libpam's pam_syslog() hands to glibc (__syslog_chk, defined below
 * and bound by libpam in place of glibc's) to assert reasons and that a
 * token never appears in a log line. The shell tests read the same lines
 * through pam_wrapper and from a real syslog socket.
 *
 * Needs root: the module trusts only root-owned files. Without root only
 * the parser tests run, and the test exits 77.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <security/pam_appl.h>

#include "svcid/svcid.h"

/* Paths here are short temp paths; snprintf truncation is not a risk. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "../pam/args.c"
#include "../pam/map.c"
#include "../pam/file.c"
#include "../pam/trust.c"
#include "../pam/token.c"

#define ISS "svcid://test.example"
#define AUD "ssh:test"

/* ---- captured syslog ----------------------------------------------------- */

static char logbuf[256 * 1024];
static size_t loglen;
static pthread_mutex_t loglock = PTHREAD_MUTEX_INITIALIZER;

void __syslog_chk(int priority, int flag, const char *fmt, ...);
void __syslog_chk(int priority, int flag, const char *fmt, ...) {
        va_list ap;
        int n;

        (void) flag;
        pthread_mutex_lock(&loglock);
        if (loglen + 256 >= sizeof logbuf) {
                pthread_mutex_unlock(&loglock);
                return;
        }
        n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "<%d>", priority);
        if (n > 0 && (size_t) n < sizeof logbuf - loglen)
                loglen += (size_t) n;
        va_start(ap, fmt);
        n = vsnprintf(logbuf + loglen, sizeof logbuf - loglen, fmt, ap);
        va_end(ap);
        if (n > 0)
                loglen = loglen + (size_t) n < sizeof logbuf - 2 ? loglen + (size_t) n : sizeof logbuf - 2;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = '\0';
        pthread_mutex_unlock(&loglock);
}

/* The capture's lock is held across fork() as the module's own cache
 * lock is (test_fork_during_trust_load): a child logs too. */
static void loglock_take(void) {
        pthread_mutex_lock(&loglock);
}

static void loglock_give(void) {
        pthread_mutex_unlock(&loglock);
}

static void log_clear(void) {
        pthread_mutex_lock(&loglock);
        loglen = 0;
        logbuf[0] = '\0';
        pthread_mutex_unlock(&loglock);
}

static void assert_logged(const char *needle) {
        if (!strstr(logbuf, needle)) {
                fprintf(stderr, "expected in the log: %s\n--- log:\n%s---\n", needle, logbuf);
                fail();
        }
}

static void assert_not_logged(const char *needle) {
        if (strstr(logbuf, needle)) {
                fprintf(stderr, "unexpected in the log: %s\n--- log:\n%s---\n", needle, logbuf);
                fail();
        }
}

/* ---- fixture ------------------------------------------------------------- */

static char tmpdir[] = "/tmp/svcid-test-pam-XXXXXX";
static char module[PATH_MAX];
static char trust_dir[PATH_MAX];
static char trust_file[PATH_MAX];
static svcid_key *key;          /* trusted for ISS, in trust_dir/test.jwks */
static svcid_key *other_key;    /* trusted for nobody */
static unsigned service_no;

static void write_file(const char *path, const char *data, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen(data);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

/* Waits until the coarse clock, which stamps file changes, is past this
 * moment: everything written before is then older than any load that
 * begins after, and the trust cache may keep what it loads. (Past the
 * fine clock's reading, not just one tick on: the coarse clock is
 * published a little after its tick, and a change in between can carry a
 * fine-grained stamp later than the tick it shows.) */
static void next_tick(void) {
        struct timespec now, coarse;

        assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
        do {
                usleep(500);
                assert_int_equal(clock_gettime(CLOCK_REALTIME_COARSE, &coarse), 0);
        } while (coarse.tv_sec < now.tv_sec || (coarse.tv_sec == now.tv_sec && coarse.tv_nsec <= now.tv_nsec));
}

static char *jwks_for(const char *iss, const svcid_key *k) {
        char *jwk = NULL, *doc = NULL;

        assert_int_equal(svcid_key_public_jwk(k, &jwk), 0);
        assert_true(asprintf(&doc, "{\"iss\":\"%s\",\"keys\":[%s]}", iss, jwk) > 0);
        free(jwk);
        return doc;
}

/* A service file "svc-N" in tmpdir/pam.d from text, "@M@" standing for
 * the module's path. */
static const char *raw_service(const char *text) {
        static char name[32];
        char path[PATH_MAX];
        FILE *f;

        snprintf(name, sizeof name, "svc-%u", ++service_no);
        snprintf(path, sizeof path, "%s/pam.d/%s", tmpdir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        for (const char *p = text; *p; p++) {
                if (strncmp(p, "@M@", 3) == 0) {
                        fputs(module, f);
                        p += 2;
                } else
                        fputc(*p, f);
        }
        assert_int_equal(fclose(f), 0);
        return name;
}

/* What an application sees when the module returns PAM_IGNORE in the
 * stacks service() writes: the pam_deny line after it runs. A success
 * ends the stack ("done"), a refusal is the module's own code ("die"). */
#define ACCOUNT_IGNORED PAM_AUTH_ERR
#define SESSION_IGNORED PAM_SESSION_ERR

/* NULL args leave a type out. */
static const char *service(const char *auth_args, const char *account_args, const char *session_args) {
        char *text = NULL;
        const char *name;

        assert_true(asprintf(&text,
                             "%s%s%s"
                             "%s%s%s"
                             "%s%s%s",
                             auth_args ? "auth required @M@ " : "", auth_args ? auth_args : "", auth_args ? "\n" : "",
                             account_args ? "account [success=done ignore=ignore default=die] @M@ " : "",
                             account_args ? account_args : "",
                             account_args ? "\naccount required pam_deny.so\n" : "",
                             session_args ? "session [success=done ignore=ignore default=die] @M@ " : "",
                             session_args ? session_args : "",
                             session_args ? "\nsession required pam_deny.so\n" : "") > 0);
        name = raw_service(text);
        free(text);
        return name;
}

/* The default auth line of most tests. */
static const char *auth_service(const char *extra) {
        char args[1024];

        snprintf(args, sizeof args, "audience=" AUD " trust=%s %s", trust_dir, extra ? extra : "");
        return service(args, "", "");
}

/* ---- conversation -------------------------------------------------------- */

typedef struct conv_data {
        const char *answer;     /* NULL: the conversation fails */
        const char *other;      /* for prompts other than the module's */
        int again;              /* this many calls return PAM_CONV_AGAIN first */
        int prompts;
        char last_prompt[64];
} conv_data;

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *userdata) {
        conv_data *cd = userdata;
        struct pam_response *r = calloc((size_t) n, sizeof *r);

        if (!r)
                return PAM_BUF_ERR;
        if (cd->again > 0) {
                cd->again--;
                free(r);
                return PAM_CONV_AGAIN;
        }
        for (int i = 0; i < n; i++) {
                if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
                        continue;
                cd->prompts++;
                snprintf(cd->last_prompt, sizeof cd->last_prompt, "%s", msg[i]->msg);
                if (!cd->answer) {
                        for (int j = 0; j < i; j++)
                                free(r[j].resp);
                        free(r);
                        return PAM_CONV_ERR;
                }
                r[i].resp = strdup(cd->other && strcmp(msg[i]->msg, "svcid token: ") != 0 ? cd->other
                                                                                          : cd->answer);
        }
        *resp = r;
        return PAM_SUCCESS;
}

static pam_handle_t *start(const char *svc, const char *user, conv_data *cd) {
        char confdir[PATH_MAX];
        struct pam_conv c = { conv, cd };
        pam_handle_t *pamh = NULL;

        snprintf(confdir, sizeof confdir, "%s/pam.d", tmpdir);
        assert_int_equal(pam_start_confdir(svc, user, &c, confdir, &pamh), PAM_SUCCESS);
        return pamh;
}

/* One authentication with a fresh handle: the PAM result. */
static int auth_once(const char *svc, const char *user, const char *answer) {
        conv_data cd = { .answer = answer };
        pam_handle_t *pamh = start(svc, user, &cd);
        int r = pam_authenticate(pamh, 0);

        pam_end(pamh, r);
        return r;
}

/* ---- tokens -------------------------------------------------------------- */

static bool cut_point(size_t len) {
        for (size_t p = 128; p <= 8192; p *= 2)
                if (len == p || len == p - 1)
                        return true;
        return false;
}

/* Signs claims (printf-style JSON); pads so that the length is not one of
 * the cut points, which would turn a signature failure into "truncated". */
static char *mint_with(const svcid_key *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *mint_with(const svcid_key *k, const char *fmt, ...) {
        char *claims = NULL, *token = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&claims, fmt, ap);
        va_end(ap);
        assert_true(n > 0);
        assert_int_equal(svcid_jwt_sign(k, claims, strlen(claims), &token), 0);
        if (cut_point(strlen(token))) {
                char *padded = NULL;
                svcid_free_secret(token);
                assert_true(asprintf(&padded, "{\"pad\":\"xxxx\",%s", claims + 1) > 0);
                assert_int_equal(svcid_jwt_sign(k, padded, strlen(padded), &token), 0);
                free(padded);
        }
        free(claims);
        return token;
}

static int64_t now(void) {
        return (int64_t) time(NULL);
}

/* A good token for sub, with a unit and a policy claim. */
static char *mint_sub(const char *sub) {
        return mint_with(key,
                         "{\"iss\":\"" ISS "\",\"sub\":\"%s\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,"
                         "\"jti\":\"jti-%s\",\"uid\":1000,\"gid\":1000,\"unit\":\"deploy.service\","
                         "\"stage\":\"deploy\"}",
                         sub, (long long) now(), (long long) now() + 300, sub);
}

static char *b64(const char *s) {
        char *out = NULL;

        assert_int_equal(svcid_b64url_encode(s, strlen(s), &out), 0);
        return out;
}

/* header.payload.signature from raw JSON, with a 64-byte signature of
 * zeros: for tokens libsvcid would not sign. */
static char *craft(const char *header, const char *payload) {
        unsigned char zeros[64] = {};
        char *h = b64(header), *p = b64(payload), *s = NULL, *t = NULL;

        assert_int_equal(svcid_b64url_encode(zeros, sizeof zeros, &s), 0);
        assert_true(asprintf(&t, "%s.%s.%s", h, p, s) > 0);
        free(h);
        free(p);
        free(s);
        return t;
}

/* ---- setup --------------------------------------------------------------- */

static int setup(void **state) {
        const char *build = getenv("SVCID_BUILD");
        char path[PATH_MAX], *doc;

        (void) state;
        snprintf(module, sizeof module, "%s/pam_svcid.so", build ? build : "build");
        if (module[0] != '/') {
                char cwd[PATH_MAX - 64];
                assert_non_null(getcwd(cwd, sizeof cwd));
                snprintf(path, sizeof path, "%s/%s", cwd, module);
                snprintf(module, sizeof module, "%s", path);
        }
        if (access(module, R_OK) != 0) {
                fprintf(stderr, "no module at %s\n", module);
                return -1;
        }
        if (!mkdtemp(tmpdir) || pthread_atfork(loglock_take, loglock_give, loglock_give) != 0)
                return -1;
        snprintf(path, sizeof path, "%s/pam.d", tmpdir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(trust_dir, sizeof trust_dir, "%s/trust.d", tmpdir);
        assert_int_equal(mkdir(trust_dir, 0755), 0);
        snprintf(trust_file, sizeof trust_file, "%s/test.jwks", trust_dir);

        assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &key), 0);
        assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &other_key), 0);
        doc = jwks_for(ISS, key);
        write_file(trust_file, doc, 0644);
        free(doc);
        return 0;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];

        (void) state;
        svcid_key_unref(key);
        svcid_key_unref(other_key);
        if (strstr(tmpdir, "XXXXXX") == NULL) {
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
                if (system(cmd) != 0)
                        return -1;
        }
        return 0;
}

/* ---- parsers, directly ----------------------------------------------------- */

static int parse(const char *line, pam_svcid_args *a, char *err, size_t err_len) {
        const char *argv[16];
        char *copy = strdup(line), *save = NULL, *tok;
        static char *keep[16];
        int argc = 0, r;

        assert_non_null(copy);
        for (tok = strtok_r(copy, " ", &save); tok && argc < 16; tok = strtok_r(NULL, " ", &save))
                argv[argc++] = tok;
        r = pam_svcid_args_parse(argc, argv, PAM_SVCID_LINE_AUTH, a, err, err_len);
        /* argv strings are borrowed by *a: keep the copy alive. */
        free(keep[0]);
        keep[0] = copy;
        return r;
}

static void test_args_good(void **state) {
        pam_svcid_args a;
        char err[256] = "";

        (void) state;
        assert_int_equal(parse("audience=ssh:web01", &a, err, sizeof err), 0);
        assert_string_equal(a.audience, "ssh:web01");
        assert_int_equal(a.leeway, SVCID_LEEWAY_DEFAULT);
        assert_int_equal(a.max_lifetime, SVCID_MAX_LIFETIME_DEFAULT);
        assert_int_equal(a.n_token, 1);
        assert_int_equal(a.token[0], PAM_SVCID_SOURCE_AUTHTOK);
        assert_int_equal(a.n_trust, 0);
        assert_false(a.debug);

        assert_int_equal(parse("audience=a trust=/x trust=/y issuer=svcid://h require=stage=deploy "
                               "require=roles=dep* map=/etc/m leeway=0 max_lifetime=86400 token=env,authtok "
                               "debug try_first_pass",
                               &a, err, sizeof err), 0);
        assert_int_equal(a.n_trust, 2);
        assert_string_equal(a.trust[1], "/y");
        assert_string_equal(a.issuer, "svcid://h");
        assert_int_equal(a.n_require, 2);
        assert_string_equal(a.require[1], "roles=dep*");
        assert_string_equal(a.map, "/etc/m");
        assert_int_equal(a.leeway, 0);
        assert_int_equal(a.max_lifetime, 86400);
        assert_int_equal(a.n_token, 2);
        assert_int_equal(a.token[0], PAM_SVCID_SOURCE_ENV);
        assert_int_equal(a.token[1], PAM_SVCID_SOURCE_AUTHTOK);
        assert_true(a.debug && !a.use_first_pass && a.try_first_pass);
        assert_int_equal(parse("audience=a use_first_pass", &a, err, sizeof err), 0);
        assert_true(a.use_first_pass && !a.try_first_pass);

        /* No arguments at all is fine for the parser (account, session). */
        assert_int_equal(pam_svcid_args_parse(0, NULL, PAM_SVCID_LINE_ACCOUNT, &a, err, sizeof err), 0);
        assert_null(a.audience);
}

static void test_args_bad(void **state) {
        static const struct {
                const char *line;
                const char *quoted;     /* what the message must quote */
        } cases[] = {
                { "audience=a foo", "\"foo\"" },
                { "audience=a Debug", "\"Debug\"" },
                { "audience=a audience=b", "\"audience=b\"" },
                { "audience=", "\"audience=\"" },
                { "audience", "\"audience\"" },
                { "audience=a trust=relative/path", "\"trust=relative/path\"" },
                { "audience=a trust=", "\"trust=\"" },
                { "audience=a map=m", "\"map=m\"" },
                { "audience=a map=/a map=/b", "\"map=/b\"" },
                { "audience=a issuer=", "\"issuer=\"" },
                { "audience=a issuer=x issuer=y", "\"issuer=y\"" },
                { "audience=a require=stage", "\"require=stage\"" },
                { "audience=a require==x", "\"require==x\"" },
                { "audience=a require=", "\"require=\"" },
                { "audience=a require=unit=", "\"require=unit=\"" },
                { "audience=a leeway=abc", "\"leeway=abc\"" },
                { "audience=a leeway=-1", "\"leeway=-1\"" },
                { "audience=a leeway=+5", "\"leeway=+5\"" },
                { "audience=a leeway=3601", "\"leeway=3601\"" },
                { "audience=a leeway=", "\"leeway=\"" },
                { "audience=a leeway=0x10", "\"leeway=0x10\"" },
                { "audience=a leeway=99999999999999999999999", "\"leeway=99999999999999999999999\"" },
                { "audience=a leeway=5 leeway=6", "\"leeway=6\"" },
                { "audience=a max_lifetime=0", "\"max_lifetime=0\"" },
                { "audience=a max_lifetime=86401", "\"max_lifetime=86401\"" },
                { "audience=a max_lifetime=1 max_lifetime=2", "\"max_lifetime=2\"" },
                { "audience=a token=", "\"token=\"" },
                { "audience=a token=both", "\"token=both\"" },
                { "audience=a token=env,env", "\"token=env,env\"" },
                { "audience=a token=env,", "\"token=env,\"" },
                { "audience=a token=,env", "\"token=,env\"" },
                { "audience=a token=ENV", "\"token=ENV\"" },
                { "audience=a token=env token=authtok", "\"token=authtok\"" },
                { "audience=a use_first_pass=1", "\"use_first_pass=1\"" },
                { "audience=a debug debug", "\"debug\": given twice" },
                { "audience=a use_first_pass use_first_pass", "\"use_first_pass\": given twice" },
                { "audience=a try_first_pass try_first_pass", "\"try_first_pass\": given twice" },
                { "audience=a use_first_pass try_first_pass", "\"try_first_pass\": use_first_pass and" },
                { "audience=a try_first_pass use_first_pass", "\"use_first_pass\": use_first_pass and" },
                { "audience=a trust=/etc/svcid/trust.d/", "\"trust=/etc/svcid/trust.d/\": ends in" },
                { "audience=a trust=/", "\"trust=/\": ends in" },
                { "audience=a map=/etc/svcid/map/", "\"map=/etc/svcid/map/\": ends in" },
                { "audience=login:%", "\"audience=login:%\"" },
                { "audience=login:%h", "\"audience=login:%h\"" },
                { "audience=%H%x", "\"audience=%H%x\"" },
                { "audience=%%%", "\"audience=%%%\"" },
                /* a known name must be followed by '=' */
                { "audience=a issuers=x", "\"issuers=x\": unknown argument" },
                { "audience=a leeway5", "\"leeway5\": unknown argument" },
                { "audience=a map=", "\"map=\": empty value" },
                /* a source's whole name, not a prefix of it */
                { "audience=a token=authtoken", "\"token=authtoken\"" },
                { "audience=a token=envx", "\"token=envx\"" },
        };
        pam_svcid_args a;
        char err[256];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                err[0] = '\0';
                if (parse(cases[i].line, &a, err, sizeof err) != -EINVAL || !strstr(err, cases[i].quoted)) {
                        fprintf(stderr, "case \"%s\": err \"%s\"\n", cases[i].line, err);
                        fail();
                }
        }

        /* A control character in an argument is quoted printably. */
        {
                const char *argv[] = { "bad\x1b[0m\"x" };
                assert_int_equal(pam_svcid_args_parse(1, argv, PAM_SVCID_LINE_AUTH, &a, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, "\"bad?[0m?x\""));
        }
        /* Too many repeatable arguments. */
        {
                const char *argv[PAM_SVCID_MAX_TRUST + 1];
                for (size_t i = 0; i < ELEMENTSOF(argv); i++)
                        argv[i] = "trust=/x";
                assert_int_equal(pam_svcid_args_parse((int) ELEMENTSOF(argv), argv, PAM_SVCID_LINE_AUTH, &a, err,
                                                      sizeof err),
                                 -EINVAL);
        }
        {
                const char *argv[PAM_SVCID_MAX_REQUIRE + 2] = { "audience=a" };
                for (size_t i = 1; i < ELEMENTSOF(argv); i++)
                        argv[i] = "require=stage=x";
                assert_int_equal(pam_svcid_args_parse((int) ELEMENTSOF(argv) - 1, argv, PAM_SVCID_LINE_AUTH, &a, err,
                                                      sizeof err),
                                 0);
                assert_int_equal(a.n_require, PAM_SVCID_MAX_REQUIRE);
                assert_int_equal(pam_svcid_args_parse((int) ELEMENTSOF(argv), argv, PAM_SVCID_LINE_AUTH, &a, err,
                                                      sizeof err),
                                 -EINVAL);
                assert_non_null(strstr(err, "more than 32 require= arguments"));
        }
        /* A NULL among the arguments is refused, not read. */
        {
                const char *argv[] = { "audience=a", NULL };
                assert_int_equal(pam_svcid_args_parse(2, argv, PAM_SVCID_LINE_AUTH, &a, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, "\"(null)\": missing"));
        }
}

static void test_expand_audience(void **state) {
        pam_svcid_args a;
        char err[256] = "", *out = NULL;

        (void) state;
        assert_int_equal(parse("audience=login:%H", &a, err, sizeof err), 0);
        /* "%%" is a literal '%', whatever follows it */
        assert_int_equal(parse("audience=100%%x%%%%:%H", &a, err, sizeof err), 0);
        assert_string_equal(a.audience, "100%%x%%%%:%H");
        assert_int_equal(pam_svcid_expand_audience("login:%H", "web01", &out), 0);
        assert_string_equal(out, "login:web01");
        free(out);
        assert_int_equal(pam_svcid_expand_audience("%H/%%/%H", "h", &out), 0);
        assert_string_equal(out, "h/%/h");
        free(out);
        assert_int_equal(pam_svcid_expand_audience("plain", "h", &out), 0);
        assert_string_equal(out, "plain");
        free(out);
        out = NULL;
        assert_int_equal(pam_svcid_expand_audience("x%", "h", &out), -EINVAL);
        assert_int_equal(pam_svcid_expand_audience("x%y", "h", &out), -EINVAL);
        assert_null(out);
}

/* The one integer reader of every part (common/num.c), as pam_svcid's
 * leeway= and max_lifetime= use it. */
static void test_parse_int(void **state) {
        int64_t v = 7;

        (void) state;
        assert_int_equal(parse_int64("0", 0, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_int64("10", 0, 10, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(parse_int64("-5", -5, 10, &v), 0);
        assert_int_equal(v, -5);
        assert_int_equal(parse_int64("11", 0, 10, &v), -ERANGE);
        assert_int_equal(parse_int64("-1", 0, 10, &v), -EINVAL);     /* no sign where none can be */
        assert_int_equal(parse_int64("-0", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("-0", -1, 10, &v), 0);
        assert_int_equal(parse_int64("-11", -10, 10, &v), -ERANGE);
        assert_int_equal(parse_int64("", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("-", -5, 10, &v), -EINVAL);
        assert_int_equal(parse_int64(" 1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("1 ", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("+1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("0x1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("--1", -5, 10, &v), -EINVAL);
        assert_int_equal(parse_int64(NULL, 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("9223372036854775808", 0, INT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_int64("-9223372036854775809", INT64_MIN, 0, &v), -ERANGE);
        assert_int_equal(parse_int64("9223372036854775807", 0, INT64_MAX, &v), 0);
        assert_true(v == INT64_MAX);
}

static void test_map_good(void **state) {
        const char *text = "# comment\n"
                           "\n"
                           "   # indented comment\n"
                           "deploy-bot deploy\n"
                           "\tci-*\t  builder  \r\n"
                           "svc-[ab] root";          /* no final newline */
        pam_svcid_map *m = NULL;
        char err[128] = "";

        (void) state;
        assert_int_equal(pam_svcid_map_parse(text, strlen(text), &m, err, sizeof err), 0);
        assert_int_equal(pam_svcid_map_size(m), 3);
        assert_true(pam_svcid_map_allows(m, "deploy-bot", "deploy"));
        assert_true(pam_svcid_map_allows(m, "ci-runner-7", "builder"));
        assert_true(pam_svcid_map_allows(m, "svc-a", "root"));
        assert_false(pam_svcid_map_allows(m, "svc-c", "root"));
        assert_false(pam_svcid_map_allows(m, "deploy-bot", "builder"));
        assert_false(pam_svcid_map_allows(m, "deploy-bot", "deplo"));
        assert_false(pam_svcid_map_allows(m, "deploy-bot", "deploy2"));
        assert_false(pam_svcid_map_allows(m, "xci-1", "builder"));
        assert_false(pam_svcid_map_allows(m, "Deploy-Bot", "deploy"));
        assert_false(pam_svcid_map_allows(m, "CI-runner-7", "builder"));
        /* fnmatch(3) with no flags, as pam_svcid(8) says: * takes a '/' */
        assert_true(pam_svcid_map_allows(m, "ci-a/b", "builder"));
        assert_false(pam_svcid_map_allows(NULL, "deploy-bot", "deploy"));
        pam_svcid_map_free(m);

        assert_int_equal(pam_svcid_map_parse("", 0, &m, err, sizeof err), 0);
        assert_int_equal(pam_svcid_map_size(m), 0);
        assert_false(pam_svcid_map_allows(m, "a", "a"));
        pam_svcid_map_free(m);

        /* A UTF-8 byte order mark at the start is skipped, before a line
         * or a comment; anywhere else it is part of the glob. */
        text = "\xef\xbb\xbf" "deploy-bot deploy\n\xef\xbb\xbf" "ci-* builder\n";
        assert_int_equal(pam_svcid_map_parse(text, strlen(text), &m, err, sizeof err), 0);
        assert_int_equal(pam_svcid_map_size(m), 2);
        assert_true(pam_svcid_map_allows(m, "deploy-bot", "deploy"));
        assert_false(pam_svcid_map_allows(m, "ci-1", "builder"));
        pam_svcid_map_free(m);
        text = "\xef\xbb\xbf# who may log in as whom\n";
        assert_int_equal(pam_svcid_map_parse(text, strlen(text), &m, err, sizeof err), 0);
        assert_int_equal(pam_svcid_map_size(m), 0);
        pam_svcid_map_free(m);
        assert_int_equal(pam_svcid_map_parse("\xef\xbb", 2, &m, err, sizeof err), -EINVAL);
}

static void test_map_bad(void **state) {
        static const struct {
                const char *text;
                const char *err;
        } cases[] = {
                { "onlyone\n", "line 1: expected \"SUBJECT-GLOB USER\"" },
                { "ok ok\nthree fields here\n", "line 2: expected \"SUBJECT-GLOB USER\"" },
                { "ok ok\n\n\na b c", "line 4:" },
                { "a b:c\n", "line 1: bad user name" },
                { "a b/c\n", "line 1: bad user name" },
                { "a \x7f\n", "line 1: bad user name" },
                { "a\x01 b\n", "line 1: bad subject glob" },
                { "a b\x01\n", "line 1:" },
                { "a b\vc\n", "line 1:" },
                { "a\xc3\xa9 b\xc3\xa9\n", "line 1: bad user name" },
                { "a\x7f b\n", "line 1: bad subject glob" },
                /* a bad line stops the file, also with good lines after it */
                { "a b:c\nok ok\n", "line 1: bad user name" },
                { "ok ok\nonlyone\nok2 ok2\n", "line 2: expected" },
        };
        pam_svcid_map *m = NULL;
        char err[128];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                err[0] = '\0';
                m = NULL;
                if (pam_svcid_map_parse(cases[i].text, strlen(cases[i].text), &m, err, sizeof err) != -EINVAL ||
                    !strstr(err, cases[i].err) || m) {
                        fprintf(stderr, "case %zu: err \"%s\"\n", i, err);
                        fail();
                }
        }
        /* A NUL byte, an over-long line, an over-large file. */
        assert_int_equal(pam_svcid_map_parse("a b\0c d\n", 8, &m, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "NUL"));
        {
                size_t n = PAM_SVCID_MAP_LINE_MAX + 10;
                char *big = malloc(n + 1);
                assert_non_null(big);
                memset(big, 'a', n);
                big[n - 2] = ' ';
                big[n] = '\0';
                assert_int_equal(pam_svcid_map_parse(big, n, &m, err, sizeof err), -EINVAL);
                assert_non_null(strstr(err, "longer"));
                free(big);
        }
        {
                size_t n = PAM_SVCID_MAP_MAX + 1;
                char *big = malloc(n);
                assert_non_null(big);
                memset(big, '\n', n);
                assert_int_equal(pam_svcid_map_parse(big, n, &m, err, sizeof err), -EFBIG);
                free(big);
        }
        /* The caps themselves are taken, one byte more is not: a 512-byte
         * glob, a 256-byte user, a 1024-byte line, a 64 KiB file. */
        {
                static const struct {
                        size_t glob, blanks, user;
                        const char *err;
                } lines[] = {
                        { 512, 256, 256, NULL },
                        { 513, 255, 256, "line 1: bad subject glob" },
                        { 512, 255, 257, "line 1: bad user name" },
                        { 512, 257, 256, "line 1: longer than 1024 bytes" },
                };
                char line[PAM_SVCID_MAP_LINE_MAX + 2];

                for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                        size_t n = lines[i].glob + lines[i].blanks + lines[i].user;

                        memset(line, 'g', lines[i].glob);
                        memset(line + lines[i].glob, ' ', lines[i].blanks);
                        memset(line + lines[i].glob + lines[i].blanks, 'u', lines[i].user);
                        err[0] = '\0';
                        m = NULL;
                        if (!lines[i].err) {
                                assert_int_equal(pam_svcid_map_parse(line, n, &m, err, sizeof err), 0);
                                assert_int_equal(pam_svcid_map_size(m), 1);
                                pam_svcid_map_free(m);
                        } else if (pam_svcid_map_parse(line, n, &m, err, sizeof err) != -EINVAL ||
                                   !strstr(err, lines[i].err) || m) {
                                fprintf(stderr, "line %zu: err \"%s\"\n", i, err);
                                fail();
                        }
                }
        }
        {
                size_t n = PAM_SVCID_MAP_MAX;
                char *big = malloc(n);
                assert_non_null(big);
                memset(big, '\n', n);
                m = NULL;
                assert_int_equal(pam_svcid_map_parse(big, n, &m, err, sizeof err), 0);
                assert_int_equal(pam_svcid_map_size(m), 0);
                pam_svcid_map_free(m);
                free(big);
        }
}

/* A token whose header names alg, with a signature segment of n 'A's,
 * its length not a cut point. */
static char *with_signature(const char *alg, size_t n) {
        char header[64], payload[64], *h, *p, *t = NULL;

        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        for (size_t pad = 0;; pad++) {
                size_t len;

                snprintf(payload, sizeof payload, "{\"sub\":\"alice%.*s\"}", (int) pad, "xxxxxxxx");
                h = b64(header);
                p = b64(payload);
                free(t);
                assert_true(asprintf(&t, "%s.%s.", h, p) > 0);
                len = strlen(t);
                t = realloc(t, len + n + 1);
                assert_non_null(t);
                memset(t + len, 'A', n);
                t[len + n] = '\0';
                free(h);
                free(p);
                if (!cut_point(strlen(t)))
                        return t;
        }
}

/* A token of exactly len bytes whose header names alg, with a signature
 * segment of sig 'A's: the payload takes up the rest. */
static char *at_length(const char *alg, size_t sig, size_t len) {
        char header[64], *h, *p, *payload, *t = NULL;
        size_t hl;

        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        h = b64(header);
        hl = strlen(h);
        assert_true(len > hl + sig + 2 + 16);
        /* The rule reads the header and the signature's length, not the
         * payload: A's fill it. */
        payload = malloc(len - hl - sig - 2 + 1);
        assert_non_null(payload);
        memset(payload, 'A', len - hl - sig - 2);
        payload[len - hl - sig - 2] = '\0';
        p = payload;
        assert_true(asprintf(&t, "%s.%s.%*s", h, p, (int) sig, "") > 0);
        memset(t + hl + 1 + strlen(p) + 1, 'A', sig);
        free(h);
        free(p);
        return t;
}

static void test_truncation_rule(void **state) {
        char *t = mint_sub("alice"), *cut;
        size_t len = strlen(t);

        (void) state;
        /* Whole tokens that fail for other reasons are never "truncated". */
        assert_false(pam_svcid_looks_truncated(t, len, SVCID_EXPIRED));
        assert_false(pam_svcid_looks_truncated(t, len, SVCID_WRONG_AUDIENCE));
        /* Cut points, for any token that failed to split or verify. */
        for (size_t p = 128; p <= 8192; p *= 2) {
                char *junk = malloc(p + 1);
                assert_non_null(junk);
                memset(junk, 'A', p);
                junk[p] = '\0';
                assert_true(pam_svcid_looks_truncated(junk, p, SVCID_MALFORMED));
                assert_true(pam_svcid_looks_truncated(junk, p - 1, SVCID_BAD_SIGNATURE));
                assert_false(pam_svcid_looks_truncated(junk, p - 2, SVCID_MALFORMED));
                assert_false(pam_svcid_looks_truncated(junk, p, SVCID_EXPIRED));
                free(junk);
        }
        /* A signature segment shorter than ES256's 86 characters. */
        cut = strndup(t, len - 10);
        assert_non_null(cut);
        if (!cut_point(len - 10))
                assert_true(pam_svcid_looks_truncated(cut, len - 10, SVCID_MALFORMED));
        free(cut);
        /* Cut right after the second dot. */
        cut = strndup(t, (size_t) (strrchr(t, '.') - t) + 1);
        assert_true(pam_svcid_looks_truncated(cut, strlen(cut), SVCID_MALFORMED));
        free(cut);
        /* The shortest signature of each alg, one character short: cut;
         * whole (a bad signature, not a cut one): not. */
        {
                static const struct {
                        const char *alg;
                        size_t min;
                } algs[] = { { "ES256", 86 }, { "EdDSA", 86 }, { "RS256", 342 }, { "PS256", 342 } };

                for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
                        char *s = with_signature(algs[i].alg, algs[i].min - 1);
                        if (!pam_svcid_looks_truncated(s, strlen(s), SVCID_BAD_SIGNATURE))
                                fail_msg("%s: a %zu-character signature is not seen as cut", algs[i].alg,
                                         algs[i].min - 1);
                        free(s);
                        s = with_signature(algs[i].alg, algs[i].min);
                        if (pam_svcid_looks_truncated(s, strlen(s), SVCID_BAD_SIGNATURE))
                                fail_msg("%s: a %zu-character signature is seen as cut", algs[i].alg, algs[i].min);
                        free(s);
                }
        }
        /* At a cut point, a whole ES256 or EdDSA signature (their only
         * length) says the token arrived whole: a forged one is not "cut".
         * An RSA signature's length depends on the key: the cut point
         * still counts. */
        {
                static const struct {
                        const char *alg;
                        size_t sig;
                        bool cut;
                } whole[] = {
                        { "ES256", 86, false }, { "EdDSA", 86, false }, { "ES256", 90, false },
                        { "ES256", 85, true }, { "RS256", 342, true }, { "PS256", 400, true },
                };

                for (size_t i = 0; i < ELEMENTSOF(whole); i++)
                        for (size_t p = 512; p <= 1024; p *= 2) {
                                char *s = at_length(whole[i].alg, whole[i].sig, p);
                                assert_int_equal(strlen(s), p);
                                if (pam_svcid_looks_truncated(s, p, SVCID_BAD_SIGNATURE) != whole[i].cut ||
                                    pam_svcid_looks_truncated(s, p, SVCID_MALFORMED) != whole[i].cut)
                                        fail_msg("%s, %zu-character signature, %zu bytes: cut must be %d",
                                                 whole[i].alg, whole[i].sig, p, whole[i].cut);
                                free(s);
                        }
        }
        /* Four segments, the last short: garbled, not cut. */
        {
                char *s = with_signature("ES256", 40), *four = NULL;
                assert_true(asprintf(&four, "%s.%s", s, "AAAA") > 0);
                assert_false(cut_point(strlen(four)));
                assert_false(pam_svcid_looks_truncated(four, strlen(four), SVCID_MALFORMED));
                free(s);
                free(four);
        }
        /* A short last segment whose header is not a JWS header is not. */
        assert_false(pam_svcid_looks_truncated("abc.def.gh", 10, SVCID_MALFORMED));
        assert_false(pam_svcid_looks_truncated("abc", 3, SVCID_MALFORMED));
        assert_false(pam_svcid_looks_truncated("a.b.c.d", 7, SVCID_MALFORMED));
        svcid_free_secret(t);
}

/* ---- file safety and the trust cache, directly --------------------------- */

/* 1 once process pid waits in the kernel function named (its wchan),
 * within 10 s; 0 if it does not; -1 if this kernel does not name it
 * (wchan reads "0", as in some sandboxes). */
static int blocked_in(pid_t pid, const char *function) {
        char path[64], seen[128] = "";

        snprintf(path, sizeof path, "/proc/%d/wchan", (int) pid);
        for (int i = 0; i < 1000; i++) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd < 0 ? -1 : read(fd, seen, sizeof seen - 1);

                if (fd >= 0)
                        close(fd);
                if (n > 0) {
                        seen[n] = '\0';
                        if (strcmp(seen, function) == 0)
                                return 1;
                }
                usleep(10000);
        }
        return strcmp(seen, "0") == 0 || seen[0] == '\0' ? -1 : 0;
}

static void test_read_file_safety(void **state) {
        char path[PATH_MAX], link[PATH_MAX], err[256], *data = NULL;
        size_t len;

        (void) state;
        snprintf(path, sizeof path, "%s/plain", tmpdir);
        write_file(path, "hello", 0644);
        assert_int_equal(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), 0);
        assert_int_equal(len, 5);
        assert_string_equal(data, "hello");
        free(data);

        /* At the cap, and over it. */
        assert_int_equal(pam_svcid_read_file(path, 5, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err), 0);
        assert_string_equal(data, "hello");
        free(data);
        assert_int_equal(pam_svcid_read_file(path, 4, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err),
                         -EFBIG);
        /* A file whose size fstat() does not tell (proc's say 0) is
         * capped by what a read brings. */
        assert_int_equal(pam_svcid_read_file("/proc/self/status", 16, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EFBIG);
        assert_non_null(strstr(err, "is larger than 16 bytes"));
        /* A name of NAME_MAX bytes is a name. */
        {
                char longest[PATH_MAX];
                int o = snprintf(longest, sizeof longest, "%s/", tmpdir);

                memset(longest + o, 'n', NAME_MAX);
                longest[o + NAME_MAX] = '\0';
                write_file(longest, "long", 0644);
                assert_int_equal(pam_svcid_read_file(longest, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                                     sizeof err), 0);
                assert_string_equal(data, "long");
                free(data);
                unlink(longest);
                strcat(longest, "n");
                assert_int_equal(pam_svcid_read_file(longest, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                                     sizeof err), -ENAMETOOLONG);
        }
        /* Relative path. */
        assert_int_equal(pam_svcid_read_file("plain", 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EINVAL);
        /* Group- and world-writable. */
        assert_int_equal(chmod(path, 0664), 0);
        assert_true(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err) < 0);
        assert_non_null(strstr(err, "writable"));
        assert_int_equal(chmod(path, 0646), 0);
        assert_true(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err) < 0);
        assert_int_equal(chmod(path, 0600), 0);
        /* Not root's. */
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_true(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err) < 0);
        assert_non_null(strstr(err, "owned by uid 65534"));
        /* Unless that uid is the agent's (a trust file). */
        assert_int_equal(pam_svcid_read_file(path, 100, 65534, &data, &len, NULL, err, sizeof err), 0);
        free(data);
        assert_int_equal(chown(path, 0, 0), 0);
        /* A symlink to a good file. */
        snprintf(link, sizeof link, "%s/link", tmpdir);
        assert_int_equal(symlink(path, link), 0);
        assert_true(pam_svcid_read_file(link, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err) < 0);
        assert_non_null(strstr(err, "symbolic link"));
        unlink(link);
        /* A directory, a FIFO (must not block), a missing file. */
        assert_true(pam_svcid_read_file(tmpdir, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err, sizeof err) < 0);
        snprintf(link, sizeof link, "%s/fifo", tmpdir);
        assert_int_equal(mkfifo(link, 0600), 0);
        {
                /* Not even opened: a writer waiting for a reader stays
                 * waiting (an open for reading would wake it). */
                int done[2], status, waiting;
                struct pollfd pfd;
                pid_t writer;
                char c;

                assert_int_equal(pipe(done), 0);
                writer = fork();
                assert_true(writer >= 0);
                if (writer == 0) {
                        close(done[0]);
                        if (open(link, O_WRONLY) >= 0)
                                (void) !write(done[1], "w", 1);
                        _exit(0);
                }
                close(done[1]);
                waiting = blocked_in(writer, "wait_for_partner");
                assert_int_not_equal(waiting, 0);
                if (waiting < 0)
                        print_message("/proc/PID/wchan names no function here: whether the FIFO was "
                                      "opened is not checked\n");
                assert_true(pam_svcid_read_file(link, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                                sizeof err) < 0);
                assert_non_null(strstr(err, "not a regular file"));
                pfd = (struct pollfd) { .fd = done[0], .events = POLLIN };
                if (waiting > 0)
                        assert_int_equal(poll(&pfd, 1, 200), 0);
                /* Now a reader comes, and the writer goes on. */
                close(open(link, O_RDONLY | O_NONBLOCK));
                assert_int_equal(read(done[0], &c, 1), 1);
                assert_int_equal(waitpid(writer, &status, 0), writer);
                close(done[0]);
        }
        unlink(link);
        /* A socket: the same words, not "No such device or address". */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int sk = socket(AF_UNIX, SOCK_STREAM, 0);

                snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", tmpdir);
                assert_true(sk >= 0);
                assert_int_equal(bind(sk, (struct sockaddr *) &sa, sizeof sa), 0);
                assert_true(pam_svcid_read_file(sa.sun_path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                                sizeof err) < 0);
                assert_non_null(strstr(err, "not a regular file"));
                close(sk);
                unlink(sa.sun_path);
        }
        assert_int_equal(pam_svcid_read_file("/nonexistent/x", 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL,
                                             err, sizeof err), -ENOENT);
        unlink(path);
}

/* The directories above a file: a writer of any of them could put
 * another file in its place, so each must be root's (or the agent's) and
 * writable by no one else, unless sticky. A symlink above the file is
 * followed and its target's directories are what count. */
static void test_read_file_parents(void **state) {
        char sub[PATH_MAX], deeper[PATH_MAX], path[PATH_MAX], deep[PATH_MAX], link[PATH_MAX], via[PATH_MAX];
        char err[512], want[PATH_MAX + 64], *data = NULL;
        size_t len;
        int r;

        (void) state;
        snprintf(sub, sizeof sub, "%s/sub", tmpdir);
        snprintf(deeper, sizeof deeper, "%s/deeper", sub);
        snprintf(path, sizeof path, "%s/f", sub);
        snprintf(deep, sizeof deep, "%s/f", deeper);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(mkdir(deeper, 0755), 0);
        write_file(path, "hello", 0644);
        write_file(deep, "deep", 0644);
        assert_int_equal(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), 0);
        free(data);

        /* Group- or world-writable, without the sticky bit: refused, and
         * for a file any number of levels below it. */
        snprintf(want, sizeof want, "directory \"%s\" is writable by group or others (mode 0775)", sub);
        assert_int_equal(chmod(sub, 0775), 0);
        assert_int_equal(pam_svcid_read_file(path, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EPERM);
        assert_non_null(strstr(err, want));
        assert_int_equal(pam_svcid_read_file(deep, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EPERM);
        assert_non_null(strstr(err, want));
        assert_int_equal(chmod(sub, 0757), 0);
        assert_int_equal(pam_svcid_read_file(deep, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EPERM);
        assert_non_null(strstr(err, "(mode 0757)"));
        /* Sticky, as /tmp: others cannot rename or remove root's entries. */
        assert_int_equal(chmod(sub, 01777), 0);
        assert_int_equal(pam_svcid_read_file(deep, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), 0);
        free(data);
        assert_int_equal(chmod(sub, 0755), 0);

        /* Owned by someone else: refused, unless that is the agent. */
        assert_int_equal(chown(sub, 65534, 65534), 0);
        assert_int_equal(pam_svcid_read_file(deep, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EPERM);
        snprintf(want, sizeof want, "directory \"%s\" is owned by uid 65534", sub);
        assert_non_null(strstr(err, want));
        assert_int_equal(pam_svcid_read_file(deep, 100, 65534, &data, &len, NULL, err, sizeof err), 0);
        free(data);
        assert_int_equal(chown(sub, 0, 0), 0);

        /* A symlink above the file leads to a checked directory. */
        snprintf(link, sizeof link, "%s/link", tmpdir);
        snprintf(via, sizeof via, "%s/deeper/f", link);
        assert_int_equal(symlink(sub, link), 0);
        assert_int_equal(pam_svcid_read_file(via, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), 0);
        assert_string_equal(data, "deep");
        free(data);
        assert_int_equal(chmod(sub, 0777), 0);
        assert_int_equal(pam_svcid_read_file(via, 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EPERM);
        snprintf(want, sizeof want, "directory \"%s\" is writable", sub);
        assert_non_null(strstr(err, want));
        assert_int_equal(chmod(sub, 0755), 0);

        /* "/" itself is checked: in a child chrooted to a directory that
         * others may write, the file below it is refused. */
        {
                char root[PATH_MAX], file[PATH_MAX + 8];
                int status;
                pid_t pid;

                snprintf(root, sizeof root, "%s/root", tmpdir);
                snprintf(file, sizeof file, "%s/f", root);
                assert_int_equal(mkdir(root, 0755), 0);
                write_file(file, "hello", 0644);
                for (int open_root = 0; open_root < 2; open_root++) {
                        assert_int_equal(chmod(root, open_root ? 0777 : 0755), 0);
                        pid = fork();
                        if (pid == 0) {
                                /* no cmocka asserts in the child */
                                if (chroot(root) < 0 || chdir("/") < 0)
                                        _exit(2);
                                r = pam_svcid_read_file("/f", 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                                        sizeof err);
                                if (r == 0)
                                        _exit(0);
                                _exit(r == -EPERM && strstr(err, "directory \"/\" is writable by group or others")
                                              ? 1 : 3);
                        }
                        assert_true(pid > 0);
                        assert_int_equal(waitpid(pid, &status, 0), pid);
                        assert_true(WIFEXITED(status));
                        assert_int_equal(WEXITSTATUS(status), open_root ? 1 : 0);
                }
                unlink(file);
                rmdir(root);
        }

        /* No last component. */
        assert_int_equal(pam_svcid_read_file("/", 100, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                             sizeof err), -EINVAL);
        unlink(link);
        unlink(deep);
        unlink(path);
        rmdir(deeper);
        rmdir(sub);
}

static void test_trust_cache(void **state) {
        char dir[PATH_MAX], file[PATH_MAX], err[256] = "", *doc;
        const char *paths[1] = { dir };
        pam_svcid_trust_ref *a = NULL, *b = NULL, *c = NULL;
        unsigned long before;
        struct timespec ts[2];

        (void) state;
        snprintf(dir, sizeof dir, "%s/cache.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(file, sizeof file, "%s/one.jwks", dir);
        doc = jwks_for(ISS, key);
        write_file(file, doc, 0644);
        next_tick();

        before = pam_svcid_trust_loads();
        assert_int_equal(pam_svcid_trust_get(paths, 1, &a, err, sizeof err), 0);
        assert_int_equal(pam_svcid_trust_loads(), before + 1);
        assert_non_null(svcid_trust_find(pam_svcid_trust_of(a), ISS, svcid_key_kid(key)));
        /* Unchanged: the same parsed store, no parse. */
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(pam_svcid_trust_loads(), before + 1);
        pam_svcid_trust_put(b);

        /* Same content, new mtime: parsed again. */
        assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts[0]), 0);
        ts[0].tv_sec += 5;
        ts[1] = ts[0];
        assert_int_equal(utimensat(AT_FDCWD, file, ts, 0), 0);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
        assert_ptr_not_equal(a, b);
        assert_int_equal(pam_svcid_trust_loads(), before + 2);
        /* a stays usable while held, though the cache moved on. */
        assert_non_null(svcid_trust_find(pam_svcid_trust_of(a), ISS, svcid_key_kid(key)));
        pam_svcid_trust_put(a);
        pam_svcid_trust_put(b);

        /* A new file in the directory: parsed again, both issuers. */
        free(doc);
        doc = jwks_for("svcid://other", other_key);
        snprintf(file, sizeof file, "%s/two.jwks", dir);
        write_file(file, doc, 0644);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &c, err, sizeof err), 0);
        assert_int_equal(pam_svcid_trust_loads(), before + 3);
        assert_true(svcid_trust_has_issuer(pam_svcid_trust_of(c), "svcid://other"));
        pam_svcid_trust_put(c);
        /* Files not named *.jwks and hidden ones are not read. */
        snprintf(file, sizeof file, "%s/.hidden.jwks", dir);
        write_file(file, "garbage", 0644);
        snprintf(file, sizeof file, "%s/notes.txt", dir);
        write_file(file, "garbage", 0644);
        snprintf(file, sizeof file, "%s/two.jwks~", dir);
        write_file(file, "garbage", 0644);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &c, err, sizeof err), 0);
        pam_svcid_trust_put(c);
        /* A chmod alone (ctime) invalidates, and the unsafe mode is seen. */
        snprintf(file, sizeof file, "%s/two.jwks", dir);
        assert_int_equal(chmod(file, 0666), 0);
        assert_true(pam_svcid_trust_get(paths, 1, &c, err, sizeof err) < 0);
        assert_non_null(strstr(err, "writable"));
        {       /* named with its directory: there may be several */
                char want[PATH_MAX + 64];
                snprintf(want, sizeof want, "in \"%s\": \"two.jwks\" is writable", dir);
                assert_non_null(strstr(err, want));
        }
        assert_int_equal(chmod(file, 0644), 0);
        /* A bad JWKS fails the whole store. */
        write_file(file, "{\"iss\":\"x\",\"keys\":[{}]}", 0644);
        assert_true(pam_svcid_trust_get(paths, 1, &c, err, sizeof err) < 0);
        assert_non_null(strstr(err, "bad JWKS"));
        assert_non_null(strstr(err, dir));
        unlink(file);
        /* A group-writable directory. */
        assert_int_equal(chmod(dir, 0775), 0);
        assert_true(pam_svcid_trust_get(paths, 1, &c, err, sizeof err) < 0);
        assert_int_equal(chmod(dir, 0755), 0);
        /* A symlinked *.jwks inside. */
        snprintf(file, sizeof file, "%s/link.jwks", dir);
        assert_int_equal(symlink(trust_file, file), 0);
        assert_true(pam_svcid_trust_get(paths, 1, &c, err, sizeof err) < 0);
        assert_non_null(strstr(err, "symbolic link"));
        assert_non_null(strstr(err, dir));
        unlink(file);
        /* An empty directory trusts nothing: an error, not a silent pass. */
        snprintf(file, sizeof file, "%s/one.jwks", dir);
        unlink(file);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &c, err, sizeof err), -ENOKEY);
        {       /* naming where it looked */
                char want[PATH_MAX + 32];
                snprintf(want, sizeof want, "no trusted issuer key in %s (a directory gives only its *.jwks files)",
                         dir);
                assert_string_equal(err, want);
        }
        free(doc);
}

/* trust= naming a file: the file is the store's one source. */
static void test_trust_cache_file(void **state) {
        char file[PATH_MAX], err[256] = "", *doc = jwks_for(ISS, key), *doc2 = jwks_for(ISS, other_key);
        const char *paths[1] = { file };
        pam_svcid_trust_ref *a = NULL, *b = NULL;
        struct stat st;
        struct timespec ts[2];

        (void) state;
        assert_int_equal(strlen(doc), strlen(doc2));
        snprintf(file, sizeof file, "%s/single.jwks", tmpdir);
        write_file(file, doc, 0644);
        next_tick();
        assert_int_equal(pam_svcid_trust_get(paths, 1, &a, err, sizeof err), 0);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
        assert_ptr_equal(a, b);
        pam_svcid_trust_put(b);

        /* Rewritten in place, same size, its mtime put back (as cp -p
         * or touch -r do): only the ctime tells, and is looked at. */
        assert_int_equal(stat(file, &st), 0);
        write_file(file, doc2, 0644);
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        assert_int_equal(utimensat(AT_FDCWD, file, ts, 0), 0);
        next_tick();
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
        assert_ptr_not_equal(a, b);
        assert_non_null(svcid_trust_find(pam_svcid_trust_of(b), ISS, svcid_key_kid(other_key)));
        assert_null(svcid_trust_find(pam_svcid_trust_of(b), ISS, svcid_key_kid(key)));
        pam_svcid_trust_put(a);
        pam_svcid_trust_put(b);

        /* No key in it: an error, which names the file, and says
         * nothing of directories. */
        write_file(file, "{\"iss\":\"" ISS "\",\"keys\":[]}", 0644);
        b = NULL;
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), -ENOKEY);
        assert_null(b);
        {
                char want[PATH_MAX + 32];
                snprintf(want, sizeof want, "no trusted issuer key in %s", file);
                assert_string_equal(err, want);
        }

        /* Removed: an error, not the store it held. */
        assert_int_equal(unlink(file), 0);
        b = NULL;
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), -ENOENT);
        assert_null(b);
        assert_non_null(strstr(err, "cannot open trust"));
        free(doc);
        free(doc2);
}

/* A *.jwks file removed between the directory's reading and its opening
 * is no longer in it: skipped, as svcid_trust_load() skips it, not a
 * failed authentication. A child adds and removes the last-named file
 * while loads run through sixty files before it, so that many loads see
 * its name and then miss it. */
static void test_trust_dir_entry_removed(void **state) {
        char dir[PATH_MAX], file[PATH_MAX], spare[PATH_MAX], err[256] = "", *doc;
        const char *paths[1] = { dir };
        pam_svcid_trust_ref *ref;
        pid_t child;
        int status;

        (void) state;
        snprintf(dir, sizeof dir, "%s/churn.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        doc = jwks_for(ISS, key);
        for (int i = 0; i < 60; i++) {
                snprintf(file, sizeof file, "%s/a%02d.jwks", dir, i);
                write_file(file, doc, 0644);
        }
        snprintf(spare, sizeof spare, "%s/churn-spare.jwks", tmpdir);
        write_file(spare, doc, 0644);
        snprintf(file, sizeof file, "%s/zz.jwks", dir);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                for (int i = 0; i < 200000; i++) {      /* about a minute at most */
                        if (link(spare, file) < 0 && errno != EEXIST)
                                _exit(1);
                        usleep(100);
                        (void) unlink(file);
                        usleep(100);
                }
                _exit(0);
        }
        for (int i = 0; i < 300; i++) {
                ref = NULL;
                if (pam_svcid_trust_get(paths, 1, &ref, err, sizeof err) != 0) {
                        kill(child, SIGKILL);
                        waitpid(child, &status, 0);
                        fail_msg("load %d failed: %s", i, err);
                }
                assert_non_null(svcid_trust_find(pam_svcid_trust_of(ref), ISS, svcid_key_kid(key)));
                pam_svcid_trust_put(ref);
        }
        kill(child, SIGKILL);
        assert_int_equal(waitpid(child, &status, 0), child);
        free(doc);
}

/* A file rewritten in place with the same size, in the tick of its
 * previous change, keeps its size, mtime and ctime, so the store read
 * between the two writes must not be kept: until a tick has passed, every
 * use loads again. Whether two writes share a ctime is up to the kernel
 * (one with fine-grained timestamps, as here, tells them apart), so this
 * checks the rule instead: a load that began in the tick of a file's
 * change is not reused, one that began after it is. The check needs a
 * write and two loads inside one tick of the coarse clock; it tries until
 * they fit. */
static void test_trust_cache_same_tick(void **state) {
        char dir[PATH_MAX], file[PATH_MAX], err[256] = "";
        const char *paths[1] = { dir };
        char *doc = jwks_for(ISS, key), *doc2 = jwks_for(ISS, other_key);
        pam_svcid_trust_ref *a = NULL, *b = NULL;
        unsigned long before;
        int attempt;

        (void) state;
        assert_int_equal(strlen(doc), strlen(doc2));
        snprintf(dir, sizeof dir, "%s/tick.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(file, sizeof file, "%s/one.jwks", dir);
        write_file(file, doc, 0644);
        for (attempt = 0; attempt < 100; attempt++) {
                struct timespec t0, t1;

                assert_int_equal(clock_gettime(CLOCK_REALTIME_COARSE, &t0), 0);
                write_file(file, attempt % 2 ? doc : doc2, 0644);       /* in place, same size */
                before = pam_svcid_trust_loads();
                assert_int_equal(pam_svcid_trust_get(paths, 1, &a, err, sizeof err), 0);
                assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
                assert_int_equal(clock_gettime(CLOCK_REALTIME_COARSE, &t1), 0);
                if (t0.tv_sec == t1.tv_sec && t0.tv_nsec == t1.tv_nsec)
                        break;
                pam_svcid_trust_put(a);
                pam_svcid_trust_put(b);
        }
        if (attempt == 100) {
                free(doc);
                free(doc2);
                skip();
        }
        /* All in one tick: the second use loaded again. */
        assert_ptr_not_equal(a, b);
        assert_int_equal(pam_svcid_trust_loads(), before + 2);
        assert_non_null(svcid_trust_find(pam_svcid_trust_of(b), ISS,
                                         svcid_key_kid(attempt % 2 ? key : other_key)));
        pam_svcid_trust_put(a);
        pam_svcid_trust_put(b);

        /* The first load after the tick may be kept, and is. */
        next_tick();
        assert_int_equal(pam_svcid_trust_get(paths, 1, &a, err, sizeof err), 0);
        assert_int_equal(pam_svcid_trust_get(paths, 1, &b, err, sizeof err), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(pam_svcid_trust_loads(), before + 3);
        pam_svcid_trust_put(a);
        pam_svcid_trust_put(b);
        free(doc);
        free(doc2);
}

/* The rule behind the above, where the kernel cannot be made to show it:
 * a file system with whole-second (or FAT's two-second) timestamps gives
 * every change in that second the ctime X.000000000, so a load at X.3 of
 * a file changed at X.1 must not be kept, nor one at X+1.3 (FAT). */
static void test_trust_ctime_racy(void **state) {
        const struct timespec load = { 1000, 300000000 };
        static const struct {
                struct timespec ctime;
                bool racy;
        } cases[] = {
                { { 1000, 0 }, true },          /* whole seconds, this second */
                { { 999, 0 }, true },           /* FAT: two-second stamps */
                { { 998, 0 }, false },          /* past any stamp's tick */
                { { 1001, 0 }, true },          /* from the future: never kept */
                { { 1000, 300000000 }, true },  /* fine: the load's own tick */
                { { 1000, 500000000 }, true },  /* fine: after the load began */
                { { 1001, 1 }, true },
                { { 1000, 299999999 }, false }, /* fine: before the load */
                { { 999, 999999999 }, false },
                { { 999, 1 }, false },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (pam_svcid_ctime_racy(&cases[i].ctime, &load) != cases[i].racy)
                        fail_msg("ctime %lld.%09ld: racy must be %d", (long long) cases[i].ctime.tv_sec,
                                 cases[i].ctime.tv_nsec, cases[i].racy);
        }
}

/* The defaults may be missing, a path given with trust= may not
 * (DESIGN.md): the same paths loaded both ways are two cache entries, or
 * a process that first loaded the defaults while one was missing would
 * take an explicit trust= naming the same paths without an error. The
 * defaults are fixed system paths, so temp paths stand in for them. */
static void test_trust_cache_optional(void **state) {
        char missing[PATH_MAX], err[256] = "";
        const char *paths[2] = { trust_dir, missing };
        pam_svcid_trust_ref *a = NULL, *b = NULL;

        (void) state;
        next_tick();
        snprintf(missing, sizeof missing, "%s/absent.jwks", tmpdir);
        assert_int_equal(trust_get(paths, 2, true, &a, err, sizeof err), 0);
        assert_non_null(svcid_trust_find(pam_svcid_trust_of(a), ISS, svcid_key_kid(key)));
        err[0] = '\0';
        assert_int_equal(trust_get(paths, 2, false, &b, err, sizeof err), -ENOENT);
        assert_null(b);
        assert_non_null(strstr(err, "cannot open trust"));
        /* And the optional load still finds its own entry. */
        assert_int_equal(trust_get(paths, 2, true, &b, err, sizeof err), 0);
        assert_ptr_equal(a, b);
        pam_svcid_trust_put(a);
        pam_svcid_trust_put(b);
}

/* ---- the module through Linux-PAM ---------------------------------------- */

static void test_success_authtok_prompt(void **state) {
        const char *svc = auth_service(NULL);
        char *t = mint_sub("alice"), text[PATH_MAX * 2];
        conv_data cd = { .answer = t };
        pam_handle_t *pamh;

        (void) state;
        log_clear();
        pamh = start(svc, "alice", &cd);
        assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
        assert_int_equal(cd.prompts, 1);
        assert_string_equal(cd.last_prompt, "svcid token: ");
        pam_end(pamh, PAM_SUCCESS);
        /* The answer is kept as PAM_AUTHTOK for later modules: a second
         * line with use_first_pass gets it without asking again. */
        snprintf(text, sizeof text,
                 "auth required @M@ audience=" AUD " trust=%s\n"
                 "auth required @M@ audience=" AUD " trust=%s use_first_pass\n", trust_dir, trust_dir);
        cd.prompts = 0;
        pamh = start(raw_service(text), "alice", &cd);
        assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
        assert_int_equal(cd.prompts, 1);
        pam_end(pamh, PAM_SUCCESS);
        assert_logged("accepted: reason=ok iss=\"" ISS "\" sub=\"alice\"");
        /* At LOG_INFO (authpriv), below the refusals' LOG_NOTICE. */
        assert_logged("<86>pam_svcid(svc-");
        assert_not_logged("<85>");
        assert_logged("jti=\"jti-alice\"");
        assert_logged("service=\"svc-");
        assert_not_logged(strrchr(t, '.') + 1);
        assert_not_logged(t);
        svcid_free_secret(t);
}

static void test_token_with_blanks(void **state) {
        const char *svc = auth_service(NULL);
        char *t = mint_sub("alice"), *padded = NULL;

        (void) state;
        assert_true(asprintf(&padded, "  %s\r\n", t) > 0);
        assert_int_equal(auth_once(svc, "alice", padded), PAM_SUCCESS);
        free(padded);
        svcid_free_secret(t);
}

struct reason_case {
        const char *name;
        char *token;
        const char *extra_args;
        const char *user;
        int pam;
        const char *reason;
};

static void run_reason_case(const struct reason_case *c) {
        const char *svc = auth_service(c->extra_args);
        int r;

        log_clear();
        r = auth_once(svc, c->user ? c->user : "alice", c->token);
        if (r != c->pam || !strstr(logbuf, c->reason)) {
                fprintf(stderr, "case %s: pam %d (want %d), log:\n%s\n", c->name, r, c->pam, logbuf);
                fail();
        }
        assert_logged("refused: ");
        assert_logged("<85>");          /* LOG_AUTHPRIV | LOG_NOTICE */
        if (c->token && strlen(c->token) > 40)
                assert_not_logged(c->token + strlen(c->token) - 40);
}

static void test_each_reason(void **state) {
        int64_t t0 = now();
        char *good = mint_sub("alice"), *big, *cut, *bad_sig, *forged_at_cut, *kid = (char *) svcid_key_kid(key);
        char header[256], payload[512];
        struct reason_case cases[40];
        size_t n = 0;

        (void) state;
#define CASE(...) cases[n++] = (struct reason_case) { __VA_ARGS__ }
        CASE(.name = "malformed", .token = strdup("not-a-token"), .pam = PAM_AUTH_ERR, .reason = "reason=malformed ");
        CASE(.name = "malformed dots", .token = strdup("a.b.c"), .pam = PAM_AUTH_ERR, .reason = "reason=malformed ");
        big = malloc(9001);
        memset(big, 'A', 9000);
        big[9000] = '\0';
        CASE(.name = "too_large", .token = big, .pam = PAM_AUTH_ERR, .reason = "reason=too_large ");
        snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\",\"jku\":\"http://x\"}", kid);
        snprintf(payload, sizeof payload,
                 "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
                 (long long) t0, (long long) t0 + 300);
        CASE(.name = "bad_header", .token = craft(header, payload), .pam = PAM_AUTH_ERR, .reason = "reason=bad_header ");
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
        CASE(.name = "alg_not_allowed", .token = craft(header, payload), .pam = PAM_AUTH_ERR,
             .reason = "reason=alg_not_allowed ");
        snprintf(header, sizeof header, "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
        CASE(.name = "alg none", .token = craft(header, payload), .pam = PAM_AUTH_ERR,
             .reason = "reason=alg_not_allowed ");
        CASE(.name = "unknown_issuer",
             .token = mint_with(other_key,
                                "{\"iss\":\"svcid://evil\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld,\"jti\":\"j\"}",
                                (long long) t0, (long long) t0 + 300),
             .pam = PAM_AUTH_ERR, .reason = "reason=unknown_issuer iss=\"svcid://evil\"");
        CASE(.name = "unknown_key",
             .token = mint_with(other_key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld,\"jti\":\"j\"}",
                                (long long) t0, (long long) t0 + 300),
             .pam = PAM_AUTH_ERR, .reason = "reason=unknown_key ");
        bad_sig = strdup(good);
        {
                char *s = strrchr(bad_sig, '.') + 10;
                *s = *s == 'A' ? 'B' : 'A';
        }
        CASE(.name = "bad_signature", .token = bad_sig, .pam = PAM_AUTH_ERR, .reason = "reason=bad_signature ");
        CASE(.name = "expired",
             .token = mint_with(key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld,\"jti\":\"j-expired\"}",
                                (long long) t0 - 1000, (long long) t0 - 500),
             .pam = PAM_AUTH_ERR, .reason = "reason=expired iss=\"" ISS "\" sub=\"alice\"");
        CASE(.name = "not_yet_valid",
             .token = mint_with(key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld,\"nbf\":%lld}",
                                (long long) t0, (long long) t0 + 3000, (long long) t0 + 1000),
             .pam = PAM_AUTH_ERR, .reason = "reason=not_yet_valid ");
        CASE(.name = "issued_in_future",
             .token = mint_with(key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld}",
                                (long long) t0 + 1000, (long long) t0 + 1300),
             .pam = PAM_AUTH_ERR, .reason = "reason=issued_in_future ");
        CASE(.name = "lifetime_too_long",
             .token = mint_with(key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                "\"exp\":%lld}",
                                (long long) t0, (long long) t0 + 7200),
             .pam = PAM_AUTH_ERR, .reason = "reason=lifetime_too_long ");
        CASE(.name = "max_lifetime= lowers the cap", .token = strdup(good), .extra_args = "max_lifetime=60",
             .pam = PAM_AUTH_ERR, .reason = "reason=lifetime_too_long ");
        CASE(.name = "wrong_audience",
             .token = mint_with(key,
                                "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"ssh:other\",\"iat\":%lld,"
                                "\"exp\":%lld}",
                                (long long) t0, (long long) t0 + 300),
             .pam = PAM_AUTH_ERR, .reason = "reason=wrong_audience ");
        CASE(.name = "missing_claim sub",
             .token = mint_with(key, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld}",
                                (long long) t0, (long long) t0 + 300),
             .pam = PAM_AUTH_ERR, .reason = "reason=missing_claim ");
        CASE(.name = "missing_claim require", .token = strdup(good), .extra_args = "require=roles=*",
             .pam = PAM_AUTH_ERR, .reason = "reason=missing_claim ");
        CASE(.name = "claim_mismatch", .token = strdup(good), .extra_args = "require=stage=prod",
             .pam = PAM_AUTH_ERR, .reason = "reason=claim_mismatch ");
        CASE(.name = "subject_mismatch", .token = strdup(good), .user = "bob", .pam = PAM_AUTH_ERR,
             .reason = "reason=subject_mismatch iss=\"" ISS "\" sub=\"alice\"");
        /* The whole sub, byte for byte: not a prefix of the user, nor
         * the user a prefix of it, nor the same name in another case. */
        CASE(.name = "subject_mismatch prefix sub", .token = mint_sub("ali"), .pam = PAM_AUTH_ERR,
             .reason = "reason=subject_mismatch iss=\"" ISS "\" sub=\"ali\"");
        CASE(.name = "subject_mismatch longer sub", .token = mint_sub("alice2"), .pam = PAM_AUTH_ERR,
             .reason = "reason=subject_mismatch iss=\"" ISS "\" sub=\"alice2\"");
        CASE(.name = "subject_mismatch case", .token = mint_sub("Alice"), .pam = PAM_AUTH_ERR,
             .reason = "reason=subject_mismatch iss=\"" ISS "\" sub=\"Alice\"");
        CASE(.name = "subject_mismatch prefix user", .token = strdup(good), .user = "ali", .pam = PAM_AUTH_ERR,
             .reason = "reason=subject_mismatch iss=\"" ISS "\" sub=\"alice\"");
        CASE(.name = "no_token empty answer", .token = strdup(""), .pam = PAM_AUTHINFO_UNAVAIL,
             .reason = "reason=no_token ");
        CASE(.name = "no_token blank answer", .token = strdup(" \r\n"), .pam = PAM_AUTHINFO_UNAVAIL,
             .reason = "reason=no_token ");
        CASE(.name = "no_token conversation fails", .token = NULL, .pam = PAM_AUTHINFO_UNAVAIL,
             .reason = "reason=no_token ");
        /* A forged ES256 signature on a token whose length is a cut
         * point: the signature is whole, so the token was not cut. */
        forged_at_cut = NULL;
        for (int pad = 1; !forged_at_cut && pad < 300; pad++) {
                char *claims = NULL, *signed_token = NULL;

                assert_true(asprintf(&claims,
                                     "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                     "\"exp\":%lld,\"pad\":\"%0*d\"}",
                                     (long long) t0, (long long) t0 + 300, pad, 0) > 0);
                assert_int_equal(svcid_jwt_sign(key, claims, strlen(claims), &signed_token), 0);
                free(claims);
                if (cut_point(strlen(signed_token)))
                        forged_at_cut = signed_token;
                else
                        svcid_free_secret(signed_token);
        }
        assert_non_null(forged_at_cut);
        {
                char *s = strrchr(forged_at_cut, '.') + 10;
                *s = *s == 'A' ? 'B' : 'A';
        }
        CASE(.name = "bad_signature at a cut point", .token = forged_at_cut, .pam = PAM_AUTH_ERR,
             .reason = "reason=bad_signature ");
        cut = strndup(good, strlen(good) - 20);
        CASE(.name = "truncated signature", .token = cut, .pam = PAM_AUTH_ERR, .reason = "reason=truncated ");
        CASE(.name = "truncated at 255", .token = strndup(good, 255), .pam = PAM_AUTH_ERR,
             .reason = "reason=truncated ");
        /* The passing policy's knobs: leeway lets a just-expired token in. */
        assert_true(n <= ELEMENTSOF(cases));
#undef CASE
        for (size_t i = 0; i < n; i++) {
                run_reason_case(&cases[i]);
                free(cases[i].token);
        }
        svcid_free_secret(good);
}

static void test_leeway(void **state) {
        int64_t t0 = now();
        char *t = mint_with(key,
                            "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                            "\"exp\":%lld}",
                            (long long) t0 - 200, (long long) t0 - 100);

        (void) state;
        assert_int_equal(auth_once(auth_service(NULL), "alice", t), PAM_AUTH_ERR);
        assert_int_equal(auth_once(auth_service("leeway=600"), "alice", t), PAM_SUCCESS);
        svcid_free_secret(t);
}

static void test_audience_host(void **state) {
        char host[256] = "", args[PATH_MAX + 64], *t, *other;

        (void) state;
        assert_int_equal(gethostname(host, sizeof host - 1), 0);
        t = mint_with(key,
                      "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"login:%s\",\"iat\":%lld,\"exp\":%lld}",
                      host, (long long) now(), (long long) now() + 60);
        other = mint_with(key,
                          "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"login:%s-not\",\"iat\":%lld,"
                          "\"exp\":%lld}",
                          host, (long long) now(), (long long) now() + 60);
        snprintf(args, sizeof args, "audience=login:%%H trust=%s", trust_dir);
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SUCCESS);
        log_clear();
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", other), PAM_AUTH_ERR);
        assert_logged("reason=wrong_audience");
        svcid_free_secret(t);
        svcid_free_secret(other);
}

static void test_log_injection(void **state) {
        char *t = mint_with(key,
                            "{\"iss\":\"" ISS "\",\"sub\":\"x\\\" user=\\\"root\\\\\",\"aud\":\"" AUD "\","
                            "\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\\\"\\n\"}",
                            (long long) now(), (long long) now() + 60);

        (void) state;
        log_clear();
        assert_int_equal(auth_once(auth_service("debug"), "alice", t), PAM_AUTH_ERR);
        assert_logged("reason=subject_mismatch iss=\"" ISS "\" sub=\"x? user=?root?\" kid=");
        assert_logged("jti=\"j??\"");
        assert_not_logged("user=\"root");
        svcid_free_secret(t);
}

static void test_debug_detail(void **state) {
        char *t = mint_with(key,
                            "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"ssh:other\",\"iat\":%lld,"
                            "\"exp\":%lld}",
                            (long long) now(), (long long) now() + 60);

        (void) state;
        log_clear();
        assert_int_equal(auth_once(auth_service(NULL), "alice", t), PAM_AUTH_ERR);
        assert_not_logged("detail=");
        log_clear();
        assert_int_equal(auth_once(auth_service("debug"), "alice", t), PAM_AUTH_ERR);
        assert_logged("detail=\"audience is not");
        svcid_free_secret(t);
}

static void test_argument_errors(void **state) {
        static const char *const bad[] = {
                "audience=" AUD " bogus",
                "audience=" AUD " leeway=ten",
                "audience=" AUD " token=nope",
                "audience=" AUD " trust=relative",
                "audience=" AUD " map=relative",
                "audience=" AUD " require=novalue",
                "audience=" AUD " audience=twice",
                "trust=/etc/svcid/trust.d",     /* no audience */
        };
        char *t = mint_sub("alice");

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                conv_data cd = { .answer = t };
                const char *svc = service(bad[i], NULL, NULL);
                pam_handle_t *pamh;

                log_clear();
                pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SERVICE_ERR);
                /* Refused before anything is asked. */
                assert_int_equal(cd.prompts, 0);
                pam_end(pamh, PAM_SERVICE_ERR);
                assert_logged("bad module argument");
        }
        /* The unknown argument is quoted in the log. */
        log_clear();
        assert_int_equal(auth_once(service("audience=x frobnicate=1", NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("\"frobnicate=1\": unknown argument");
        /* Account and session reject bad arguments too. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(NULL, "bogus", "bogus"), "alice", &cd);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SERVICE_ERR);
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
}

static void test_trust_errors(void **state) {
        char args[PATH_MAX + 64], path[PATH_MAX], link[PATH_MAX];
        char *t = mint_sub("alice");

        (void) state;
        /* A missing explicit trust path. */
        log_clear();
        snprintf(args, sizeof args, "audience=" AUD " trust=%s/missing.jwks", tmpdir);
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("trust: cannot open trust");
        /* A symlink to the good file. */
        snprintf(link, sizeof link, "%s/link.jwks", tmpdir);
        assert_int_equal(symlink(trust_file, link), 0);
        log_clear();
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", link);
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("symbolic link");
        unlink(link);
        /* A world-writable copy. */
        snprintf(path, sizeof path, "%s/loose.jwks", tmpdir);
        {
                char *doc = jwks_for(ISS, key);
                write_file(path, doc, 0666);
                free(doc);
        }
        log_clear();
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", path);
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("writable by group or others");
        /* The same file owned by nobody. */
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SUCCESS);
        assert_int_equal(chown(path, 65534, 65534), 0);
        log_clear();
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("owned by uid 65534");
        assert_int_equal(chown(path, 0, 0), 0);
        /* A good file, loaded and cached, whose directory then becomes
         * writable by others and the file replaced: the change is seen and
         * the store refused, not kept. */
        {
                char dir[PATH_MAX], file[PATH_MAX], *doc = jwks_for(ISS, key);

                snprintf(dir, sizeof dir, "%s/open.d", tmpdir);
                snprintf(file, sizeof file, "%s/t.jwks", dir);
                assert_int_equal(mkdir(dir, 0755), 0);
                write_file(file, doc, 0644);
                snprintf(args, sizeof args, "audience=" AUD " trust=%s", file);
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SUCCESS);
                assert_int_equal(chmod(dir, 0777), 0);
                unlink(file);
                write_file(file, doc, 0644);
                log_clear();
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
                assert_logged("is writable by group or others (mode 0777)");
                unlink(file);
                rmdir(dir);
                free(doc);
        }
        unlink(path);
        /* Over libsvcid's cap for a JWKS: refused before it is read. */
        {
                char *big = malloc(SVCID_JWKS_MAX + 2);

                assert_non_null(big);
                memset(big, ' ', SVCID_JWKS_MAX + 1);
                memcpy(big, "{}", 2);
                big[SVCID_JWKS_MAX + 1] = '\0';
                write_file(path, big, 0644);
                free(big);
                snprintf(args, sizeof args, "audience=" AUD " trust=%s", path);
                log_clear();
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
                assert_logged("loose.jwks\" is larger than 1048576 bytes");
                unlink(path);
        }
        /* Not JSON. */
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", path);
        write_file(path, "not json", 0644);
        log_clear();
        assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SERVICE_ERR);
        assert_logged("bad JWKS");
        unlink(path);
        /* issuer= naming an issuer the trust does not hold: the stack's
         * error, as for svcid verify and svcid-gate, not each token's. */
        log_clear();
        assert_int_equal(auth_once(auth_service("issuer=svcid://elsewhere"), "alice", t), PAM_SERVICE_ERR);
        assert_logged("argument \"issuer=svcid://elsewhere\": not one of the trusted issuers");
        assert_not_logged("reason=");
        /* Quoted and made printable, as any other argument. */
        log_clear();
        assert_int_equal(auth_once(auth_service("issuer=svcid://x\"\x1b[2Jy"), "alice", t), PAM_SERVICE_ERR);
        assert_logged("argument \"issuer=svcid://x??[2Jy\": not one of the trusted issuers");
        assert_not_logged("\x1b");
        /* Two trust= paths: both read. */
        {
                char *doc = jwks_for("svcid://second", other_key);
                char *t2 = mint_with(other_key,
                                     "{\"iss\":\"svcid://second\",\"sub\":\"alice\",\"aud\":\"" AUD "\","
                                     "\"iat\":%lld,\"exp\":%lld}",
                                     (long long) now(), (long long) now() + 60);
                write_file(path, doc, 0644);
                snprintf(args, sizeof args, "audience=" AUD " trust=%s trust=%s", trust_dir, path);
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_SUCCESS);
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t2), PAM_SUCCESS);
                /* issuer= keeps one of them: the other's token is refused. */
                snprintf(args, sizeof args, "audience=" AUD " trust=%s trust=%s issuer=svcid://second", trust_dir,
                         path);
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t2), PAM_SUCCESS);
                log_clear();
                assert_int_equal(auth_once(service(args, NULL, NULL), "alice", t), PAM_AUTH_ERR);
                assert_logged("reason=unknown_issuer iss=\"" ISS "\"");
                free(doc);
                svcid_free_secret(t2);
                unlink(path);
        }
        svcid_free_secret(t);
}

static void test_map(void **state) {
        char map[PATH_MAX], args[PATH_MAX * 2];
        char *ci = mint_sub("ci-runner-3"), *bot = mint_sub("deploy-bot");

        (void) state;
        snprintf(map, sizeof map, "%s/users.map", tmpdir);
        write_file(map, "# subjects to users\nci-* builder\ndeploy-bot deploy\n", 0644);
        snprintf(args, sizeof args, "map=%s", map);

        assert_int_equal(auth_once(auth_service(args), "builder", ci), PAM_SUCCESS);
        assert_int_equal(auth_once(auth_service(args), "deploy", bot), PAM_SUCCESS);
        /* The subject itself still works, and nothing else. */
        assert_int_equal(auth_once(auth_service(args), "ci-runner-3", ci), PAM_SUCCESS);
        log_clear();
        assert_int_equal(auth_once(auth_service(args), "deploy", ci), PAM_AUTH_ERR);
        assert_logged("reason=subject_mismatch");
        assert_int_equal(auth_once(auth_service(args), "root", bot), PAM_AUTH_ERR);
        /* Without map=, no mapping. */
        assert_int_equal(auth_once(auth_service(NULL), "builder", ci), PAM_AUTH_ERR);

        /* The module never changes PAM_USER. */
        {
                conv_data cd = { .answer = ci };
                pam_handle_t *pamh = start(auth_service(args), "builder", &cd);
                const void *user = NULL;
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_get_item(pamh, PAM_USER, &user), PAM_SUCCESS);
                assert_string_equal(user, "builder");
                pam_end(pamh, PAM_SUCCESS);
        }

        /* The account step reads the map again: a line taken out after
         * auth no longer lets the subject in, and a map gone since is an
         * error, not a pass. */
        {
                conv_data cd = { .answer = ci };
                pam_handle_t *pamh = start(auth_service(args), "builder", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                write_file(map, "deploy-bot deploy\n", 0644);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_PERM_DENIED);
                assert_logged("account refused: reason=subject_mismatch iss=\"" ISS "\" sub=\"ci-runner-3\"");
                assert_logged("user=\"builder\"");
                /* Withdrawn, as for any refused account. */
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                pam_end(pamh, PAM_SUCCESS);

                write_file(map, "ci-* builder\n", 0644);
                pamh = start(auth_service(args), "builder", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(unlink(map), 0);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                assert_logged("map: cannot open");
                /* withdrawn too: an error is no pass for the session */
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                pam_end(pamh, PAM_SUCCESS);

                /* The subject itself needs no line, but a broken map
                 * still fails closed. */
                write_file(map, "ci-* builder\n", 0644);
                pamh = start(auth_service(args), "ci-runner-3", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                write_file(map, "", 0644);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                write_file(map, "ci-* builder extra\n", 0644);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                pam_end(pamh, PAM_SUCCESS);
                write_file(map, "ci-* builder\n", 0644);
        }

        /* A broken map fails closed, even for a direct match. */
        write_file(map, "ci-* builder extra\n", 0644);
        log_clear();
        assert_int_equal(auth_once(auth_service(args), "ci-runner-3", ci), PAM_SERVICE_ERR);
        assert_logged("line 1:");
        write_file(map, "ci-* builder\n", 0666);
        log_clear();
        assert_int_equal(auth_once(auth_service(args), "builder", ci), PAM_SERVICE_ERR);
        assert_logged("writable");
        unlink(map);
        assert_int_equal(auth_once(auth_service(args), "builder", ci), PAM_SERVICE_ERR);
        svcid_free_secret(ci);
        svcid_free_secret(bot);
}

static void test_token_sources(void **state) {
        char *t = mint_sub("alice");
        char kv[16384], text[PATH_MAX * 2];

        (void) state;
        snprintf(kv, sizeof kv, "SVCID_TOKEN=%s", t);

        /* PAM_AUTHTOK stored by an earlier module (the real pam_unix, which
         * asks "Password: " and fails for this unknown user), with
         * use_first_pass: taken, and the module asks nothing. */
        snprintf(text, sizeof text,
                 "auth optional pam_unix.so nodelay\n"
                 "auth required @M@ audience=" AUD " trust=%s use_first_pass\n", trust_dir);
        {
                conv_data cd = { .answer = "wrong", .other = t };
                pam_handle_t *pamh = start(raw_service(text), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 1);
                assert_string_equal(cd.last_prompt, "Password: ");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* use_first_pass and nothing stored: no prompt, no token. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(auth_service("use_first_pass"), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTHINFO_UNAVAIL);
                assert_int_equal(cd.prompts, 0);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* try_first_pass, and the default: a stored token is used without
         * asking; nothing stored: prompt. */
        for (int i = 0; i < 2; i++) {
                conv_data cd = { .answer = "wrong", .other = t };
                snprintf(text, sizeof text,
                         "auth optional pam_unix.so nodelay\n"
                         "auth required @M@ audience=" AUD " trust=%s%s\n", trust_dir, i ? " try_first_pass" : "");
                pam_handle_t *pamh = start(raw_service(text), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 1);
                assert_string_equal(cd.last_prompt, "Password: ");
                pam_end(pamh, PAM_SUCCESS);
        }
        assert_int_equal(auth_once(auth_service("try_first_pass"), "alice", t), PAM_SUCCESS);
        /* A stored password is judged as the token it is not: refused,
         * and the user is not asked again. */
        snprintf(text, sizeof text,
                 "auth optional pam_unix.so nodelay\n"
                 "auth required @M@ audience=" AUD " trust=%s\n", trust_dir);
        {
                conv_data cd = { .answer = t, .other = "hunter2" };
                pam_handle_t *pamh = start(raw_service(text), "alice", &cd);
                log_clear();
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
                assert_int_equal(cd.prompts, 1);
                assert_logged("reason=malformed");
                assert_not_logged("hunter2");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* token=env: the PAM environment... */
        {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(auth_service("token=env"), "alice", &cd);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 0);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* ...then the process environment... */
        {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(auth_service("token=env"), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 0);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* ...and the PAM environment wins over the process's. */
        {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(auth_service("token=env"), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", "garbage", 1), 0);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* token=env and no variable: no token, never a prompt. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(auth_service("token=env"), "alice", &cd);
                assert_int_equal(unsetenv("SVCID_TOKEN"), 0);
                log_clear();
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTHINFO_UNAVAIL);
                assert_int_equal(cd.prompts, 0);
                assert_logged("reason=no_token");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* token=env,authtok: env first, the prompt only without it. */
        {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(auth_service("token=env,authtok"), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 0);
                pam_end(pamh, PAM_SUCCESS);
                assert_int_equal(unsetenv("SVCID_TOKEN"), 0);
                assert_int_equal(auth_once(auth_service("token=env,authtok"), "alice", t), PAM_SUCCESS);
        }
        /* token=authtok,env: an empty answer falls through to env. */
        {
                conv_data cd = { .answer = "" };
                pam_handle_t *pamh = start(auth_service("token=authtok,env"), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(cd.prompts, 1);
                pam_end(pamh, PAM_SUCCESS);
                /* A bad answer does not: the first token found is judged. */
                assert_int_equal(auth_once(auth_service("token=authtok,env"), "alice", "garbage"), PAM_AUTH_ERR);
                assert_int_equal(unsetenv("SVCID_TOKEN"), 0);
        }
        /* Once authentication is over (pam_setcred), a token handed over
         * in the environment is gone from both environments, so that it
         * does not follow into what the application runs next (the
         * command of a non-login su); whether the module let the user in
         * or another module did. */
        snprintf(text, sizeof text,
                 "auth [success=done default=ignore] @M@ audience=" AUD " trust=%s token=env\n"
                 "auth required pam_permit.so\n", trust_dir);
        for (int accepted = 0; accepted < 2; accepted++) {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(raw_service(text), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", accepted ? t : "garbage", 1), 0);
                assert_int_equal(pam_putenv(pamh, accepted ? kv : "SVCID_TOKEN=garbage"), PAM_SUCCESS);
                /* The caller's own identity variables go with it: su lays
                 * the PAM environment over its own, and one the session
                 * does not set would reach the command as the caller
                 * wrote it. */
                assert_int_equal(setenv("SVCID_SUB", "mallory", 1), 0);
                assert_int_equal(setenv("SVCID_UNIT", "forged.service", 1), 0);
                /* and those svcid-gate sets, which a script run both ways
                 * would read beside the verified SVCID_SUB */
                assert_int_equal(setenv("SVCID_CLAIMS", "{\"sub\":\"mallory\"}", 1), 0);
                assert_int_equal(setenv("SVCID_UID", "0", 1), 0);
                assert_int_equal(pam_putenv(pamh, "SVCID_AUD=forged"), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_non_null(getenv("SVCID_TOKEN"));        /* until authentication is over */
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
                assert_null(getenv("SVCID_TOKEN"));
                assert_null(pam_getenv(pamh, "SVCID_TOKEN"));
                assert_null(getenv("SVCID_SUB"));
                assert_null(getenv("SVCID_UNIT"));
                assert_null(getenv("SVCID_CLAIMS"));
                assert_null(getenv("SVCID_UID"));
                if (accepted) {
                        assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                        assert_null(pam_getenv(pamh, "SVCID_AUD"));     /* cleared as the token's went in */
                }
                pam_end(pamh, PAM_SUCCESS);
        }
        /* A bad argument on the auth line: auth and setcred are refused as
         * service errors (logged), and setcred clears the environment all
         * the same, token and identity variables, whatever token= would
         * have said. */
        snprintf(text, sizeof text,
                 "auth [success=done default=ignore] @M@ audience=" AUD " trust=%s token=env leeway=60s\n"
                 "auth required pam_permit.so\n", trust_dir);
        {
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh = start(raw_service(text), "alice", &cd);

                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(setenv("SVCID_SUB", "mallory", 1), 0);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);      /* pam_permit's */
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);   /* ignored */
                assert_null(getenv("SVCID_TOKEN"));
                assert_null(pam_getenv(pamh, "SVCID_TOKEN"));
                assert_null(getenv("SVCID_SUB"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* The account step clears it too: an application may call
         * pam_acct_mgmt() and never pam_setcred() (sudo may skip either). */
        {
                char args[PATH_MAX + 64];
                conv_data cd = { .answer = "wrong" };
                pam_handle_t *pamh;

                snprintf(args, sizeof args, "audience=" AUD " trust=%s token=env", trust_dir);
                pamh = start(service(args, "", NULL), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_non_null(getenv("SVCID_TOKEN"));
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                assert_null(getenv("SVCID_TOKEN"));
                assert_null(pam_getenv(pamh, "SVCID_TOKEN"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* Default token=authtok never reads the environment, nor clears
         * it (pam_permit below lets the user in, so setcred runs). */
        {
                conv_data cd = { .answer = "" };
                pam_handle_t *pamh = start(auth_service(NULL), "alice", &cd);
                assert_int_equal(setenv("SVCID_TOKEN", t, 1), 0);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTHINFO_UNAVAIL);
                pam_end(pamh, PAM_SUCCESS);
                snprintf(text, sizeof text,
                         "auth [success=done default=ignore] @M@ audience=" AUD " trust=%s\n"
                         "auth required pam_permit.so\n", trust_dir);
                pamh = start(raw_service(text), "alice", &cd);
                assert_int_equal(pam_putenv(pamh, kv), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
                assert_string_equal(getenv("SVCID_TOKEN"), t);
                assert_non_null(pam_getenv(pamh, "SVCID_TOKEN"));
                pam_end(pamh, PAM_SUCCESS);
                assert_int_equal(unsetenv("SVCID_TOKEN"), 0);
        }
        /* But the caller's own SVCID_SUB and the rest go with any source:
         * a token typed at the prompt, without a unit claim, must not
         * reach a non-login su's command beside a SVCID_UNIT the caller
         * set. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(auth_service(NULL), "alice", &cd);

                assert_int_equal(setenv("SVCID_SUB", "mallory", 1), 0);
                assert_int_equal(setenv("SVCID_UNIT", "forged.service", 1), 0);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
                assert_null(getenv("SVCID_SUB"));
                assert_null(getenv("SVCID_UNIT"));
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
}

/* An event-driven application's conversation answers PAM_CONV_AGAIN
 * when the answer is not there yet; the module then returns PAM_INCOMPLETE
 * (pam_start(3)) and libpam calls it again when the application resumes.
 * That is no refusal: nothing is logged as one. */
static void test_conv_again(void **state) {
        const char *svc = auth_service(NULL);
        char *t = mint_sub("alice");

        (void) state;
        /* At the token prompt. */
        {
                conv_data cd = { .answer = t, .again = 1 };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                log_clear();
                assert_int_equal(pam_authenticate(pamh, 0), PAM_INCOMPLETE);
                assert_not_logged("refused");
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* At the user prompt (pam_get_user). */
        {
                conv_data cd = { .answer = t, .other = "alice", .again = 1 };
                pam_handle_t *pamh = start(svc, NULL, &cd);

                log_clear();
                assert_int_equal(pam_authenticate(pamh, 0), PAM_INCOMPLETE);
                assert_not_logged("cannot determine the user");
                assert_not_logged("refused");
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
}

/* An empty user name names nobody: PAM_USER_UNKNOWN, logged, before a
 * token is asked for, not a subject that fails to match. */
static void test_empty_user(void **state) {
        char *t = mint_sub("alice");
        conv_data cd = { .answer = t };
        pam_handle_t *pamh;

        (void) state;
        log_clear();
        pamh = start(auth_service(NULL), "", &cd);
        assert_int_equal(pam_authenticate(pamh, 0), PAM_USER_UNKNOWN);
        assert_int_equal(cd.prompts, 0);
        pam_end(pamh, PAM_USER_UNKNOWN);
        assert_logged("cannot determine the user: the user name is empty");
        assert_not_logged("refused");
        svcid_free_secret(t);
}

static void test_account(void **state) {
        char args[PATH_MAX + 128];
        char *t = mint_sub("alice");
        const char *svc;

        (void) state;
        snprintf(args, sizeof args, "audience=" AUD " trust=%s require=stage=deploy", trust_dir);
        svc = service(args, "", "");

        /* Not authenticated by the module: ignore. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_acct_mgmt(pamh, 0), ACCOUNT_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* Authenticated: the checks run again and pass. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* A failed authentication: nothing to vouch for. */
        {
                conv_data cd = { .answer = "garbage" };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
                assert_int_equal(pam_acct_mgmt(pamh, 0), ACCOUNT_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* A success, then a failed retry on the same handle: ignore. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_non_null(pam_getenv(pamh, "SVCID_SUB"));
                cd.answer = "garbage";
                assert_int_equal(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
                assert_int_equal(pam_acct_mgmt(pamh, 0), ACCOUNT_IGNORED);
                /* Nor does the failed retry leave the variables behind. */
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* PAM_USER changed after the token was checked: denied. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_set_item(pamh, PAM_USER, "root"), PAM_SUCCESS);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_PERM_DENIED);
                assert_logged("account refused: reason=subject_mismatch iss=\"" ISS "\" sub=\"alice\"");
                /* Audited in full: the token's kid and jti too. */
                assert_logged("jti=\"jti-alice\" user=\"root\"");
                assert_not_logged("kid=\"\"");
                /* Withdrawn: nothing exported for root, no session. */
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                log_clear();
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_int_equal(pam_acct_mgmt(pamh, 0), ACCOUNT_IGNORED);
                assert_not_logged("accepted");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* The account line's own require= is checked too. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(args, "require=stage=prod", ""), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_non_null(pam_getenv(pamh, "SVCID_SUB"));
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_PERM_DENIED);
                assert_logged("account refused: reason=claim_mismatch");
                /* Withdrawn: nothing left exported, no session. */
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
        }
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(args, "require=unit=deploy.*", ""), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* Trust withdrawn between auth and account: denied. */
        {
                char path[PATH_MAX], a2[PATH_MAX + 64], *doc = jwks_for(ISS, key);
                conv_data cd = { .answer = t };
                pam_handle_t *pamh;

                snprintf(path, sizeof path, "%s/withdrawn.jwks", tmpdir);
                write_file(path, doc, 0644);
                free(doc);
                snprintf(a2, sizeof a2, "audience=" AUD " trust=%s", path);
                pamh = start(service(a2, "", ""), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                doc = jwks_for(ISS, other_key);
                write_file(path, doc, 0644);
                free(doc);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_PERM_DENIED);
                pam_end(pamh, PAM_SUCCESS);
                unlink(path);
        }
        /* Trust gone between auth and account: an error, not a pass. */
        {
                char path[PATH_MAX], a2[PATH_MAX + 64], *doc = jwks_for(ISS, key);
                conv_data cd = { .answer = t };
                pam_handle_t *pamh;

                snprintf(path, sizeof path, "%s/removed.jwks", tmpdir);
                write_file(path, doc, 0644);
                free(doc);
                snprintf(a2, sizeof a2, "audience=" AUD " trust=%s", path);
                pamh = start(service(a2, "", ""), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(unlink(path), 0);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                assert_logged("trust: cannot open trust");
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
}

/* The account and session lines take only what they use: the account
 * step re-checks with the auth line's policy plus its own require=, the
 * session step only exports. Anything else there would be parsed and not
 * used, so a stack that reads stricter than it is must not load. */
static void test_account_session_arguments(void **state) {
        static const char *const not_on_account[] = {
                "issuer=svcid://ci", "audience=" AUD, "trust=/etc/svcid/trust.d", "leeway=0", "map=/etc/m",
                "token=env", "use_first_pass",
        };
        static const char *const not_on_session[] = { "issuer=svcid://ci", "require=stage=deploy" };
        char args[PATH_MAX + 64];
        char *t = mint_sub("alice");

        (void) state;
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", trust_dir);
        for (size_t i = 0; i < ELEMENTSOF(not_on_account); i++) {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(args, not_on_account[i], ""), "alice", &cd);
                char quoted[128];

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                snprintf(quoted, sizeof quoted,
                         "bad module argument: argument \"%s\": belongs on the auth line, not the account line",
                         not_on_account[i]);
                assert_logged(quoted);
                /* a broken account line withdraws the authentication */
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
        }
        for (size_t i = 0; i < ELEMENTSOF(not_on_session); i++) {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(args, "", not_on_session[i]), "alice", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                log_clear();
                assert_int_equal(pam_open_session(pamh, 0), PAM_SERVICE_ERR);
                assert_int_equal(pam_close_session(pamh, 0), PAM_SERVICE_ERR);
                assert_logged("belongs on the auth line, not the session line");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* What the lines do take still works. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(service(args, "require=stage=deploy debug", "debug"), "alice", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                log_clear();
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                assert_logged("account accepted: reason=ok");
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_close_session(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
}

static void test_session(void **state) {
        char *t = mint_sub("alice");
        const char *svc = auth_service(NULL);
        char *no_unit = mint_with(key,
                                  "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                  "\"exp\":%lld,\"jti\":\"j2\"}",
                                  (long long) now(), (long long) now() + 60);

        (void) state;
        /* Not authenticated by the module: ignore, export nothing. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_int_equal(pam_close_session(pamh, 0), SESSION_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* The close alone: libpam decides a close by what each module
         * answered to the open, when there was one on the handle. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_close_session(pamh, 0), SESSION_IGNORED);
                pam_end(pamh, PAM_SUCCESS);
                pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_close_session(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                char **env;
                bool has_token = false;

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                assert_string_equal(pam_getenv(pamh, "SVCID_ISS"), ISS);
                assert_string_equal(pam_getenv(pamh, "SVCID_JTI"), "jti-alice");
                assert_string_equal(pam_getenv(pamh, "SVCID_UNIT"), "deploy.service");
                /* The token itself is never exported. */
                env = pam_getenvlist(pamh);
                assert_non_null(env);
                for (char **e = env; *e; e++) {
                        if (strstr(*e, t))
                                has_token = true;
                        free(*e);
                }
                free(env);
                assert_false(has_token);
                assert_int_equal(pam_close_session(pamh, 0), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        /* No unit claim: SVCID_UNIT is not left over from elsewhere. */
        {
                conv_data cd = { .answer = no_unit };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_putenv(pamh, "SVCID_UNIT=stale.service"), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                assert_string_equal(pam_getenv(pamh, "SVCID_JTI"), "j2");
                pam_end(pamh, PAM_SUCCESS);
        }
        /* A claim with a control character is not exported (it would
         * add a line to an environment written to a file), nor is a stale
         * value left in its place; the other claims still are. */
        {
                char *ctl = mint_with(key,
                                      "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                      "\"exp\":%lld,\"jti\":\"j3\\nSVCID_SUB=root\",\"unit\":\"x\\u007f.service\"}",
                                      (long long) now(), (long long) now() + 60);
                conv_data cd = { .answer = ctl };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_putenv(pamh, "SVCID_JTI=stale"), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                pam_end(pamh, PAM_SUCCESS);
                svcid_free_secret(ctl);
        }
        /* A value with '=' is exported as it is (the name ends at the
         * first '='); a claim that is not a string is left unset, as an
         * absent one is. */
        {
                char *eq = mint_with(key,
                                     "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD "\",\"iat\":%lld,"
                                     "\"exp\":%lld,\"jti\":\"a=b=\",\"unit\":[\"x.service\"]}",
                                     (long long) now(), (long long) now() + 60);
                conv_data cd = { .answer = eq };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_putenv(pamh, "SVCID_UNIT=stale.service"), PAM_SUCCESS);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_non_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_string_equal(pam_getenv(pamh, "SVCID_JTI"), "a=b=");
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                pam_end(pamh, PAM_SUCCESS);
                svcid_free_secret(eq);
        }
        /* The session exports again what auth did: a value another
         * module (pam_env with user_readenv, say) put in its place
         * since is replaced, one for an absent claim removed. */
        {
                conv_data cd = { .answer = no_unit };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_putenv(pamh, "SVCID_SUB=root"), PAM_SUCCESS);
                assert_int_equal(pam_putenv(pamh, "SVCID_UNIT=forged.service"), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* PAM_USER changed after auth, with no account step between (as
         * sudo -u does: the caller authenticates, the target's session
         * opens): the session exports nothing for the new user, takes
         * back what auth exported, and ignores rather than refuses. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");
                assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);
                log_clear();
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                assert_not_logged("refused");
                /* withdrawn: a second session step finds no authentication */
                assert_int_equal(pam_set_item(pamh, PAM_USER, "alice"), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), SESSION_IGNORED);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_null(pam_getenv(pamh, "SVCID_ISS"));
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* That session step ignores: in a stack that goes on past it,
         * the session opens. */
        {
                char text[PATH_MAX * 2];
                conv_data cd = { .answer = t };
                pam_handle_t *pamh;

                snprintf(text, sizeof text,
                         "auth required @M@ audience=" AUD " trust=%s\n"
                         "session [success=ok ignore=ignore default=die] @M@\n"
                         "session required pam_permit.so\n", trust_dir);
                pamh = start(raw_service(text), "alice", &cd);
                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);
                assert_int_equal(pam_open_session(pamh, 0), PAM_SUCCESS);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* sudo -u makes the target the PAM user, then asks for
         * credentials, and may open no pam_svcid session: setcred takes
         * back what auth exported for the caller. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);

                assert_int_equal(pam_authenticate(pamh, 0), PAM_SUCCESS);
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
                assert_string_equal(pam_getenv(pamh, "SVCID_SUB"), "alice");    /* same user: kept */
                assert_int_equal(pam_set_item(pamh, PAM_USER, "bob"), PAM_SUCCESS);
                assert_int_equal(pam_setcred(pamh, PAM_REINITIALIZE_CRED), PAM_SUCCESS);
                assert_null(pam_getenv(pamh, "SVCID_SUB"));
                assert_null(pam_getenv(pamh, "SVCID_ISS"));
                assert_null(pam_getenv(pamh, "SVCID_JTI"));
                assert_null(pam_getenv(pamh, "SVCID_UNIT"));
                pam_end(pamh, PAM_SUCCESS);
        }
        /* setcred is a success, as for other auth modules. */
        {
                conv_data cd = { .answer = t };
                pam_handle_t *pamh = start(svc, "alice", &cd);
                assert_int_equal(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
                pam_end(pamh, PAM_SUCCESS);
        }
        svcid_free_secret(t);
        svcid_free_secret(no_unit);
}

static void test_exports_only_pam_sm(void **state) {
        static const char *const present[] = { "pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
                                               "pam_sm_open_session", "pam_sm_close_session" };
        static const char *const absent[] = { "pam_svcid_args_parse", "pam_svcid_trust_get",
                                              "pam_svcid_map_parse", "pam_svcid_read_file",
                                              "pam_svcid_looks_truncated", "svcid_verify", "svcid_trust_new",
                                              "svcid_b64url_decode", "lib_json_object" };
        void *h;

        (void) state;
        h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
        assert_non_null(h);
        for (size_t i = 0; i < ELEMENTSOF(present); i++)
                assert_non_null(dlsym(h, present[i]));
        for (size_t i = 0; i < ELEMENTSOF(absent); i++) {
                /* RTLD_LOCAL handle: dlsym searches the module and its
                 * dependencies only, not this test's own copies. */
                void *sym = dlsym(h, absent[i]);
                if (sym) {
                        Dl_info info;
                        assert_true(dladdr(sym, &info));
                        if (info.dli_fname && strstr(info.dli_fname, "pam_svcid.so")) {
                                fprintf(stderr, "pam_svcid.so exports %s\n", absent[i]);
                                fail();
                        }
                }
        }
        dlclose(h);
}

struct thread_arg {
        const char *svc;
        const char *token;
        int failures;
};

static void *auth_thread(void *p) {
        struct thread_arg *ta = p;

        for (int i = 0; i < 40; i++)
                if (auth_once(ta->svc, "alice", ta->token) != PAM_SUCCESS)
                        ta->failures++;
        return NULL;
}

/* Handles in several threads share the cached trust while the files keep
 * changing under them: a reload must never free a store still in use
 * (the sanitizer build checks that), and every authentication succeeds. */
static void test_threads_share_trust(void **state) {
        char dir[PATH_MAX], file[PATH_MAX], args[PATH_MAX + 64], *doc = jwks_for(ISS, key);
        char *t = mint_sub("alice");
        struct thread_arg ta[4];
        pthread_t th[4];
        const char *svc;

        (void) state;
        snprintf(dir, sizeof dir, "%s/threads.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(file, sizeof file, "%s/t.jwks", dir);
        write_file(file, doc, 0644);
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", dir);
        svc = service(args, NULL, NULL);
        for (int i = 0; i < 4; i++) {
                ta[i] = (struct thread_arg) { .svc = svc, .token = t };
                assert_int_equal(pthread_create(&th[i], NULL, auth_thread, &ta[i]), 0);
        }
        /* Rewrite the file (same key, new mtime and inode) meanwhile. */
        for (int i = 0; i < 20; i++) {
                char tmp[PATH_MAX + 8];
                snprintf(tmp, sizeof tmp, "%s/.new", dir);
                write_file(tmp, doc, 0644);
                assert_int_equal(rename(tmp, file), 0);
                usleep(2000);
        }
        for (int i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(ta[i].failures, 0);
        }
        free(doc);
        svcid_free_secret(t);
}

/* A JWKS of 2,000 entries of k's public key under kids k0, k1...: a
 * trust that takes a while to load. */
static char *slow_jwks_for(const char *iss, const svcid_key *k) {
        json_t *doc = json_pack("{s:s, s:[]}", "iss", iss, "keys"), *keys = json_object_get(doc, "keys"), *jwk;
        char *text = NULL, kid[16];

        assert_int_equal(svcid_key_public_jwk(k, &text), 0);
        jwk = json_loads(text, 0, NULL);
        assert_non_null(jwk);
        free(text);
        for (int i = 0; i < 2000; i++) {
                json_t *copy = json_copy(jwk);
                snprintf(kid, sizeof kid, "k%d", i);
                assert_int_equal(json_object_set_new(copy, "kid", json_string(kid)), 0);
                assert_int_equal(json_array_append_new(keys, copy), 0);
        }
        text = json_dumps(doc, JSON_COMPACT);
        assert_non_null(text);
        json_decref(jwk);
        json_decref(doc);
        return text;
}

struct load_arg {
        const char *svc, *token, *file;
        int rounds, started;
};

/* Authenticates through a trust changed before every round: each one
 * loads it again, holding the module's cache lock meanwhile. */
static void *slow_auth_thread(void *p) {
        struct load_arg *la = p;

        for (int i = 0; i < la->rounds; i++) {
                struct timespec ts[2] = { { .tv_sec = 1000000000 + i }, { .tv_sec = 1000000000 + i } };

                (void) utimensat(AT_FDCWD, la->file, ts, 0);
                __atomic_store_n(&la->started, i + 1, __ATOMIC_RELEASE);
                (void) auth_once(la->svc, "alice", la->token);
        }
        return NULL;
}

/* In a child: no cmocka asserts (a failed one would jump back into the
 * parent's test run), just the PAM result. */
static int child_auth(const char *svc, const char *token) {
        char confdir[PATH_MAX];
        conv_data cd = { .answer = token };
        struct pam_conv c = { conv, &cd };
        pam_handle_t *pamh = NULL;
        int r;

        snprintf(confdir, sizeof confdir, "%s/pam.d", tmpdir);
        if (pam_start_confdir(svc, "alice", &c, confdir, &pamh) != PAM_SUCCESS)
                return PAM_SYSTEM_ERR;
        r = pam_authenticate(pamh, 0);
        pam_end(pamh, r);
        return r;
}

/* A process forks while another of its threads loads trust: the child's
 * login goes through rather than wait for good on the copy of the
 * module's cache lock it inherited, held by a thread it does not have. */
static void test_fork_during_trust_load(void **state) {
        char dir[PATH_MAX], file[PATH_MAX], args[PATH_MAX + 64], *doc = slow_jwks_for(ISS, key);
        char *t = mint_sub("alice");
        struct load_arg la = { .token = t, .file = file, .rounds = 3 };
        char quick[32];
        pthread_t th;

        (void) state;
        snprintf(quick, sizeof quick, "%s", auth_service(NULL));       /* the name is a static buffer */
        snprintf(dir, sizeof dir, "%s/slow.d", tmpdir);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(file, sizeof file, "%s/slow.jwks", dir);
        write_file(file, doc, 0644);
        snprintf(args, sizeof args, "audience=" AUD " trust=%s", dir);
        la.svc = service(args, NULL, NULL);
        /* Warm: the module is loaded and pinned in this process. */
        assert_int_equal(auth_once(quick, "alice", t), PAM_SUCCESS);
        assert_int_equal(pthread_create(&th, NULL, slow_auth_thread, &la), 0);
        for (int i = 0; i < la.rounds; i++) {
                int status;
                pid_t pid;

                while (__atomic_load_n(&la.started, __ATOMIC_ACQUIRE) <= i)
                        usleep(1000);
                usleep(30 * 1000);      /* inside the load, which takes far longer */
                pid = fork();
                if (pid == 0) {
                        alarm(10);
                        _exit(child_auth(quick, t) == PAM_SUCCESS ? 0 : 1);
                }
                assert_true(pid > 0);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        fail_msg("child %d: %s", i, WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "refused");
        }
        assert_int_equal(pthread_join(th, NULL), 0);
        free(doc);
        svcid_free_secret(t);
}

static void test_many_handles_one_parse(void **state) {
        const char *svc = auth_service(NULL);
        char *t = mint_sub("alice");

        (void) state;
        /* Handle after handle succeeds (the module stays loaded and its
         * cache is keyed on the files; tests above changed files between
         * handles and saw the change). */
        for (int i = 0; i < 20; i++)
                assert_int_equal(auth_once(svc, "alice", t), PAM_SUCCESS);
        svcid_free_secret(t);
}

int main(void) {
        const struct CMUnitTest parsers[] = {
                cmocka_unit_test(test_args_good),
                cmocka_unit_test(test_args_bad),
                cmocka_unit_test(test_parse_int),
                cmocka_unit_test(test_expand_audience),
                cmocka_unit_test(test_map_good),
                cmocka_unit_test(test_map_bad),
        };
        const struct CMUnitTest module_tests[] = {
                cmocka_unit_test(test_truncation_rule),
                cmocka_unit_test(test_read_file_safety),
                cmocka_unit_test(test_read_file_parents),
                cmocka_unit_test(test_trust_cache),
                cmocka_unit_test(test_trust_cache_file),
                cmocka_unit_test(test_trust_cache_same_tick),
                cmocka_unit_test(test_trust_dir_entry_removed),
                cmocka_unit_test(test_trust_ctime_racy),
                cmocka_unit_test(test_trust_cache_optional),
                cmocka_unit_test(test_success_authtok_prompt),
                cmocka_unit_test(test_token_with_blanks),
                cmocka_unit_test(test_each_reason),
                cmocka_unit_test(test_leeway),
                cmocka_unit_test(test_audience_host),
                cmocka_unit_test(test_log_injection),
                cmocka_unit_test(test_debug_detail),
                cmocka_unit_test(test_argument_errors),
                cmocka_unit_test(test_trust_errors),
                cmocka_unit_test(test_map),
                cmocka_unit_test(test_token_sources),
                cmocka_unit_test(test_conv_again),
                cmocka_unit_test(test_empty_user),
                cmocka_unit_test(test_account),
                cmocka_unit_test(test_account_session_arguments),
                cmocka_unit_test(test_session),
                cmocka_unit_test(test_exports_only_pam_sm),
                cmocka_unit_test(test_many_handles_one_parse),
                cmocka_unit_test(test_threads_share_trust),
                cmocka_unit_test(test_fork_during_trust_load),
        };
        int failed;

        unsetenv("SVCID_TOKEN");
        failed = cmocka_run_group_tests_name("pam parsers", parsers, NULL, NULL);
        if (geteuid() != 0) {
                printf("test_pam: skipping the module tests: pam_svcid trusts only root-owned files, "
                       "so they need root\n");
                return failed ? 1 : 77;
        }
        failed += cmocka_run_group_tests_name("pam module", module_tests, setup, teardown);
        return failed ? 1 : 0;
}
