/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77         /* Linux 6.5; glibc 2.36 does not name it */
#endif

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

int peer_from_socket(int fd, peer *p) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        int pidfd = -1;

        *p = (peer) { .pidfd = -1 };
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof cred || cred.pid <= 0)
                return -ENODATA;
        p->uid = cred.uid;
        p->gid = cred.gid;
        p->pid = cred.pid;

        len = sizeof pidfd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && len == sizeof pidfd && pidfd >= 0) {
                p->pidfd = pidfd;
                return 0;
        }
        if (errno == ESRCH) {           /* the connecting process is gone */
                p->error = -ESRCH;
                return 0;
        }
        /* Older kernel: pidfd_open() pins whatever has that pid now. The
         * unit check below still refuses a process that dies later; the
         * window between connect() and accept() remains, and only a
         * kernel with SO_PEERPIDFD closes it. */
        pidfd = pidfd_open_compat(cred.pid);
        if (pidfd < 0)
                p->error = -errno;
        else
                p->pidfd = pidfd;
        return 0;
}

void peer_done(peer *p) {
        if (p->pidfd >= 0)
                close(p->pidfd);
        p->pidfd = -1;
}

bool peer_alive(const peer *p) {
        struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

        if (p->pidfd < 0)
                return false;
        /* A pidfd becomes readable when its process exits. */
        for (;;) {
                int r = poll(&pfd, 1, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                return r == 0;
        }
}

static int user_name(uid_t uid, char **ret) {
        struct passwd pw, *res = NULL;
        size_t size = 1024;

        for (;;) {
                _cleanup_(free_p) char *buf = malloc(size);
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, size, &res);
                if (r == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                if (r != 0 || !res || !res->pw_name || !res->pw_name[0]) {
                        *ret = NULL;
                        return 0;
                }
                *ret = strdup(res->pw_name);
                return *ret ? 0 : -ENOMEM;
        }
}

int peer_resolve(const peer *p, char **ret_unit, char **ret_user) {
        _cleanup_(free_p) char *unit = NULL, *user = NULL;
        int r;

        if (p->pidfd < 0)
                return -ESRCH;
        r = sd_pid_get_unit(p->pid, &unit);
        if (r < 0)
                unit = NULL;    /* not in a unit (or no systemd): no unit claim */
        if (!peer_alive(p))
                return -ESRCH;
        r = user_name(p->uid, &user);
        if (r < 0)
                return r;
        *ret_unit = TAKE_PTR(unit);
        *ret_user = TAKE_PTR(user);
        return 0;
}
