/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli.h"

int cmd_jwks(int argc, char **argv) {
        (void) argc;
        (void) argv;
        fprintf(stderr, "svcid: jwks: not available in this build yet\n");
        return 2;
}
