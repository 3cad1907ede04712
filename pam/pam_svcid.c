/* SPDX-License-Identifier: MIT */
/* pam_svcid: a short-lived svcid token as the credential of a PAM stack
 * (DESIGN.md "PAM module"). The token is checked by libsvcid's one
 * verification policy; this file only gathers the inputs (arguments,
 * trust, map, the token), decides the subject, logs for audit and maps
 * the outcome to PAM codes.
 *
 * Where the module keeps its state, and why that works for sshd: a
 * successful authentication stores the token and the auth-line arguments
 * with pam_set_data() on the handle, and also puts SVCID_SUB/ISS/JTI/UNIT
 * into the PAM environment. sshd runs keyboard-interactive authentication
 * in a child process, but that child calls pam_acct_mgmt() itself on the
 * same handle right after pam_authenticate() and sends the account result
 * and the PAM environment back to the parent (OpenSSH auth-pam.c,
 * sshpam_thread and import_environments); the parent then uses that result
 * and does not run the account stack again. So "account: PAM_IGNORE unless
 * this handle authenticated through the module" is decided where the data
 * lives, and the session (in the parent) finds the variables the child
 * exported. Nothing is shared through files or the environment to prove an
 * authentication: the PAM environment can be written by other modules (and
 * by users, through pam_env's user_readenv), so it is only ever output. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "../common/cleanup.h"

#define STATE_KEY "pam_svcid_auth"
#define PROMPT "svcid token: "

/* What a successful authentication leaves on the handle. */
struct auth_state {
        char *user;
        char *token;            /* wiped on free */
        size_t token_len;
        char **argv;            /* the auth line's arguments, for account */
        int argc;
        char *sub, *iss, *jti, *unit, *kid;
};

static void state_free(struct auth_state *s) {
        if (!s)
                return;
        if (s->token) {
                OPENSSL_cleanse(s->token, s->token_len);
                free(s->token);
        }
        for (int i = 0; i < s->argc; i++)
                free(s->argv[i]);
        free(s->argv);
        free(s->user);
        free(s->sub);
        free(s->iss);
        free(s->jti);
        free(s->unit);
        free(s->kid);
        free(s);
}

static void state_cleanup(pam_handle_t *pamh, void *data, int error_status) {
        (void) pamh;
        (void) error_status;
        state_free(data);
}

DEFINE_PTR_CLEANUP(svcid_policy, svcid_policy_free)
DEFINE_PTR_CLEANUP(svcid_claims, svcid_claims_free)
DEFINE_PTR_CLEANUP(pam_svcid_map, pam_svcid_map_free)
DEFINE_PTR_CLEANUP(pam_svcid_trust_ref, pam_svcid_trust_put)
DEFINE_PTR_CLEANUP(struct auth_state, state_free)

static void free_secretp(char **p) {
        svcid_free_secret(*p);
}

/* One errno → PAM mapping for the whole module. */
static int pam_code(int r) {
        switch (r) {
        case -ENOMEM:
                return PAM_BUF_ERR;
        case -EAGAIN:
                /* The conversation said PAM_CONV_AGAIN: the application
                 * will call again when it has the answer (pam_start(3)). */
                return PAM_INCOMPLETE;
        default:
                return PAM_SERVICE_ERR;
        }
}

/* PAM_LINUX-PAM items as printable text for a log line. */
static void item_text(pam_handle_t *pamh, int item, char *buf, size_t n) {
        const void *v = NULL;

        if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v)
                v = "";
        copy_printable(buf, n, v);
}

/* The audit line: reason, iss, sub, kid, jti, and who asked (service,
 * user, rhost, ruser). Never the token. */
static void log_outcome(pam_handle_t *pamh, const pam_svcid_args *a, int priority, const char *what,
                        const char *reason, const svcid_report *report, const char *user_raw) {
        char service[64], rhost[128], ruser[64], user[64];
        char iss[sizeof report->iss], sub[sizeof report->sub], kid[sizeof report->kid], jti[sizeof report->jti];
        char detail[sizeof report->detail];
        bool detailed = a && a->debug && report && report->detail[0];

        item_text(pamh, PAM_SERVICE, service, sizeof service);
        item_text(pamh, PAM_RHOST, rhost, sizeof rhost);
        item_text(pamh, PAM_RUSER, ruser, sizeof ruser);
        copy_printable(user, sizeof user, user_raw ? user_raw : "");
        /* libsvcid's report is printable ASCII, but keeps '"' and '\\':
         * claims come from the token, parsed before its signature is
         * checked, and must not be able to forge key="value" pairs here. */
        copy_printable(iss, sizeof iss, report ? report->iss : "");
        copy_printable(sub, sizeof sub, report ? report->sub : "");
        copy_printable(kid, sizeof kid, report ? report->kid : "");
        copy_printable(jti, sizeof jti, report ? report->jti : "");
        copy_printable(detail, sizeof detail, detailed ? report->detail : "");
        pam_syslog(pamh, priority,
                   "%s: reason=%s iss=\"%s\" sub=\"%s\" kid=\"%s\" jti=\"%s\" user=\"%s\" service=\"%s\" "
                   "rhost=\"%s\" ruser=\"%s\"%s%s%s",
                   what, reason, iss, sub, kid, jti, user, service, rhost, ruser,
                   detailed ? " detail=\"" : "", detail, detailed ? "\"" : "");
}

static int parse_args(pam_handle_t *pamh, int argc, const char **argv, pam_svcid_line line,
                      pam_svcid_args *ret) {
        char err[PAM_SVCID_ERR_MAX] = "";
        int r;

        r = pam_svcid_args_parse(argc, argv, line, ret, err, sizeof err);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "bad module argument: %s", err[0] ? err : strerror(-r));
                return PAM_SERVICE_ERR;
        }
        return PAM_SUCCESS;
}

/* Keeps the module loaded after pam_end(): Linux-PAM dlclose()s modules
 * with their handle, which would throw away the trust cache and make an
 * application that opens one handle per login parse trust every time.
 * Once pinned, the cache's fork handlers can be registered: they will
 * never point into an unloaded module. */
static void pin_module_once(void) {
        Dl_info info;

        if (dladdr((void *) pin_module_once, &info) && info.dli_fname &&
            dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
                (void) pam_svcid_trust_fork_safe();
}

static void pin_module(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        (void) pthread_once(&once, pin_module_once);
}

static int load_map(pam_handle_t *pamh, const char *path, pam_svcid_map **ret_map) {
        _cleanup_(free_p) char *data = NULL;
        char err[PAM_SVCID_ERR_MAX] = "", quoted[160];
        size_t len;
        int r;

        r = pam_svcid_read_file(path, PAM_SVCID_MAP_MAX, PAM_SVCID_ROOT_ONLY, &data, &len, NULL, err,
                                sizeof err);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "map: %s", err);
                return r;
        }
        r = pam_svcid_map_parse(data, len, ret_map, err, sizeof err);
        if (r < 0) {
                copy_printable(quoted, sizeof quoted, path);
                pam_syslog(pamh, LOG_ERR, "map \"%s\": %s", quoted, err[0] ? err : strerror(-r));
                return r;
        }
        return 0;
}

/* The token's subject may log in as user: it is user, or map allows it. */
static bool subject_allowed(const pam_svcid_map *map, const char *sub, const char *user) {
        return sub && (strcmp(sub, user) == 0 || pam_svcid_map_allows(map, sub, user));
}

static int get_trust(pam_handle_t *pamh, const pam_svcid_args *a, pam_svcid_trust_ref **ret_ref) {
        char err[PAM_SVCID_ERR_MAX] = "";
        int r;

        r = pam_svcid_trust_get(a->trust, a->n_trust, ret_ref, err, sizeof err);
        if (r < 0)
                pam_syslog(pamh, LOG_ERR, "trust: %s", err[0] ? err : strerror(-r));
        return r;
}

static int make_policy(pam_handle_t *pamh, const pam_svcid_args *a, const svcid_trust *trust,
                       const pam_svcid_args *more, svcid_policy **ret_policy) {
        _cleanup_(svcid_policy_freep) svcid_policy *p = NULL;
        _cleanup_(free_p) char *audience = NULL;
        char host[HOST_NAME_MAX + 1] = "";
        int r;

        if (strchr(a->audience, '%')) {
                if (gethostname(host, sizeof host - 1) < 0 || !host[0]) {
                        pam_syslog(pamh, LOG_ERR, "cannot expand %%H in audience=: no host name");
                        return -EINVAL;
                }
        }
        r = pam_svcid_expand_audience(a->audience, host, &audience);
        if (r >= 0)
                r = svcid_policy_new(trust, audience, &p);
        if (r >= 0 && a->issuer) {
                /* As for svcid verify and svcid-gate: the stack's error. */
                r = svcid_policy_set_issuer(p, a->issuer);
                if (r == -ENOENT) {
                        char quoted[128];

                        /* Quoted and made printable, as every argument
                         * in a log line (args.c). */
                        copy_printable(quoted, sizeof quoted, a->issuer);
                        pam_syslog(pamh, LOG_ERR, "argument \"issuer=%s\": not one of the trusted issuers",
                                   quoted);
                        return r;
                }
        }
        if (r >= 0)
                r = svcid_policy_set_leeway(p, a->leeway);
        if (r >= 0)
                r = svcid_policy_set_max_lifetime(p, a->max_lifetime);
        for (size_t i = 0; r >= 0 && i < a->n_require; i++)
                r = svcid_policy_require_arg(p, a->require[i]);
        for (size_t i = 0; r >= 0 && more && i < more->n_require; i++)
                r = svcid_policy_require_arg(p, more->require[i]);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "cannot set up the verification policy: %s", strerror(-r));
                return r;
        }
        *ret_policy = TAKE_PTR(p);
        return 0;
}

/* Blanks around a pasted token are not part of it. */
static size_t trimmed_len(const char *s) {
        size_t n = strlen(s);

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        return n;
}

static int dup_token(const char *s, char **ret) {
        size_t n = trimmed_len(s);
        char *t;

        while (n > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                n--;
        }
        if (n == 0)
                return 0;
        t = strndup(s, n);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 1;
}

/* PAM_AUTHTOK when an earlier module stored one; otherwise the user is
 * asked, unless use_first_pass forbids it. try_first_pass names that
 * default. An answer is stored for the modules after this one. -EAGAIN
 * when the conversation wants to be called again (PAM_CONV_AGAIN). */
static int token_from_authtok(pam_handle_t *pamh, const pam_svcid_args *a, char **ret) {
        const void *item = NULL;
        char *answer = NULL;
        int r;

        if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item && *(const char *) item)
                return dup_token(item, ret);
        if (a->use_first_pass)
                return 0;
        r = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", PROMPT);
        if (r == PAM_CONV_AGAIN) {
                svcid_free_secret(answer);
                return -EAGAIN;
        }
        if (r != PAM_SUCCESS || !answer) {
                if (a->debug)
                        pam_syslog(pamh, LOG_DEBUG, "no answer to the token prompt: %s", pam_strerror(pamh, r));
                svcid_free_secret(answer);
                return 0;
        }
        if (*answer)
                (void) pam_set_item(pamh, PAM_AUTHTOK, answer);
        r = dup_token(answer, ret);
        svcid_free_secret(answer);
        return r;
}

/* SVCID_TOKEN from the PAM environment, then the process environment.
 * Deliberately getenv(), not secure_getenv(): su and sudo are set-uid and
 * the token is exactly what their caller hands over. It is untrusted input
 * like any answer and goes through the full verification. */
static int token_from_env(pam_handle_t *pamh, char **ret) {
        const char *v = pam_getenv(pamh, "SVCID_TOKEN");

        if (!v || !*v)
                v = getenv("SVCID_TOKEN");
        if (!v || !*v)
                return 0;
        return dup_token(v, ret);
}

static int get_token(pam_handle_t *pamh, const pam_svcid_args *a, char **ret) {
        for (size_t i = 0; i < a->n_token; i++) {
                int r = a->token[i] == PAM_SVCID_SOURCE_ENV ? token_from_env(pamh, ret)
                                                            : token_from_authtok(pamh, a, ret);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int export_one(pam_handle_t *pamh, const char *name, const char *value) {
        _cleanup_(free_p) char *kv = NULL;

        /* An absent claim clears a stale value rather than leaving one an
         * earlier module or handle set; a value with control characters
         * is not exported (it would garble the session's environment). */
        if (!value || !env_value_ok(value)) {
                /* libpam logs an error for deleting what is not there. */
                if (pam_getenv(pamh, name))
                        (void) pam_putenv(pamh, name);
                return PAM_SUCCESS;
        }
        if (asprintf(&kv, "%s=%s", name, value) < 0)
                return PAM_BUF_ERR;
        return pam_putenv(pamh, kv);
}

static void clear_env(pam_handle_t *pamh) {
        for (size_t i = 0; i < IDENTITY_ENV_N; i++)
                if (pam_getenv(pamh, identity_env[i]))
                        (void) pam_putenv(pamh, identity_env[i]);
}

/* Sets what the token says (a value that cannot be one left out), and
 * nothing else of identity_env: all of them or, failing, none. */
static int export_env(pam_handle_t *pamh, const struct auth_state *s) {
        int r;

        clear_env(pamh);
        r = export_one(pamh, "SVCID_SUB", s->sub);
        if (r == PAM_SUCCESS)
                r = export_one(pamh, "SVCID_ISS", s->iss);
        if (r == PAM_SUCCESS)
                r = export_one(pamh, "SVCID_JTI", s->jti);
        if (r == PAM_SUCCESS)
                r = export_one(pamh, "SVCID_UNIT", s->unit);
        if (r != PAM_SUCCESS)
                clear_env(pamh);
        return r;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

static int make_state(const char *user, const char *token, int argc, const char **argv,
                      const svcid_claims *claims, struct auth_state **ret) {
        _cleanup_(state_freep) struct auth_state *s = NULL;
        bool oom = false;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->token_len = strlen(token);
        s->token = strdup_or_null(token, &oom);
        s->user = strdup_or_null(user, &oom);
        s->sub = strdup_or_null(svcid_claims_string(claims, "sub"), &oom);
        s->iss = strdup_or_null(svcid_claims_string(claims, "iss"), &oom);
        s->jti = strdup_or_null(svcid_claims_string(claims, "jti"), &oom);
        s->unit = strdup_or_null(svcid_claims_string(claims, "unit"), &oom);
        s->kid = strdup_or_null(svcid_claims_kid(claims), &oom);
        if (oom)
                return -ENOMEM;
        if (argc > 0) {
                s->argv = calloc((size_t) argc, sizeof *s->argv);
                if (!s->argv)
                        return -ENOMEM;
                for (; s->argc < argc; s->argc++)
                        if (!(s->argv[s->argc] = strdup(argv[s->argc])))
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static const struct auth_state *get_state(pam_handle_t *pamh) {
        const void *data = NULL;

        if (pam_get_data(pamh, STATE_KEY, &data) != PAM_SUCCESS)
                return NULL;
        return data;
}

/* Takes back a successful authentication: its state (freed: a pointer
 * from get_state() is then stale) and what it exported. */
static void withdraw(pam_handle_t *pamh) {
        (void) pam_set_data(pamh, STATE_KEY, NULL, NULL);
        clear_env(pamh);
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        _cleanup_(pam_svcid_trust_putp) pam_svcid_trust_ref *trust = NULL;
        _cleanup_(pam_svcid_map_freep) pam_svcid_map *map = NULL;
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        _cleanup_(svcid_claims_freep) svcid_claims *claims = NULL;
        _cleanup_(free_secretp) char *token = NULL;
        struct auth_state *state = NULL;
        svcid_report report = {};
        svcid_reason reason;
        const char *user = NULL, *sub;
        pam_svcid_args a;
        size_t len;
        int r;

        (void) flags;
        /* A failed attempt must not leave an earlier success on this
         * handle behind: neither its state nor what it exported. */
        if (get_state(pamh))
                withdraw(pamh);

        r = parse_args(pamh, argc, argv, PAM_SVCID_LINE_AUTH, &a);
        if (r != PAM_SUCCESS)
                return r;
        if (!a.audience) {
                pam_syslog(pamh, LOG_ERR, "bad module argument: audience= is required for auth");
                return PAM_SERVICE_ERR;
        }
        pin_module();

        r = pam_get_user(pamh, &user, NULL);
        if (r == PAM_CONV_AGAIN)
                return pam_code(-EAGAIN);
        if (r != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_NOTICE, "cannot determine the user: %s",
                           r == PAM_SUCCESS ? "the user name is empty" : pam_strerror(pamh, r));
                return r == PAM_SUCCESS ? PAM_USER_UNKNOWN : r;
        }

        r = get_trust(pamh, &a, &trust);
        if (r < 0)
                return pam_code(r);
        if (a.map) {
                r = load_map(pamh, a.map, &map);
                if (r < 0)
                        return pam_code(r);
        }
        r = make_policy(pamh, &a, pam_svcid_trust_of(trust), NULL, &policy);
        if (r < 0)
                return pam_code(r);

        r = get_token(pamh, &a, &token);
        if (r < 0)
                return pam_code(r);
        if (r == 0) {
                log_outcome(pamh, &a, LOG_NOTICE, "refused", svcid_reason_str(SVCID_NO_TOKEN), NULL, user);
                return PAM_AUTHINFO_UNAVAIL;
        }

        len = strlen(token);
        reason = svcid_verify(policy, token, len, &claims, &report);
        if (reason != SVCID_OK) {
                if (pam_svcid_looks_truncated(token, len, reason)) {
                        char why[sizeof report.detail + 64];

                        /* The length is what tells the transport. */
                        snprintf(why, sizeof why, "%zu bytes arrived; %s", len, report.detail);
                        snprintf(report.detail, sizeof report.detail, "%.*s", (int) sizeof report.detail - 1, why);
                        reason = report.reason = SVCID_TRUNCATED;
                }
                log_outcome(pamh, &a, LOG_NOTICE, "refused", svcid_reason_str(reason), &report, user);
                return reason == SVCID_INTERNAL_ERROR ? PAM_SYSTEM_ERR : PAM_AUTH_ERR;
        }

        sub = svcid_claims_string(claims, "sub");
        if (!subject_allowed(map, sub, user)) {
                snprintf(report.detail, sizeof report.detail, "the token's subject may not log in as this user");
                log_outcome(pamh, &a, LOG_NOTICE, "refused", svcid_reason_str(SVCID_SUBJECT_MISMATCH), &report,
                            user);
                return PAM_AUTH_ERR;
        }

        r = make_state(user, token, argc, argv, claims, &state);
        if (r < 0)
                return pam_code(r);
        r = pam_set_data(pamh, STATE_KEY, state, state_cleanup);
        if (r != PAM_SUCCESS) {
                state_free(state);
                return r;
        }
        /* Exported already here, not only in the session: sshd's
         * keyboard-interactive child hands the PAM environment, not the
         * data, to the parent that opens the session. */
        r = export_env(pamh, state);
        if (r != PAM_SUCCESS) {
                withdraw(pamh);
                return r;
        }
        log_outcome(pamh, &a, LOG_INFO, "accepted", "ok", &report, user);
        return PAM_SUCCESS;
}

static bool user_is(pam_handle_t *pamh, const char *want) {
        const char *user = NULL;

        return pam_get_item(pamh, PAM_USER, (const void **) &user) == PAM_SUCCESS && user && strcmp(user, want) == 0;
}

/* Once authentication is over, a token handed over in SVCID_TOKEN has
 * served, whichever module let the user in, and must not follow into
 * what the application starts next: a non-login su passes its own
 * environment on to the target's command, where the caller's token would
 * let the target become the caller. Nor may the caller's own SVCID_SUB,
 * SVCID_ISS, SVCID_JTI or SVCID_UNIT: su lays the PAM environment over
 * its own, so a variable the session does not set (SVCID_UNIT for a
 * token without a unit) would reach the command as the caller wrote it,
 * beside the verified SVCID_SUB. The PAM environment keeps what this
 * module exported. Called from setcred and account, the steps that come
 * after authentication (sudo may skip either). SVCID_TOKEN goes where the
 * auth line reads it, and where that line cannot be read (auth_line
 * NULL): a bad argument must not leave a token behind. */
static void drop_env_token(pam_handle_t *pamh, const pam_svcid_args *auth_line) {
        bool token = !auth_line;

        /* whatever the token's source; only where set, so that an
         * application without them never calls unsetenv() */
        for (size_t j = 0; j < IDENTITY_ENV_N; j++)
                if (getenv(identity_env[j]))
                        (void) unsetenv(identity_env[j]);
        for (size_t i = 0; auth_line && i < auth_line->n_token; i++)
                token |= auth_line->token[i] == PAM_SVCID_SOURCE_ENV;
        if (token) {
                if (pam_getenv(pamh, "SVCID_TOKEN"))
                        (void) pam_putenv(pamh, "SVCID_TOKEN");
                if (getenv("SVCID_TOKEN"))
                        (void) unsetenv("SVCID_TOKEN");
        }
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const struct auth_state *s = get_state(pamh);
        pam_svcid_args a;
        int r;

        (void) flags;
        /* A bad line is said (as auth said it) and refused, after the
         * environment is cleared all the same. */
        r = parse_args(pamh, argc, argv, PAM_SVCID_LINE_AUTH, &a);
        drop_env_token(pamh, r == PAM_SUCCESS ? &a : NULL);
        /* sudo -u makes the target the PAM user before it asks for
         * credentials: what auth exported speaks for the caller, and must
         * not reach the target's command, session line or not. */
        if (s && !user_is(pamh, s->user))
                withdraw(pamh);
        /* A token grants no credential beyond the login itself. */
        return r;
}

/* Account and session act only on a handle this module authenticated:
 * parses the line's arguments into *a and finds that state. Returns
 * PAM_SUCCESS with *ret_state set, PAM_IGNORE for a handle the module did
 * not authenticate, or the argument error. */
static int authenticated_state(pam_handle_t *pamh, int argc, const char **argv, pam_svcid_line line,
                               const char *stage, pam_svcid_args *a, const struct auth_state **ret_state) {
        int r = parse_args(pamh, argc, argv, line, a);

        if (r != PAM_SUCCESS)
                return r;
        *ret_state = get_state(pamh);
        if (!*ret_state) {
                if (a->debug)
                        pam_syslog(pamh, LOG_DEBUG, "%s: this handle was not authenticated by pam_svcid, ignoring",
                                   stage);
                return PAM_IGNORE;
        }
        return PAM_SUCCESS;
}

/* The module never changes PAM_USER; if something else did after the
 * token was checked, the token no longer speaks for the handle's user:
 * the account is refused and logged. */
static bool account_user_unchanged(pam_handle_t *pamh, const pam_svcid_args *a, const struct auth_state *s) {
        svcid_report report = {};
        const char *user = NULL;

        if (pam_get_item(pamh, PAM_USER, (const void **) &user) == PAM_SUCCESS && user && strcmp(user, s->user) == 0)
                return true;
        snprintf(report.detail, sizeof report.detail, "PAM_USER changed after authentication");
        copy_printable(report.sub, sizeof report.sub, s->sub);
        copy_printable(report.iss, sizeof report.iss, s->iss);
        copy_printable(report.kid, sizeof report.kid, s->kid);
        copy_printable(report.jti, sizeof report.jti, s->jti);
        log_outcome(pamh, a, LOG_NOTICE, "account refused", svcid_reason_str(SVCID_SUBJECT_MISMATCH), &report,
                    user);
        return false;
}

/* The account step of a handle this module authenticated (s), with the
 * account line's arguments a. */
static int account_recheck(pam_handle_t *pamh, const pam_svcid_args *a, const struct auth_state *s) {
        _cleanup_(pam_svcid_trust_putp) pam_svcid_trust_ref *trust = NULL;
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        svcid_report report = {};
        svcid_reason reason;
        pam_svcid_args auth;
        const char *user = NULL;
        int r;

        if (!account_user_unchanged(pamh, a, s))
                return PAM_PERM_DENIED;
        user = s->user;

        /* The same policy as at auth (its line's arguments were kept),
         * plus any require= on the account line (the only policy argument
         * that line takes), over the same token. */
        r = pam_svcid_args_parse(s->argc, (const char **) s->argv, PAM_SVCID_LINE_AUTH, &auth, NULL, 0);
        if (r < 0 || !auth.audience)
                return PAM_SERVICE_ERR;
        drop_env_token(pamh, &auth);
        auth.debug = auth.debug || a->debug;
        r = get_trust(pamh, &auth, &trust);
        if (r < 0)
                return pam_code(r);
        r = make_policy(pamh, &auth, pam_svcid_trust_of(trust), a, &policy);
        if (r < 0)
                return pam_code(r);
        reason = svcid_verify(policy, s->token, s->token_len, NULL, &report);
        if (reason != SVCID_OK) {
                log_outcome(pamh, &auth, LOG_NOTICE, "account refused", svcid_reason_str(reason), &report, user);
                return reason == SVCID_INTERNAL_ERROR ? PAM_SYSTEM_ERR : PAM_PERM_DENIED;
        }
        /* The map is read again too, as trust is: a line taken out since
         * auth no longer lets the subject in. */
        if (auth.map) {
                _cleanup_(pam_svcid_map_freep) pam_svcid_map *map = NULL;

                r = load_map(pamh, auth.map, &map);
                if (r < 0)
                        return pam_code(r);
                if (!subject_allowed(map, s->sub, user)) {
                        snprintf(report.detail, sizeof report.detail,
                                 "the token's subject may not log in as this user");
                        log_outcome(pamh, &auth, LOG_NOTICE, "account refused",
                                    svcid_reason_str(SVCID_SUBJECT_MISMATCH), &report, user);
                        return PAM_PERM_DENIED;
                }
        }
        if (auth.debug)
                log_outcome(pamh, &auth, LOG_DEBUG, "account accepted", "ok", &report, user);
        return PAM_SUCCESS;
}

/* Any failure withdraws the authentication, whatever its cause (a bad
 * account line, a map or trust that cannot be read now, as much as a
 * token that no longer passes), so that no later step exports the
 * token's identity. */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const struct auth_state *s = NULL;
        pam_svcid_args a;
        int r;

        (void) flags;
        r = authenticated_state(pamh, argc, argv, PAM_SVCID_LINE_ACCOUNT, "account", &a, &s);
        if (r == PAM_SUCCESS)
                r = account_recheck(pamh, &a, s);
        if (r != PAM_SUCCESS && r != PAM_IGNORE)
                withdraw(pamh);
        return r;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const struct auth_state *s;
        pam_svcid_args a;
        int r;

        (void) flags;
        r = authenticated_state(pamh, argc, argv, PAM_SVCID_LINE_SESSION, "session", &a, &s);
        if (r != PAM_SUCCESS)
                return r;
        /* sudo -u authenticates the caller, then opens the session of
         * the target. The token speaks for the caller only: nothing to
         * export, nothing to refuse (the session step grants nothing). */
        if (!user_is(pamh, s->user)) {
                if (a.debug)
                        pam_syslog(pamh, LOG_DEBUG, "session: the PAM user is no longer the one the token was "
                                   "accepted for: nothing exported");
                withdraw(pamh);
                return PAM_IGNORE;
        }
        return export_env(pamh, s);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        pam_svcid_args a;
        int r;

        (void) flags;
        r = parse_args(pamh, argc, argv, PAM_SVCID_LINE_SESSION, &a);
        if (r != PAM_SUCCESS)
                return r;
        return get_state(pamh) ? PAM_SUCCESS : PAM_IGNORE;
}
