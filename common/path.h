/* SPDX-License-Identifier: MIT */
#ifndef SVCID_COMMON_PATH_H
#define SVCID_COMMON_PATH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cleanup.h"

/* Whoever may write a directory above a file can put another file, or
 * another directory, in its place, whatever the file's own owner and mode:
 * sshd's StrictModes checks the directories above authorized_keys for that
 * reason. This opens, as an O_PATH descriptor, the directory that holds
 * path's last component, once every directory from "/" down to it has
 * passed: owned by a uid for which owner_ok(uid, userdata) is true, and
 * writable by no one else (group or others) unless it has the sticky bit,
 * as /tmp has, so that others may add entries to it but not rename or
 * remove one of ours.
 *
 * The directories checked are those of realpath() of path's directory
 * part: a symbolic link above the last component is followed, and where it
 * leads is what is checked. Each is then opened below the one before with
 * O_NOFOLLOW, so what was checked is what is opened. The last component
 * (trailing slashes dropped) is left to the caller, to open with
 * O_NOFOLLOW as openat(fd, ret_name, ...).
 *
 * Returns the descriptor, or -errno with a one-line reason in err, which
 * quotes a directory in printable ASCII but not path (the caller puts it
 * in front): -EPERM for a directory that fails the checks, -EINVAL for a
 * path with no last component ("/", ""), -ENAMETOOLONG for a last
 * component over NAME_MAX bytes. */
int open_parent_checked(const char *path, bool (*owner_ok)(uid_t uid, void *userdata), void *userdata,
                        char ret_name[static NAME_MAX + 1], char *err, size_t err_len);

/* Who may write a trust file, or a directory above one: root, the caller
 * (effective uid) and the "svcid" user, which writes the agent's JWKS and
 * holds the signing keys anyway. The svcid user is looked up through NSS
 * only when an owner is neither of the others (a lookup costs a fresh
 * process about 0.2 ms): start with TRUST_WRITERS, and keep it out of any
 * lock others wait for. */
struct trust_writers {
        int svcid_known;        /* 0: not looked up yet; 1: svcid_uid is it; -1: none */
        uid_t svcid_uid;
};
#define TRUST_WRITERS ((struct trust_writers) {})

/* An owner_ok for open_parent_checked(): userdata is a struct trust_writers. */
bool trust_writer(uid_t uid, void *userdata);

/* 0 if st, what fstat() says of a trust file or directory named path, is
 * owned by a trust_writer() and writable by no one else; else -EPERM (or -errno)
 * with a one-line reason in err that starts with path, made printable.
 * Whoever can write it could add a key. */
int trust_writers_check(const struct stat *st, struct trust_writers *w, const char *path, char *err, size_t err_len);

/* Opens name in dirfd (AT_FDCWD: a path) for reading the way every trust
 * file is opened: only a regular file or a directory, looked at first (a
 * device, FIFO or socket is -ENXIO, never opened; a symbolic link is
 * -ELOOP), then opened O_NOFOLLOW, O_NONBLOCK. Returns the fd or -errno. */
int trust_open_at(int dirfd, const char *name);

/* Why trust_open_at() failed, in an operator's words. */
const char *trust_open_why(int r);

/* Opens path, a trust file or directory, below directories that passed
 * open_parent_checked() with trust_writer(). The fd, or -errno with
 * "path: why" in err. */
int trust_open(const char *path, struct trust_writers *w, char *err, size_t err_len);

/* Reads the trust file open on fd, named path: trust_writers_check(), a
 * regular file, at most SVCID_JWKS_MAX bytes. 0, or -errno with
 * "path: why" in err. */
int trust_read(int fd, struct trust_writers *w, const char *path, char **ret_data, size_t *ret_len,
               char *err, size_t err_len);

/* The names of the files a trust directory, open on dirfd, contributes:
 * each entry named "*.jwks" with something before the suffix, except a
 * hidden one (a leading '.': a temporary file, say), sorted by strcmp(),
 * the order they are loaded in. The library loads these, and the PAM
 * module's cache and the gate's reload stamp watch these: one list, so
 * that what is watched for changes is what is loaded. Entries are not
 * opened or stat'ed, and a name may be gone by the time it is used.
 *
 * dirfd stays the caller's, its offset aside: a duplicate is read, from
 * the start. Returns 0 with the names in *ret_names, a NULL-terminated
 * array (trust_dir_names_free()), and their number in *ret_n; or -errno:
 * -ENOMEM, or what fcntl(), fdopendir() or readdir() said. */
int trust_dir_names(int dirfd, char ***ret_names, size_t *ret_n);

/* Frees an array from trust_dir_names(); NULL is fine. */
void trust_dir_names_free(char **names);
DEFINE_PTR_CLEANUP(char *, trust_dir_names_free)

/* execve(2)'s err on path, in words: for "No such file" of a file that is
 * there, what is missing is the interpreter its #! line names (one ending
 * in a CR, say) or the loader it asks for, and the words say so; else
 * strerror(err). path NULL: strerror(err). */
const char *exec_strerror(const char *path, int err);

#endif
