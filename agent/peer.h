/* SPDX-License-Identifier: MIT */
/* Who is on the other end of a connection — from the kernel only.
 *
 * At accept: SO_PEERCRED (uid, gid, pid as of connect()) and a pidfd for
 * that pid: SO_PEERPIDFD where the kernel has it (the very process, even
 * if its pid has been reused since), else pidfd_open(pid). Per request:
 * the unit, from the pidfd's cgroup id when a unit of that cgroup is
 * known, else from sd_pid_get_unit(pid); then the pidfd is checked again —
 * if the process has exited, the pid may now name another process whose
 * unit we just read, so the request is refused, never misattributed. */
#ifndef SVCID_AGENT_PEER_H
#define SVCID_AGENT_PEER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        int pidfd;              /* -1 if none could be had */
        int error;              /* why there is no pidfd (-errno), or 0 */
        int cred_error;         /* why the credentials are not all there, or 0: -ENODATA, no pid
                                 * (uid and gid are set, pid is 0); any other -errno, none at all
                                 * (nothing above is set) */
        uid_t share;            /* whose connection share it counts in (peer_share()) */
        bool counted;           /* holds one of that share's connection slots */
        bool bad_target;        /* the request being read has a bad escape (http.c) */
        bool long_query;        /* ... or over HTTP_QUERY_FIELDS_MAX query fields */
} peer;

/* The share of connections (http.c) that uid counts in: its own when it
 * names a user, else PEER_SHARE_NAMELESS, one for all uids without a
 * passwd entry (or whose lookup failed). A user may run processes as up
 * to 65536 subordinate uids (/etc/subuid, for its user namespaces); none
 * has a name, and counted apart they would take every slot. */
#define PEER_SHARE_NAMELESS ((uid_t) -1)
uid_t peer_share(uid_t uid);

/* Without SO_PEERPIDFD, how many of the pinned process's threads are
 * read at most to find the connecting thread's credentials. The leader
 * comes first, and glibc's set*id() keep all threads alike, so it almost
 * always decides; only raw per-thread system calls make threads differ.
 * The bound keeps a caller with thousands of threads of other credentials
 * from holding the HTTP thread for seconds a connection. */
#define PEER_THREADS_READ 32

/* Fills p from the connected socket fd: 0; -ENODATA when the kernel
 * gives no pid, the connector's pid namespace being outside the agent's
 * (uid and gid are set, pid is 0); -errno if SO_PEERCRED fails. A missing
 * pidfd is not an error here but recorded in p->error. */
int peer_from_socket(int fd, peer *p);

void peer_done(peer *p);

/* Whether the process behind p is still running (its pidfd not readable). */
bool peer_alive(const peer *p);

/* Resolves what a request needs: the unit (NULL if none) and the user name
 * (NULL if the uid has no passwd entry). Returns -ESRCH if the process is
 * gone or no longer has the effective uid and gid it connected with,
 * -E2BIG if /proc cannot tell that (PEER_THREADS_READ), the -errno that
 * kept it from being pinned by a pidfd (EMFILE, ENFILE...: the agent's
 * failure, not the caller's), -EACCES if its /proc entry cannot be read,
 * another -errno if its unit cannot be learned (never "no unit" for a
 * unit not known) or if getpwuid_r() fails rather than finds no entry
 * (never "no name" for a name not known), -ENOMEM. */
int peer_resolve(const peer *p, char **ret_unit, char **ret_user);

/* Whether /proc is the one of the agent's own pid namespace: 0, or
 * -errno with the reason in err. Callers are named through /proc (their
 * cgroup, their threads) by the pid the kernel gives for them, which is
 * numbered in the agent's namespace; a /proc mounted for another one (an
 * agent started with `unshare --pid` and no --mount-proc) shows other
 * processes under those numbers, and a caller would take the unit of
 * whichever has its number there. */
int peer_check_proc(char *err, size_t err_len);

/* Whether units can be named from where the agent runs: 0, or -errno
 * with the reason in err. sd_pid_get_unit(3) names a caller's unit from
 * its cgroup path as the agent's cgroup namespace shows it, less the
 * cgroup of the agent's pid 1 (a container's own systemd). Whoever may
 * make cgroups right under that root may give a process any unit's name:
 * it must be root's (and pid 1 must be inside the namespace). */
int peer_check_unit_root(char *err, size_t err_len);

/* Frees the unit cache (at exit, for leak checkers). */
void peer_cache_free(void);

#endif
