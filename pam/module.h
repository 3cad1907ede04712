/* SPDX-License-Identifier: MIT */
/* What the files of pam_svcid share. Nothing here is exported from
 * pam_svcid.so: the version script keeps only pam_sm_*. args.c and map.c
 * use no libpam symbol, so the fuzzer and the tests can include them. */
#ifndef SVCID_PAM_MODULE_H
#define SVCID_PAM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "svcid/svcid.h"
#include "../common/num.h"
#include "../common/text.h"

#define PAM_SVCID_MAX_TRUST    16
#define PAM_SVCID_MAX_REQUIRE  32
#define PAM_SVCID_MAP_MAX      (64u * 1024u)   /* bytes in a map file */
#define PAM_SVCID_MAP_LINE_MAX 1024u           /* bytes in one map line */
#define PAM_SVCID_ERR_MAX      256

/* ---- args.c ---- */

typedef enum pam_svcid_source {
        PAM_SVCID_SOURCE_AUTHTOK,
        PAM_SVCID_SOURCE_ENV,
        _PAM_SVCID_SOURCE_MAX,
} pam_svcid_source;

/* The module's arguments. Strings are borrowed from argv, which PAM keeps
 * for as long as the pam_sm_* call runs. */
typedef struct pam_svcid_args {
        const char *audience;
        const char *trust[PAM_SVCID_MAX_TRUST];
        size_t n_trust;
        const char *issuer;
        const char *require[PAM_SVCID_MAX_REQUIRE];
        size_t n_require;
        const char *map;
        int64_t leeway;
        int64_t max_lifetime;
        pam_svcid_source token[_PAM_SVCID_SOURCE_MAX];
        size_t n_token;
        bool debug;
        bool use_first_pass;
        bool try_first_pass;
} pam_svcid_args;

/* The stack line the arguments come from. The auth line takes them all;
 * the account line only require= and debug, the session line only debug. */
typedef enum pam_svcid_line {
        PAM_SVCID_LINE_AUTH,
        PAM_SVCID_LINE_ACCOUNT,
        PAM_SVCID_LINE_SESSION,
} pam_svcid_line;

/* Parses argv strictly: an unknown argument, a repeated single-valued one,
 * an empty or out-of-range value, a relative path, a malformed require=
 * or an argument the line does not take is -EINVAL with a one-line
 * message (the argument quoted, made printable) in err. Defaults: leeway
 * and max_lifetime of libsvcid, token=authtok. */
int pam_svcid_args_parse(int argc, const char **argv, pam_svcid_line line, pam_svcid_args *ret_args, char *err,
                         size_t err_len);

/* audience with "%H" replaced by host and "%%" by '%' (malloc'd).
 * -EINVAL for any other '%' sequence. */
int pam_svcid_expand_audience(const char *audience, const char *host, char **ret);

/* ---- map.c ---- */

/* A map file: lines "SUBJECT-GLOB USER"; blank lines and lines whose
 * first non-blank character is '#' are skipped. */
typedef struct pam_svcid_map pam_svcid_map;

/* Parses len bytes (need not be NUL-terminated). Any malformed line, a NUL
 * byte or an over-long line is -EINVAL with "line N: why" in err. */
int pam_svcid_map_parse(const char *text, size_t len, pam_svcid_map **ret_map, char *err, size_t err_len);
/* True if a line's glob matches sub (fnmatch(3), no flags) and its user
 * is exactly user. */
bool pam_svcid_map_allows(const pam_svcid_map *map, const char *sub, const char *user);
size_t pam_svcid_map_size(const pam_svcid_map *map);
void pam_svcid_map_free(pam_svcid_map *map);   /* NULL is fine */

/* ---- file.c ---- */

/* For the agent argument below: no owner but root. */
#define PAM_SVCID_ROOT_ONLY ((uid_t) 0)

/* Checks what fstat() said about an opened file or directory: the type
 * wanted (S_IFREG or S_IFDIR), owned by root or by agent (the svcid user,
 * or PAM_SVCID_ROOT_ONLY), and no write bit for group or others. -EPERM
 * with the reason in err. */
int pam_svcid_check_stat(const struct stat *st, const char *path, mode_t type, uid_t agent,
                         char *err, size_t err_len);

/* Opens path for reading, O_NOFOLLOW: when dirfd < 0, an absolute path,
 * once every directory above it is owned by root or agent and writable by
 * no one else (see open_parent_checked()); else the name path in dirfd.
 * what ("trust ", or "") names the file in the reason put in err on
 * failure (-errno). The file itself is pam_svcid_read_fd()'s to check. */
int pam_svcid_open(int dirfd, const char *path, const char *what, uid_t agent, char *err, size_t err_len);

/* Reads fd, opened on path by pam_svcid_open(): a regular file checked
 * as above, at most max bytes. *ret_data gets a NUL appended (not counted
 * in *ret_len); *ret_st what fstat said. */
int pam_svcid_read_fd(int fd, const char *path, size_t max, uid_t agent,
                      char **ret_data, size_t *ret_len, struct stat *ret_st, char *err, size_t err_len);

/* pam_svcid_open(-1, path, "", agent), then pam_svcid_read_fd(). */
int pam_svcid_read_file(const char *path, size_t max, uid_t agent,
                        char **ret_data, size_t *ret_len, struct stat *ret_st, char *err, size_t err_len);

/* ---- trust.c ---- */

/* A parsed trust store shared between handles of this process. */
typedef struct pam_svcid_trust_ref pam_svcid_trust_ref;

/* The trust for these paths (n == 0: the defaults, each of which may be
 * missing). Reparsed only when a file or directory changed (path, inode,
 * size, mtime, ctime, owner, mode). An explicit path that is missing, any
 * unsafe file, or a bad JWKS is an error, with the reason in err. */
int pam_svcid_trust_get(const char *const *paths, size_t n, pam_svcid_trust_ref **ret_ref,
                        char *err, size_t err_len);
const svcid_trust *pam_svcid_trust_of(const pam_svcid_trust_ref *ref);
void pam_svcid_trust_put(pam_svcid_trust_ref *ref);   /* NULL is fine */

/* Makes the trust cache safe across fork(): call once, and only from a
 * module that is never unloaded (the handlers stay for the process's
 * life). 0, or -errno. */
int pam_svcid_trust_fork_safe(void);

/* How many times this process parsed trust files (for tests and debug). */
unsigned long pam_svcid_trust_loads(void);
/* Whether a file whose ctime is this, read by a load that began at
 * load_start (CLOCK_REALTIME_COARSE), could still be rewritten in place
 * without its stat changing: its load must not be kept. */
bool pam_svcid_ctime_racy(const struct timespec *ctime, const struct timespec *load_start);

/* ---- token.c ---- */

/* True if a token that failed with reason looks cut short by the
 * application that carried it: its last segment is shorter than a
 * signature of the alg its header names, or its length is a known cut
 * point (a power of two, or one less, from 128 to 8192) and it does not
 * end in a whole ES256 or EdDSA signature (whose length is fixed). */
bool pam_svcid_looks_truncated(const char *token, size_t len, svcid_reason reason);

#endif
