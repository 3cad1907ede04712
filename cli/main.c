/* SPDX-License-Identifier: MIT */
/* svcid: one subcommand per file, dispatched from the table below, which
 * also generates the usage text (after wireguard-tools' wg.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/text.h"
#include "cli.h"
#include "svcid/svcid.h"

static const struct {
        const char *name;
        const char *args;
        const char *summary;
        int (*function)(int argc, char **argv);
} subcommands[] = {
        { "token",   "-a AUD [--ttl S] [--json]",
          "print a token for this process, minted by the local agent", cmd_token },
        { "exec",    "-a AUD [--ttl S] [--env NAME] -- CMD [ARG...]",
          "run CMD with a fresh token in $SVCID_TOKEN", cmd_exec },
        { "verify",  "-a AUD [--trust PATH]... [--issuer ISS] [--require CLAIM=GLOB]...\n"
                     "               [--leeway S] [--max-lifetime S] [--now UNIX] [TOKEN|-]",
          "verify a token offline and print its claims as JSON", cmd_verify },
        { "jwks",    "",
          "print the local agent's public keys (JWKS)", cmd_jwks },
        { "connect", "-a AUD [--ttl S] unix:PATH|tcp:HOST:PORT",
          "present a token to a line-mode svcid-gate, then relay stdin/stdout", cmd_connect },
        { "inspect", "[TOKEN|-]",
          "decode a token WITHOUT verifying it (labelled UNVERIFIED)", cmd_inspect },
};

static void show_usage(FILE *f) {
        fprintf(f, "Usage: svcid COMMAND [ARGS...]\n"
                   "       svcid help [COMMAND] | --help [COMMAND] | --version\n"
                   "\n"
                   "Short-lived, signed identities for the processes of a pipeline host.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
                fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
        fprintf(f, "\n");
        for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
                fprintf(f, "  svcid %s%s%s\n", subcommands[i].name,
                        subcommands[i].args[0] ? " " : "", subcommands[i].args);
        fprintf(f, "\n"
                   "'svcid help COMMAND', 'svcid --help COMMAND' or 'svcid COMMAND --help' shows a\n"
                   "command's options.\n"
                   "Exit status: 0 success, 1 rejected or failed, 2 usage or configuration error;\n"
                   "exec: CMD's own once it runs, 126 or 127 if it cannot.\n"
                   "See svcid(1).\n");
}

static int find_subcommand(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
                if (strcmp(name, subcommands[i].name) == 0)
                        return (int) i;
        return -1;
}

/* An unknown command or option, quoted printable: it may hold any byte. */
static int unknown(const char *what, const char *name) {
        char shown[256];

        copy_printable_n(shown, sizeof(shown), name, strlen(name), true);
        fprintf(stderr, "svcid: unknown %s '%s'\n"
                        "Try 'svcid --help'%s.\n", what, shown,
                strcmp(what, "command") == 0 ? " for the list of commands" : "");
        return 2;
}

/* A caller may start svcid with 0, 1 or 2 closed; the next file or socket
 * opened would then take that number and be read or written as stdin,
 * stdout or stderr (svcid connect relaying a gate's refusal back to it).
 * Each closed one gets /dev/null opened the other way round, so that it
 * still fails as a closed one would: what glibc does for set-uid programs
 * (csu/check_fds.c). Close-on-exec: the command svcid exec runs gets them
 * closed, as its caller gave them. */
static int occupy_closed_std_fds(void) {
        static const int modes[3] = { O_WRONLY, O_RDONLY, O_RDONLY };

        for (int fd = 0; fd < 3; fd++) {
                if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                        continue;
                int n = open("/dev/null", modes[fd] | O_NOCTTY | O_CLOEXEC);
                if (n != fd) {  /* the lowest free number, so fd, or an error */
                        if (n >= 0)
                                close(n);
                        return -1;
                }
        }
        return 0;
}

/* What a command printed must have reached stdout in full: a full disk
 * or a closed descriptor turns success into failure (exit 1), with a
 * message. (A pipe whose reader has gone raises SIGPIPE first.) */
static int finish_stdout(const char *what, int rc) {
        errno = 0;
        if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
                fprintf(stderr, "svcid: %scannot write to standard output: %s\n", what,
                        strerror(errno ? errno : EIO));
                return 1;
        }
        return rc;
}

static int run(int argc, char **argv) {
        int i;

        if (argc < 2) {
                show_usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "--version") == 0) {
                if (argc > 2) {
                        fprintf(stderr, "svcid: --version takes no arguments\n");
                        return 2;
                }
                printf("svcid %s\n", svcid_version());
                return 0;
        }
        /* `svcid --help token` is `svcid help token`, as git has it. */
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                char help[] = "--help";
                char *sub_argv[3] = { NULL, help, NULL };

                if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0 ||
                    (argc == 3 && strcmp(argv[2], "help") == 0)) {
                        show_usage(stdout);
                        return 0;
                }
                if (argc > 3) {
                        fprintf(stderr, "svcid: help: give one command\n");
                        return 2;
                }
                i = find_subcommand(argv[2]);
                if (i < 0)
                        return unknown("command", argv[2]);
                /* Each subcommand owns its full help: ask it. */
                sub_argv[0] = argv[2];
                return subcommands[i].function(2, sub_argv);
        }
        if (argv[1][0] == '-')
                return unknown("option", argv[1]);

        i = find_subcommand(argv[1]);
        if (i < 0)
                return unknown("command", argv[1]);
        /* The subcommand sees its own name as argv[0], as getopt expects. */
        return subcommands[i].function(argc - 1, argv + 1);
}

int main(int argc, char **argv) {
        char what[32] = "";

        if (occupy_closed_std_fds() < 0) {
                fprintf(stderr, "svcid: cannot open /dev/null for a closed standard descriptor: %s\n",
                        strerror(errno));
                return 1;
        }
        if (argc >= 2 && find_subcommand(argv[1]) >= 0)
                snprintf(what, sizeof what, "%s: ", argv[1]);
        return finish_stdout(what, run(argc, argv));
}
