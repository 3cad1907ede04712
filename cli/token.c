/* SPDX-License-Identifier: MIT */
/* svcid token: ask the local agent for a token naming this process. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "cli.h"
#include "util.h"
#include "../common/json.h"

static void token_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid token -a AUD [--ttl S] [--json]\n"
                "\n"
                "Print a token for this process, minted by the local svcid-agent, which\n"
                "names the caller by what the kernel says about it (uid, gid, unit).\n"
                "\n"
                "  -a, --audience AUD   the audience the token is for (required)\n"
                "  -t, --ttl S          lifetime in seconds, 1..3600 (default: the agent's;\n"
                "                       the agent's policy may shorten it)\n"
                "  -j, --json           print {\"token\":...,\"expires_at\":...,\"sub\":...} instead\n"
                "  -h, --help           show this help\n"
                "\n"
                "The agent socket is $SVCID_AGENT_SOCKET, else %s.\n"
                "Exit status: 0 token printed, 1 the agent refused or is unreachable,\n"
                "2 usage error (including an audience or ttl the agent calls malformed).\n",
                SVCID_AGENT_SOCKET_DEFAULT);
}

/* --json: the agent's answer, {"token", "expires_at", "sub"}; sub is read
 * back from the token the agent just sent (not verified: it is the
 * agent's own word, over the local socket, like the rest of its answer).
 * Returns 0, -EBADMSG for a token that does not decode, or the error of
 * writing it out. */
static int print_json(const char *token, int64_t expires_at) {
        _cleanup_(json_decrefp) json_t *payload = NULL, *out = NULL;
        _cleanup_(free_p) unsigned char *raw = NULL;
        const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
        const char *sub;
        size_t len;

        if (!dot2 || svcid_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), &raw, &len) < 0)
                return -EBADMSG;
        payload = json_load_guarded(raw, len, NULL, NULL);
        sub = json_string_value(json_object_get(payload, "sub"));
        if (!sub)
                return -EBADMSG;
        out = json_pack("{s:s, s:I, s:s}", "token", token, "expires_at", (json_int_t) expires_at, "sub", sub);
        if (!out)
                return -ENOMEM;
        return cli_print_json(stdout, out);
}

int cmd_token(int argc, char **argv) {
        static const struct option longopts[] = {
                { "audience", required_argument, NULL, 'a' },
                { "ttl",      required_argument, NULL, 't' },
                { "json",     no_argument,       NULL, 'j' },
                { "help",     no_argument,       NULL, 'h' },
                {}
        };
        const char *aud = NULL;
        int64_t ttl = 0, expires_at = 0;
        bool json = false;
        char *token = NULL;
        uint64_t seen = 0;
        int c, r, prev_optind;

        optind = 0;
        opterr = 0;
        prev_optind = 1;
        while ((c = getopt_long(argc, argv, ":a:t:jh", longopts, NULL)) >= 0) {
                r = cli_option_once("token", c, longopts, NULL, &seen);
                if (r != 0)
                        return r;
                switch (c) {
                case 'a':
                        aud = optarg;
                        break;
                case 't':
                        r = cli_parse_seconds("token", "--ttl", optarg, 1, 3600, &ttl);
                        if (r != 0)
                                return r;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        token_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error("token", c, argv, prev_optind, longopts);
                }
                prev_optind = optind;
        }
        if (optind < argc)
                return cli_usage_error("token", "unexpected argument '%s'", argv[optind]);
        r = cli_check_audience("token", aud);
        if (r != 0)
                return r;

        r = cli_agent_token("token", aud, ttl, &token, &expires_at);
        if (r != 0)
                return r;
        errno = 0;
        if (json)
                r = print_json(token, expires_at);
        else
                r = printf("%s\n", token) < 0 ? -(errno > 0 ? errno : EIO) : 0;
        svcid_free_secret(token);
        /* A token longer than stdio's buffer, or a terminal's line, is
         * written out while printed: a write that fails says so here, as
         * main() says it of one that fails when flushed. */
        if (r == -EBADMSG)
                fprintf(stderr, "svcid: token: the agent's token does not decode\n");
        else if (r < 0)
                fprintf(stderr, "svcid: token: cannot write to standard output: %s\n", strerror(-r));
        return r < 0 ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
}
