/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_IO_H
#define SVCID_COMMON_IO_H

#include <stdbool.h>
#include <stddef.h>

/* Reads fd to EOF into a malloc'd, NUL-terminated buffer of at most max
 * bytes: -EFBIG as soon as more arrive. It reads to EOF rather than to the
 * size fstat() saw, so the cap holds even for a file that grows meanwhile.
 * Returns 0 or -errno; ret_* are written only on success. */
int read_capped_fd(int fd, size_t max, char **ret_data, size_t *ret_len);

/* Whether standard error is the journal's stream that systemd set up
 * ($JOURNAL_STREAM names its device and inode), so that structured
 * entries can go to the journal instead. */
bool stderr_is_journal(void);

#endif
