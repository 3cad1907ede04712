/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_OPT_H
#define SVCID_COMMON_OPT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The usage message for an option getopt_long() refused, quoting it as
 * given but made printable (copy_printable_n()): "option '-a' needs a
 * value", "option '--help=3' takes no value", "option '--re' is ambiguous"
 * or "unknown option '--frob'". c is what getopt_long() returned ('?' or
 * ':'; call it with opterr = 0 and an optstring that starts with ':' or
 * "+:"), prev_optind the optind before that call, longopts its table. */
void option_error_message(char *buf, size_t size, int c, char *const argv[], int prev_optind,
                          const struct option *longopts);

/* Whether c, as getopt_long() returned it, is an option that takes one
 * value given again (its message then in buf: "option '--audience' (-a)
 * is given twice; it takes one value"): the last one silently winning
 * would be a surprise, as `-a x -a y` cannot mean both. Options without
 * a value, and those whose code is in repeatable (0-terminated, or
 * NULL), may come again. seen, 0 before the first call, records the
 * options met (longopts' first 64). */
bool option_repeated(char *buf, size_t size, int c, const struct option *longopts, const int *repeatable,
                     uint64_t *seen);

#endif
