/* SPDX-License-Identifier: MIT */
/* svcid jwks: print the local agent's public keys. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "cli.h"
#include "util.h"

static void jwks_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid jwks\n"
                "\n"
                "Print the local svcid-agent's JWKS (its issuer and public keys), as served\n"
                "on GET /v1/jwks: what a verifier on another host needs to trust this one.\n"
                "\n"
                "  -h, --help   show this help\n"
                "\n"
                "The agent socket is $SVCID_AGENT_SOCKET, else %s.\n"
                "Exit status: 0 printed, 1 the agent is unreachable or answered nonsense,\n"
                "2 usage error.\n", SVCID_AGENT_SOCKET_DEFAULT);
}

int cmd_jwks(int argc, char **argv) {
        static const struct option longopts[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(free_p) char *jwks = NULL;
        char err[512] = "";
        int c, r, prev_optind = 1;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) >= 0) {
                if (c != 'h')
                        return cli_option_error("jwks", c, argv, prev_optind, longopts);
                jwks_usage(stdout);
                return CLI_EXIT_OK;
        }
        if (optind < argc)
                return cli_usage_error("jwks", "unexpected argument '%s'", argv[optind]);
        r = svcid_agent_jwks(NULL, err, sizeof err, &jwks);
        if (r < 0) {
                fprintf(stderr, "svcid: jwks: %s\n", err[0] ? err : strerror(-r));
                return cli_agent_exit(r);
        }
        /* re-printed through the JSON printer: checked, and nothing in it
         * can drive the terminal */
        r = cli_print_json_text(stdout, jwks, strlen(jwks));
        if (r < 0) {
                fprintf(stderr, "svcid: jwks: %s%s\n", r == -ENOMEM ? "" : "cannot write to standard output: ",
                        strerror(-r));
                return CLI_EXIT_REJECTED;
        }
        return CLI_EXIT_OK;
}
