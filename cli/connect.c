/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli.h"

int cmd_connect(int argc, char **argv) {
        (void) argc;
        (void) argv;
        fprintf(stderr, "svcid: connect: not available in this build yet\n");
        return 2;
}
