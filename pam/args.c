/* SPDX-License-Identifier: MIT */
/* The module's arguments (DESIGN.md "PAM module"), parsed strictly: a stack
 * with a typo in it must not quietly run with a weaker policy. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

static int errf(char *err, size_t err_len, const char *arg, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int errf(char *err, size_t err_len, const char *arg, const char *fmt, ...) {
        char quoted[128], why[128];
        va_list ap;

        if (!err || err_len == 0)
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        copy_printable(quoted, sizeof quoted, arg);
        snprintf(err, err_len, "argument \"%s\": %s", quoted, why);
        return -EINVAL;
}

/* "name=" prefix: returns the value or NULL. */
static const char *value_of(const char *arg, const char *name) {
        size_t n = strlen(name);

        if (strncmp(arg, name, n) == 0 && arg[n] == '=')
                return arg + n + 1;
        return NULL;
}

static int set_once(const char **slot, const char *arg, const char *value, char *err, size_t err_len) {
        if (*slot)
                return errf(err, err_len, arg, "given twice");
        if (!*value)
                return errf(err, err_len, arg, "empty value");
        *slot = value;
        return 0;
}

static int set_flag(bool *flag, const char *arg, char *err, size_t err_len) {
        if (*flag)
                return errf(err, err_len, arg, "given twice");
        *flag = true;
        return 0;
}

static int check_path(const char *arg, const char *value, char *err, size_t err_len) {
        if (!*value)
                return errf(err, err_len, arg, "empty value");
        /* Relative paths would depend on the application's cwd. */
        if (value[0] != '/')
                return errf(err, err_len, arg, "not an absolute path");
        /* open(O_NOFOLLOW) follows a symlink named with a trailing '/'. */
        if (value[strlen(value) - 1] == '/')
                return errf(err, err_len, arg, "ends in '/'");
        return 0;
}

static int parse_token_order(pam_svcid_args *a, const char *arg, const char *value, char *err, size_t err_len) {
        const char *p = value;

        if (a->n_token > 0)
                return errf(err, err_len, arg, "given twice");
        for (;;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t) (comma - p) : strlen(p);
                pam_svcid_source s;

                if (n == 7 && memcmp(p, "authtok", 7) == 0)
                        s = PAM_SVCID_SOURCE_AUTHTOK;
                else if (n == 3 && memcmp(p, "env", 3) == 0)
                        s = PAM_SVCID_SOURCE_ENV;
                else
                        return errf(err, err_len, arg, "expected a list of authtok and env");
                for (size_t i = 0; i < a->n_token; i++)
                        if (a->token[i] == s)
                                return errf(err, err_len, arg, "a source is named twice");
                a->token[a->n_token++] = s;
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

static int parse_one(pam_svcid_args *a, const char *arg, bool *seen_leeway, bool *seen_lifetime,
                     char *err, size_t err_len) {
        const char *v;
        int r;

        if (strcmp(arg, "debug") == 0)
                return set_flag(&a->debug, arg, err, err_len);
        else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0) {
                bool use = arg[0] == 'u';

                /* One says "never ask", the other "ask if need be". */
                if (use ? a->try_first_pass : a->use_first_pass)
                        return errf(err, err_len, arg, "use_first_pass and try_first_pass contradict each other");
                return set_flag(use ? &a->use_first_pass : &a->try_first_pass, arg, err, err_len);
        } else if ((v = value_of(arg, "audience"))) {
                /* "%H" stands for this host's name (so one stack, e.g. the
                 * pam-auth-update profile, fits every host) and "%%" for
                 * '%'; any other '%' is a mistake, not a literal. */
                for (const char *p = strchr(v, '%'); p; p = strchr(p + 2, '%'))
                        if (p[1] != 'H' && p[1] != '%')
                                return errf(err, err_len, arg, "only %%H and %%%% may follow '%%'");
                return set_once(&a->audience, arg, v, err, err_len);
        }
        else if ((v = value_of(arg, "issuer")))
                return set_once(&a->issuer, arg, v, err, err_len);
        else if ((v = value_of(arg, "trust"))) {
                r = check_path(arg, v, err, err_len);
                if (r < 0)
                        return r;
                if (a->n_trust >= PAM_SVCID_MAX_TRUST)
                        return errf(err, err_len, arg, "more than %d trust= arguments", PAM_SVCID_MAX_TRUST);
                a->trust[a->n_trust++] = v;
        } else if ((v = value_of(arg, "map"))) {
                r = check_path(arg, v, err, err_len);
                if (r < 0)
                        return r;
                return set_once(&a->map, arg, v, err, err_len);
        } else if ((v = value_of(arg, "require"))) {
                const char *eq = strchr(v, '=');

                if (!eq || eq == v || eq[1] == '\0')
                        return errf(err, err_len, arg, "expected require=CLAIM=GLOB, neither empty");
                if (a->n_require >= PAM_SVCID_MAX_REQUIRE)
                        return errf(err, err_len, arg, "more than %d require= arguments", PAM_SVCID_MAX_REQUIRE);
                a->require[a->n_require++] = v;
        } else if ((v = value_of(arg, "leeway"))) {
                if (*seen_leeway)
                        return errf(err, err_len, arg, "given twice");
                if (parse_int64(v, 0, 3600, &a->leeway) < 0)
                        return errf(err, err_len, arg, "expected seconds from 0 to 3600");
                *seen_leeway = true;
        } else if ((v = value_of(arg, "max_lifetime"))) {
                if (*seen_lifetime)
                        return errf(err, err_len, arg, "given twice");
                if (parse_int64(v, 1, 86400, &a->max_lifetime) < 0)
                        return errf(err, err_len, arg, "expected seconds from 1 to 86400");
                *seen_lifetime = true;
        } else if ((v = value_of(arg, "token")))
                return parse_token_order(a, arg, v, err, err_len);
        else
                return errf(err, err_len, arg, "unknown argument");
        return 0;
}

/* The account step re-checks the token with the auth line's policy and can
 * only add require=; the session step only exports. Any other argument on
 * those lines would be parsed and then not used: the stack would read
 * stricter than it is. */
static bool allowed_on(pam_svcid_line line, const char *arg) {
        switch (line) {
        case PAM_SVCID_LINE_AUTH:
                return true;
        case PAM_SVCID_LINE_ACCOUNT:
                return strcmp(arg, "debug") == 0 || value_of(arg, "require");
        case PAM_SVCID_LINE_SESSION:
                return strcmp(arg, "debug") == 0;
        }
        return false;
}

int pam_svcid_expand_audience(const char *audience, const char *host, char **ret) {
        size_t n = 0, host_len = strlen(host);
        char *out, *o;

        for (const char *p = audience; *p; p++) {
                if (*p == '%') {
                        if (p[1] != 'H' && p[1] != '%')
                                return -EINVAL;
                        n += p[1] == 'H' ? host_len : 1;
                        p++;
                } else
                        n++;
        }
        out = o = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        for (const char *p = audience; *p; p++) {
                if (*p == '%') {
                        p++;
                        if (*p == 'H')
                                o = mempcpy(o, host, host_len);
                        else
                                *o++ = '%';
                } else
                        *o++ = *p;
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int pam_svcid_args_parse(int argc, const char **argv, pam_svcid_line line, pam_svcid_args *ret_args, char *err,
                         size_t err_len) {
        pam_svcid_args a = {
                .leeway = SVCID_LEEWAY_DEFAULT,
                .max_lifetime = SVCID_MAX_LIFETIME_DEFAULT,
        };
        bool seen_leeway = false, seen_lifetime = false;
        int r;

        if (argc < 0 || (argc > 0 && !argv) || !ret_args)
                return -EINVAL;
        for (int i = 0; i < argc; i++) {
                if (!argv[i])
                        return errf(err, err_len, "(null)", "missing");
                r = parse_one(&a, argv[i], &seen_leeway, &seen_lifetime, err, err_len);
                if (r < 0)
                        return r;
                if (!allowed_on(line, argv[i]))
                        return errf(err, err_len, argv[i], "belongs on the auth line, not the %s line",
                                    line == PAM_SVCID_LINE_ACCOUNT ? "account" : "session");
        }
        if (a.n_token == 0)
                a.token[a.n_token++] = PAM_SVCID_SOURCE_AUTHTOK;
        *ret_args = a;
        return 0;
}
