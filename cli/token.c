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
                "  -j, --json           print {\"token\":...,\"expires_at\":...} instead\n"
                "  -h, --help           show this help\n"
                "\n"
                "The agent socket is $SVCID_AGENT_SOCKET, else %s.\n"
                "Exit status: 0 token printed, 1 the agent refused or is unreachable,\n"
                "2 usage error.\n", SVCID_AGENT_SOCKET_DEFAULT);
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
        char err[512], *token = NULL;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+a:t:jh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'a':
                        aud = optarg;
                        break;
                case 't':
                        if (cli_parse_int64(optarg, 1, 3600, &ttl) < 0) {
                                fprintf(stderr, "svcid: token: --ttl must be 1..3600 seconds, not '%s'\n", optarg);
                                return CLI_EXIT_USAGE;
                        }
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        token_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        fprintf(stderr, "Try 'svcid token --help'.\n");
                        return CLI_EXIT_USAGE;
                }
        }
        if (!aud || !*aud || optind < argc) {
                fprintf(stderr, "svcid: token: %s\nTry 'svcid token --help'.\n",
                        optind < argc ? "unexpected argument" : "-a AUD is required");
                return CLI_EXIT_USAGE;
        }

        r = svcid_agent_token(NULL, aud, ttl, err, sizeof err, &token, &expires_at);
        if (r < 0) {
                fprintf(stderr, "svcid: token: %s\n", err);
                return r == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_REJECTED;
        }
        if (json)
                printf("{\n  \"token\": \"%s\",\n  \"expires_at\": %" PRIi64 "\n}\n", token, expires_at);
        else
                printf("%s\n", token);
        svcid_free_secret(token);
        if (fflush(stdout) != 0) {
                fprintf(stderr, "svcid: token: cannot write the token\n");
                return CLI_EXIT_REJECTED;
        }
        return CLI_EXIT_OK;
}
