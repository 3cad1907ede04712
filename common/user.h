/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_USER_H
#define SVCID_COMMON_USER_H

#include <sys/types.h>

/* The uid of the "svcid" system user, which runs the agent, writes its
 * JWKS and holds the signing keys, and so may own trust files; -ENOENT if
 * there is none or the lookup fails. An NSS lookup, which can hang while a
 * directory service is down: never made under a lock others wait for. */
int lookup_svcid_uid(uid_t *ret_uid);

#endif
