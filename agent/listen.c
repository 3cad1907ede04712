/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "listen.h"
#include "log.h"
#include "util.h"

static int from_systemd(listener *ret, char *err, size_t err_len) {
        int n = sd_listen_fds(1);
        int fd;

        if (n < 0) {
                snprintf(err, err_len, "the sockets from systemd (LISTEN_FDS): %s", strerror(-n));
                return n;
        }
        if (n == 0)
                return 0;
        if (n > 1)
                log_warning("systemd passed %d sockets, using the first", n);
        fd = SD_LISTEN_FDS_START;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                snprintf(err, err_len, "the socket from systemd is not a listening AF_UNIX stream socket");
                return -ENOTSOCK;
        }
        /* libmicrohttpd's epoll loop expects a non-blocking listener */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return set_err(err, err_len, -errno, "the socket from systemd: %m");
        *ret = (listener) { .fd = fd, .from_systemd = true };
        return 1;
}

/* Something at path already: a live agent, a stale socket, or not ours. */
static int check_existing(const char *path, const struct sockaddr_un *sa, char *err, size_t err_len) {
        _cleanup_(close_fdp) int fd = -1;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return set_err(err, err_len, -errno, "%s: %m", path);
        }
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, err_len, "%s exists and is not a socket, refusing to replace it", path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return set_err(err, err_len, -errno, "cannot make a socket: %m");
        if (connect(fd, (const struct sockaddr *) sa, sizeof *sa) == 0) {
                snprintf(err, err_len, "an agent already answers on %s", path);
                return -EADDRINUSE;
        }
        if (errno != ECONNREFUSED)
                return set_err(err, err_len, -errno, "%s: %m", path);
        log_info("removing stale socket %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return set_err(err, err_len, -errno, "cannot remove the stale socket %s: %m", path);
        return 0;
}

int listener_open(const char *path, listener *ret, char *err, size_t err_len) {
        _cleanup_(close_fdp) int fd = -1;
        _cleanup_(free_p) char *dir = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char name[NAME_MAX + 1], why[256] = "";
        struct stat st;
        mode_t old_umask;
        const char *d;
        int r;

        r = from_systemd(ret, err, err_len);
        if (r != 0)
                return r < 0 ? r : 0;

        if (!path[0] || strlen(path) >= sizeof sa.sun_path) {
                snprintf(err, err_len, "socket path '%s' is %zu bytes, the limit is %zu", path, strlen(path),
                         sizeof sa.sun_path - 1);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);

        /* /run/svcid when not started by systemd (RuntimeDirectory=).
         * The socket's directory, and every one above it, must be root's
         * or ours and writable by no one else (or sticky), the state
         * directory's rule: whoever could write it could put a symbolic
         * link where the socket was just bound, for the chmod() below to
         * make its target 0666, or their own socket in its place. */
        dir = strdup(path);
        if (!dir) {
                snprintf(err, err_len, "out of memory");
                return -ENOMEM;
        }
        d = dirname(dir);
        if (strcmp(d, "/") != 0 && strcmp(d, ".") != 0) {
                _cleanup_(close_fdp) int parent = open_parent_checked(d, owner_root_or_self, NULL, name, why,
                                                                      sizeof why);

                if (parent < 0) {
                        snprintf(err, err_len, "%s: %s", d, why);
                        return parent;
                }
                /* 0755 whatever the umask: every local user must reach the socket. */
                old_umask = umask(022);
                r = mkdirat(parent, name, 0755) < 0 && errno != EEXIST ? -errno : 0;
                umask(old_umask);
                if (r < 0) {
                        snprintf(err, err_len, "%s: %s", d, strerror(-r));
                        return r;
                }
        }
        {
                _cleanup_(close_fdp) int sock_dir = open_parent_checked(path, owner_root_or_self, NULL, name, why,
                                                                        sizeof why);

                if (sock_dir < 0) {
                        snprintf(err, err_len, "%s: %s%s", path, why, owner_hint(d, true));
                        return sock_dir;
                }
        }
        r = check_existing(path, &sa, err, err_len);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return set_err(err, err_len, -errno, "cannot make a socket: %m");
        /* Every local user may ask: who they are is the kernel's to say. */
        old_umask = umask(0111);
        r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old_umask);
        if (r < 0)
                return set_err(err, err_len, -errno, "bind %s: %m", path);
        if (chmod(path, 0666) < 0 || stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                snprintf(err, err_len, "%s: %s", path, strerror(-r));
                (void) unlink(path);
                return r;
        }
        *ret = (listener) { .fd = TAKE_FD(fd), .path = strdup(path), .dev = st.st_dev, .ino = st.st_ino };
        return 0;
}

bool listener_hidden(const listener *l, char *dir, size_t dir_len) {
        _cleanup_(free_p) char *real = NULL;
        _cleanup_(free_p) char *copy = l->path ? strdup(l->path) : NULL;
        struct stat st;

        if (!copy || !(real = realpath(dirname(copy), NULL)))
                return false;
        /* from the socket's directory up; "/" itself is not looked at */
        for (;;) {
                char *slash;

                if (stat(real, &st) == 0 && !(st.st_mode & S_IXOTH)) {
                        snprintf(dir, dir_len, "%s (mode %04o)", real, (unsigned) (st.st_mode & 07777));
                        return true;
                }
                slash = strrchr(real, '/');
                if (!slash || slash == real)
                        return false;
                *slash = '\0';
        }
}

void listener_close(listener *l) {
        struct stat st;

        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
        /* Another agent may have replaced a socket it thought stale. */
        if (l->path && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                (void) unlink(l->path);
        free(l->path);
        l->path = NULL;
}
