/* SPDX-License-Identifier: MIT */
/* Small helpers of the agent: crash-safe files, the owners it takes, clocks. */
#ifndef SVCID_AGENT_UTIL_H
#define SVCID_AGENT_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/clock.h"      /* now_monotonic_ns() */
#include "../common/num.h"
#include "../common/text.h"      /* name_ok() */

/* Replaces dirfd/name with data atomically: writes a temporary ".NAME.tmp"
 * with mode, fsyncs it, renames it over name and fsyncs the directory,
 * so that a crash at any moment leaves either the old or the new file.
 * Returns 0 or -errno; on failure step says what failed, for the
 * message: "removing the leftover .NAME.tmp", "creating .NAME.tmp",
 * "writing ...", "syncing ...", "renaming ..." or "syncing the directory". */
#define WRITE_STEP_MAX (NAME_MAX + 32)
int write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                 char step[static WRITE_STEP_MAX]);

/* Whether uid may own a file the agent reads, or a directory above it:
 * root, or the agent's own user. An owner_ok for open_parent_checked(). */
bool owner_root_or_self(uid_t uid, void *userdata);

/* For root refused a state or socket directory another user owns (the
 * package's, which its unit runs the agent as SVCID_USER on): whom to run
 * as, "; run the agent as its owner (...)" to add to the message, or ""
 * (also where group or others may write it: its owner would be refused,
 * unless sticky_ok and it has the sticky bit, as a socket directory may).
 * In a static buffer: for a start's single thread. */
const char *owner_hint(const char *dir, bool sticky_ok);

/* Reads a whole regular file (opened O_NOFOLLOW) of at most max bytes
 * into a NUL-terminated buffer. Refuses (-EPERM) a file that group or
 * others may write or that a user other than root or this one owns, or,
 * with private set, one that group or others may read or that any user
 * but this one owns. -EFBIG over max. */
int read_file_at(int dirfd, const char *name, size_t max, bool private_file,
                 char **ret_data, size_t *ret_len);

/* Current wall-clock time in seconds (what token iat/exp use); out of
 * line, so that a fuzz target can put its own in its place. */
int64_t now_realtime(void);

#endif
