/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_USER_H
#define SVCID_COMMON_USER_H

#include <stdbool.h>
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

/* Whether id, a peer's uid (gid when gid) as the kernel reported it to
 * this process, may stand for no one in particular: the overflow id
 * (/proc/sys/kernel/overflowuid, overflowgid; nobody's) that the kernel
 * gives every id with no mapping in this process's user namespace
 * (systemd's PrivateUsers=, a container). Where not every id maps, that
 * id is taken for such a stand-in even if the namespace maps it too (a
 * container's own nobody): the two cannot be told apart. In the initial
 * namespace every id maps, and nobody is nobody. */
bool id_unmapped(unsigned long id, bool gid);

#endif
