/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli.h"

int cmd_exec(int argc, char **argv) {
        (void) argc;
        (void) argv;
        fprintf(stderr, "svcid: exec: not available in this build yet\n");
        return 2;
}
