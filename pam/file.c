/* SPDX-License-Identifier: MIT */
/* Files named by the stack (trust, map) are opened the way pam-u2f's
 * open_safely does, but failing instead of warning: an absolute path, no
 * symlink at the end, a regular file owned by root that neither group nor
 * others can write, and a size cap before anything is read. Whoever can
 * write such a file decides who logs in, so it must be root (or, for
 * JWKS, the agent's own user, which holds the signing keys anyway). The
 * same goes for every directory above it, as sshd's StrictModes has it:
 * whoever could write one could put another file in its place. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "module.h"
#include "../common/cleanup.h"
#include "../common/io.h"
#include "../common/path.h"

int pam_svcid_check_stat(const struct stat *st, const char *path, mode_t type, uid_t agent,
                         char *err, size_t err_len) {
        char quoted[160];

        copy_printable(quoted, sizeof quoted, path);
        if ((st->st_mode & S_IFMT) != type) {
                snprintf(err, err_len, "\"%s\" is not a %s", quoted,
                         type == S_IFDIR ? "directory" : "regular file");
                return -EPERM;
        }
        if (st->st_uid != 0 && st->st_uid != agent) {
                snprintf(err, err_len, "\"%s\" is owned by uid %u, not root%s", quoted, (unsigned) st->st_uid,
                         agent != PAM_SVCID_ROOT_ONLY ? " or svcid" : "");
                return -EPERM;
        }
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(err, err_len, "\"%s\" is writable by group or others (mode %04o)", quoted,
                         (unsigned) (st->st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

/* As every trust file is opened (trust_open_at(): a FIFO, socket or
 * device planted under the name is not opened, and cannot hang the
 * login), map files too. */
static int open_in(int dirfd, const char *name, const char *what, const char *quoted, char *err, size_t err_len) {
        int fd = trust_open_at(dirfd, name);

        if (fd == -ENXIO)
                snprintf(err, err_len, "\"%s\" is not a regular file", quoted);
        else if (fd < 0)
                snprintf(err, err_len, "cannot open %s\"%s\": %s", what, quoted,
                         fd == -ELOOP ? "it is a symbolic link" : strerror(-fd));
        return fd;
}

static bool root_or_agent(uid_t uid, void *userdata) {
        return uid == 0 || uid == *(const uid_t *) userdata;
}

int pam_svcid_open(int dirfd, const char *path, const char *what, uid_t agent, char *err, size_t err_len) {
        _cleanup_(close_fdp) int parent = -1;
        char name[NAME_MAX + 1], quoted[160], why[PAM_SVCID_ERR_MAX] = "";

        copy_printable(quoted, sizeof quoted, path);
        if (dirfd >= 0)
                return open_in(dirfd, path, what, quoted, err, err_len);
        if (path[0] != '/') {
                snprintf(err, err_len, "%s\"%s\" is not an absolute path", what, quoted);
                return -EINVAL;
        }
        parent = open_parent_checked(path, root_or_agent, &agent, name, why, sizeof why);
        if (parent < 0) {
                snprintf(err, err_len, "%s%s\"%s\": %s", parent == -EPERM ? "" : "cannot open ", what, quoted, why);
                return parent;
        }
        return open_in(parent, name, what, quoted, err, err_len);
}

int pam_svcid_read_fd(int fd, const char *path, size_t max, uid_t agent,
                      char **ret_data, size_t *ret_len, struct stat *ret_st, char *err, size_t err_len) {
        char quoted[160];
        struct stat st;
        int r;

        copy_printable(quoted, sizeof quoted, path);
        if (fstat(fd, &st) < 0) {
                r = -errno;
                snprintf(err, err_len, "cannot stat \"%s\": %s", quoted, strerror(-r));
                return r;
        }
        r = pam_svcid_check_stat(&st, path, S_IFREG, agent, err, err_len);
        if (r < 0)
                return r;
        if (st.st_size < 0 || (uint64_t) st.st_size > max) {
                snprintf(err, err_len, "\"%s\" is larger than %zu bytes", quoted, max);
                return -EFBIG;
        }
        r = read_capped_fd(fd, max, ret_data, ret_len);
        if (r < 0) {
                if (r == -EFBIG)
                        snprintf(err, err_len, "\"%s\" is larger than %zu bytes", quoted, max);
                else
                        snprintf(err, err_len, "cannot read \"%s\": %s", quoted, strerror(-r));
                return r;
        }
        if (ret_st)
                *ret_st = st;
        return 0;
}

int pam_svcid_read_file(const char *path, size_t max, uid_t agent,
                        char **ret_data, size_t *ret_len, struct stat *ret_st, char *err, size_t err_len) {
        _cleanup_(close_fdp) int fd = pam_svcid_open(-1, path, "", agent, err, err_len);

        if (fd < 0)
                return fd;
        return pam_svcid_read_fd(fd, path, max, agent, ret_data, ret_len, ret_st, err, err_len);
}
