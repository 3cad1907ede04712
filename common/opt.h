/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_OPT_H
#define SVCID_COMMON_OPT_H

#include <getopt.h>
#include <stddef.h>

/* The usage message for an option getopt_long() refused, quoting it as
 * given but made printable (copy_printable_n()): "option '-a' needs a
 * value", "option '--help=3' takes no value", "option '--re' is ambiguous"
 * or "unknown option '--frob'". c is what getopt_long() returned ('?' or
 * ':'; call it with opterr = 0 and an optstring that starts with ':' or
 * "+:"), prev_optind the optind before that call, longopts its table. */
void option_error_message(char *buf, size_t size, int c, char *const argv[], int prev_optind,
                          const struct option *longopts);

#endif
