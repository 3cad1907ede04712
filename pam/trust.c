/* SPDX-License-Identifier: MIT */
/* Trust for the module: JWKS files read safely (file.c) and handed to
 * libsvcid as bytes, so what is parsed is exactly what was checked — no
 * second open by path. The parsed store is kept per process and reused
 * while every file and directory it came from is unchanged, so a
 * long-lived PAM application (or one handle after another) pays for
 * parsing once; checking costs a few stat calls. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "module.h"
#include "../common/cleanup.h"
#include "../common/path.h"
#include "../common/trust_load.h"
#include "../common/user.h"

struct pam_svcid_trust_ref {
        unsigned refs;                  /* under cache_lock */
        svcid_trust *trust;
};

/* One file or directory the store came from, as fstat saw it. A path
 * that may be missing and was is recorded with absent set, so that its
 * appearance also invalidates the store. */
struct source {
        char *path;
        bool absent;
        dev_t dev;
        ino_t ino;
        off_t size;
        mode_t mode;
        uid_t uid;
        struct timespec mtime, ctime;
};

struct sources {
        struct source *v;
        size_t n, allocated;
};

struct cache_entry {
        char *key;                      /* optional or required, then the paths, '\n'-joined */
        struct sources sources;
        pam_svcid_trust_ref *ref;
        bool racy;                      /* see sources_racy(): load again next time */
};

#define CACHE_SLOTS 4

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[CACHE_SLOTS];
static unsigned cache_next;
static unsigned long loads;

static void sources_done(struct sources *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].path);
        free(s->v);
        *s = (struct sources) {};
}

static int sources_add(struct sources *s, const char *dir, const char *name, const struct stat *st) {
        struct source *src;

        if (s->n == s->allocated) {
                size_t want = s->allocated ? s->allocated * 2 : 8;
                src = reallocarray(s->v, want, sizeof *src);
                if (!src)
                        return -ENOMEM;
                s->v = src;
                s->allocated = want;
        }
        src = &s->v[s->n];
        *src = (struct source) {};
        if (dir ? asprintf(&src->path, "%s/%s", dir, name) < 0 : !(src->path = strdup(name)))
                return -ENOMEM;
        if (st) {
                src->dev = st->st_dev;
                src->ino = st->st_ino;
                src->size = st->st_size;
                src->mode = st->st_mode;
                src->uid = st->st_uid;
                src->mtime = st->st_mtim;
                src->ctime = st->st_ctim;
        } else
                src->absent = true;
        s->n++;
        return 0;
}

/* The quick check: is every recorded source still what it was? One
 * fstatat per file and directory, nothing opened or read. A directory
 * whose identity (including mtime and ctime) is unchanged has the same
 * entries; a file replaced or removed inside it is seen by its own stat.
 * Two changes within one timestamp tick leave the same ctime: that case
 * is sources_racy()'s. */
static bool sources_unchanged(const struct sources *s) {
        for (size_t i = 0; i < s->n; i++) {
                const struct source *src = &s->v[i];
                struct stat st;

                if (fstatat(AT_FDCWD, src->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT && src->absent)
                                continue;
                        return false;
                }
                if (src->absent || st.st_dev != src->dev || st.st_ino != src->ino || st.st_size != src->size ||
                    st.st_mode != src->mode || st.st_uid != src->uid ||
                    st.st_mtim.tv_sec != src->mtime.tv_sec || st.st_mtim.tv_nsec != src->mtime.tv_nsec ||
                    st.st_ctim.tv_sec != src->ctime.tv_sec || st.st_ctim.tv_nsec != src->ctime.tv_nsec)
                        return false;
        }
        return true;
}

/* Whether a source could still change without sources_unchanged()
 * seeing it. The kernel stamps a change with its coarse clock: if a file
 * is read and then rewritten in place, with the same size, within the
 * tick of its previous change, size, mtime and ctime all stay the same.
 * A source whose ctime is older than the coarse clock at the start of
 * its load is past that; a store with any other source is loaded again
 * on its next use, until a load begins in a later tick. Without this a
 * key taken out of a trust file could stay trusted, on kernels without
 * fine-grained timestamps (Debian 12's among them).
 *
 * A file system that keeps whole seconds (ext4 with 128-byte inodes,
 * ext3, NFS from some servers) or two (FAT) stamps every change in that
 * second with the same ctime, X.000000000, which looks older than a load
 * at X.3 and is not: such a ctime (nanoseconds exactly 0, which a
 * fine-grained stamp is only by a one-in-a-billion chance, costing a
 * reload) counts as a tick of two seconds. */
bool pam_svcid_ctime_racy(const struct timespec *ctime, const struct timespec *load_start) {
        if (ctime->tv_nsec == 0)
                return ctime->tv_sec > load_start->tv_sec - 2;
        return ctime->tv_sec > load_start->tv_sec ||
               (ctime->tv_sec == load_start->tv_sec && ctime->tv_nsec >= load_start->tv_nsec);
}

static bool sources_racy(const struct sources *s, const struct timespec *load_start) {
        for (size_t i = 0; i < s->n; i++)
                if (!s->v[i].absent && pam_svcid_ctime_racy(&s->v[i].ctime, load_start))
                        return true;
        return false;
}

/* Adds the JWKS file open on fd (path in dir, or path alone). */
static int add_jwks(svcid_trust *trust, int fd, const char *path, uid_t agent, struct sources *s,
                    const char *dir, char *err, size_t err_len) {
        _cleanup_(free_p) char *data = NULL;
        char why[PAM_SVCID_ERR_MAX] = "", quoted[160];
        struct stat st;
        size_t len;
        int r;

        r = pam_svcid_read_fd(fd, path, SVCID_JWKS_MAX, agent, &data, &len, &st, err, err_len);
        if (r < 0)
                return r;
        r = svcid_trust_add_jwks(trust, data, len, NULL, why, sizeof why);
        if (r < 0) {
                copy_printable(quoted, sizeof quoted, path);
                snprintf(err, err_len, "%s JWKS \"%s\": %s", r == -ENOMEM ? "cannot load" : "bad", quoted,
                         why[0] ? why : strerror(-r));
                return r;
        }
        return sources_add(s, dir, path, &st);
}

/* An error in a directory names it: with several trust directories, a
 * file's name alone would not say which one to fix. r's words stand in
 * for a message the failing step did not leave. */
static void in_dir(const char *dir, int r, char *err, size_t err_len) {
        char quoted[160], what[PAM_SVCID_ERR_MAX];

        copy_printable(quoted, sizeof quoted, dir);
        snprintf(what, sizeof what, "%s", err[0] ? err : strerror(-r));
        snprintf(err, err_len, "in \"%s\": %s", quoted, what);
}

/* The directory's trust files (trust_dir_names()), in the order and by
 * the rule svcid_trust_load() uses, so that the sources recorded are the
 * files a load reads. */
static int scan_dir(const char *path, int fd, uid_t agent, svcid_trust *load, struct sources *s, char *err,
                    size_t err_len) {
        _cleanup_(trust_dir_names_freep) char **names = NULL;
        size_t n;
        int r;

        r = trust_dir_names(fd, &names, &n);
        if (r < 0) {
                if (r != -ENOMEM)
                        snprintf(err, err_len, "cannot read directory: %s", strerror(-r));
                in_dir(path, r, err, err_len);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(close_fdp) int file = pam_svcid_open(fd, names[i], "", agent, err, err_len);

                if (file == -ENOENT) {
                        /* removed since the directory was read: no longer in it (the
                         * directory's own stamp, recorded, says it changed) */
                        err[0] = '\0';
                        continue;
                }
                r = file < 0 ? file : add_jwks(load, file, names[i], agent, s, path, err, err_len);
                if (r < 0) {
                        in_dir(path, r, err, err_len);
                        return r;
                }
        }
        return 0;
}

/* Reads every configured path (and "*.jwks" directory entry) into load,
 * and records each as a source for sources_unchanged(). Files and
 * directories may be owned by root or by agent. */
static int scan(const char *const *paths, size_t n, bool optional, uid_t agent, svcid_trust *load,
                struct sources *ret, char *err, size_t err_len) {
        struct sources s = {};
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_(close_fdp) int fd = -1;
                char quoted[160];
                struct stat st;

                copy_printable(quoted, sizeof quoted, paths[i]);
                fd = pam_svcid_open(-1, paths[i], "trust ", agent, err, err_len);
                if (fd < 0) {
                        r = fd;
                        if (r == -ENOENT && optional) {
                                r = sources_add(&s, NULL, paths[i], NULL);
                                continue;
                        }
                        break;
                }
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        snprintf(err, err_len, "cannot stat trust \"%s\": %s", quoted, strerror(-r));
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        r = pam_svcid_check_stat(&st, paths[i], S_IFDIR, agent, err, err_len);
                        if (r >= 0)
                                r = sources_add(&s, NULL, paths[i], &st);
                        if (r >= 0)
                                r = scan_dir(paths[i], fd, agent, load, &s, err, err_len);
                } else
                        r = add_jwks(load, fd, paths[i], agent, &s, NULL, err, err_len);
        }
        if (r < 0) {
                sources_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

/* Whether missing paths were allowed is part of the key: the defaults may
 * be missing, the same paths named with trust= may not, and a store loaded
 * while one was missing must not pass for the explicit configuration. */
static char *make_key(const char *const *paths, size_t n, bool optional) {
        const char *kind = optional ? "optional\n" : "required\n";
        size_t len = strlen(kind) + 1;
        char *key, *p;

        for (size_t i = 0; i < n; i++)
                len += strlen(paths[i]) + 1;
        key = p = malloc(len);
        if (!key)
                return NULL;
        p = stpcpy(p, kind);
        for (size_t i = 0; i < n; i++)
                p = stpcpy(stpcpy(p, paths[i]), "\n");
        return key;
}

static void ref_put_locked(pam_svcid_trust_ref *ref) {
        if (ref && --ref->refs == 0) {
                svcid_trust_free(ref->trust);
                free(ref);
        }
}

void pam_svcid_trust_put(pam_svcid_trust_ref *ref) {
        if (!ref)
                return;
        pthread_mutex_lock(&cache_lock);
        ref_put_locked(ref);
        pthread_mutex_unlock(&cache_lock);
}

const svcid_trust *pam_svcid_trust_of(const pam_svcid_trust_ref *ref) {
        return ref ? ref->trust : NULL;
}

unsigned long pam_svcid_trust_loads(void) {
        unsigned long n;

        pthread_mutex_lock(&cache_lock);
        n = loads;
        pthread_mutex_unlock(&cache_lock);
        return n;
}

static struct cache_entry *find_locked(const char *key) {
        for (size_t i = 0; i < CACHE_SLOTS; i++)
                if (cache[i].key && strcmp(cache[i].key, key) == 0)
                        return &cache[i];
        return NULL;
}

/* The cached store for key if its sources are unchanged: 1, or 0. */
static int cached_locked(const char *key, pam_svcid_trust_ref **ret_ref) {
        struct cache_entry *slot = find_locked(key);

        if (!slot || slot->racy || !sources_unchanged(&slot->sources))
                return 0;
        slot->ref->refs++;
        *ret_ref = slot->ref;
        return 1;
}

/* The cached store, or a fresh load; *key moves into the cache with it. */
static int get_locked(char **key, const char *const *paths, size_t n, bool optional, uid_t agent,
                      pam_svcid_trust_ref **ret_ref, char *err, size_t err_len) {
        struct sources loaded = {};
        struct cache_entry *slot;
        pam_svcid_trust_ref *ref;
        svcid_trust *trust = NULL;
        struct timespec start;
        int r;

        /* Another thread may have loaded it while the lock was not held. */
        if (cached_locked(*key, ret_ref))
                return 0;
        slot = find_locked(*key);
        if (clock_gettime(CLOCK_REALTIME_COARSE, &start) < 0)
                return -errno;

        r = svcid_trust_new(&trust);
        if (r < 0)
                return r;
        r = scan(paths, n, optional, agent, trust, &loaded, err, err_len);
        if (r < 0) {
                svcid_trust_free(trust);
                return r;
        }
        loads++;
        if (svcid_trust_key_count(trust) == 0) {
                size_t o = (size_t) snprintf(err, err_len, "no trusted issuer key in");
                for (size_t i = 0; i < n && o < err_len; i++)
                        o += (size_t) snprintf(err + o, err_len - o, "%s %s", i ? "," : "", paths[i]);
                if (o < err_len)
                        snprintf(err + o, err_len - o, "%s", trust_dir_note(paths, n));
                svcid_trust_free(trust);
                sources_done(&loaded);
                return -ENOKEY;
        }
        ref = calloc(1, sizeof *ref);
        if (!ref) {
                svcid_trust_free(trust);
                sources_done(&loaded);
                return -ENOMEM;
        }
        ref->trust = trust;
        ref->refs = 1;                  /* the cache's */

        if (!slot) {
                slot = &cache[cache_next];
                cache_next = (cache_next + 1) % CACHE_SLOTS;
        }
        free(slot->key);
        sources_done(&slot->sources);
        ref_put_locked(slot->ref);
        slot->key = TAKE_PTR(*key);
        slot->sources = loaded;
        slot->ref = ref;
        slot->racy = sources_racy(&loaded, &start);

        ref->refs++;                    /* the caller's */
        *ret_ref = ref;
        return 0;
}

/* optional: a missing path is recorded as absent, not an error (the
 * defaults). Separate from pam_svcid_trust_get() so that the tests can
 * load temp paths the way the defaults are loaded. */
static int trust_get(const char *const *paths, size_t n, bool optional, pam_svcid_trust_ref **ret_ref,
                     char *err, size_t err_len) {
        _cleanup_(free_p) char *key = NULL;
        uid_t agent = PAM_SVCID_ROOT_ONLY;
        int r;

        if (err_len > 0)
                err[0] = '\0';        /* a step that fails without words leaves it empty */
        key = make_key(paths, n, optional);
        if (!key)
                return -ENOMEM;
        pthread_mutex_lock(&cache_lock);
        r = cached_locked(key, ret_ref);
        pthread_mutex_unlock(&cache_lock);
        if (r > 0)
                return 0;

        /* A load may meet a file of the svcid user. Its uid is looked up
         * before the lock is taken: NSS can hang while a directory service
         * is down, and every other login would wait behind this one. */
        if (lookup_svcid_uid(&agent) < 0)
                agent = PAM_SVCID_ROOT_ONLY;
        pthread_mutex_lock(&cache_lock);
        r = get_locked(&key, paths, n, optional, agent, ret_ref, err, err_len);
        pthread_mutex_unlock(&cache_lock);
        return r;
}

/* A fork() while another thread loads trust would leave the child a copy
 * of cache_lock held by a thread it does not have: its first login would
 * wait forever. The lock is taken across fork() and released on both
 * sides, so a fork waits for a load in progress. */
static void fork_prepare(void) {
        pthread_mutex_lock(&cache_lock);
}

static void fork_release(void) {
        pthread_mutex_unlock(&cache_lock);
}

int pam_svcid_trust_fork_safe(void) {
        return -pthread_atfork(fork_prepare, fork_release, fork_release);
}

int pam_svcid_trust_get(const char *const *paths, size_t n, pam_svcid_trust_ref **ret_ref,
                        char *err, size_t err_len) {
        if ((n > 0 && !paths) || !ret_ref)
                return -EINVAL;
        if (n == 0)
                return trust_get(trust_defaults, TRUST_N_DEFAULTS, true, ret_ref, err, err_len);
        return trust_get(paths, n, false, ret_ref, err, err_len);
}
