/* SPDX-License-Identifier: MIT */
/* Trusted issuers and their public keys, from JWKS documents that carry a
 * top-level "iss". Keys are looked up by (iss, kid). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../common/path.h"
#include "../common/json.h"

struct entry {
        char *iss;
        svcid_key *key;
};

struct svcid_trust {
        struct entry *entries;
        size_t n, allocated;
};

int svcid_trust_new(svcid_trust **ret_trust) {
        svcid_trust *t;

        if (!ret_trust)
                return -EINVAL;
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        *ret_trust = t;
        return 0;
}

static void entries_free(struct entry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].iss);
                svcid_key_unref(e[i].key);
        }
}

void svcid_trust_free(svcid_trust *trust) {
        if (!trust)
                return;
        entries_free(trust->entries, trust->n);
        free(trust->entries);
        free(trust);
}

const svcid_key *svcid_trust_find(const svcid_trust *trust, const char *iss, const char *kid) {
        if (!trust || !iss || !kid)
                return NULL;
        for (size_t i = 0; i < trust->n; i++)
                if (strcmp(trust->entries[i].key->kid, kid) == 0 && strcmp(trust->entries[i].iss, iss) == 0)
                        return trust->entries[i].key;
        return NULL;
}

const svcid_key *lib_trust_find_header(const svcid_trust *trust, const char *iss, const char *segment, size_t len) {
        for (size_t i = 0; i < trust->n; i++) {
                const svcid_key *k = trust->entries[i].key;
                if (k->header64_len == len && memcmp(k->header64, segment, len) == 0 &&
                    strcmp(trust->entries[i].iss, iss) == 0)
                        return k;
        }
        return NULL;
}

bool svcid_trust_has_issuer(const svcid_trust *trust, const char *iss) {
        if (!trust || !iss)
                return false;
        for (size_t i = 0; i < trust->n; i++)
                if (strcmp(trust->entries[i].iss, iss) == 0)
                        return true;
        return false;
}

size_t svcid_trust_key_count(const svcid_trust *trust) {
        return trust ? trust->n : 0;
}

static int reserve(svcid_trust *t, size_t more) {
        if (t->n + more <= t->allocated)
                return 0;
        size_t want = (t->n + more) * 2;
        struct entry *e = reallocarray(t->entries, want, sizeof *e);
        if (!e)
                return -ENOMEM;
        t->entries = e;
        t->allocated = want;
        return 0;
}

/* -EEXIST when (iss, kid) is taken by a different key; 1 when the very
 * same key is already trusted there (nothing to add); 0 when free. */
static int check_slot(const svcid_trust *t, const char *iss, const svcid_key *key) {
        const svcid_key *old = svcid_trust_find(t, iss, key->kid);

        if (!old)
                return 0;
        return svcid_key_equal_public(old, key) ? 1 : -EEXIST;
}

/* A key is used with exactly one alg (DESIGN.md). Only an RSA key can be
 * named for two, RS256 and PS256: the entry among e[0..n) that holds the
 * public half of key under the other one, or NULL. */
static const struct entry *under_other_alg(const struct entry *e, size_t n, const svcid_key *key) {
        svcid_alg other = key->alg == SVCID_ALG_RS256 ? SVCID_ALG_PS256
                        : key->alg == SVCID_ALG_PS256 ? SVCID_ALG_RS256 : SVCID_ALG_INVALID;

        if (other == SVCID_ALG_INVALID)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (e[i].key->alg == other && lib_key_same_public(e[i].key, key))
                        return &e[i];
        return NULL;
}

int svcid_trust_add_key(svcid_trust *trust, const char *iss, svcid_key *key) {
        char *iss_copy;
        int r;

        if (!trust || !iss || !*iss || !key)
                return -EINVAL;
        r = check_slot(trust, iss, key);
        if (r != 0)
                return r < 0 ? r : 0;
        if (under_other_alg(trust->entries, trust->n, key))
                return -EEXIST;
        r = reserve(trust, 1);
        if (r < 0)
                return r;
        iss_copy = strdup(iss);
        if (!iss_copy)
                return -ENOMEM;
        trust->entries[trust->n++] = (struct entry) { iss_copy, svcid_key_ref(key) };
        return 0;
}

/* Any private member of a JWK (RFC 7518 §6.2.2, §6.3.2 and §6.4.1, RFC
 * 8037 §2): an RSA key's factors give it away as surely as its d does,
 * and a symmetric key is all secret. */
static bool has_private_member(const json_t *jwk) {
        static const char *const members[] = { "d", "p", "q", "dp", "dq", "qi", "oth" };
        const char *kty = json_string_value(json_object_get(jwk, "kty"));

        for (size_t i = 0; i < ELEMENTSOF(members); i++)
                if (json_object_get(jwk, members[i]))
                        return true;
        return kty && strcmp(kty, "oct") == 0 && json_object_get(jwk, "k");
}

int svcid_trust_add_jwks(svcid_trust *trust, const char *json, size_t len,
                         const char *origin, char *err, size_t err_len) {
        _cleanup_(json_decrefp) json_t *doc = NULL;
        struct entry *staged = NULL;
        size_t n_staged = 0;
        const char *iss;
        json_t *keys, *k;
        size_t i;
        int r;

        /* Names, kid and iss come from files: messages show printable
         * copies (the buffer lives as long as this function). */
        origin = lib_shown(origin ? origin : "JWKS");
        if (!trust || (!json && len > 0))
                return set_err(err, err_len, -EINVAL, "%s: invalid arguments", origin);
        if (len > SVCID_JWKS_MAX)
                return set_err(err, err_len, -EFBIG, "%s: larger than %u bytes", origin, SVCID_JWKS_MAX);

        doc = lib_json_object(json, len, SVCID_JWKS_MAX);
        if (!doc)
                return errno == ENOMEM ? set_err(err, err_len, -ENOMEM, "%s: out of memory", origin)
                                       : set_err(err, err_len, -EINVAL,
                                                 "%s: not a JSON object (or duplicate members, invalid UTF-8)",
                                                 origin);
        iss = json_string_value(json_object_get(doc, "iss"));
        if (!iss || !*iss)
                return set_err(err, err_len, -EINVAL, "%s: no \"iss\" string naming the issuer", origin);
        keys = json_object_get(doc, "keys");
        if (!json_is_array(keys))
                return set_err(err, err_len, -EINVAL, "%s: no \"keys\" array", origin);

        staged = calloc(json_array_size(keys) + 1, sizeof *staged);
        if (!staged)
                return set_err(err, err_len, -ENOMEM, "%s: out of memory", origin);

        json_array_foreach(keys, i, k) {
                _cleanup_(free_p) char *text = json_dumps_whole(k, JSON_COMPACT);
                _cleanup_(svcid_key_unrefp) svcid_key *key = NULL;
                char why[160] = "";

                if (!text) {
                        /* jansson writes out any object, memory allowing */
                        r = json_is_object(k) ? set_err(err, err_len, -ENOMEM, "%s: out of memory", origin)
                                              : set_err(err, err_len, -EINVAL, "%s: key %zu is not a JSON object",
                                                        origin, i);
                        goto fail;
                }
                if (has_private_member(k)) {
                        /* A JWKS is published; a private key in one is a
                         * leak, and trusting it would hide the mistake.
                         * Said before anything else about the key. */
                        r = set_err(err, err_len, -EINVAL, "%s: key %zu is a private key", origin, i);
                        goto fail;
                }
                r = lib_key_from_jwk(text, strlen(text), &key, why, sizeof why);
                if (r == -ENOMEM) {
                        set_err(err, err_len, r, "%s: out of memory", origin);
                        goto fail;
                }
                if (r < 0) {
                        set_err(err, err_len, r, "%s: key %zu is not a usable signature key: %s",
                                origin, i, why[0] ? why : strerror(-r));
                        goto fail;
                }
                for (size_t j = 0; j < n_staged; j++)
                        if (strcmp(staged[j].key->kid, key->kid) == 0) {
                                r = set_err(err, err_len, -EINVAL, "%s: key %zu repeats kid \"%s\"",
                                            origin, i, lib_shown(key->kid));
                                goto fail;
                        }
                r = check_slot(trust, iss, key);
                if (r < 0) {
                        set_err(err, err_len, r, "%s: kid \"%s\" of \"%s\" is already trusted as another key",
                                origin, lib_shown(key->kid), lib_shown(iss));
                        goto fail;
                }
                const struct entry *twin = under_other_alg(staged, n_staged, key);
                if (!twin)
                        twin = under_other_alg(trust->entries, trust->n, key);
                if (twin) {
                        r = set_err(err, err_len, -EEXIST, "%s: key %zu is the key of kid \"%s\" for %s; "
                                    "a key is used with one alg", origin, i, lib_shown(twin->key->kid),
                                    svcid_alg_str(twin->key->alg));
                        goto fail;
                }
                /* A key already trusted there is staged without an iss:
                 * not added again, but its kid still counts above. */
                if (r == 0) {
                        staged[n_staged].iss = strdup(iss);
                        if (!staged[n_staged].iss) {
                                r = set_err(err, err_len, -ENOMEM, "%s: out of memory", origin);
                                goto fail;
                        }
                }
                staged[n_staged++].key = TAKE_PTR(key);
        }

        r = reserve(trust, n_staged);
        if (r < 0) {
                set_err(err, err_len, r, "%s: out of memory", origin);
                goto fail;
        }
        for (size_t j = 0; j < n_staged; j++)
                if (staged[j].iss)
                        trust->entries[trust->n++] = staged[j];
                else
                        svcid_key_unref(staged[j].key);
        free(staged);
        return 0;
fail:
        entries_free(staged, n_staged);
        free(staged);
        return r;
}

/* Adds the JWKS file open on fd (from trust_open()), named shown in
 * messages. Reading the fd that was checked, never the name again, means
 * the file judged is the file read. */
static int add_file(svcid_trust *trust, int fd, struct trust_writers *w, const char *shown, char *err,
                    size_t err_len) {
        _cleanup_(free_p) char *data = NULL;
        size_t len;
        int r;

        r = trust_read(fd, w, shown, &data, &len, err, err_len);
        if (r < 0)
                return r;
        return svcid_trust_add_jwks(trust, data, len, shown, err, err_len);
}

int svcid_trust_load(svcid_trust *trust, const char *path, char *err, size_t err_len) {
        _cleanup_(trust_dir_names_freep) char **names = NULL;
        _cleanup_(close_fdp) int fd = -1;
        const char *shown_path;
        struct trust_writers w = TRUST_WRITERS;
        struct stat st;
        size_t n;
        int r;

        if (!trust || !path)
                return set_err(err, err_len, -EINVAL, "invalid arguments");
        /* for messages: a path may hold any byte */
        shown_path = lib_shown(path);

        fd = trust_open(path, &w, err, err_len);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return set_err(err, err_len, -errno, "%s: %s", shown_path, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return add_file(trust, fd, &w, path, err, err_len);
        /* Whoever may write the directory can add a file to it. */
        r = trust_writers_check(&st, &w, path, err, err_len);
        if (r < 0)
                return r;

        r = trust_dir_names(fd, &names, &n);
        if (r == -ENOMEM)
                return set_err(err, err_len, r, "out of memory");
        if (r < 0)
                return set_err(err, err_len, r, "%s: %s", shown_path, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                _cleanup_(free_p) char *shown = NULL;
                _cleanup_(close_fdp) int file_fd = -1;

                if (asprintf(&shown, "%s/%s", path, names[i]) < 0) {
                        shown = NULL;   /* asprintf() leaves it undefined */
                        return set_err(err, err_len, -ENOMEM, "out of memory");
                }
                file_fd = trust_open_at(fd, names[i]);
                if (file_fd == -ENOENT)
                        continue;       /* removed since the directory was read: no longer in it */
                if (file_fd < 0)
                        return set_err(err, err_len, file_fd, "%s: %s", lib_shown(shown), trust_open_why(file_fd));
                r = add_file(trust, file_fd, &w, shown, err, err_len);
                if (r < 0)
                        return r;
        }
        return 0;
}
