/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_TEXT_H
#define SVCID_COMMON_TEXT_H

#include <stddef.h>

/* Copies src into dst (size n) replacing every byte outside printable
 * ASCII, and '"' and '\\', by '?': safe to quote in a log line. A copy cut
 * short ends in "...". */
void copy_printable(char *dst, size_t n, const char *src);

#endif
