/* SPDX-License-Identifier: MIT */
/* svcid verify: check a token offline against trusted issuers, with the
 * one verification policy of libsvcid. Exit 0 and the claims as JSON,
 * 1 and "svcid: rejected: REASON: detail", or 2 for usage/config errors. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/text.h"
#include "cli.h"
#include "util.h"

DEFINE_PTR_CLEANUP(svcid_trust, svcid_trust_free)
DEFINE_PTR_CLEANUP(svcid_policy, svcid_policy_free)
DEFINE_PTR_CLEANUP(svcid_claims, svcid_claims_free)

static inline void free_secretp(char **p) { svcid_free_secret(*p); }

/* --now accepts any time from the epoch to the end of year 9999. */
#define NOW_MAX INT64_C(253402300799)

static void verify_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid verify -a AUD [--trust PATH]... [--issuer ISS] [--require CLAIM=GLOB]...\n"
                "                    [--leeway S] [--max-lifetime S] [--now UNIX] [TOKEN|-]\n"
                "\n"
                "Verify TOKEN (or the token on standard input) offline and print its claims.\n"
                "Prefer standard input: any local user can read a command line.\n"
                "\n"
                "  -a, --audience AUD     the audience this verifier expects (required)\n"
                "      --trust PATH       a JWKS file or a directory of *.jwks; repeatable\n"
                "                         (default: %s plus %s)\n"
                "      --issuer ISS       accept only tokens of this trusted issuer\n"
                "      --require C=GLOB   claim C must match GLOB; repeatable, all must match\n"
                "      --leeway S         clock skew allowed, 0..3600 seconds (default %d)\n"
                "      --max-lifetime S   longest exp - iat accepted, 1..86400 seconds (default %d)\n"
                "      --now UNIX         verify as if the time were UNIX (seconds since the epoch)\n"
                "  -h, --help             show this help\n"
                "\n"
                "Exit status: 0 valid (claims as JSON on stdout), 1 rejected\n"
                "(\"svcid: rejected: REASON: detail\" on stderr), 2 usage or configuration error.\n",
                TRUST_DIR_DEFAULT, TRUST_JWKS_DEFAULT,
                SVCID_LEEWAY_DEFAULT, SVCID_MAX_LIFETIME_DEFAULT);
}

static int64_t fixed_clock(void *userdata) {
        return *(const int64_t *) userdata;
}

enum {
        OPT_TRUST = 0x100,
        OPT_ISSUER,
        OPT_REQUIRE,
        OPT_LEEWAY,
        OPT_MAX_LIFETIME,
        OPT_NOW,
};

int cmd_verify(int argc, char **argv) {
        static const struct option options[] = {
                { "audience",     required_argument, NULL, 'a' },
                { "trust",        required_argument, NULL, OPT_TRUST },
                { "issuer",       required_argument, NULL, OPT_ISSUER },
                { "require",      required_argument, NULL, OPT_REQUIRE },
                { "leeway",       required_argument, NULL, OPT_LEEWAY },
                { "max-lifetime", required_argument, NULL, OPT_MAX_LIFETIME },
                { "now",          required_argument, NULL, OPT_NOW },
                { "help",         no_argument,       NULL, 'h' },
                {}
        };
        static const int repeatable[] = { OPT_TRUST, OPT_REQUIRE, 0 };
        _cleanup_(free_p) char **trust_paths = NULL;
        _cleanup_(free_p) char **required = NULL;
        _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        _cleanup_(svcid_claims_freep) svcid_claims *claims = NULL;
        _cleanup_(free_secretp) char *token = NULL;
        _cleanup_(free_p) char *json = NULL;
        size_t n_trust = 0, n_required = 0, token_len = 0;
        const char *audience = NULL, *issuer = NULL, *token_arg = NULL;
        int64_t leeway = SVCID_LEEWAY_DEFAULT, max_lifetime = SVCID_MAX_LIFETIME_DEFAULT, now = 0;
        bool have_leeway = false, have_max_lifetime = false, have_now = false, cut = false;
        svcid_report report = {};
        svcid_reason reason;
        char err[512] = "";
        uint64_t seen = 0;
        int c, r, prev_optind;

        if (argc < 1)
                return CLI_EXIT_USAGE;
        trust_paths = calloc((size_t) argc, sizeof(char *));
        required = calloc((size_t) argc, sizeof(char *));
        if (!trust_paths || !required) {
                fprintf(stderr, "svcid: verify: out of memory\n");
                return CLI_EXIT_REJECTED;
        }

        optind = 0;
        opterr = 0;
        prev_optind = 1;
        while ((c = getopt_long(argc, argv, ":a:h", options, NULL)) >= 0) {
                r = cli_option_once("verify", c, options, repeatable, &seen);
                if (r != 0)
                        return r;
                switch (c) {
                case 'a':
                        audience = optarg;
                        break;
                case OPT_TRUST:
                        if (!*optarg)
                                return cli_usage_error("verify", "--trust: the path must not be empty");
                        trust_paths[n_trust++] = optarg;
                        break;
                case OPT_ISSUER:
                        issuer = optarg;
                        break;
                case OPT_REQUIRE:
                        required[n_required++] = optarg;
                        break;
                case OPT_LEEWAY:
                        r = cli_parse_seconds("verify", "--leeway", optarg, 0, 3600, &leeway);
                        if (r != 0)
                                return r;
                        have_leeway = true;
                        break;
                case OPT_MAX_LIFETIME:
                        r = cli_parse_seconds("verify", "--max-lifetime", optarg, 1, 86400, &max_lifetime);
                        if (r != 0)
                                return r;
                        have_max_lifetime = true;
                        break;
                case OPT_NOW:
                        if (parse_int64(optarg, 0, NOW_MAX, &now) < 0)
                                return cli_usage_error("verify",
                                                       "--now '%s': expected a UNIX time (seconds since 1970, "
                                                       "from 0 to %" PRId64 ", the end of the year 9999)",
                                                       optarg, NOW_MAX);
                        have_now = true;
                        break;
                case 'h':
                        verify_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error("verify", c, argv, prev_optind, options);
                }
                prev_optind = optind;
        }

        if (!audience)
                return cli_usage_error("verify", "-a AUD is required: the audience this verifier expects");
        if (!*audience)
                return cli_usage_error("verify", "-a AUD: the audience must not be empty");
        if (issuer && !*issuer)
                return cli_usage_error("verify", "--issuer: the issuer must not be empty");
        if (argc - optind > 1)
                return cli_usage_error("verify", "too many arguments: give one TOKEN (or '-')");
        if (optind < argc)
                token_arg = argv[optind];
        else if (isatty(STDIN_FILENO))
                /* Not waiting on a terminal for a token nobody was asked for. */
                return cli_usage_error("verify", "no token: pass TOKEN, or pipe it on standard input");

        /* The token first: in `svcid token | svcid verify` the token
         * request is what starts a socket-activated agent, which writes
         * the JWKS this verify is about to load. */
        r = cli_read_token(token_arg, &token, &token_len);
        if (r < 0) {
                fprintf(stderr, "svcid: verify: cannot read the token from standard input: %s\n", strerror(-r));
                return CLI_EXIT_USAGE;
        }
        cut = r > 0;

        r = cli_trust_load(trust_paths, n_trust, err, sizeof(err), &trust);
        if (r < 0) {
                fprintf(stderr, "svcid: verify: %s\n", err);
                return CLI_EXIT_USAGE;
        }

        r = svcid_policy_new(trust, audience, &policy);
        if (r < 0) {
                fprintf(stderr, "svcid: verify: cannot set up the policy for audience '%s': %s\n",
                        audience, strerror(-r));
                return r == -ENOMEM ? CLI_EXIT_REJECTED : CLI_EXIT_USAGE;
        }
        if (issuer) {
                r = svcid_policy_set_issuer(policy, issuer);
                if (r < 0) {
                        char shown[256];

                        copy_printable_n(shown, sizeof(shown), issuer, strlen(issuer), true);
                        fprintf(stderr, "svcid: verify: --issuer '%s': %s\n", shown,
                                r == -ENOENT ? "not one of the trusted issuers" : strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        }
        for (size_t i = 0; i < n_required; i++) {
                r = svcid_policy_require_arg(policy, required[i]);
                if (r == -EINVAL)
                        /* (cli_usage_error() makes it printable) */
                        return cli_usage_error("verify", "--require '%s': expected CLAIM=GLOB, neither empty",
                                               required[i]);
                if (r < 0) {
                        fprintf(stderr, "svcid: verify: --require: %s\n", strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        }
        if (have_leeway) {
                r = svcid_policy_set_leeway(policy, leeway);
                if (r < 0) {
                        fprintf(stderr, "svcid: verify: --leeway %" PRId64 ": %s\n", leeway, strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        }
        if (have_max_lifetime) {
                r = svcid_policy_set_max_lifetime(policy, max_lifetime);
                if (r < 0) {
                        fprintf(stderr, "svcid: verify: --max-lifetime %" PRId64 ": %s\n", max_lifetime, strerror(-r));
                        return CLI_EXIT_USAGE;
                }
        }
        if (have_now)
                svcid_policy_set_clock(policy, fixed_clock, &now);

        reason = svcid_verify(policy, token, token_len, &claims, &report);
        if (reason != SVCID_OK) {
                /* Only the first bytes of a longer input were read. */
                if (reason == SVCID_TOO_LARGE && cut)
                        snprintf(report.detail, sizeof report.detail, "token is over %u bytes, more than %u",
                                 CLI_TOKEN_READ_MAX, SVCID_TOKEN_MAX);
                /* report.detail is sanitized by the library: printable
                 * ASCII only, and never the token itself. */
                if (report.detail[0])
                        fprintf(stderr, "svcid: rejected: %s: %s\n", svcid_reason_str(reason), report.detail);
                else
                        fprintf(stderr, "svcid: rejected: %s\n", svcid_reason_str(reason));
                if (reason == SVCID_MALFORMED)
                        cli_hint_token_file("verify", token_arg);
                return CLI_EXIT_REJECTED;
        }

        r = svcid_claims_json(claims, &json);
        if (r >= 0)
                r = cli_print_json_text(stdout, json, strlen(json));
        if (r < 0) {
                fprintf(stderr, "svcid: verify: token valid, but printing its claims failed: %s\n", strerror(-r));
                return CLI_EXIT_REJECTED;
        }
        return CLI_EXIT_OK;
}
