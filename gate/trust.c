/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/cleanup.h"
#include "../common/hash.h"
#include "../common/io.h"
#include "../common/json.h"
#include "../common/path.h"
#include "../common/text.h"
#include "gate.h"

void gate_trust_free(gate_trust *t) {
        if (!t)
                return;
        svcid_policy_free(t->policy);
        svcid_trust_free(t->trust);
        svcid_trust_free(t->local);
        free(t->local_iss);
        free(t);
}

DEFINE_PTR_CLEANUP(gate_trust, gate_trust_free)

/* This host's JWKS: its "iss" names this host's issuer, and its keys go
 * into their own trust (t->local), so that --peer-uid can tell this
 * host's tokens from those of another trust file that declares the same
 * issuer. into_main: also trust them for verification. One read serves
 * both, so that the two never see different versions of the file. The
 * file is read like every trust file: no symlink, a regular file that
 * only root, svcid or the caller can write, in directories the same, and
 * capped. */
static int load_local(const char *path, gate_trust *t, bool into_main, char *err, size_t err_len) {
        _cleanup_(close_fdp) int fd = -1;
        _cleanup_(free_p) char *buf = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        struct trust_writers w = TRUST_WRITERS;
        size_t got = 0;
        int r;

        fd = trust_open(path, &w, err, err_len);
        if (fd < 0)
                return fd;
        r = trust_read(fd, &w, path, &buf, &got, err, err_len);
        if (r < 0)
                return r;
        r = svcid_trust_new(&t->local);
        if (r < 0) {
                snprintf(err, err_len, "cannot create trust: %s", strerror(-r));
                return r;
        }
        /* The library judges the document (a JSON object with an "iss"
         * string and keys) in the words it uses for every trust file. */
        r = svcid_trust_add_jwks(t->local, buf, got, path, err, err_len);
        if (r >= 0 && into_main)
                r = svcid_trust_add_jwks(t->trust, buf, got, path, err, err_len);
        if (r < 0)
                return r;
        root = json_load_guarded(buf, got, NULL, NULL);
        t->local_iss = strdup(json_string_value(json_object_get(root, "iss")) ?: "");
        if (!root || !t->local_iss) {
                char shown[160];

                copy_printable(shown, sizeof shown, path);
                snprintf(err, err_len, "%s: out of memory", shown);
                return -ENOMEM;
        }
        return 0;
}

int gate_trust_load(const gate_config *cfg, gate_trust **ret, char *err, size_t err_len) {
        _cleanup_(gate_trust_freep) gate_trust *t = NULL;
        const char *issuer;
        bool local_loaded = false;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(err, err_len, "out of memory");
                return -ENOMEM;
        }
        r = svcid_trust_new(&t->trust);
        if (r < 0) {
                snprintf(err, err_len, "cannot create trust: %s", strerror(-r));
                return r;
        }

        r = trust_load_paths(t->trust, cfg->trust, cfg->n_trust, err, err_len);
        if (r < 0)
                return r;
        if (cfg->n_trust == 0) {
                struct stat st;

                local_loaded = strcmp(TRUST_JWKS_DEFAULT, cfg->local_jwks) == 0 &&
                               lstat(TRUST_JWKS_DEFAULT, &st) == 0;
        }
        for (size_t i = 0; i < cfg->n_trust; i++)
                local_loaded |= strcmp(cfg->trust[i], cfg->local_jwks) == 0;

        issuer = cfg->issuer;
        if (cfg->peer_uid) {
                /* --peer-uid accepts only this host's tokens, so this host's
                 * keys are trusted even when --trust names other sources. */
                r = load_local(cfg->local_jwks, t, !local_loaded, err, err_len);
                if (r < 0) {
                        size_t n = strnlen(err, err_len);

                        if (n < err_len && r != -ENOMEM)
                                snprintf(err + n, err_len - n, " (--peer-uid reads this host's issuer from "
                                                                "--local-jwks)");
                        return r;
                }
                if (issuer && strcmp(issuer, t->local_iss) != 0) {
                        snprintf(err, err_len, "--issuer \"%s\" is not this host's issuer \"%s\" (--peer-uid)",
                                 issuer, t->local_iss);
                        return -EINVAL;
                }
                issuer = t->local_iss;
        }

        r = trust_require_keys(t->trust, cfg->trust, cfg->n_trust, err, err_len);
        if (r < 0)
                return r;
        r = svcid_policy_new(t->trust, cfg->audience, &t->policy);
        if (r < 0) {
                snprintf(err, err_len, "cannot create the policy: %s", strerror(-r));
                return r;
        }
        if (issuer) {
                r = svcid_policy_set_issuer(t->policy, issuer);
                if (r < 0) {
                        snprintf(err, err_len, "issuer \"%s\": %s", issuer,
                                 r == -ENOENT || r == -EINVAL ? "not a trusted issuer" : strerror(-r));
                        return r;
                }
        }
        for (size_t i = 0; i < cfg->n_requires; i++) {
                r = svcid_policy_require_arg(t->policy, cfg->requires[i]);
                if (r < 0) {
                        snprintf(err, err_len, "--require \"%s\": %s", cfg->requires[i], strerror(-r));
                        return r;
                }
        }
        if (cfg->leeway >= 0) {
                r = svcid_policy_set_leeway(t->policy, cfg->leeway);
                if (r < 0) {
                        snprintf(err, err_len, "--leeway: %s", strerror(-r));
                        return r;
                }
        }
        if (cfg->max_lifetime >= 0) {
                r = svcid_policy_set_max_lifetime(t->policy, cfg->max_lifetime);
                if (r < 0) {
                        snprintf(err, err_len, "--max-lifetime: %s", strerror(-r));
                        return r;
                }
        }

        *ret = TAKE_PTR(t);
        return 0;
}

/* name in dirfd (AT_FDCWD: a path), as stat() sees it, or its errno. */
static uint64_t stat_hash(int dirfd, const char *name) {
        struct stat st;
        uint64_t h = FNV1A_INIT;
        int64_t f[7];

        h = fnv1a(h, name, strlen(name));
        if (fstatat(dirfd, name, &st, 0) < 0) {
                int e = errno;
                return fnv1a(h, &e, sizeof(e));
        }
        f[0] = (int64_t) st.st_ino;
        f[1] = (int64_t) st.st_size;
        f[2] = (int64_t) st.st_mtim.tv_sec;
        f[3] = (int64_t) st.st_mtim.tv_nsec;
        f[4] = (int64_t) st.st_dev;
        /* a change of mode or owner alone, which may make the file
         * one the loader refuses */
        f[5] = (int64_t) st.st_ctim.tv_sec;
        f[6] = (int64_t) st.st_ctim.tv_nsec;
        return fnv1a(h, f, sizeof(f));
}

/* The directories above path, as the loader judges them: those of the
 * path it resolves to (realpath(), as open_parent_checked() does; the
 * path as given if it does not resolve), by owner and mode, and inode for
 * one put in another's place, but not their times: a new file anywhere
 * in /etc is no change of trust. */
static uint64_t parents_hash(const char *path) {
        _cleanup_(free_p) char *p = realpath(path, NULL) ?: strdup(path);
        uint64_t h = FNV1A_INIT;
        char *slash;

        if (!p)
                return 0;
        while ((slash = strrchr(p, '/'))) {
                struct stat st;
                int64_t f[3] = {};

                slash[slash == p] = '\0';      /* "/x" leaves "/" */
                if (stat(p, &st) == 0) {
                        f[0] = (int64_t) st.st_ino;
                        f[1] = (int64_t) st.st_uid;
                        f[2] = (int64_t) st.st_mode;
                } else
                        f[0] = -errno;
                h = fnv1a(h, f, sizeof(f));
                if (slash == p)
                        break;
        }
        return h;
}

/* The path and, for a directory, each file a load reads from it
 * (trust_dir_names()): a new, removed or rewritten one changes the sum. */
static uint64_t path_stamp(const char *path) {
        _cleanup_(trust_dir_names_freep) char **names = NULL;
        _cleanup_(close_fdp) int fd = -1;
        uint64_t sum = stat_hash(AT_FDCWD, path) + parents_hash(path);
        size_t n;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || trust_dir_names(fd, &names, &n) < 0)
                return sum;
        for (size_t i = 0; i < n; i++)
                sum += stat_hash(fd, names[i]);
        return sum;
}

uint64_t gate_trust_stamp(const gate_config *cfg) {
        uint64_t sum = 0;

        if (cfg->n_trust == 0)
                for (size_t i = 0; i < TRUST_N_DEFAULTS; i++)
                        sum += path_stamp(trust_defaults[i]);
        for (size_t i = 0; i < cfg->n_trust; i++)
                sum += path_stamp(cfg->trust[i]);
        if (cfg->peer_uid)
                sum += path_stamp(cfg->local_jwks);
        return sum;
}
