/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_USER_H
#define SVCID_COMMON_USER_H

#include <sys/types.h>

/* The system user that runs the agent (the shipped unit's User=), writes
 * its JWKS and holds the signing keys, and so may own trust files. */
#define SVCID_USER "svcid"

/* The uid of the user called name as the system knows it now: 1, or 0 if
 * no user has that name, or -errno if the lookup failed. An NSS lookup,
 * which can hang while a directory service is down: never made under a
 * lock others wait for. */
int lookup_user_uid(const char *name, uid_t *ret_uid);

/* The uid of SVCID_USER; -ENOENT if there is none or the lookup fails. */
int lookup_svcid_uid(uid_t *ret_uid);

#endif
