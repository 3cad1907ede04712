/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "../common/text.h"
#include "keys.h"
#include "log.h"
#include "util.h"
#include "../common/json.h"

DEFINE_PTR_CLEANUP(svcid_key, svcid_key_unref)

#define STATE_FILE  "state.json"
#define JWKS_FILE   "jwks.json"
#define KEYS_DIR    "keys"
#define STATE_MAX   (1024u * 1024u)
#define PEM_MAX     (64u * 1024u)

/* A retired key stays published this long after the last token it signed
 * expires: verifiers accept a token that long past its exp (their default
 * leeway, for clocks that disagree), and must still find its key. */
#define RETIRE_MARGIN SVCID_LEEWAY_DEFAULT

typedef struct key_entry {
        svcid_key *key;         /* private */
        int64_t created;        /* published from */
        int64_t not_before;     /* signs from */
        int64_t not_after;      /* signs until */
        int64_t max_ttl;        /* longest ttl it may have signed with */
        bool stopped;           /* a fresh key replaced it: it never signs
                                 * again, whatever the clock says (state.json
                                 * "stopped") */
        bool unlabelled;        /* its file, of an earlier svcid-agent, has
                                 * no ALG_LABEL line yet */
        bool staged;            /* its file is KID.new: a new key's, or the
                                 * one it was loaded from (no KID.pem) */
        uint8_t said;           /* the SAID_* steps of commit_keys() whose
                                 * failure the log has told, until done */
} key_entry;

#define SAID_RENAME 1u          /* KID.new renamed, or a stray one removed */
#define SAID_LABEL 2u           /* KID.pem written (again) */

struct keystore {
        int dir_fd;             /* the state dir */
        int keys_fd;            /* its keys/ dir, flock()ed while we run */
        pthread_rwlock_t *lock;
        key_entry *entries;     /* sorted by not_before */
        size_t n;
        char *state;            /* state.json as last written */
        char *jwks;             /* jwks.json as last written */
        size_t jwks_len;
        char *issuer;           /* the iss jwks names */
        char active_kid[128];   /* the key last seen signing, for the log */
        int64_t seen;           /* the latest time known (an update, a key's
                                 * creation): a key that starts by then has
                                 * signed, whatever the clock says now */
        int64_t seen_written;   /* seen as state.json has it */
        int64_t signed_latest;  /* the latest time a token was signed at
                                 * (keystore_note_signed(), atomically):
                                 * seen takes it at the next update */
        /* After a failed update whose state.json is on disk: until when
         * that state keeps each key in memory published (INT64_MIN: not
         * at all). NULL when the state on disk is the one in memory. */
        int64_t *landed_until;          /* parallel to entries */
        bool landed_unknown;            /* ... and out of memory to say */
        bool stray_keys;        /* a failed update may have left key files */
        char unfinished[384];   /* what commit_keys() could not finish
                                 * (the first failure), "" when all is
                                 * done: keystore_unfinished() */
        bool unsynced;          /* commit_keys() renamed a file but could
                                 * not fsync keys/ (said in the log) */
        bool adopted;           /* keys the state did not name were kept:
                                 * the next update makes a fresh key */
        json_t *dropped;        /* the kids state.json says it dropped, as
                                 * loaded (NULL: none, or an older state) */
};

/* When a key that no longer signs leaves the JWKS. */
static int64_t retired_until(const key_entry *e) {
        return e->not_after + e->max_ttl + RETIRE_MARGIN;
}

/* By not_before, then not_after: two forced rotations within a second
 * leave a key retired the moment it began (not_after == not_before)
 * beside its successor, which must sort after it whatever qsort() does
 * with equal elements (not every C library's is stable). */
static int cmp_entry(const void *a, const void *b) {
        const key_entry *x = a, *y = b;

        if (x->not_before != y->not_before)
                return x->not_before < y->not_before ? -1 : 1;
        return x->not_after < y->not_after ? -1 : x->not_after > y->not_after;
}

static void entries_free(key_entry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                svcid_key_unref(e[i].key);
        free(e);
}

void keystore_free(keystore *ks) {
        if (!ks)
                return;
        entries_free(ks->entries, ks->n);
        free(ks->landed_until);
        free(ks->state);
        free(ks->jwks);
        free(ks->issuer);
        json_decref(ks->dropped);
        if (ks->keys_fd >= 0)
                close(ks->keys_fd);     /* drops the flock */
        if (ks->dir_fd >= 0)
                close(ks->dir_fd);
        free(ks);
}
DEFINE_PTR_CLEANUP(keystore, keystore_free)

/* A kid names a file: only base64url characters, so never a path. */
#define KID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define KID_MAX_LEN 86

static bool kid_ok(const char *kid) {
        size_t n = strlen(kid);

        return n > 0 && n <= KID_MAX_LEN && strspn(kid, KID_CHARS) == n;
}

/* A key's file: KID.pem (suffix PEM) once it may sign, KID.new (NEW)
 * while no state naming it has been put in place. Both suffixes are as
 * long: a kid is its name less 4 characters. */
#define PEM ".pem"
#define NEW ".new"

static int key_name(const char *kid, const char *suffix, char *buf, size_t len) {
        if (!kid_ok(kid) || (size_t) snprintf(buf, len, "%s%s", kid, suffix) >= len)
                return -EINVAL;
        return 0;
}

static int pem_name(const char *kid, char *buf, size_t len) {
        return key_name(kid, PEM, buf, len);
}

/* A time or a ttl from state.json: 0 to 2^40 (some 34,000 years), so that
 * sums of them cannot overflow, whatever a hand edit wrote there. */
static int json_int(json_t *o, const char *name, int64_t *ret) {
        json_t *v = json_object_get(o, name);

        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (INT64_C(1) << 40))
                return -EINVAL;
        *ret = json_integer_value(v);
        return 0;
}

/* Why a state file could not be read, in the operator's words. */
static const char *file_why(int r) {
        switch (r) {
        case -EPERM:
                return "readable by others or not ours, refusing it (the agent's own, mode 0600, wanted)";
        case -ELOOP:
                return "a symbolic link, which svcid-agent does not follow";
        case -EBADFD:
                return "not a regular file";
        default:
                return strerror(-r);
        }
}

/* A key file starts with a line naming the key's algorithm, which a key's
 * type does not always tell (RSA: RS256 or PS256): "svcid-alg: PS256".
 * PEM readers skip what comes before "-----BEGIN". Files written by
 * svcid-agent before key files were staged as KID.new have no such line. */
#define ALG_LABEL "svcid-alg: "

/* The algorithm the first line of a key file names, or
 * SVCID_ALG_INVALID. */
static svcid_alg label_alg(const char *pem, size_t len) {
        const char *nl = memchr(pem, '\n', len);
        size_t l = strlen(ALG_LABEL);
        char name[16];
        svcid_alg alg;

        if (!nl || (size_t) (nl - pem) <= l || (size_t) (nl - pem) - l >= sizeof name ||
            memcmp(pem, ALG_LABEL, l) != 0)
                return SVCID_ALG_INVALID;
        memcpy(name, pem + l, (size_t) (nl - pem) - l);
        name[(size_t) (nl - pem) - l] = '\0';
        return svcid_alg_from_str(name, &alg) == 0 ? alg : SVCID_ALG_INVALID;
}

/* A key file's text, wiped whole (a NUL in a damaged file would stop
 * svcid_free_secret() short). */
static void free_key_text(char *text, size_t len) {
        explicit_bzero(text, len);
        free(text);
}

/* keys/KID.pem: the private key kid names, for alg (SVCID_ALG_INVALID:
 * the one its file's label names, else the one its type implies); the
 * label's algorithm goes to ret_label if not NULL (SVCID_ALG_INVALID: a
 * file of an earlier svcid-agent, which starts with the PEM; a file that
 * starts with neither is refused, -EBADMSG). A state written just before
 * a crash can name a key still in KID.new: that is read then (true to
 * ret_staged if not NULL), and the next update renames it
 * (commit_keys()). */
static int load_key_file(keystore *ks, const char *kid, svcid_alg alg, svcid_alg *ret_label, bool *ret_staged,
                         svcid_key **ret_key, char *err, size_t err_len) {
        _cleanup_(svcid_key_unrefp) svcid_key *key = NULL;
        char *pem = NULL;
        char name[128];
        svcid_alg label;
        bool from_label, staged = false;
        size_t len;
        int r;

        if (pem_name(kid, name, sizeof name) < 0)
                return set_err(err, err_len, -EINVAL, "%s: not a key id", kid);
        r = read_file_at(ks->keys_fd, name, PEM_MAX, true, &pem, &len);
        if (r == -ENOENT) {
                char new_name[128];
                int r_new;

                if (key_name(kid, NEW, new_name, sizeof new_name) == 0 &&
                    (r_new = read_file_at(ks->keys_fd, new_name, PEM_MAX, true, &pem, &len)) != -ENOENT) {
                        snprintf(name, sizeof name, "%s", new_name);
                        r = r_new;
                        staged = true;
                }
        }
        if (r < 0)
                return set_err(err, err_len, r, "%s/%s: %s", KEYS_DIR, name, file_why(r));
        label = label_alg(pem, len);
        if (ret_label)
                *ret_label = label;
        /* Only a key no state names needs its label: a named one's
         * algorithm is the state's, and the first update writes the
         * label again. */
        if (alg == SVCID_ALG_INVALID && label == SVCID_ALG_INVALID && (len < 11 || strncmp(pem, "-----BEGIN ", 11) != 0)) {
                free_key_text(pem, len);
                return set_err(err, err_len, -EBADMSG, "%s/%s: its first line is not \"" ALG_LABEL "ALG\" as "
                               "svcid-agent writes it", KEYS_DIR, name);
        }
        from_label = alg == SVCID_ALG_INVALID && label != SVCID_ALG_INVALID;
        if (from_label)
                alg = label;
        r = svcid_key_from_pem(pem, len, alg, &key);
        free_key_text(pem, len);
        if (r == -ENOMEM)       /* says nothing about the key: keep it */
                return set_err(err, err_len, r, "%s/%s: out of memory", KEYS_DIR, name);
        if ((r < 0 || !svcid_key_is_private(key)) && from_label)
                return set_err(err, err_len, -EINVAL, "%s/%s: no usable %s private key, the algorithm its first "
                               "line names (if the key is intact, that line is wrong)", KEYS_DIR, name,
                               svcid_alg_str(alg));
        if (r < 0 || !svcid_key_is_private(key))
                return set_err(err, err_len, -EINVAL, "%s/%s: not a usable %s%sprivate key", KEYS_DIR, name,
                               alg == SVCID_ALG_INVALID ? "" : svcid_alg_str(alg),
                               alg == SVCID_ALG_INVALID ? "" : " ");
        if (strcmp(svcid_key_kid(key), kid) != 0)
                return set_err(err, err_len, -EINVAL, "%s/%s: key does not match its kid", KEYS_DIR, name);
        if (ret_staged)
                *ret_staged = staged;
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int load_entry(keystore *ks, json_t *o, key_entry *ret, char *err, size_t err_len) {
        const char *kid = json_string_value(json_object_get(o, "kid"));
        const char *alg_s = json_string_value(json_object_get(o, "alg"));
        svcid_alg alg, label;
        key_entry e = {};
        int r;

        if (!json_is_object(o) || !kid || !alg_s || !kid_ok(kid) ||
            svcid_alg_from_str(alg_s, &alg) < 0 ||
            json_int(o, "created", &e.created) < 0 || json_int(o, "not_before", &e.not_before) < 0 ||
            json_int(o, "not_after", &e.not_after) < 0 || json_int(o, "max_ttl", &e.max_ttl) < 0 ||
            e.not_after < e.not_before ||
            (json_object_get(o, "stopped") && !json_is_true(json_object_get(o, "stopped"))))
                return set_err(err, err_len, -EINVAL, "%s/%s: malformed key entry", KEYS_DIR, STATE_FILE);
        e.stopped = json_object_get(o, "stopped") != NULL;

        r = load_key_file(ks, kid, alg, &label, &e.staged, &e.key, err, err_len);
        if (r < 0)
                return r == -EBADMSG ? -EINVAL : r;     /* garbled, as any other */
        e.unlabelled = label != alg;    /* none, damaged, or not the state's */
        *ret = e;
        return 0;
}

static int load_state(keystore *ks, char *err, size_t err_len) {
        _cleanup_(free_p) char *text = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        json_t *keys, *version;
        size_t len;
        bool oom;
        int r;

        r = read_file_at(ks->keys_fd, STATE_FILE, STATE_MAX, true, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return set_err(err, err_len, r, "%s/%s: %s", KEYS_DIR, STATE_FILE, file_why(r));
        root = json_load_guarded(text, len, NULL, &oom);
        if (oom)
                return set_err(err, err_len, -ENOMEM, "%s/%s: out of memory", KEYS_DIR, STATE_FILE);
        if (!root)
                return set_err(err, err_len, -EINVAL, "%s/%s: %s", KEYS_DIR, STATE_FILE,
                               len == 0 ? "empty" : "not JSON (damaged?)");
        keys = json_object_get(root, "keys");
        version = json_object_get(root, "version");
        if (json_is_integer(version) && json_integer_value(version) > 1)
                return set_err(err, err_len, -EPROTONOSUPPORT, "%s/%s: key state version %" JSON_INTEGER_FORMAT
                               ", written by a later svcid-agent; this one reads version 1: run that one",
                               KEYS_DIR, STATE_FILE,
                               json_integer_value(version));
        if (!json_is_object(root) || json_integer_value(version) != 1 || !json_is_array(keys))
                return set_err(err, err_len, -EINVAL, "%s/%s: not a version 1 key state", KEYS_DIR, STATE_FILE);

        ks->entries = calloc(json_array_size(keys) + 1, sizeof *ks->entries);
        if (!ks->entries)
                return set_err(err, err_len, -ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(keys); i++) {
                r = load_entry(ks, json_array_get(keys, i), &ks->entries[ks->n], err, err_len);
                if (r < 0)
                        return r;
                ks->n++;
                /* Twice in the state would be twice in the JWKS, which
                 * every verifier refuses whole. */
                for (size_t j = 0; j + 1 < ks->n; j++)
                        if (strcmp(svcid_key_kid(ks->entries[j].key), svcid_key_kid(ks->entries[ks->n - 1].key)) == 0)
                                return set_err(err, err_len, -EINVAL, "%s/%s: key %s is listed twice", KEYS_DIR,
                                               STATE_FILE, svcid_key_kid(ks->entries[j].key));
        }
        /* "seen" and "dropped" are absent from the states of earlier versions */
        if (json_object_get(root, "seen") && json_int(root, "seen", &ks->seen) < 0)
                return set_err(err, err_len, -EINVAL, "%s/%s: malformed seen", KEYS_DIR, STATE_FILE);
        ks->dropped = json_incref(json_object_get(root, "dropped"));
        if (ks->dropped && !json_is_array(ks->dropped))
                return set_err(err, err_len, -EINVAL, "%s/%s: malformed dropped", KEYS_DIR, STATE_FILE);
        ks->seen_written = ks->seen;
        for (size_t i = 0; i < ks->n; i++)
                if (ks->entries[i].created > ks->seen)
                        ks->seen = ks->entries[i].created;
        ks->state = TAKE_PTR(text);
        return 1;
}

/* keys/, to read its entries; NULL with errno on failure. */
static DIR *keys_dir(keystore *ks) {
        int fd = openat(ks->keys_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);

        if (fd >= 0 && !d) {
                int e = errno;
                close(fd);
                errno = e;
        }
        return d;
}

/* A key file's name: KID.pem, or with also_new KID.new too (temporary
 * files start with '.'). Any other name in keys/ is none of the agent's
 * files: it is left alone, and kept out of the log and of messages, where
 * a line break or an escape sequence in it would write text of its own. */
static bool is_key_file(const char *name, bool also_new) {
        size_t n = strlen(name);

        return n > 4 && n - 4 <= KID_MAX_LEN && strspn(name, KID_CHARS) == n - 4 &&
               (strcmp(name + n - 4, PEM) == 0 || (also_new && strcmp(name + n - 4, NEW) == 0));
}

/* With no state.json: whether jwks.json is there. A first start that
 * failed or was cut short leaves no JWKS (keys are written before the
 * state, the state before the JWKS), only KID.new files, which go. A JWKS
 * without a state means the keys that signed the tokens out
 * there are gone from the state: starting afresh would unpublish them
 * without a word. */
static bool state_lost(keystore *ks) {
        struct stat st;

        return fstatat(ks->dir_fd, JWKS_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Whether the kid of len bytes is the key of one of e[n]. */
static bool in_entries(const key_entry *e, size_t n, const char *kid, size_t len) {
        for (size_t i = 0; i < n; i++) {
                const char *k = svcid_key_kid(e[i].key);

                if (strlen(k) == len && strncmp(k, kid, len) == 0)
                        return true;
        }
        return false;
}

/* Whether it is one of the keys in memory. */
static bool named(const keystore *ks, const char *kid, size_t len) {
        return in_entries(ks->entries, ks->n, kid, len);
}

/* Whether the state says it dropped the kid of len bytes: a key whose
 * tokens had all expired, or that never signed. A key file the state
 * neither names nor dropped is newer than the state: a new key whose
 * state was never written, or, if jwks.json publishes it, one made after
 * a state.json that was restored from a backup. */
static bool dropped(const keystore *ks, const char *kid, size_t len) {
        size_t i;
        json_t *k;

        json_array_foreach(ks->dropped, i, k)
                if (json_string_length(k) == len && strncmp(json_string_value(k), kid, len) == 0)
                        return true;
        return false;
}

/* Whether jwks.json (root; NULL: it could not be read) publishes kid,
 * and with which algorithm (SVCID_ALG_INVALID: none svcid signs with). */
static bool published_alg(json_t *root, const char *kid, svcid_alg *ret_alg) {
        size_t i;
        json_t *k;

        json_array_foreach(json_object_get(root, "keys"), i, k) {
                const char *alg_s = json_string_value(json_object_get(k, "alg"));

                if (json_is_string(json_object_get(k, "kid")) &&
                    strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0) {
                        if (!alg_s || svcid_alg_from_str(alg_s, ret_alg) < 0)
                                *ret_alg = SVCID_ALG_INVALID;
                        return true;
                }
        }
        return false;
}

/* A key file (KID.pem) no state names, to keep: 1 and *ret_key, 0 if it
 * is a leftover. One that its label (see ALG_LABEL) says was written
 * staged was named by a state before it could sign, so it is newer than
 * the state, and kept. One without, of an earlier svcid-agent, was
 * written before any state named it: kept only if jwks.json publishes it
 * or cannot be read, with the algorithm jwks.json gives, else the one its
 * type implies (RS256 for RSA). */
static int load_unnamed(keystore *ks, json_t *jwks, const char *kid, svcid_key **ret_key, bool *ret_unlabelled,
                        char *err, size_t err_len) {
        svcid_alg label = SVCID_ALG_INVALID, alg = SVCID_ALG_INVALID;
        bool published = published_alg(jwks, kid, &alg);
        char first[512];
        int r;

        r = load_key_file(ks, kid, SVCID_ALG_INVALID, &label, NULL, ret_key, err, err_len);
        *ret_unlabelled = label == SVCID_ALG_INVALID;
        if ((r < 0 && r != -EINVAL) || label != SVCID_ALG_INVALID)
                return r < 0 ? r : 1;   /* unread or garbled; or labelled */
        if (jwks && !published) {
                if (r == 0)
                        svcid_key_unref(TAKE_PTR(*ret_key));
                return 0;
        }
        if (r != -EINVAL)
                return r < 0 ? r : 1;
        /* an RSA key: its type does not say */
        snprintf(first, sizeof first, "%s", err);
        r = load_key_file(ks, kid, alg != SVCID_ALG_INVALID ? alg : SVCID_ALG_RS256, NULL, NULL, ret_key, err,
                          err_len);
        if (r == -EINVAL)
                snprintf(err, err_len, "%s", first);
        return r < 0 ? r : 1;
}

/* Keeps the key files (KID.pem) that the state neither names nor
 * dropped and that load_unnamed() says may have signed: a state.json
 * restored from a backup older than the last rotation leaves them, with
 * or without the jwks.json and key files of then, and tokens they signed
 * may be out there. Each is kept as a retired key, published until any
 * token it can have signed has expired (CONFIG_TTL_MAX from now), its
 * life taken to run from its file's last change to just before now.
 * Which key signed last is then in doubt (the state may name as active a
 * key a rotation since retired), so the update at start makes a fresh
 * one, as a forced rotation does. A key the state dropped goes with the
 * leftovers. A state of an earlier version does not say what it dropped:
 * each such key is kept then, since keeping a dead key for an hour costs
 * less than dropping a live one. A key file that cannot be loaded stops
 * the start. */
static int adopt_unnamed(keystore *ks, int64_t now, char *err, size_t err_len) {
        _cleanup_(free_p) char *text = NULL;
        _cleanup_(json_decrefp) json_t *jwks = NULL;
        struct dirent *de;
        bool oom = false;
        size_t len;
        DIR *d;
        int r = 0;

        /* jwks.json, for key files of an earlier version: NULL when it
         * cannot be read, no keys when it is not there */
        r = read_file_at(ks->dir_fd, JWKS_FILE, SVCID_JWKS_MAX, false, &text, &len);
        if (r == 0) {
                jwks = json_load_guarded(text, len, NULL, &oom);
                if (!json_is_array(json_object_get(jwks, "keys"))) {
                        json_decref(jwks);
                        jwks = NULL;
                }
        } else if (r == -ENOENT) {
                jwks = json_pack("{s:[]}", "keys");
                oom = !jwks;
        }
        if (r == -ENOMEM || oom)
                return set_err(err, err_len, -ENOMEM, "%s: out of memory", JWKS_FILE);
        r = 0;
        d = keys_dir(ks);
        if (!d)
                return set_err(err, err_len, -errno, "%s: %m", KEYS_DIR);
        while (r == 0 && (de = readdir(d))) {
                size_t n = strlen(de->d_name);
                char kid[128];
                struct stat st;
                key_entry e = {}, *grown;

                if (!is_key_file(de->d_name, false) || n - 4 >= sizeof kid || named(ks, de->d_name, n - 4) ||
                    dropped(ks, de->d_name, n - 4))
                        continue;       /* not a key's, named, or dropped */
                snprintf(kid, sizeof kid, "%.*s", (int) (n - 4), de->d_name);
                if (fstatat(ks->keys_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = set_err(err, err_len, -errno, "%s/%s: %m", KEYS_DIR, de->d_name);
                        break;
                }
                r = load_unnamed(ks, jwks, kid, &e.key, &e.unlabelled, err, err_len);
                if (r < 0) {
                        size_t l = strlen(err);

                        if (r != -ENOMEM && l < err_len)
                                set_err(err + l, err_len - l, r, ". %s/%s does not name it: %s, or remove "
                                        "%s/%s (if it signed tokens, they then fail unknown_key)", KEYS_DIR,
                                        STATE_FILE, r == -EPERM ? "make it the agent's own with mode 0600"
                                                                : "restore the file from a backup",
                                        KEYS_DIR, de->d_name);
                        break;
                }
                if (r == 0)
                        continue;       /* a leftover */
                r = 0;
                e.created = st.st_mtime < now ? st.st_mtime : now - 1;
                if (e.created < 0)
                        e.created = 0;
                e.not_before = e.created;       /* before the fresh key's now */
                e.not_after = now;
                e.max_ttl = CONFIG_TTL_MAX;
                grown = reallocarray(ks->entries, ks->n + 1, sizeof *grown);
                if (!grown) {
                        svcid_key_unref(e.key);
                        r = set_err(err, err_len, -ENOMEM, "out of memory");
                        break;
                }
                ks->entries = grown;
                ks->entries[ks->n++] = e;
                ks->adopted = true;
                log_warning("%s/%s: a key that %s/%s neither names nor dropped (was %s restored from a "
                            "backup?): keeping it published as a retired key for %d s, and signing with a "
                            "fresh key", KEYS_DIR, de->d_name, KEYS_DIR, STATE_FILE, STATE_FILE,
                            CONFIG_TTL_MAX + RETIRE_MARGIN);
        }
        closedir(d);
        if (ks->n > 1)          /* entries may be NULL with none */
                qsort(ks->entries, ks->n, sizeof *ks->entries, cmp_entry);
        return r;
}

/* Removes what an interrupted write can leave behind: temporary files,
 * and key files that are no key in memory or of also[n_also] — a key is
 * written before the state that names it, and unnamed after. At start,
 * after adopt_unnamed(), that leaves KID.new files and dropped keys. */
static void remove_leftovers(keystore *ks, const key_entry *also, size_t n_also) {
        struct dirent *de;
        DIR *d;

        (void) unlinkat(ks->dir_fd, "." JWKS_FILE ".tmp", 0);
        d = keys_dir(ks);
        if (!d)
                return;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);

                if (de->d_name[0] == '.' && n > 5 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
                        (void) unlinkat(ks->keys_fd, de->d_name, 0);
                        continue;
                }
                if (is_key_file(de->d_name, true) && !named(ks, de->d_name, n - 4) &&
                    !in_entries(also, n_also, de->d_name, n - 4)) {
                        log_notice("removing %s/%s, a key file no state names (left by an interrupted "
                                   "or failed key update)", KEYS_DIR, de->d_name);
                        (void) unlinkat(ks->keys_fd, de->d_name, 0);
                }
        }
        closedir(d);
}

/* The state directory, and every directory above it, must be owned by root
 * or the agent's user and writable by no one else (the rule agent.conf
 * has): whoever could write one could move keys/ or state.json away and
 * stop the agent, or put another jwks.json where local verifiers look.
 * state_dir is created (0755) if missing. Returns a directory descriptor
 * for it, or -errno. */
static int open_state_dir(const char *state_dir, char *err, size_t err_len) {
        _cleanup_(close_fdp) int parent = -1;
        char path[PATH_MAX], name[NAME_MAX + 1], why[256] = "";
        mode_t old_umask;
        struct stat st;
        bool made;
        int fd, r;

        if ((size_t) snprintf(path, sizeof path, "%s/" KEYS_DIR, state_dir) >= sizeof path)
                return set_err(err, err_len, -ENAMETOOLONG, "%s: %s", state_dir, strerror(ENAMETOOLONG));
        /* The directories above first, so that a refused state_dir is
         * not left behind, created, in a place the agent refuses. */
        parent = open_parent_checked(state_dir, owner_root_or_self, NULL, name, why, sizeof why);
        if (parent < 0)
                return set_err(err, err_len, parent, "%s: %s", state_dir, why);
        /* 0755 whatever the umask: local verifiers read jwks.json there. */
        old_umask = umask(022);
        made = mkdirat(parent, name, 0755) == 0;
        r = made || errno == EEXIST ? 0 : -errno;
        umask(old_umask);
        if (r < 0)
                return set_err(err, err_len, r, "%s: %s", state_dir, strerror(-r));
        /* It must outlast a power cut, as the files in it will (parent is
         * an O_PATH descriptor, which fsync() does not take). A failure
         * stops the start that made it; the next starts try again, but
         * do not stop for a directory above they may not read. */
        {
                _cleanup_(close_fdp) int above = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                if (made && (above < 0 || fsync(above) < 0))
                        return set_err(err, err_len, -errno, "%s: fsync of the directory above it: %m",
                                       state_dir);
                if (!made && above >= 0)
                        (void) fsync(above);
        }
        close(TAKE_FD(parent));
        /* Then state_dir itself, through a symbolic link if it is one;
         * "keys" is only the name the check needs below it. */
        parent = open_parent_checked(path, owner_root_or_self, NULL, name, why, sizeof why);
        if (parent < 0)
                return set_err(err, err_len, parent, "%s: %s%s", state_dir, why, owner_hint(state_dir, false));
        fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return set_err(err, err_len, -errno, "%s: %m", state_dir);
        /* A sticky bit, enough for a directory above (/tmp), is not for
         * state_dir itself: others could still put a jwks.json, keys/ or
         * .jwks.json.tmp there first, and the agent would not start ("the
         * key state was lost") or could not publish its keys. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return set_err(err, err_len, r, "%s: %s", state_dir, strerror(-r));
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                char quoted[160];

                close(fd);
                copy_printable(quoted, sizeof quoted, state_dir);
                return set_err(err, err_len, -EPERM, "%s: directory \"%s\" is writable by group or others (mode %04o)",
                               state_dir, quoted, (unsigned) (st.st_mode & 07777));
        }
        return fd;
}

int keystore_open(const char *state_dir, pthread_rwlock_t *lock,
                  char *err, size_t err_len, keystore **ret_keystore) {
        _cleanup_(keystore_freep) keystore *ks = NULL;
        char why[512];
        struct stat st;
        int r;

        ks = calloc(1, sizeof *ks);
        if (!ks)
                return set_err(err, err_len, -ENOMEM, "out of memory");
        ks->dir_fd = ks->keys_fd = -1;
        ks->lock = lock;

        r = open_state_dir(state_dir, err, err_len);
        if (r < 0)
                return r;
        ks->dir_fd = r;
        if (mkdirat(ks->dir_fd, KEYS_DIR, 0700) < 0 && errno != EEXIST)
                return set_err(err, err_len, -errno, "%s/" KEYS_DIR ": %m", state_dir);
        ks->keys_fd = openat(ks->dir_fd, KEYS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ks->keys_fd < 0)
                return set_err(err, err_len, -errno, "%s/" KEYS_DIR ": %s", state_dir,
                               errno == ENOTDIR || errno == ELOOP
                                       ? "not a directory (svcid-agent does not follow a symbolic link there)"
                                       : strerror(errno));
        if (fstat(ks->keys_fd, &st) < 0)
                return set_err(err, err_len, -errno, "%s/" KEYS_DIR ": %m", state_dir);
        /* Private keys: a directory others can enter, or someone else's,
         * may already have leaked them; an operator must look. */
        if (st.st_uid != geteuid() || (st.st_mode & 077))
                return set_err(err, err_len, -EPERM,
                               "%s/" KEYS_DIR ": must be owned by uid %u with mode 0700 (is %u, %04o)",
                               state_dir, (unsigned) geteuid(), (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
        if (flock(ks->keys_fd, LOCK_EX | LOCK_NB) < 0)
                return set_err(err, err_len, -errno == -EWOULDBLOCK ? -EBUSY : -errno,
                               "%s: in use by another svcid-agent", state_dir);

        r = load_state(ks, why, sizeof why);
        /* A file lost or garbled: what the operator can do about it. */
        if (r == -ENOENT || r == -EINVAL)
                return set_err(err, err_len, r, "%s/%s. Restore %s/" KEYS_DIR " from a backup; to start "
                               "without what cannot be read, see KEYS AND ROTATION in svcid-agent(8)",
                               state_dir, why, state_dir);
        if (r < 0)
                return set_err(err, err_len, r, "%s/%s", state_dir, why);
        if (r == 0 && state_lost(ks))
                return set_err(err, err_len, -ENOKEY, "%s/" KEYS_DIR "/" STATE_FILE " is missing, but "
                               "%s/" JWKS_FILE " is there: the key state was lost (an interrupted start never "
                               "leaves this). Restore it, or remove %s/" JWKS_FILE " and %s/" KEYS_DIR "/*.pem "
                               "to start afresh, which unpublishes every key and so every token out there",
                               state_dir, state_dir, state_dir, state_dir);
        r = adopt_unnamed(ks, now_realtime(), why, sizeof why);
        if (r < 0)
                return set_err(err, err_len, r, "%s/%s", state_dir, why);
        remove_leftovers(ks, NULL, 0);
        *ret_keystore = TAKE_PTR(ks);
        return 0;
}

/* How many dropped kids state.json remembers, the latest: a key file
 * left by a removal that failed, or copied back from a backup, goes at
 * the next start rather than being published again. */
#define DROPPED_MAX 64

/* The list of dropped kids the last state had (prev, may be NULL), with
 * those of old[n_old] that next[n] no longer holds added, the oldest going
 * past DROPPED_MAX. prev itself when nothing was dropped, so that such an
 * update leaves state.json as it is. NULL when out of memory. */
static json_t *dropped_now(const key_entry *old, size_t n_old, const key_entry *next, size_t n, json_t *prev) {
        _cleanup_(json_decrefp) json_t *gone = prev ? json_copy(prev) : json_array();
        size_t before;

        if (!gone)
                return NULL;
        before = json_array_size(gone);
        for (size_t i = 0; i < n_old; i++) {
                const char *kid = svcid_key_kid(old[i].key);

                if (!in_entries(next, n, kid, strlen(kid)) && json_array_append_new(gone, json_string(kid)) < 0)
                        return NULL;
        }
        if (json_array_size(gone) == before && prev)
                return json_incref(prev);
        while (json_array_size(gone) > DROPPED_MAX)
                if (json_array_remove(gone, 0) < 0)
                        return NULL;
        return TAKE_PTR(gone);
}

/* state.json for the keys e[n], saying it dropped the kids of gone. */
static char *state_json(const key_entry *e, size_t n, json_t *gone, int64_t seen) {
        _cleanup_(json_decrefp) json_t *root = json_object(), *keys = json_array();

        if (!root || !keys)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
                                      "kid", svcid_key_kid(e[i].key),
                                      "alg", svcid_alg_str(svcid_key_alg(e[i].key)),
                                      "created", (json_int_t) e[i].created,
                                      "not_before", (json_int_t) e[i].not_before,
                                      "not_after", (json_int_t) e[i].not_after,
                                      "max_ttl", (json_int_t) e[i].max_ttl);
                if (o && e[i].stopped && json_object_set_new(o, "stopped", json_true()) < 0) {
                        json_decref(o);
                        return NULL;
                }
                if (!o || json_array_append_new(keys, o) < 0)
                        return NULL;
        }
        if (json_object_set_new(root, "version", json_integer(1)) < 0 ||
            json_object_set_new(root, "seen", json_integer(seen)) < 0 ||
            json_object_set(root, "keys", keys) < 0 ||
            json_object_set(root, "dropped", gone) < 0)
                return NULL;
        return json_dumps_whole(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

static char *jwks_json(const key_entry *e, size_t n, const char *issuer) {
        _cleanup_(json_decrefp) json_t *root = json_object(), *keys = json_array();

        if (!root || !keys)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(free_p) char *jwk = NULL;
                json_t *o;

                if (svcid_key_public_jwk(e[i].key, &jwk) < 0)
                        return NULL;
                o = json_load_guarded(jwk, strlen(jwk), NULL, NULL);
                if (!o || json_array_append_new(keys, o) < 0)
                        return NULL;
        }
        if (json_object_set_new(root, "iss", json_string(issuer)) < 0 ||
            json_object_set(root, "keys", keys) < 0)
                return NULL;
        return json_dumps_whole(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* A key's file, KID plus suffix, starting with its label (ALG_LABEL): a
 * new key is written as KID.new, and signs nothing until commit_keys().
 * On failure step says what failed, as write_atomic()'s does. */
static int write_key(keystore *ks, const svcid_key *key, const char *suffix,
                     char step[static WRITE_STEP_MAX]) {
        char name[128], *pem = NULL, *text;
        size_t len;
        int r;

        snprintf(step, WRITE_STEP_MAX, "encoding the key");
        r = key_name(svcid_key_kid(key), suffix, name, sizeof name);
        if (r < 0)
                return r;
        r = svcid_key_private_pem(key, &pem);
        if (r < 0)
                return r;
        /* sized once: no copy of the key left behind in a freed buffer */
        len = strlen(ALG_LABEL) + strlen(svcid_alg_str(svcid_key_alg(key))) + 1 + strlen(pem) + 1;
        text = malloc(len);
        if (text)
                snprintf(text, len, ALG_LABEL "%s\n%s", svcid_alg_str(svcid_key_alg(key)), pem);
        svcid_free_secret(pem);
        if (!text)
                return -ENOMEM;
        r = write_atomic(ks->keys_fd, name, text, strlen(text), 0600, step);
        svcid_free_secret(text);
        return r;
}

static int new_entry(svcid_alg alg, int64_t created, int64_t not_before, int64_t lifetime,
                     int64_t max_ttl, key_entry *ret) {
        svcid_key *key;
        int r = svcid_key_generate(alg, &key);

        if (r < 0)
                return r;
        *ret = (key_entry) {
                .key = key, .created = created, .not_before = not_before,
                .not_after = not_before + lifetime, .max_ttl = max_ttl, .staged = true,
        };
        return 0;
}

/* The index of the key signing at now: the latest to start signing, and
 * of two that started together, the one that signs longer (the other was
 * retired at once: see cmp_entry()), in whatever order state.json has
 * them; never a stopped one. */
static ssize_t active_index(const key_entry *e, size_t n, int64_t now) {
        ssize_t best = -1;

        for (size_t i = 0; i < n; i++)
                if (!e[i].stopped && e[i].not_before <= now && (best < 0 || cmp_entry(&e[i], &e[best]) >= 0))
                        best = (ssize_t) i;
        return best;
}

/* active_index(), or when no key has begun to sign, because the clock
 * went back past the first one's start, the earliest key not stopped: it
 * signed just now, and what it signs now expires before what it signed
 * then. */
static ssize_t signer_index(const keystore *ks, int64_t now) {
        ssize_t i = active_index(ks->entries, ks->n, now);

        for (size_t j = 0; i < 0 && j < ks->n; j++)     /* entries are sorted by not_before */
                if (!ks->entries[j].stopped)
                        i = (ssize_t) j;
        return i;
}

void keystore_note_signed(keystore *ks, int64_t now) {
        int64_t latest = __atomic_load_n(&ks->signed_latest, __ATOMIC_RELAXED);

        while (now > latest &&
               !__atomic_compare_exchange_n(&ks->signed_latest, &latest, now, true, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                ;
}

const svcid_key *keystore_active(const keystore *ks, int64_t now) {
        ssize_t i = signer_index(ks, now);

        return i < 0 ? NULL : ks->entries[i].key;
}

int64_t keystore_ttl_cap(const keystore *ks, int64_t now) {
        ssize_t i = signer_index(ks, now);
        int64_t cap;

        if (i < 0)
                return 0;
        cap = ks->entries[i].max_ttl;
        if (ks->landed_unknown || (ks->landed_until && ks->landed_until[i] == INT64_MIN))
                return 0;
        if (ks->landed_until && ks->landed_until[i] - now < cap)
                cap = ks->landed_until[i] - now;
        return cap > 0 ? cap : 0;
}

const char *keystore_issuer(const keystore *ks) {
        return ks->issuer;
}

const char *keystore_jwks(const keystore *ks, size_t *ret_len) {
        *ret_len = ks->jwks_len;
        return ks->jwks;
}

const char *keystore_unfinished(const keystore *ks) {
        return ks->unfinished[0] ? ks->unfinished : NULL;
}

size_t keystore_count(const keystore *ks) {
        return ks->n;
}

/* Records, for each key in memory, until when the state next[] that is
 * now on disk keeps it published (see keystore.landed_until). */
static void note_landed(keystore *ks, const key_entry *next, size_t n) {
        int64_t *until = calloc(ks->n ? ks->n : 1, sizeof *until);

        for (size_t i = 0; until && i < ks->n; i++) {
                until[i] = INT64_MIN;
                for (size_t j = 0; j < n; j++)
                        if (next[j].key == ks->entries[i].key)
                                until[i] = next[j].not_after + next[j].max_ttl;
        }
        pthread_rwlock_wrlock(ks->lock);
        free(ks->landed_until);
        ks->landed_until = until;
        ks->landed_unknown = !until;    /* then no key may sign */
        pthread_rwlock_unlock(ks->lock);
}

/* Whether a key of e[] began to sign after from and by to. */
static bool began_since(const key_entry *e, size_t n, int64_t from, int64_t to) {
        for (size_t i = 0; i < n; i++)
                if (e[i].not_before > from && e[i].not_before <= to)
                        return true;
        return false;
}

/* Whether file name in dir_fd is gone: removed by hand while the agent
 * runs, which a restart would not survive (or, for jwks.json, local
 * verifiers, even now). */
static bool gone_from_disk(int dir_fd, const char *name) {
        struct stat st;

        return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* Whether file name in dir_fd holds text: a write that failed after its
 * rename, or one that need not be made. */
static bool on_disk(int dir_fd, const char *name, size_t max, bool private_file, const char *text) {
        _cleanup_(free_p) char *data = NULL;
        size_t len;

        return read_file_at(dir_fd, name, max, private_file, &data, &len) == 0 &&
               len == strlen(text) && memcmp(data, text, len) == 0;
}

/* Whether jwks.json is jwks already, as the agent writes it: this
 * process's, readable by every verifier (0644). */
static bool published(keystore *ks, const char *jwks) {
        struct stat st;

        return fstatat(ks->dir_fd, JWKS_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
               (st.st_mode & 07777) == 0644 && st.st_uid == geteuid() &&
               on_disk(ks->dir_fd, JWKS_FILE, SVCID_JWKS_MAX, false, jwks);
}

/* Logs a key that began to sign since the last look. A hand-over comes
 * with time, not with a write, so this looks at every update; the first
 * look (a start) and a key created to sign at once are not news. */
static void note_active(keystore *ks, int64_t now) {
        const svcid_key *k = keystore_active(ks, now);

        if (!k || strcmp(svcid_key_kid(k), ks->active_kid) == 0)
                return;
        if (ks->active_kid[0])
                log_key("activated", svcid_key_kid(k), svcid_alg_str(svcid_key_alg(k)));
        snprintf(ks->active_kid, sizeof ks->active_kid, "%s", svcid_key_kid(k));
}

/* A step of commit_keys() that failed: said in the log unless the step's
 * last try already said it; the first failure of each try is kept in
 * why[why_len]. */
static void __attribute__((format(printf, 4, 5)))
commit_failed(bool said, char *why, size_t why_len, const char *fmt, ...) {
        char msg[sizeof ((keystore *) NULL)->unfinished];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (!said)
                log_warning("%s; trying again every %d s", msg, KEYSTORE_COMMIT_RETRY);
        if (!why[0])
                snprintf(why, why_len, "%s", msg);
}

/* Gives each key of e[n] its final file, now that a state naming it is
 * in place: KID.new is renamed to KID.pem (from here on the key may
 * sign, and a start that finds it unnamed, after a restore, keeps it),
 * and a file without the right label (an earlier svcid-agent's, or a
 * damaged one) is written again with it (which a restore needs to keep it
 * too). What fails is logged once, written to why[why_len] ("" when all
 * is done) and tried again every KEYSTORE_COMMIT_RETRY s; the key signs
 * all the same, from its file as it is, which the state names. */
static void commit_keys(keystore *ks, key_entry *e, size_t n, char *why, size_t why_len) {
        bool renamed = false;

        why[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                char from[128], to[128], step[WRITE_STEP_MAX];
                bool renamed_now = false, stray_left = false, lost;
                struct stat st;
                int r;

                if (key_name(svcid_key_kid(e[i].key), NEW, from, sizeof from) < 0 ||
                    pem_name(svcid_key_kid(e[i].key), to, sizeof to) < 0)
                        continue;
                /* (rename() on a read-only file system fails even
                 * when there is nothing to rename) */
                if (fstatat(ks->keys_fd, from, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        /* Only a key whose file is KID.new (made by an
                         * update, or loaded from it) is renamed. For any
                         * other, the key in memory came from KID.pem
                         * (load_key_file() reads it first): KID.new, which
                         * a rename never leaves beside it, is a stray
                         * copy, perhaps damaged, never read, and must not
                         * replace the key, even with KID.pem removed since
                         * (written again below from the key in memory). */
                        if (!e[i].staged) {
                                if (unlinkat(ks->keys_fd, from, 0) == 0) {
                                        log_notice("removing %s/%s, a stray file the key was not loaded from",
                                                   KEYS_DIR, from);
                                } else if (errno != ENOENT) {
                                        commit_failed(e[i].said & SAID_RENAME, why, why_len,
                                                      "%s/%s, a stray file the key was not loaded from, cannot "
                                                      "be removed: %s", KEYS_DIR, from, strerror(errno));
                                        stray_left = true;
                                }
                        } else if (renameat(ks->keys_fd, from, ks->keys_fd, to) < 0) {
                                commit_failed(e[i].said & SAID_RENAME, why, why_len,
                                              "%s/%s: cannot rename it to %s: %s; the key signs from it as it "
                                              "is, but a state.json restored from a backup would take it for "
                                              "a leftover", KEYS_DIR, from, to, strerror(errno));
                                e[i].said |= SAID_RENAME;
                                continue;
                        } else {
                                renamed = renamed_now = true;
                        }
                }
                if (stray_left)
                        e[i].said |= SAID_RENAME;
                else
                        e[i].said &= (uint8_t) ~SAID_RENAME;
                e[i].staged = false;
                /* A file removed while the key is in memory: a start
                 * from the state that names it would fail. */
                lost = !renamed_now && gone_from_disk(ks->keys_fd, to);
                if (e[i].unlabelled || lost) {
                        r = write_key(ks, e[i].key, PEM, step);
                        if (r < 0 && lost)
                                commit_failed(e[i].said & SAID_LABEL, why, why_len,
                                              "%s/%s: removed while the agent runs, and cannot be written "
                                              "again: %s: %s; until then the agent would not start again",
                                              KEYS_DIR, to, step, strerror(-r));
                        else if (r < 0)
                                commit_failed(e[i].said & SAID_LABEL, why, why_len,
                                              "%s/%s: cannot write it again with its first line (its "
                                              "algorithm): %s: %s; until then a state.json restored from "
                                              "a backup may not keep it", KEYS_DIR, to, step, strerror(-r));
                        if (r < 0) {
                                e[i].said |= SAID_LABEL;
                                continue;
                        }
                        if (lost)
                                log_warning("%s/%s: removed while the agent runs: written again from the "
                                            "key in memory", KEYS_DIR, to);
                }
                e[i].said &= (uint8_t) ~SAID_LABEL;
                e[i].unlabelled = false;
        }
        if (renamed || ks->unsynced) {
                bool synced = fsync(ks->keys_fd) == 0;

                if (!synced)
                        commit_failed(ks->unsynced, why, why_len, "%s/: fsync after renaming new key files: %s",
                                      KEYS_DIR, strerror(errno));
                ks->unsynced = !synced;
        }
        if (!why[0] && ks->unfinished[0])
                log_notice("%s/: every key file is finished now: its final name and first line, synced", KEYS_DIR);
}

/* Before a fresh key starts to sign at now: every key of e[n] that has
 * signed (it began by seen, the latest time known: an update, or a token
 * signed) stops for good, and stays published until what it may have
 * signed has expired: until seen for the key signing now (a, if any: past
 * its end of life if it signed on while no successor could be made) and
 * the one signing at seen (later than now if the clock stepped back
 * since), and no later than seen for any. A forced rotation is asked for
 * a key in doubt: it keeps no key published for tokens signed further
 * ahead of the clock than the longest token (max_ttl), however far ahead
 * the clock once was (cap; INT64_MAX for no cap). A stopped key is also
 * made to start before now, so that the fresh key is the latest to start,
 * which an earlier svcid-agent, blind to "stopped", goes by. */
static void retire_signers(key_entry *e, size_t n, ssize_t a, int64_t now, int64_t seen, int64_t cap) {
        int64_t until = seen < cap ? seen : cap;
        ssize_t last = active_index(e, n, seen);

        for (size_t i = 0; i < n; i++) {
                if (e[i].not_before > seen)
                        continue;       /* never signed: pending */
                e[i].stopped = true;
                if (e[i].not_before >= now)
                        e[i].not_before = now - 1;
                if ((ssize_t) i == a || (ssize_t) i == last || e[i].not_after > until)
                        e[i].not_after = until;
        }
}

/* The latest time a token was signed at, into seen. */
static void take_signed_latest(keystore *ks) {
        int64_t signed_at = __atomic_load_n(&ks->signed_latest, __ATOMIC_RELAXED);

        if (signed_at > ks->seen)
                ks->seen = signed_at;
}

int keystore_update(keystore *ks, const agent_config *cfg, const char *issuer,
                    int64_t now, bool force, char *err, size_t err_len) {
        key_entry *next = NULL, *old;
        size_t n = 0, n_old, n_new_keys = 0;
        key_entry fresh[2];
        _cleanup_(free_p) char *state = NULL, *jwks = NULL, *iss = NULL;
        _cleanup_(json_decrefp) json_t *gone = NULL;
        bool state_tried = false, state_landed = false, state_written = false, state_gone, jwks_by_hand;
        char unfinished[sizeof ks->unfinished], step[WRITE_STEP_MAX];
        ssize_t a;
        int r;

        note_active(ks, now);
        take_signed_latest(ks);
        if (now > ks->seen)
                ks->seen = now;
        force |= ks->adopted;
        next = calloc(ks->n + 2, sizeof *next);
        if (!next)
                return set_err(err, err_len, -ENOMEM, "out of memory");

        /* Start from the current set, minus keys whose tokens all expired
         * and minus a pending key that no longer fits (never signed). */
        a = active_index(ks->entries, ks->n, now);
        for (size_t i = 0; i < ks->n; i++) {
                key_entry e = ks->entries[i];
                bool pending = !e.stopped && e.not_before > now;        /* a stopped key has signed */

                if (!pending && (ssize_t) i != a && retired_until(&e) <= now)
                        continue;       /* every token it signed has expired */
                /* A clock stepped back makes a key that has signed look
                 * pending: only one that starts after all we have known
                 * never signed. */
                if (pending && e.not_before > ks->seen && a >= 0 && (force || svcid_key_alg(e.key) != cfg->alg))
                        continue;       /* never signed: replaced below */
                /* Tokens it signs from now on; until this is written,
                 * mints stay within the old value (keystore_ttl_cap()). */
                if (!pending && !e.stopped && e.not_after > now && e.max_ttl < cfg->max_ttl)
                        e.max_ttl = cfg->max_ttl;
                if (pending && e.max_ttl < cfg->max_ttl)
                        e.max_ttl = cfg->max_ttl;
                svcid_key_ref(e.key);
                next[n++] = e;
        }

        a = active_index(next, n, now);
        if (a < 0 || force || next[a].not_after <= now) {
                /* First start, forced rotation, or the agent was down past
                 * the active key's life: a fresh key signs from now on. */
                r = new_entry(cfg->alg, now, now, cfg->key_lifetime, cfg->max_ttl, &fresh[n_new_keys]);
                if (r < 0)
                        goto fail_gen;
                /* Making the key took time (seconds, for RSA on a busy
                 * host), while the keys it replaces went on signing */
                take_signed_latest(ks);
                retire_signers(next, n, a, now, ks->seen, force ? now + cfg->max_ttl : INT64_MAX);
                next[n++] = fresh[n_new_keys++];
                a = (ssize_t) n - 1;
        } else {
                bool have_pending = false;

                for (size_t i = 0; i < n; i++)
                        have_pending |= !next[i].stopped && next[i].not_before > now;
                int64_t half = (next[a].not_after - next[a].not_before) / 2;
                int64_t lead = cfg->key_lifetime / 2 < half ? cfg->key_lifetime / 2 : half;

                if (!have_pending && now >= next[a].not_before + half) {
                        /* Published half a key's life before it signs,
                         * as copies of the JWKS are told to expect, even
                         * when it is made late (an algorithm change
                         * replaced the pending key, or the agent was down
                         * at half life): the active key signs on until
                         * then. Half the configured life or the active
                         * key's, the shorter: a late successor stretched
                         * the active key, and a raised key_lifetime is
                         * for the keys to come. */
                        if (next[a].not_after - now < lead)
                                next[a].not_after = now + lead;
                        r = new_entry(cfg->alg, now, next[a].not_after, cfg->key_lifetime,
                                      cfg->max_ttl, &fresh[n_new_keys]);
                        if (r < 0)
                                goto fail_gen;
                        next[n++] = fresh[n_new_keys++];
                }
        }
        qsort(next, n, sizeof *next, cmp_entry);

        /* Files, in crash-safe order: keys, state, JWKS, then the new
         * keys' final names. */
        for (size_t i = 0; i < n_new_keys; i++) {
                r = write_key(ks, fresh[i].key, NEW, step);
                if (r < 0) {
                        set_err(err, err_len, r, "writing a new key in %s/: %s: %s", KEYS_DIR, step,
                                strerror(-r));
                        goto fail;
                }
        }
        /* state.json is written when a key changed, and when a key began
         * to sign since the seen it records (so that it stays known as
         * one that signed); not for seen alone, which every update moves. */
        gone = dropped_now(ks->entries, ks->n, next, n, ks->dropped);
        state = gone ? state_json(next, n, gone, ks->seen_written) : NULL;
        jwks = jwks_json(next, n, issuer);
        iss = strdup(issuer);
        if (!state || !jwks || !iss) {
                r = set_err(err, err_len, -ENOMEM, "out of memory");
                goto fail;
        }
        /* (or when state.json was removed: a restart would refuse to
         * start without it) */
        state_gone = gone_from_disk(ks->keys_fd, STATE_FILE);
        if (!ks->state || strcmp(state, ks->state) != 0 || began_since(next, n, ks->seen_written, ks->seen) ||
            state_gone) {
                free(state);
                state = state_json(next, n, gone, ks->seen);
                if (!state) {
                        r = set_err(err, err_len, -ENOMEM, "out of memory");
                        goto fail;
                }
                state_tried = true;
                r = write_atomic(ks->keys_fd, STATE_FILE, state, strlen(state), 0600, step);
                state_written = r == 0;
                state_landed = r == 0 || on_disk(ks->keys_fd, STATE_FILE, STATE_MAX, true, state);
                if (r < 0) {
                        set_err(err, err_len, r, "writing %s/%s: %s: %s", KEYS_DIR, STATE_FILE, step,
                                strerror(-r));
                        goto fail;
                }
                if (state_gone && ks->state)
                        log_warning("%s/%s: removed while the agent runs: written again", KEYS_DIR, STATE_FILE);
        }
        /* At a start, the JWKS on disk is often the one to publish: left
         * alone, a read-only state directory with good keys still serves.
         * While the agent runs, one removed or changed by hand is written
         * again: local verifiers read it. */
        if (!published(ks, jwks)) {
                jwks_by_hand = ks->jwks && strcmp(jwks, ks->jwks) == 0;
                r = write_atomic(ks->dir_fd, JWKS_FILE, jwks, strlen(jwks), 0644, step);
                if (r < 0) {
                        set_err(err, err_len, r, "writing %s: %s: %s", JWKS_FILE, step, strerror(-r));
                        goto fail;
                }
                if (jwks_by_hand)
                        log_warning("%s: removed or changed while the agent runs: written again", JWKS_FILE);
        }
        commit_keys(ks, next, n, unfinished, sizeof unfinished);
        for (size_t i = 0; i < n_new_keys; i++) {
                bool signs_now = fresh[i].not_before <= now;

                log_key(signs_now ? "created, signing now" : "created, published, signs later",
                        svcid_key_kid(fresh[i].key), svcid_alg_str(svcid_key_alg(fresh[i].key)));
                if (signs_now)
                        snprintf(ks->active_kid, sizeof ks->active_kid, "%s", svcid_key_kid(fresh[i].key));
        }

        pthread_rwlock_wrlock(ks->lock);
        old = ks->entries;
        n_old = ks->n;
        ks->entries = next;
        ks->n = n;
        free(ks->state);
        if (state_tried)
                ks->seen_written = ks->seen;
        ks->state = TAKE_PTR(state);
        free(ks->jwks);
        ks->jwks_len = strlen(jwks);
        ks->jwks = TAKE_PTR(jwks);
        free(ks->issuer);
        ks->issuer = TAKE_PTR(iss);
        json_decref(ks->dropped);
        ks->dropped = TAKE_PTR(gone);
        free(ks->landed_until);         /* the state on disk is this one */
        ks->landed_until = NULL;
        ks->landed_unknown = false;
        ks->adopted = false;
        memcpy(ks->unfinished, unfinished, sizeof unfinished);
        pthread_rwlock_unlock(ks->lock);

        /* Only now that no state names them: delete the removed keys. */
        for (size_t i = 0; i < n_old; i++) {
                bool kept = false;
                char name[128];

                for (size_t j = 0; j < n && !kept; j++)
                        kept = old[i].key == next[j].key;
                if (kept)
                        continue;
                log_key(old[i].not_before > now ? "removed (never signed: forced rotation or algorithm change)"
                                                : "removed (every token it signed has expired)",
                        svcid_key_kid(old[i].key), svcid_alg_str(svcid_key_alg(old[i].key)));
                /* (or KID.new: one loaded so at start and dropped at once) */
                for (int j = 0; j < 2; j++)
                        if (key_name(svcid_key_kid(old[i].key), j ? NEW : PEM, name, sizeof name) == 0 &&
                            unlinkat(ks->keys_fd, name, 0) < 0 && errno != ENOENT)
                                log_warning("cannot remove %s/%s: %m; the next start removes it", KEYS_DIR, name);
        }
        note_active(ks, now);
        /* Key files that failed updates left, now that a state is written
         * that does not name them. */
        if (ks->stray_keys) {
                remove_leftovers(ks, NULL, 0);
                ks->stray_keys = false;
        }
        /* old's keys were unref'ed only where next does not hold them:
         * next took its own references above. */
        entries_free(old, n_old);
        return 0;

fail_gen:
        set_err(err, err_len, r, "generating a %s key: %s", svcid_alg_str(cfg->alg), strerror(-r));
fail:
        /* A key file written for a key no state names is removed at the
         * next start; remove it now if we can. Once state.json may name
         * the new keys (a write that failed may have got as far as the
         * rename), their files stay: a start from that state needs them.
         * And the state in memory goes on signing, so state.json must
         * say so again: forget what was last written, and the retry
         * writes it whatever it finds on disk. */
        for (size_t i = 0; i < n_new_keys && !state_tried; i++) {
                char name[128];
                if (key_name(svcid_key_kid(fresh[i].key), NEW, name, sizeof name) == 0)
                        (void) unlinkat(ks->keys_fd, name, 0);
        }
        if (state_tried) {
                free(ks->state);
                ks->state = NULL;
                ks->stray_keys |= n_new_keys > 0;
        }
        /* Each try makes new keys. Once a state naming this try's is
         * written, and durably, the files of earlier failed tries are
         * named by no state a restart can find: without this they would
         * pile up, one a retry, while the cause lasts. */
        if (state_written && n_new_keys > 0)
                remove_leftovers(ks, next, n);
        /* That state is on disk now, and may retire a key that signs on
         * in memory earlier than memory says, or leave out a pending key
         * that will sign: until a state is written again, each key's
         * tokens must expire within what that state keeps it published
         * for (keystore_ttl_cap()). The newest such state is the one on
         * disk, so it replaces the last. */
        if (state_landed)
                note_landed(ks, next, n);
        entries_free(next, n);
        return r;
}

int64_t keystore_next_event(const keystore *ks, const agent_config *cfg, int64_t now) {
        int64_t t = INT64_MAX;
        ssize_t a = active_index(ks->entries, ks->n, now);
        bool have_pending = false;

        for (size_t i = 0; i < ks->n; i++) {
                const key_entry *e = &ks->entries[i];

                if (!e->stopped && e->not_before > now) {
                        have_pending = true;
                        if (e->not_before < t)
                                t = e->not_before;
                } else if ((ssize_t) i != a && retired_until(e) < t) {
                        t = retired_until(e);
                }
        }
        if (a >= 0) {
                const key_entry *e = &ks->entries[a];
                int64_t half = e->not_before + (e->not_after - e->not_before) / 2;

                if (!have_pending && half < t)
                        t = half;
                if (e->not_after < t)
                        t = e->not_after;
                /* the active key itself leaves once retired and expired */
        }
        if (ks->unfinished[0] && now + KEYSTORE_COMMIT_RETRY < t)
                t = now + KEYSTORE_COMMIT_RETRY;
        (void) cfg;
        return t < now ? now : t;
}
