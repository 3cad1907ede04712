/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_NUM_H
#define SVCID_COMMON_NUM_H

#include <stdint.h>

/* The one strict reading of a decimal integer (options, config values,
 * PAM arguments, LISTEN_* variables): digits and nothing else (no blank,
 * no '+', no "0x"), after a '-' only where min is negative. 0 and
 * *ret_value; -EINVAL if s is no such number; -ERANGE if it is outside
 * [min, max] or int64_t. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret_value);

#endif
