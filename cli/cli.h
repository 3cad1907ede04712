/* SPDX-License-Identifier: MIT */
/* The svcid command line: one file per subcommand, dispatched from the
 * table in main.c. Each returns the process exit code: 0 success,
 * 1 rejected/failed, 2 usage or configuration error. */
#ifndef SVCID_CLI_H
#define SVCID_CLI_H

int cmd_token(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_jwks(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

#endif
