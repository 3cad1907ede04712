/* SPDX-License-Identifier: MIT */
/* Helpers shared by the svcid subcommands: reading a token, strict
 * numbers, loading trust, printing JSON. They never exit and never print
 * a token; callers turn their -errno into messages and exit codes. */
#ifndef SVCID_CLI_UTIL_H
#define SVCID_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <jansson.h>

#include "svcid/svcid.h"
#include "../common/num.h"
#include "../common/opt.h"
#include "../common/trust_load.h"

/* Exit codes of every subcommand (see cli.h). */
#define CLI_EXIT_OK       0
#define CLI_EXIT_REJECTED 1
#define CLI_EXIT_USAGE    2
#define CLI_EXIT_CANNOT_RUN 126   /* exec: CMD found but not run (as env(1) does) */
#define CLI_EXIT_NOT_FOUND  127   /* exec: no such CMD */

/* How much of stdin a token read takes at most: the token cap plus slack
 * for a trailing newline and the like. Anything longer is passed on at
 * this length, so the verifier still names it too_large. */
#define CLI_TOKEN_READ_MAX (SVCID_TOKEN_MAX + 1024u)

/* Gets a token: arg itself, or stdin when arg is NULL or "-". From stdin
 * at most CLI_TOKEN_READ_MAX bytes are read and trailing whitespace
 * (a newline from echo or a file) is stripped, unless the cap was hit.
 * The result is malloc'd and NUL-terminated; free it with
 * svcid_free_secret(). Returns 0, or 1 when stdin had more than the cap
 * (the token is then the first CLI_TOKEN_READ_MAX bytes), or -EIO on a
 * read error. */
int cli_read_token(const char *arg, char **ret_token, size_t *ret_len);

/* For a TOKEN argument that is no token: if arg names a regular file or a
 * FIFO, says on stderr that TOKEN is the token itself and how to read it
 * from a file. */
void cli_hint_token_file(const char *cmd, const char *arg);

/* Loads trust for a verifier: every path of paths (a JWKS file or a
 * directory of *.jwks), or, when n_paths is 0, the defaults that exist.
 * Fails with -ENOENT when nothing at all was found to trust (no key), and
 * with the library's error for an unreadable or invalid source; err then
 * holds a one-line reason naming the path. */
int cli_trust_load(char *const *paths, size_t n_paths, char *err, size_t err_len,
                   svcid_trust **ret_trust);

/* Parses the value arg of CMD's option OPTION, whole seconds in
 * [min, max]. Returns 0, or prints why on stderr and returns
 * CLI_EXIT_USAGE. */
int cli_parse_seconds(const char *cmd, const char *option, const char *arg, int64_t min, int64_t max,
                      int64_t *ret_seconds);

/* Checks the -a AUD of CMD, which asks the agent: given, and an audience
 * the agent can take (1..255 printable ASCII characters, no space).
 * Returns 0, or prints why on stderr and returns CLI_EXIT_USAGE. */
int cli_check_audience(const char *cmd, const char *aud);

/* Gets a token for aud (ttl 0: the agent's default) from the local agent.
 * Returns 0, or prints "svcid: CMD: why" on stderr and returns the exit
 * code: CLI_EXIT_USAGE for a request the agent calls bad, else
 * CLI_EXIT_REJECTED. ret_expires_at may be NULL. */
int cli_agent_token(const char *cmd, const char *aud, int64_t ttl, char **ret_token, int64_t *ret_expires_at);

/* The exit code for an error of the agent client (svcid_agent_token(),
 * svcid_agent_jwks()) other than a bad request: CLI_EXIT_USAGE for a
 * socket path that cannot be one, else CLI_EXIT_REJECTED. */
int cli_agent_exit(int r);

/* Reports a usage error of CMD on stderr as "svcid: CMD: MESSAGE" and a
 * line pointing to 'svcid CMD --help'; returns CLI_EXIT_USAGE. MESSAGE is
 * made printable: it may quote any byte of an argument. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports an option getopt_long() refused (see option_error_message())
 * as a usage error of CMD; returns CLI_EXIT_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv, int prev_optind, const struct option *longopts);

/* Reports an option that takes one value given twice (see
 * option_repeated()) as a usage error of CMD: CLI_EXIT_USAGE, else 0. */
int cli_option_once(const char *cmd, int c, const struct option *longopts, const int *repeatable, uint64_t *seen);

/* Prints a JSON value indented by 2, every control character (DEL too)
 * and non-ASCII escaped (so no byte of it reaches a terminal raw),
 * followed by a newline. */
int cli_print_json(FILE *f, const json_t *value);

/* The same for JSON text that has been parsed before (the claims of a
 * verified token, the agent's JWKS): -ENOMEM if it cannot be again. */
int cli_print_json_text(FILE *f, const char *text, size_t len);

#endif
