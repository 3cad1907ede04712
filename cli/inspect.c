/* SPDX-License-Identifier: MIT */
/* svcid inspect: decode a token without verifying anything, for people
 * debugging a refusal. Everything it prints is labelled UNVERIFIED: the
 * signature, issuer, audience and times are not checked. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cli.h"
#include "util.h"
#include "../common/json.h"
#include "../common/text.h"

static inline void free_secretp(char **p) { svcid_free_secret(*p); }

static void inspect_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid inspect [TOKEN|-]\n"
                "\n"
                "Decode TOKEN (or the token on standard input) and print its header and\n"
                "payload WITHOUT verifying it: nothing printed has been checked.\n"
                "Use 'svcid verify' to decide whether to trust a token. Give a token that is\n"
                "still valid on standard input: any local user can read a command line.\n"
                "\n"
                "  -h, --help   show this help\n"
                "\n"
                "Exit status: 0 the token decodes, 1 it does not, 2 usage error.\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "svcid: inspect: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CLI_EXIT_REJECTED;
}

/* A TOKEN argument that is no token may name a file. */
static int not_token(const char *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int not_token(const char *arg, const char *fmt, ...) {
        char what[512];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        r = fail("%s", what);
        cli_hint_token_file("inspect", arg);
        return r;
}

/* Header and payload must be JSON objects without duplicate members, as
 * the verifier demands: inspect shows what verify would parse. */
static json_t *decode_object(const unsigned char *data, size_t len, char *why, size_t why_len) {
        json_error_t error;
        json_t *value;
        bool oom;

        value = json_load_guarded(data, len, &error, &oom);
        if (!value) {
                /* jansson's message may quote the offending input byte: a
                 * token's bytes never reach the terminal raw. */
                snprintf(why, why_len, "%s", !oom && error.text[0] ? error.text : "out of memory");
                copy_printable_n(why, why_len, why, strlen(why), true);
                return NULL;
        }
        if (!json_is_object(value)) {
                snprintf(why, why_len, "not a JSON object");
                json_decref(value);
                return NULL;
        }
        return value;
}

/* An extra line with the UTC time of a NumericDate claim, for humans. */
static void print_time(const json_t *payload, const char *name) {
        const json_t *v = json_object_get(payload, name);
        struct tm tm;
        char buf[64];
        time_t t;

        if (!v)
                return;
        if (!json_is_integer(v)) {
                printf("%s: not an integer\n", name);
                return;
        }
        t = (time_t) json_integer_value(v);
        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
                printf("%s: %" JSON_INTEGER_FORMAT " (out of range)\n", name, json_integer_value(v));
                return;
        }
        printf("%s: %" JSON_INTEGER_FORMAT " = %s\n", name, json_integer_value(v), buf);
}

int cmd_inspect(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(free_secretp) char *token = NULL;
        _cleanup_(free_p) unsigned char *header_raw = NULL, *payload_raw = NULL, *sig = NULL;
        _cleanup_(json_decrefp) json_t *header = NULL, *payload = NULL;
        size_t token_len = 0, header_len = 0, payload_len = 0, sig_len = 0;
        const char *token_arg = NULL, *dot1, *dot2;
        char why[200];
        int c, r, prev_optind;

        optind = 0;
        opterr = 0;
        prev_optind = 1;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        inspect_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error("inspect", c, argv, prev_optind, options);
                }
                prev_optind = optind;
        }
        if (argc - optind > 1) {
                return cli_usage_error("inspect", "too many arguments: give one TOKEN (or '-')");
        }
        if (optind < argc)
                token_arg = argv[optind];
        else if (isatty(STDIN_FILENO)) {
                return cli_usage_error("inspect", "no token: pass TOKEN, or pipe it on standard input");
        }

        r = cli_read_token(token_arg, &token, &token_len);
        if (r < 0) {
                fprintf(stderr, "svcid: inspect: cannot read the token from standard input: %s\n", strerror(-r));
                return CLI_EXIT_USAGE;
        }
        if (token_len == 0)
                return fail("empty token");
        /* The same cap as the verifier: nothing bigger is a token. */
        if (r > 0)
                return fail("token too large (over %u bytes, at most %u)", CLI_TOKEN_READ_MAX, SVCID_TOKEN_MAX);
        if (token_len > SVCID_TOKEN_MAX)
                return fail("token too large (%zu bytes, at most %u)", token_len, SVCID_TOKEN_MAX);
        if (strlen(token) != token_len)
                return fail("not a token: it contains a NUL byte");
        if (strcspn(token, " \t\r\n\v\f") != token_len)
                return fail("not a token: it holds whitespace at byte %zu", strcspn(token, " \t\r\n\v\f"));

        dot1 = memchr(token, '.', token_len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', token_len - (size_t) (dot1 + 1 - token)) : NULL;
        if (!dot1 || !dot2 || memchr(dot2 + 1, '.', token_len - (size_t) (dot2 + 1 - token)))
                return not_token(token_arg, "not a compact JWS: expected three segments separated by '.'");

        if (svcid_b64url_decode(token, (size_t) (dot1 - token), &header_raw, &header_len) < 0)
                return not_token(token_arg, "header: not strict base64url");
        if (svcid_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), &payload_raw, &payload_len) < 0)
                return not_token(token_arg, "payload: not strict base64url");
        if (svcid_b64url_decode(dot2 + 1, token_len - (size_t) (dot2 + 1 - token), &sig, &sig_len) < 0)
                return not_token(token_arg, "signature: not strict base64url");

        header = decode_object(header_raw, header_len, why, sizeof(why));
        if (!header)
                return not_token(token_arg, "header: %s", why);
        payload = decode_object(payload_raw, payload_len, why, sizeof(why));
        if (!payload)
                return not_token(token_arg, "payload: %s", why);

        /* The label comes first, so no reader (or head -n) can miss it. */
        printf("UNVERIFIED — signature and claims not checked\n");
        printf("header:\n");
        cli_print_json(stdout, header);
        printf("payload:\n");
        cli_print_json(stdout, payload);
        printf("signature: %zu bytes\n", sig_len);
        print_time(payload, "iat");
        print_time(payload, "nbf");
        print_time(payload, "exp");
        return CLI_EXIT_OK;
}
