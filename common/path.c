/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svcid/svcid.h"
#include "cleanup.h"
#include "io.h"
#include "path.h"
#include "text.h"
#include "user.h"

static int check_dir(int fd, const char *dir, bool (*owner_ok)(uid_t uid, void *userdata), void *userdata,
                     char *err, size_t err_len) {
        char quoted[160];
        struct stat st;

        copy_printable(quoted, sizeof quoted, dir);
        if (fstat(fd, &st) < 0) {
                int r = -errno;

                snprintf(err, err_len, "directory \"%s\": %s", quoted, strerror(-r));
                return r;
        }
        if (!owner_ok(st.st_uid, userdata)) {
                snprintf(err, err_len, "directory \"%s\" is owned by uid %u, who could replace what is in it",
                         quoted, (unsigned) st.st_uid);
                return -EPERM;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
                snprintf(err, err_len, "directory \"%s\" is writable by group or others (mode %04o)", quoted,
                         (unsigned) (st.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

int open_parent_checked(const char *path, bool (*owner_ok)(uid_t uid, void *userdata), void *userdata,
                        char ret_name[static NAME_MAX + 1], char *err, size_t err_len) {
        _cleanup_(free_p) char *copy = NULL, *real = NULL;
        _cleanup_(close_fdp) int fd = -1;
        char quoted[160], *slash;
        const char *dir, *name;
        size_t len;
        int r;

        len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
                len--;
        copy = strndup(path, len);
        if (!copy) {
                snprintf(err, err_len, "%s", strerror(ENOMEM));
                return -ENOMEM;
        }
        slash = strrchr(copy, '/');
        name = slash ? slash + 1 : copy;
        if (!*name) {
                snprintf(err, err_len, "%s", *path ? "names the root directory, not an entry of a directory"
                                                   : "is empty");
                return -EINVAL;
        }
        if (strlen(name) > NAME_MAX) {
                snprintf(err, err_len, "%s", strerror(ENAMETOOLONG));
                return -ENAMETOOLONG;
        }
        strcpy(ret_name, name);
        if (slash == copy)
                dir = "/";
        else if (slash) {
                *slash = '\0';
                dir = copy;
        } else
                dir = ".";

        real = realpath(dir, NULL);
        if (!real) {
                r = -errno;
                copy_printable(quoted, sizeof quoted, dir);
                snprintf(err, err_len, "directory \"%s\": %s", quoted, strerror(-r));
                return r;
        }

        /* Down from "/", one component at a time, none a symbolic link.
         * While a component is opened, real is cut after it: the
         * directory so far, for messages. */
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                snprintf(err, err_len, "directory \"/\": %s", strerror(-r));
                return r;
        }
        r = check_dir(fd, "/", owner_ok, userdata, err, err_len);
        if (r < 0)
                return r;
        for (char *p = real + 1; *p;) {
                char *end = strchrnul(p, '/'), saved = *end;
                int child;

                *end = '\0';
                child = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child < 0) {
                        r = -errno;
                        copy_printable(quoted, sizeof quoted, real);
                        snprintf(err, err_len, "directory \"%s\": %s", quoted, strerror(-r));
                        return r;
                }
                close(fd);
                fd = child;
                r = check_dir(fd, real, owner_ok, userdata, err, err_len);
                if (r < 0)
                        return r;
                *end = saved;
                p = saved ? end + 1 : end;
        }
        return TAKE_FD(fd);
}

bool trust_writer(uid_t uid, void *userdata) {
        struct trust_writers *w = userdata;

        if (uid == 0 || uid == geteuid())
                return true;
        if (w->svcid_known == 0)
                w->svcid_known = lookup_svcid_uid(&w->svcid_uid) == 0 ? 1 : -1;
        return w->svcid_known > 0 && uid == w->svcid_uid;
}

/* A path for a message about a trust file, in libsvcid's words: printable
 * ASCII, '"' and '\\' kept, up to 255 bytes. */
static void shown_path(char shown[static 256], const char *path) {
        copy_printable_n(shown, 256, path, path ? strlen(path) : 0, true);
}

int trust_writers_check(const struct stat *st, struct trust_writers *w, const char *path, char *err,
                        size_t err_len) {
        char shown[256];

        shown_path(shown, path);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return set_err(err, err_len, -EPERM,
                               "%s: writable by group or others (anyone who can write it could add a key)", shown);
        if (trust_writer(st->st_uid, w))
                return 0;
        return set_err(err, err_len, -EPERM,
                       "%s: owned by uid %u, not root, svcid or the caller (its owner could add a key)", shown,
                       (unsigned) st->st_uid);
}

int trust_open_at(int dirfd, const char *name) {
        struct stat st;
        int fd;

        /* Looked at before it is opened: opening a device may act on it,
         * and opening a FIFO wakes a writer waiting on it. The caller
         * checks the type again on the fd, as the name may be replaced
         * in between (O_NOFOLLOW and O_NONBLOCK still hold then). */
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return -ENXIO;
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

/* A symbolic link is ELOOP, as O_NOFOLLOW has it, whose own words ("too
 * many levels of symbolic links") would mislead; anything but a regular
 * file or a directory is ENXIO, as opening a socket is. */
const char *trust_open_why(int r) {
        return r == -ELOOP ? "a symbolic link, which trust loading does not follow (name the file itself, or put a copy there)"
               : r == -ENXIO ? "not a regular file"
                             : strerror(-r);
}

int trust_open(const char *path, struct trust_writers *w, char *err, size_t err_len) {
        _cleanup_(close_fdp) int parent = -1;
        char name[NAME_MAX + 1], why[256] = "", shown[256];
        int fd;

        shown_path(shown, path);
        parent = open_parent_checked(path, trust_writer, w, name, why, sizeof why);
        if (parent < 0)
                return set_err(err, err_len, parent, "%s: %s", shown, why);
        fd = trust_open_at(parent, name);
        if (fd < 0)
                return set_err(err, err_len, fd, "%s: %s", shown, trust_open_why(fd));
        return fd;
}

int trust_read(int fd, struct trust_writers *w, const char *path, char **ret_data, size_t *ret_len,
               char *err, size_t err_len) {
        char shown[256];
        struct stat st;
        int r;

        shown_path(shown, path);
        if (fstat(fd, &st) < 0)
                return set_err(err, err_len, -errno, "%s: %s", shown, strerror(errno));
        r = trust_writers_check(&st, w, path, err, err_len);
        if (r < 0)
                return r;
        if (S_ISDIR(st.st_mode))
                r = -EISDIR;
        else if (!S_ISREG(st.st_mode))
                r = -EBADF;
        else if ((uint64_t) st.st_size > SVCID_JWKS_MAX)
                r = -EFBIG;
        else
                r = read_capped_fd(fd, SVCID_JWKS_MAX, ret_data, ret_len);
        if (r < 0)
                set_err(err, err_len, r, "%s: %s", shown,
                        r == -EFBIG ? "larger than 1 MiB" : r == -EBADF ? "not a regular file" : strerror(-r));
        return r;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void trust_dir_names_free(char **names) {
        if (!names)
                return;
        for (char **p = names; *p; p++)
                free(*p);
        free(names);
}

int trust_dir_names(int dirfd, char ***ret_names, size_t *ret_n) {
        _cleanup_(trust_dir_names_freep) char **names = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n = 0, allocated = 1;
        struct dirent *de;
        int fd;

        names = calloc(1, sizeof *names);
        if (!names)
                return -ENOMEM;
        /* fdopendir() takes the descriptor it is given, and a duplicate
         * shares its offset with the caller's: hence the rewind. */
        fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;

                close(fd);
                return r;
        }
        rewinddir(d);

        while ((errno = 0, de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".jwks") != 0)
                        continue;
                if (n + 2 > allocated) {
                        size_t want = allocated * 2 < 16 ? 16 : allocated * 2;
                        char **v = reallocarray(names, want, sizeof *v);

                        if (!v)
                                return -ENOMEM;
                        names = v;
                        allocated = want;
                }
                /* names stays NULL-terminated, for the cleanup too */
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                names[++n] = NULL;
        }
        if (errno != 0)
                return -errno;
        qsort(names, n, sizeof *names, name_cmp);
        *ret_names = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

const char *exec_strerror(const char *path, int err) {
        if (err == ENOENT && path && access(path, F_OK) == 0)
                return "cannot run it: the interpreter (#! line) or loader it names is missing";
        return strerror(err);
}
