/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/io.h"
#include "util.h"

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                 char step[static WRITE_STEP_MAX]) {
        _cleanup_(close_fdp) int fd = -1;
        char tmp[NAME_MAX + 1];         /* a name in dirfd, not a path */
        const char *what;
        bool made = false;
        int r;

        if ((size_t) snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= sizeof tmp) {
                snprintf(step, WRITE_STEP_MAX, "naming its temporary file");
                return -ENAMETOOLONG;
        }
        /* A leftover from a crash is ours to replace. (A read-only file
         * system says EROFS even of a name that is not there: then the
         * step that fails is creating the file.) */
        if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT) {
                int e = errno;
                struct stat st;

                if (e != EROFS || fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        errno = e;
                        what = "removing the leftover";
                        goto fail_errno;
                }
        }
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0) {
                what = "creating";
                goto fail_errno;
        }
        made = true;
        what = "writing";
        if (fchmod(fd, mode) < 0)       /* whatever the umask said */
                goto fail_errno;
        r = write_all(fd, data, len);
        if (r < 0)
                goto fail;
        what = "syncing";
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0)
                goto fail_errno;
        what = "renaming";
        if (renameat(dirfd, tmp, dirfd, name) < 0)
                goto fail_errno;
        if (fsync(dirfd) < 0) {
                r = -errno;
                snprintf(step, WRITE_STEP_MAX, "syncing the directory");
                return r;
        }
        return 0;

fail_errno:
        r = -errno;
fail:
        snprintf(step, WRITE_STEP_MAX, "%s %s", what, tmp);
        if (made)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

bool owner_root_or_self(uid_t uid, void *userdata) {
        (void) userdata;
        return uid == 0 || uid == geteuid();
}

const char *owner_hint(const char *dir, bool sticky_ok) {
        static char hint[LOGIN_NAME_MAX + 64];
        struct passwd pw, *res = NULL;
        char buf[1024];
        struct stat st;

        if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
                return "";
        /* Nor where the owner would be refused too: others may write it. */
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st.st_mode & S_ISVTX)))
                return "";
        if (getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &res) == 0 && res && name_ok(pw.pw_name))
                snprintf(hint, sizeof hint, "; run the agent as its owner (runuser -u %s -- svcid-agent)",
                         pw.pw_name);
        else
                snprintf(hint, sizeof hint, "; run the agent as its owner, uid %u", (unsigned) st.st_uid);
        return hint;
}

int read_file_at(int dirfd, const char *name, size_t max, bool private_file,
                 char **ret_data, size_t *ret_len) {
        _cleanup_(close_fdp) int fd = -1;
        struct stat st;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) || !owner_root_or_self(st.st_uid, NULL))
                return -EPERM;
        if (private_file && ((st.st_mode & 077) || st.st_uid != geteuid()))
                return -EPERM;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        return read_capped_fd(fd, max, ret_data, ret_len);
}

int64_t now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}
