/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: pam_svcid's parsers of what a stack and its files say.
 *
 * The first input byte picks the parser, the rest is its input:
 *   0  module arguments: the rest split at NUL bytes into argv, parsed
 *      as the auth, account or session line (the byte / 3 % 3);
 *   1  a map= file;
 *   2  the truncation rule, on the rest as a token, for each reason.
 *
 * Beyond "no crash, no leak", it checks what the module relies on: parsed
 * arguments are within their documented ranges (absolute paths, leeway,
 * lifetime, one or two distinct token sources, require= with a claim
 * name), error messages are printable one-liners that quote safely, and a
 * parsed map holds only well-formed lines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../pam/args.c"
#include "../pam/map.c"
#include "../pam/token.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static void check_printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
                        abort();
}

static void fuzz_args(pam_svcid_line line, const char *text, size_t len) {
        const char *argv[MAX_ARGS];
        char *copy = malloc(len + 1);
        char err[PAM_SVCID_ERR_MAX] = "";
        pam_svcid_args a;
        int argc = 0, r;

        if (!copy)
                return;
        memcpy(copy, text, len);
        copy[len] = '\0';
        for (size_t i = 0; i <= len && argc < MAX_ARGS;) {
                argv[argc++] = copy + i;
                i += strlen(copy + i) + 1;
        }
        r = pam_svcid_args_parse(argc, argv, line, &a, err, sizeof err);
        if (r < 0) {
                if (r != -EINVAL || err[0] == '\0')
                        abort();
                check_printable(err);
        } else {
                if (a.audience) {
                        char *aud = NULL;
                        /* What the parser accepts, the module can expand. */
                        if (!*a.audience || pam_svcid_expand_audience(a.audience, "host", &aud) < 0 || !aud)
                                abort();
                        free(aud);
                }
                if (a.issuer && !*a.issuer)
                        abort();
                /* account takes only require= and debug, session only debug */
                if (line != PAM_SVCID_LINE_AUTH &&
                    (a.audience || a.issuer || a.map || a.n_trust || a.use_first_pass || a.try_first_pass ||
                     a.leeway != SVCID_LEEWAY_DEFAULT || a.max_lifetime != SVCID_MAX_LIFETIME_DEFAULT ||
                     a.n_token != 1 || a.token[0] != PAM_SVCID_SOURCE_AUTHTOK))
                        abort();
                if (line == PAM_SVCID_LINE_SESSION && a.n_require)
                        abort();
                if (a.map && a.map[0] != '/')
                        abort();
                for (size_t i = 0; i < a.n_trust; i++)
                        if (a.trust[i][0] != '/')
                                abort();
                for (size_t i = 0; i < a.n_require; i++) {
                        const char *eq = strchr(a.require[i], '=');
                        if (!eq || eq == a.require[i])
                                abort();
                }
                if (a.leeway < 0 || a.leeway > 3600 || a.max_lifetime < 1 || a.max_lifetime > 86400)
                        abort();
                if (a.n_token < 1 || a.n_token > 2 || (a.n_token == 2 && a.token[0] == a.token[1]))
                        abort();
        }
        free(copy);
}

static void fuzz_map(const char *text, size_t len) {
        char err[PAM_SVCID_ERR_MAX] = "";
        pam_svcid_map *m = NULL;
        int r;

        r = pam_svcid_map_parse(text, len, &m, err, sizeof err);
        if (r < 0) {
                if (m || err[0] == '\0')
                        abort();
                check_printable(err);
                return;
        }
        for (size_t i = 0; i < m->n; i++) {
                const struct map_entry *e = &m->entries[i];
                if (!valid_glob(e->glob, strlen(e->glob)) || !valid_user(e->user, strlen(e->user)))
                        abort();
                /* A line always allows its own user for a subject equal
                 * to a glob without special characters. */
                if (!strpbrk(e->glob, "*?[\\") && !pam_svcid_map_allows(m, e->glob, e->user))
                        abort();
        }
        pam_svcid_map_free(m);
}

static void fuzz_truncated(const char *text, size_t len) {
        for (int reason = SVCID_OK; reason < _SVCID_REASON_MAX; reason++) {
                bool t = pam_svcid_looks_truncated(text, len, (svcid_reason) reason);
                if (t && reason != SVCID_MALFORMED && reason != SVCID_BAD_SIGNATURE)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                /* the stack line, from the same byte */
                fuzz_args((pam_svcid_line) (data[0] / 3 % 3), (const char *) data + 1, size - 1);
                break;
        case 1:
                fuzz_map((const char *) data + 1, size - 1);
                break;
        default:
                fuzz_truncated((const char *) data + 1, size - 1);
                break;
        }
        return 0;
}
