/* SPDX-License-Identifier: MIT */
/* svcid exec: run a command with a fresh token in its environment. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "cli.h"
#include "util.h"

static void exec_usage(FILE *f) {
        fprintf(f,
                "Usage: svcid exec -a AUD [--ttl S] [--env NAME] -- CMD [ARG...]\n"
                "\n"
                "Ask the local svcid-agent for a token naming this process, then replace\n"
                "this process with CMD, the token in its environment. CMD runs as the same\n"
                "process (same pid, same unit) that the token names.\n"
                "\n"
                "  -a, --audience AUD   the audience the token is for (required)\n"
                "  -t, --ttl S          lifetime in seconds, 1..3600 (default: the agent's)\n"
                "  -e, --env NAME       the variable to set (default SVCID_TOKEN; not one\n"
                "                       read before CMD runs: PATH, HOME, LD_*... see svcid(1))\n"
                "  -h, --help           show this help\n"
                "\n"
                "Exit status: CMD's once it runs; 1 if no token could be had; 2 for a\n"
                "usage error (including an audience or ttl the agent calls malformed);\n"
                "127 if CMD was not found, 126 if it could not be run.\n");
}

/* An environment variable name: a letter or '_', then letters, digits, '_'. */
static bool env_name_ok(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 128 && !(s[0] >= '0' && s[0] <= '9') &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Names that the loader, libc, shells or common interpreters read before
 * CMD's own code runs. A token there would change how CMD is found or
 * loaded, and several print a value they cannot use (bash names a BASH_ENV
 * or HOME it cannot open; ld.so a library it cannot load; sh -x starts
 * each line it traces with PS4): the token would land on stderr, and so
 * in logs. */
static bool env_name_reserved(const char *name) {
        static const char *const exact[] = {
                "PATH", "IFS", "HOME", "SHELL", "ENV", "SHELLOPTS", "PS4", "CDPATH", "TMPDIR", "TZ", "LANG",
                "LANGUAGE", "GCONV_PATH", "LOCPATH", "NLSPATH", "GLIBC_TUNABLES", "RUBYOPT", "PERLLIB",
                "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
        };
        static const char *const prefix[] = {
                "LD_", "LC_", "MALLOC_", "BASH", "NODE_", "PYTHON", "PERL5", "OPENSSL_",
        };

        for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
                if (strcmp(name, exact[i]) == 0)
                        return true;
        for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
                if (strncmp(name, prefix[i], strlen(prefix[i])) == 0)
                        return true;
        return false;
}

int cmd_exec(int argc, char **argv) {
        static const struct option longopts[] = {
                { "audience", required_argument, NULL, 'a' },
                { "ttl",      required_argument, NULL, 't' },
                { "env",      required_argument, NULL, 'e' },
                { "help",     no_argument,       NULL, 'h' },
                {}
        };
        const char *aud = NULL, *env = "SVCID_TOKEN";
        int64_t ttl = 0;
        char *token = NULL;
        uint64_t seen = 0;
        int c, r, prev_optind;

        optind = 0;
        opterr = 0;
        prev_optind = 1;
        /* '+': options end at the first non-option, CMD's own are its own */
        while ((c = getopt_long(argc, argv, "+:a:t:e:h", longopts, NULL)) >= 0) {
                r = cli_option_once("exec", c, longopts, NULL, &seen);
                if (r != 0)
                        return r;
                switch (c) {
                case 'a':
                        aud = optarg;
                        break;
                case 't':
                        r = cli_parse_seconds("exec", "--ttl", optarg, 1, 3600, &ttl);
                        if (r != 0)
                                return r;
                        break;
                case 'e':
                        if (!env_name_ok(optarg))
                                return cli_usage_error("exec", "--env needs a variable name, not '%s'", optarg);
                        if (env_name_reserved(optarg))
                                return cli_usage_error("exec",
                                                       "--env %s is read before CMD runs (by the loader, libc, "
                                                       "a shell or an interpreter); choose another name",
                                                       optarg);
                        env = optarg;
                        break;
                case 'h':
                        exec_usage(stdout);
                        return CLI_EXIT_OK;
                default:
                        return cli_option_error("exec", c, argv, prev_optind, longopts);
                }
                prev_optind = optind;
        }
        r = cli_check_audience("exec", aud);
        if (r != 0)
                return r;
        if (optind >= argc)
                return cli_usage_error("exec", "a command to run is required");

        r = cli_agent_token("exec", aud, ttl, &token, NULL);
        if (r != 0)
                return r;
        r = setenv(env, token, 1);
        svcid_free_secret(token);
        if (r < 0) {
                fprintf(stderr, "svcid: exec: setenv: %s\n", strerror(errno));
                return CLI_EXIT_REJECTED;
        }
        fflush(NULL);
        execvp(argv[optind], argv + optind);
        r = errno;
        /* (a name without '/' was looked for in $PATH) */
        fprintf(stderr, "svcid: exec: %s: %s\n", argv[optind],
                exec_strerror(strchr(argv[optind], '/') ? argv[optind] : NULL, r));
        /* As env(1) and shells: 127 not found (a missing interpreter
         * too), 126 found but not run, so neither passes for CMD's own
         * status 1. */
        return r == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_RUN;
}
