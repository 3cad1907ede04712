/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_TEXT_H
#define SVCID_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size n) replacing every byte outside printable
 * ASCII, and '"' and '\\', by '?': safe to quote in a log line. A copy cut
 * short ends in "...". */
void copy_printable(char *dst, size_t n, const char *src);

/* Whether s is acceptable as an audience, issuer, subject or glob: 1 to
 * 255 bytes of printable ASCII, no space. The agent's rule for what it
 * is asked and configured with; the client checks it before asking. */
bool name_ok(const char *s);

#endif
