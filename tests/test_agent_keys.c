/* SPDX-License-Identifier: MIT */
/*
 * The agent's key schedule (agent/keys.c) driven through time by hand: the
 * first key, the next one published at half life and signing at the end
 * of its predecessor's, a retired key kept until its tokens have expired
 * and then removed with its file, forced rotation, a change of algorithm,
 * an agent that was down for longer than a key's life, a clock that went
 * back, and a state reopened from disk. Real files in a temporary
 * directory; no timing: `now` is an argument.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

/* keys.c's fsync(), which fails with EIO while fsync_fails: no file system
 * here fails an fsync() of a directory on demand, so this is a mock. */
static bool fsync_fails;
static unsigned fsyncs;

static int keys_fsync(int fd) {
        fsyncs++;
        if (fsync_fails) {
                errno = EIO;
                return -1;
        }
        return fsync(fd);
}

/* keys.c's svcid_key_generate(): the real one, then, when sign_while_made
 * is set, a token signed meanwhile by the keys in use (an HTTP thread's
 * keystore_note_signed(); making an RSA key takes seconds). A mock of that
 * timing, which no test here could arrange for real. */
#include "../agent/keys.h"
static keystore *sign_in;
static int64_t sign_while_made;

static int keys_generate(svcid_alg alg, svcid_key **ret_key) {
        int r = svcid_key_generate(alg, ret_key);

        if (sign_in && sign_while_made)
                keystore_note_signed(sign_in, sign_while_made);
        return r;
}

#define fsync keys_fsync
#define svcid_key_generate keys_generate
#include "../agent/keys.c"
#undef svcid_key_generate
#undef fsync
#include "../agent/log.c"
#include "../agent/util.c"

#define L 100           /* key_lifetime */
#define MAXTTL 30       /* max_ttl */
#define KEEP (MAXTTL + SVCID_LEEWAY_DEFAULT)   /* a retired key stays: tokens + verifiers' leeway */
#define T0 1000000

typedef struct fixture {
        char dir[64];
        pthread_rwlock_t lock;
        agent_config cfg;
        keystore *ks;
} fixture;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st; (void) flag; (void) ftw;
        return remove(path);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof *f);
        char err[256];

        assert_non_null(f);
        strcpy(f->dir, "/tmp/svcid-test-keys.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        pthread_rwlock_init(&f->lock, NULL);
        f->cfg = (agent_config) { .alg = SVCID_ALG_ES256, .default_ttl = 10, .max_ttl = MAXTTL,
                                  .key_lifetime = L, .token_reuse = 0, .anonymous = true };
        log_open(LOG_TARGET_STDERR);
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &f->ks), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        keystore_free(f->ks);
        nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static void update(fixture *f, int64_t now, bool force) {
        char err[256] = "";
        int r = keystore_update(f->ks, &f->cfg, "svcid://test", now, force, err, sizeof err);

        if (r < 0)
                fail_msg("keystore_update at %lld: %s", (long long) now, err);
}

static char *kid_of(const svcid_key *k) {
        assert_non_null(k);
        return strdup(svcid_key_kid(k));
}

/* kids in jwks.json on disk (and the served copy agrees) */
static size_t jwks_has(fixture *f, const char *kid) {
        char path[128];
        json_t *j, *keys;
        size_t n = 0, len;
        const char *served = keystore_jwks(f->ks, &len);

        snprintf(path, sizeof path, "%s/jwks.json", f->dir);
        j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "iss")), "svcid://test");
        keys = json_object_get(j, "keys");
        for (size_t i = 0; i < json_array_size(keys); i++)
                if (!kid || strcmp(json_string_value(json_object_get(json_array_get(keys, i), "kid")), kid) == 0)
                        n++;
        assert_non_null(served);
        {
                json_t *s = json_loadb(served, len, 0, NULL);
                assert_true(json_equal(s, j));
                json_decref(s);
        }
        json_decref(j);
        return n;
}

/* keys/KID.SUFFIX is there, mode 0600. */
static bool key_file_is(fixture *f, const char *kid, const char *suffix) {
        char path[256];
        struct stat st;

        snprintf(path, sizeof path, "%s/keys/%s%s", f->dir, kid, suffix);
        if (stat(path, &st) < 0)
                return false;
        assert_int_equal(st.st_mode & 0777, 0600);
        return true;
}

/* The file of a key that may sign: KID.pem. */
static bool key_file_exists(fixture *f, const char *kid) {
        return key_file_is(f, kid, ".pem");
}

static void test_schedule(void **state) {
        fixture *f = *state;
        char *k0, *k1;

        update(f, T0, false);
        assert_int_equal(keystore_count(f->ks), 1);
        k0 = kid_of(keystore_active(f->ks, T0));
        assert_true(key_file_exists(f, k0));
        assert_int_equal(jwks_has(f, k0), 1);
        /* nothing to do before half life; that is the next event */
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0), T0 + L / 2);
        update(f, T0 + L / 2 - 1, false);
        assert_int_equal(keystore_count(f->ks), 1);

        /* half life: the next key is published, but does not sign yet */
        update(f, T0 + L / 2, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L - 1)), k0);
        assert_int_equal(jwks_has(f, NULL), 2);
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + L / 2), T0 + L);

        /* end of life: the next key signs, even before an update runs */
        k1 = kid_of(keystore_active(f->ks, T0 + L));
        assert_string_not_equal(k1, k0);
        assert_true(key_file_exists(f, k1));
        update(f, T0 + L, false);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L)), k1);

        /* the retired key stays until every token it signed has expired,
         * by the verifiers' leeway too */
        update(f, T0 + L + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        assert_true(key_file_exists(f, k0));
        update(f, T0 + L + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        assert_false(key_file_exists(f, k0));
        assert_int_equal(jwks_has(f, k1), 1);
        free(k0);
        free(k1);
}

static void test_forced_rotation(void **state) {
        fixture *f = *state;
        char *k0, *k1, *pending, *k2;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, T0 + L / 2, false);                     /* a pending key */
        pending = kid_of(keystore_active(f->ks, T0 + L));
        update(f, T0 + L / 2 + 1, true);                  /* forced */
        k1 = kid_of(keystore_active(f->ks, T0 + L / 2 + 1));
        assert_string_not_equal(k1, k0);
        assert_string_not_equal(k1, pending);
        /* the never-used pending key is gone; the old one stays published */
        assert_int_equal(jwks_has(f, pending), 0);
        assert_false(key_file_exists(f, pending));
        assert_int_equal(jwks_has(f, k0), 1);
        /* the new key has a life of its own */
        k2 = kid_of(keystore_active(f->ks, T0 + L / 2 + 1 + L - 1));
        assert_string_equal(k2, k1);
        update(f, T0 + L / 2 + 1 + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
        free(k1);
        free(k2);
        free(pending);
}

/* Tokens the old key signs while a forced rotation makes the new one are
 * counted: it stays published until those have expired too. */
static void test_signed_while_key_made(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        sign_in = f->ks;
        sign_while_made = T0 + 12;      /* the update began at T0 + 10 */
        update(f, T0 + 10, true);
        sign_in = NULL;
        sign_while_made = 0;
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 10)), k0);
        update(f, T0 + 12 + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + 12 + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
}

static void test_algorithm_change(void **state) {
        fixture *f = *state;
        const svcid_key *next;

        update(f, T0, false);
        update(f, T0 + L / 2, false);
        next = keystore_active(f->ks, T0 + L);
        assert_int_equal(svcid_key_alg(next), SVCID_ALG_ES256);
        f->cfg.alg = SVCID_ALG_EDDSA;
        update(f, T0 + L - 10, false);
        /* The pending key is now EdDSA. Made 10 s before the active key's
         * end, it is still published half a life before it signs: the
         * active key signs on until then. */
        assert_int_equal(keystore_count(f->ks), 2);
        assert_int_equal(svcid_key_alg(keystore_active(f->ks, T0 + L)), SVCID_ALG_ES256);
        assert_int_equal(svcid_key_alg(keystore_active(f->ks, T0 + L - 10 + L / 2 - 1)), SVCID_ALG_ES256);
        assert_int_equal(svcid_key_alg(keystore_active(f->ks, T0 + L - 10 + L / 2)), SVCID_ALG_EDDSA);
        assert_int_equal(jwks_has(f, NULL), 2);
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + L - 10), T0 + L - 10 + L / 2);
        /* Changed back 5 s later: the replacement of the replacement is
         * published half a key_lifetime ahead too, not half of the
         * active key's now stretched life. */
        f->cfg.alg = SVCID_ALG_ES256;
        update(f, T0 + L - 5, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + L - 5), T0 + L - 5 + L / 2);
        assert_int_equal(svcid_key_alg(keystore_active(f->ks, T0 + L - 5 + L / 2)), SVCID_ALG_ES256);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + L - 5 + L / 2)),
                                svcid_key_kid(keystore_active(f->ks, T0 + L - 5)));
}

static void test_key_lifetime_raised(void **state) {
        fixture *f = *state;
        char *k0;

        /* A key_lifetime raised by a reload is for the keys to come: the
         * active key still hands over at the end of its own life. */
        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        f->cfg.key_lifetime = 100 * L;
        update(f, T0 + L / 2, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L - 1)), k0);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + L)), k0);
        free(k0);
}

static void test_late_successor(void **state) {
        fixture *f = *state;
        char *k0;

        /* The agent was down at half life: the successor made at 3/4 of
         * the active key's life is published half a life before it signs. */
        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, T0 + 3 * L / 4, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 3 * L / 4 + L / 2 - 1)), k0);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 3 * L / 4 + L / 2)), k0);
        free(k0);
}

static void test_downtime_and_clock(void **state) {
        fixture *f = *state;
        char *k0, *k1;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        /* down for ten lifetimes: a fresh key signs at once */
        update(f, T0 + 10 * L, false);
        k1 = kid_of(keystore_active(f->ks, T0 + 10 * L));
        assert_string_not_equal(k0, k1);
        /* Retired now: whether it signed while no successor could be
         * made or the agent was down cannot be told apart, so its tokens
         * are taken to live max_ttl from now. */
        update(f, T0 + 10 * L + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + 10 * L + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        /* a clock that went back: still a key that signs, no crash */
        update(f, T0 - 5 * L, false);
        assert_non_null(keystore_active(f->ks, T0 - 5 * L));
        free(k0);
        free(k1);
}

static void test_max_ttl_raised(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        /* max_ttl raised while k0 signs: it must stay published longer */
        f->cfg.max_ttl = 3 * MAXTTL;
        update(f, T0 + 1, false);
        update(f, T0 + L / 2, false);
        update(f, T0 + L + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + L + 3 * MAXTTL + SVCID_LEEWAY_DEFAULT, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
}

static void test_reopen(void **state) {
        fixture *f = *state;
        char err[256], path[256], *k0, *pending;
        keystore *again = NULL;
        int fd;

        update(f, T0, false);
        update(f, T0 + L / 2, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        pending = kid_of(keystore_active(f->ks, T0 + L));
        /* a second agent on the same state dir is refused */
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EBUSY);
        keystore_free(f->ks);
        f->ks = NULL;

        /* leftovers of an interrupted write: a new key's file no state
         * names yet, a temporary file */
        snprintf(path, sizeof path, "%s/keys/AAAAleftover.new", f->dir);
        fd = open(path, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
        snprintf(path, sizeof path, "%s/keys/.state.json.tmp", f->dir);
        fd = open(path, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);

        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &f->ks), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0)), k0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L)), pending);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof path, "%s/keys/AAAAleftover.new", f->dir);
        assert_int_equal(access(path, F_OK), -1);
        free(k0);
        free(pending);
}

static void write_file(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        fchmod(fd, mode);
        close(fd);
}

static void test_fail_closed(void **state) {
        fixture *f = *state;
        char err[256], path[256], saved[256], *k0;
        keystore *again = NULL;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        keystore_free(f->ks);
        f->ks = NULL;
        snprintf(saved, sizeof saved, "%s/saved.pem", f->dir);

        /* a key file that is not the key its kid names */
        snprintf(path, sizeof path, "%s/keys/%s.pem", f->dir, k0);
        {
                svcid_key *other;
                char *pem;
                assert_int_equal(svcid_key_generate(SVCID_ALG_ES256, &other), 0);
                assert_int_equal(svcid_key_private_pem(other, &pem), 0);
                rename(path, saved);
                write_file(path, pem, 0600);
                svcid_free_secret(pem);
                svcid_key_unref(other);
        }
        assert_true(keystore_open(f->dir, &f->lock, err, sizeof err, &again) < 0);
        assert_non_null(strstr(err, "does not match its kid"));

        /* readable by others */
        rename(saved, path);
        {
                /* a state that lists one key twice (kept aside, then put back) */
                char state_path[256], state_saved[256];
                json_t *st, *keys;

                snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
                snprintf(state_saved, sizeof state_saved, "%s/state.saved", f->dir);
                st = json_load_file(state_path, 0, NULL);
                assert_non_null(st);
                keys = json_object_get(st, "keys");
                assert_int_equal(json_array_size(keys), 1);
                assert_int_equal(json_array_append(keys, json_array_get(keys, 0)), 0);
                assert_int_equal(rename(state_path, state_saved), 0);
                assert_int_equal(json_dump_file(st, state_path, 0), 0);
                chmod(state_path, 0600);
                json_decref(st);
                assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EINVAL);
                assert_non_null(strstr(err, "listed twice"));
                assert_null(again);
                assert_int_equal(rename(state_saved, state_path), 0);
        }
        chmod(path, 0644);
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EPERM);
        chmod(path, 0600);

        /* a state that does not parse */
        snprintf(path, sizeof path, "%s/keys/state.json", f->dir);
        write_file(path, "{\"version\":1,\"keys\":[{\"kid\":\"../../etc/passwd\",\"alg\":\"ES256\"}]}", 0600);
        assert_true(keystore_open(f->dir, &f->lock, err, sizeof err, &again) < 0);
        write_file(path, "{\"version\":1,\"keys\":[],\"keys\":[]}", 0600);
        assert_true(keystore_open(f->dir, &f->lock, err, sizeof err, &again) < 0);
        write_file(path, "not json", 0600);
        assert_true(keystore_open(f->dir, &f->lock, err, sizeof err, &again) < 0);
        assert_null(again);

        /* a keys directory others can enter */
        snprintf(path, sizeof path, "%s/keys", f->dir);
        chmod(path, 0755);
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EPERM);
        chmod(path, 0700);
        free(k0);
        /* the state is still broken: nothing opens, teardown frees nothing */
        assert_true(keystore_open(f->dir, &f->lock, err, sizeof err, &f->ks) < 0);
        assert_null(f->ks);
}

/* Makes name (in the state dir, or keys/) a non-empty directory, so that
 * the atomic rename onto it fails as a full or broken disk would make it
 * fail; undo() puts the file back. */
static void block(fixture *f, const char *name) {
        char path[256], aside[300], inner[300];

        snprintf(path, sizeof path, "%s/%s", f->dir, name);
        snprintf(aside, sizeof aside, "%s.aside", path);
        snprintf(inner, sizeof inner, "%s/x", path);
        assert_int_equal(rename(path, aside), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        write_file(inner, "x", 0600);
}

static void undo(fixture *f, const char *name) {
        char path[256], aside[300], inner[300];

        snprintf(path, sizeof path, "%s/%s", f->dir, name);
        snprintf(aside, sizeof aside, "%s.aside", path);
        snprintf(inner, sizeof inner, "%s/x", path);
        assert_int_equal(unlink(inner), 0);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(rename(aside, path), 0);
}

/* The JWKS write fails after state.json already names the new key: the
 * key file must stay, or the next start cannot load the state. */
static void test_failed_jwks_write_keeps_named_key(void **state) {
        fixture *f = *state;
        char err[256] = "";

        update(f, T0, false);
        block(f, "jwks.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + L / 2, false, err, sizeof err) < 0);
        assert_non_null(strstr(err, "jwks.json"));
        undo(f, "jwks.json");

        /* a restart right now */
        keystore_free(f->ks);
        f->ks = NULL;
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &f->ks), 0);
        update(f, T0 + L / 2, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_int_equal(jwks_has(f, NULL), 2);
}

/* No successor could be made at half life, so the key signed past its
 * end of life. When one finally can, the old key's tokens (signed until
 * then) must still verify for max_ttl: it stays in the JWKS that long. */
static void test_signed_past_life(void **state) {
        fixture *f = *state;
        char err[256] = "", *k0, *k1;
        int64_t late = T0 + L + 20;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        block(f, "keys/state.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + L / 2, false, err, sizeof err) < 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, late)), k0);
        undo(f, "keys/state.json");

        update(f, late, false);
        k1 = kid_of(keystore_active(f->ks, late));
        assert_string_not_equal(k1, k0);
        /* a token k0 signed at late - 1 lives until late - 1 + MAXTTL */
        update(f, late + KEEP - 2, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, late + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        assert_false(key_file_exists(f, k0));
        free(k0);
        free(k1);
}

/* The clock went back past the only key's start (NTP stepping back a
 * clock that ran ahead at boot): that key goes on signing at once, not
 * "no key" until the clock catches up or an update runs. */
static void test_clock_back_before_first_key(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 - 30)), k0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 - 30), MAXTTL);
        free(k0);
}

static int reopen(fixture *f, char *err, size_t err_len);

/* A clock stepped back, then a forced rotation: the key that signed
 * until the step (a token at T0 + 40, noted by the mint) stays published
 * until that token has expired, not counted from the earlier time the
 * clock says, and never signs again. */
static void test_clock_back_then_forced(void **state) {
        fixture *f = *state;
        char *k0, *k1;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        keystore_note_signed(f->ks, T0 + 40);
        update(f, T0 + 10, true);                       /* 30 s back; SIGUSR2 */
        k1 = kid_of(keystore_active(f->ks, T0 + 10));
        assert_string_not_equal(k1, k0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 41)), k1);
        update(f, T0 + 40 + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + 40 + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
        free(k1);
}

/* The clock stepped back to before the signing key's start, then a
 * forced rotation: that key (in doubt, say) must not sign again once the
 * clock comes back to its start; the fresh key signs on. */
static void test_clock_back_before_start_then_forced(void **state) {
        fixture *f = *state;
        char *k0, *k1, *k2;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, T0 + L / 2, false);                   /* k1 published */
        update(f, T0 + L, false);                       /* k1 signs */
        k1 = kid_of(keystore_active(f->ks, T0 + L));
        keystore_note_signed(f->ks, T0 + L + 5);
        update(f, T0 + L - 20, true);                   /* 25 s back, before k1's start; SIGUSR2 */
        k2 = kid_of(keystore_active(f->ks, T0 + L - 20));
        assert_string_not_equal(k2, k1);
        assert_string_not_equal(k2, k0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L)), k2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L + 6)), k2);
        /* and through an update after the clock caught up */
        update(f, T0 + L + 6, false);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L + 6)), k2);
        /* nor after another step back, before every key's start, and
         * after a restart (state.json says which keys stopped) */
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L - 25)), k2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 - 100)), k2);
        {
                char err[256] = "";

                assert_int_equal(reopen(f, err, sizeof err), 0);
        }
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L - 25)), k2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L + 7)), k2);
        update(f, T0 + L + 5 + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k1), 1);
        update(f, T0 + L + 5 + KEEP, false);
        assert_int_equal(jwks_has(f, k1), 0);
        free(k0);
        free(k1);
        free(k2);
}

/* A stopped key whose start the clock is still behind is no pending key:
 * the fresh key's successor comes at its half life all the same. */
static void test_stopped_key_is_not_pending(void **state) {
        fixture *f = *state;
        char *k2;

        update(f, T0, false);
        update(f, T0 + L / 2, false);                   /* k1 published */
        update(f, T0 + L, false);                       /* k1 signs */
        keystore_note_signed(f->ks, T0 + L + 5);
        update(f, T0 + 40, true);                       /* 65 s back, before k1's start; SIGUSR2 */
        k2 = kid_of(keystore_active(f->ks, T0 + 40));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + 41), T0 + 40 + L / 2);
        update(f, T0 + 40 + L / 2, false);
        /* the successor is published, to sign from k2's end of life */
        assert_int_equal(jwks_has(f, NULL), 4);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 40 + L - 1)), k2);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 40 + L)), k2);
        free(k2);
}

/* A key that signed on past its life (its successor could not be
 * written) until later than the clock now says, then a forced rotation
 * with the clock back before its start: it stays published for what it
 * signed last, though another key is the one whose time it is now. */
static void test_clock_back_past_life_then_forced(void **state) {
        fixture *f = *state;
        char err[256] = "", *k1;

        f->cfg.key_lifetime = 10;
        update(f, T0, false);
        update(f, T0 + 5, false);                       /* k1 published */
        update(f, T0 + 10, false);                      /* k1 signs */
        k1 = kid_of(keystore_active(f->ks, T0 + 10));
        block(f, "keys/state.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 15, false, err, sizeof err) < 0);
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 20, false, err, sizeof err) < 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 25)), k1);
        keystore_note_signed(f->ks, T0 + 25);
        undo(f, "keys/state.json");
        update(f, T0 + 5, true);                        /* 20 s back, before k1's start; SIGUSR2 */
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 5)), k1);
        update(f, T0 + 25 + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k1), 1);
        update(f, T0 + 25 + KEEP, false);
        assert_int_equal(jwks_has(f, k1), 0);
        free(k1);
}

/* The clock steps back further than max_ttl, before every key's start,
 * and an update (no SIGUSR2) makes a fresh key: the key that signed
 * stays published for what it signed before the step. */
static void test_clock_far_back_fresh_key(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        keystore_note_signed(f->ks, T0 + 40);
        update(f, T0 - 40, false);                      /* 80 s back */
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 - 40)), k0);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 41)), k0);
        update(f, T0 + 40 + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + 40 + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
}

/* A clock far ahead for a while (a token signed a day ahead), then back,
 * then a forced rotation: the key forced out does not stay published for
 * a day, only for tokens up to max_ttl ahead of the clock. */
static void test_clock_far_ahead_then_forced(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        keystore_note_signed(f->ks, T0 + 86400);
        update(f, T0 + 10, true);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, T0 + 10)), k0);
        update(f, T0 + 10 + MAXTTL + KEEP - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        update(f, T0 + 10 + MAXTTL + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        free(k0);
}

/* A raised max_ttl that could not be written: tokens stay within the
 * max_ttl the state on disk keeps the key published for, until the raise
 * is written. */
static void test_max_ttl_raise_unwritten(void **state) {
        fixture *f = *state;
        char err[256] = "";

        update(f, T0, false);
        f->cfg.max_ttl = 3 * MAXTTL;
        block(f, "keys/state.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 1, false, err, sizeof err) < 0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 1), MAXTTL);
        undo(f, "keys/state.json");
        update(f, T0 + 2, false);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 2), 3 * MAXTTL);
}

/* Key files: KID.pem, and KID.new for a key no state in place names. */
static size_t pem_files(fixture *f) {
        char path[128];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        snprintf(path, sizeof path, "%s/keys", f->dir);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);

                n += len > 4 && (strcmp(de->d_name + len - 4, ".pem") == 0 || strcmp(de->d_name + len - 4, ".new") == 0);
        }
        closedir(d);
        return n;
}

/* Each failed update past the state write keeps its new key's file (the
 * state on disk may name it); once an update succeeds, the files no
 * state names go, not only at the next start. */
static void test_failed_updates_leave_no_key_files(void **state) {
        fixture *f = *state;
        char err[256] = "";

        update(f, T0, false);
        block(f, "keys/state.json");
        for (int i = 0; i < 3; i++)
                assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + L / 2 + i, false, err,
                                            sizeof err) < 0);
        assert_int_equal(pem_files(f), 4);
        undo(f, "keys/state.json");
        update(f, T0 + L / 2 + 3, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_int_equal(pem_files(f), 2);
}

/* The same with state.json landing each time and jwks.json failing: each
 * try's state names its own new key, and the file of the try before goes
 * (the state on disk no longer names it), so they do not pile up while
 * the cause lasts. */
static void test_failed_updates_keep_one_stray(void **state) {
        fixture *f = *state;
        char err[256] = "", path[256];
        json_t *st;

        update(f, T0, false);
        block(f, "jwks.json");
        for (int i = 0; i < 3; i++) {
                assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + L / 2 + i, false, err,
                                            sizeof err) < 0);
                assert_int_equal(pem_files(f), 2);
        }
        /* the one kept is the one the state on disk names, still under
         * its new name: no update that made it succeeded, so it signed
         * nothing */
        snprintf(path, sizeof path, "%s/keys/state.json", f->dir);
        st = json_load_file(path, 0, NULL);
        assert_non_null(st);
        assert_int_equal(json_array_size(json_object_get(st, "keys")), 2);
        for (size_t i = 0; i < 2; i++) {
                const char *kid = json_string_value(json_object_get(json_array_get(json_object_get(st, "keys"), i), "kid"));

                bool signing = strcmp(svcid_key_kid(keystore_active(f->ks, T0)), kid) == 0;

                assert_int_equal(key_file_exists(f, kid), signing);
                assert_int_equal(key_file_is(f, kid, ".new"), !signing);
        }
        json_decref(st);
        undo(f, "jwks.json");
        update(f, T0 + L / 2 + 3, false);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_int_equal(pem_files(f), 2);
}

/* A failed forced rotation leaves its key file; a retry that makes no key
 * and fails too must not make the store forget it. */
static void test_stray_key_after_two_failures(void **state) {
        fixture *f = *state;
        char err[256] = "";

        update(f, T0, false);
        block(f, "keys/state.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 1, true, err, sizeof err) < 0);
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 2, false, err, sizeof err) < 0);
        assert_int_equal(pem_files(f), 2);
        undo(f, "keys/state.json");
        update(f, T0 + 3, false);
        assert_int_equal(pem_files(f), keystore_count(f->ks));
}

static int reopen(fixture *f, char *err, size_t err_len);

/* A forced rotation writes state.json, then fails on jwks.json: the old
 * key signs on in memory, but the state on disk retires it now. Until a
 * state is written again, its tokens must end within what that state
 * keeps it published for, or a crash would unpublish their key. */
static void test_landed_state_caps_the_signer(void **state) {
        fixture *f = *state;
        char err[256] = "", *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        block(f, "jwks.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 1, true, err, sizeof err) < 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 1)), k0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 1), MAXTTL);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 11), MAXTTL - 10);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 1 + MAXTTL), 0);
        /* a write of the state that fails before its rename caps nothing */
        undo(f, "jwks.json");
        update(f, T0 + 12, false);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 12), MAXTTL);
        block(f, "keys/state.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 13, true, err, sizeof err) < 0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 13 + MAXTTL), MAXTTL);
        undo(f, "keys/state.json");
        free(k0);
}

/* The state on disk is the newest that landed: each failed retry that
 * lands another one moves the limit with it. And a landed state that left
 * out a pending key (a forced rotation drops it) means that key, once it
 * is due to sign, may not: nothing on disk publishes it. */
static void test_landed_state_newest_and_pending(void **state) {
        fixture *f = *state;
        char err[256] = "";

        update(f, T0, false);
        block(f, "jwks.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 1, true, err, sizeof err) < 0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 1 + MAXTTL), 0);
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + 20, true, err, sizeof err) < 0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + 1 + MAXTTL), 19);
        undo(f, "jwks.json");
        update(f, T0 + 21, false);

        update(f, T0 + L / 2, false);                   /* a pending key */
        block(f, "jwks.json");
        assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + L / 2 + 1, true, err, sizeof err) < 0);
        assert_int_equal(keystore_ttl_cap(f->ks, T0 + L), 0);  /* it would sign now */
        undo(f, "jwks.json");
}

/* The latest time known is kept in state.json: after a restart with the
 * clock behind the hand-over to the key that signs, a forced rotation must
 * not take that key for one that never signed. */
static void test_seen_survives_restart(void **state) {
        fixture *f = *state;
        char err[256] = "", *k1;

        update(f, T0, false);
        update(f, T0 + L / 2, false);                   /* k1 published */
        update(f, T0 + L, false);                       /* k1 signs */
        k1 = kid_of(keystore_active(f->ks, T0 + L));
        assert_int_equal(reopen(f, err, sizeof err), 0);
        update(f, T0 + L - 15, true);                   /* clock 15 s behind */
        assert_int_equal(jwks_has(f, k1), 1);
        assert_true(key_file_exists(f, k1));
        free(k1);
}

/* An update that changes no key and hands over to none writes nothing:
 * with state.json unwritable (a full disk), a SIGHUP does not fail. */
static void test_nothing_to_write(void **state) {
        fixture *f = *state;

        update(f, T0, false);
        block(f, "keys/state.json");
        update(f, T0 + 1, false);
        update(f, T0 + 2, false);
        undo(f, "keys/state.json");
}

static int reopen(fixture *f, char *err, size_t err_len) {
        keystore_free(f->ks);
        f->ks = NULL;
        return keystore_open(f->dir, &f->lock, err, err_len, &f->ks);
}

/* A file in keys/ whose name is no kid's is none of the agent's, whatever
 * it ends in: a start leaves it alone, and keeps its name out of the log,
 * where a line break or an escape sequence in it would write lines of its
 * own. */
static void test_foreign_file_names(void **state) {
        fixture *f = *state;
        static const char *const names[] = {
                "x\nsvcid-agent: key created, signing now kid=FORGED alg=ES256\n.pem",
                "x\033[2J.new",
                "a key.pem",
        };
        char err[256] = "", path[256], *log = NULL;
        FILE *saved = stderr;
        size_t len = 0;
        int r;

        update(f, T0, false);
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
                snprintf(path, sizeof path, "%s/keys/%s", f->dir, names[i]);
                write_file(path, "not a key", 0600);
        }
        stderr = open_memstream(&log, &len);
        if (!stderr) {
                stderr = saved;
                fail_msg("open_memstream: %m");
        }
        r = reopen(f, err, sizeof err);
        fclose(stderr);
        stderr = saved;
        assert_int_equal(r, 0);
        assert_int_equal(keystore_count(f->ks), 1);
        assert_null(strstr(log, "FORGED"));
        assert_null(strchr(log, '\033'));
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
                snprintf(path, sizeof path, "%s/keys/%s", f->dir, names[i]);
                assert_int_equal(access(path, F_OK), 0);
        }
        free(log);
}

/* Files removed by hand while the agent runs, its keys in memory, or a
 * jwks.json changed: the next update writes each again, even with nothing
 * else to write, so that a restart still finds its state (and verifiers
 * the JWKS). */
static void test_removed_files_written_again(void **state) {
        fixture *f = *state;
        char err[256], path[256], *k0, *pending;
        const char *gone[4];
        char names[2][128];

        update(f, T0, false);
        update(f, T0 + L / 2, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        pending = kid_of(keystore_active(f->ks, T0 + L));
        snprintf(names[0], sizeof names[0], "keys/%s.pem", k0);
        snprintf(names[1], sizeof names[1], "keys/%s.pem", pending);
        gone[0] = names[0];
        gone[1] = names[1];
        gone[2] = "keys/state.json";
        gone[3] = "jwks.json";
        for (size_t i = 0; i < 4; i++) {
                snprintf(path, sizeof path, "%s/%s", f->dir, gone[i]);
                assert_int_equal(unlink(path), 0);
        }
        update(f, T0 + L / 2 + 1, false);
        assert_true(key_file_exists(f, k0));
        assert_true(key_file_exists(f, pending));
        assert_int_equal(jwks_has(f, NULL), 2);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L / 2 + 1)), k0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L)), pending);
        /* a jwks.json changed by hand, too */
        update(f, T0 + L / 2 + 2, false);
        snprintf(path, sizeof path, "%s/jwks.json", f->dir);
        write_file(path, "{\"iss\":\"svcid://test\",\"keys\":[]}", 0644);
        update(f, T0 + L / 2 + 3, false);
        assert_int_equal(jwks_has(f, NULL), 2);
        free(k0);
        free(pending);
}

/* Two forced rotations within a second: the first fresh key is retired
 * as it begins, beside its successor with the same not_before. The
 * successor signs, also from a state.json that lists them the other way
 * round (as an unstable qsort() may have written it). */
static void test_rotations_within_a_second(void **state) {
        fixture *f = *state;
        char err[256], path[256], *k1, *k2;
        json_t *j, *keys, *first;

        update(f, T0, false);
        update(f, T0 + 1, true);
        k1 = kid_of(keystore_active(f->ks, T0 + 1));
        update(f, T0 + 1, true);
        k2 = kid_of(keystore_active(f->ks, T0 + 1));
        assert_string_not_equal(k2, k1);
        snprintf(path, sizeof path, "%s/keys/state.json", f->dir);
        j = json_load_file(path, 0, NULL);
        assert_non_null(j);
        keys = json_object_get(j, "keys");
        assert_int_equal(json_array_size(keys), 3);
        first = json_incref(json_array_get(keys, 1));
        assert_string_equal(json_string_value(json_object_get(first, "kid")), k1);
        assert_int_equal(json_array_remove(keys, 1), 0);
        assert_int_equal(json_array_append_new(keys, first), 0);       /* k2, then k1 */
        assert_int_equal(json_dump_file(j, path, JSON_INDENT(2)), 0);
        assert_int_equal(chmod(path, 0600), 0);
        json_decref(j);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 1)), k2);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 2)), k2);
        free(k1);
        free(k2);
}

/* Rewrites a file without its first line. */
static void strip_first_line(const char *path) {
        char buf[16384], *nl;
        ssize_t n;
        int fd = open(path, O_RDONLY);

        assert_true(fd >= 0);
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        nl = strchr(buf, '\n');
        assert_non_null(nl);
        write_file(path, nl + 1, 0600);
}

/* Puts text before a file's content. */
static void prepend(const char *path, const char *text) {
        char buf[16384];
        ssize_t n;
        int fd = open(path, O_RDONLY);

        assert_true(fd >= 0);
        n = read(fd, buf + strlen(text), sizeof buf - strlen(text) - 1);
        close(fd);
        assert_true(n > 0);
        memcpy(buf, text, strlen(text));
        buf[strlen(text) + (size_t) n] = '\0';
        write_file(path, buf, 0600);
}

/* A copy of state.json (from a backup, say), put back later. */
static void copy_file(const char *from, const char *to, mode_t mode) {
        json_t *j = json_load_file(from, 0, NULL);

        assert_non_null(j);
        assert_int_equal(json_dump_file(j, to, JSON_INDENT(2)), 0);
        assert_int_equal(chmod(to, mode), 0);
        json_decref(j);
}

/* from with its member name set to value (stolen), or removed (NULL), to to. */
static void state_member(const char *from, const char *to, const char *name, json_t *value) {
        json_t *j = json_load_file(from, 0, NULL);

        assert_non_null(j);
        if (value)
                assert_int_equal(json_object_set_new(j, name, value), 0);
        else
                assert_int_equal(json_object_del(j, name), 0);
        assert_int_equal(json_dump_file(j, to, JSON_INDENT(2)), 0);
        assert_int_equal(chmod(to, 0600), 0);
        json_decref(j);
}

/* A state.json restored from before a forced rotation: the key jwks.json
 * still publishes is kept, retired, and a fresh key signs rather than the
 * one the old state calls active, whatever the clock said when the state
 * was written. A published key whose file is corrupt stops the start; one
 * whose file is gone keeps nothing; one the state dropped goes, one a
 * state of an earlier version (no list of dropped keys) does not name is
 * kept. A key file no state names is kept also when jwks.json, restored
 * too, does not publish it, or cannot be read; a file there that is no
 * usable key stops the start. (keystore_open() reads the real clock: so
 * do the updates here.) */
static void test_restored_state(void **state) {
        fixture *f = *state;
        char err[512] = "", state_path[256], backup[256], jwks_path[256], pem[300], saved[300], jwks_saved[300],
             jwks_backup[300];
        int64_t now = now_realtime();
        struct stat st, st2;
        char *k0, *k1, *k2;

        snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
        snprintf(backup, sizeof backup, "%s/state.backup", f->dir);
        snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", f->dir);
        update(f, now, false);
        k0 = kid_of(keystore_active(f->ks, now));
        copy_file(state_path, backup, 0600);
        snprintf(jwks_backup, sizeof jwks_backup, "%s/jwks.backup", f->dir);
        copy_file(jwks_path, jwks_backup, 0644);
        update(f, now, true);
        k1 = kid_of(keystore_active(f->ks, now));
        assert_string_not_equal(k0, k1);

        copy_file(backup, state_path, 0600);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_true(key_file_exists(f, k1));
        update(f, now, false);
        k2 = kid_of(keystore_active(f->ks, now));
        assert_string_not_equal(k2, k0);
        assert_string_not_equal(k2, k1);
        assert_int_equal(jwks_has(f, k0) + jwks_has(f, k1) + jwks_has(f, k2), 3);
        assert_int_equal(keystore_count(f->ks), 3);

        /* k1 and k2 unnamed again; k2's file is not a key */
        copy_file(backup, state_path, 0600);
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k2);
        write_file(pem, "-----BEGIN PRIVATE KEY-----\n", 0600);
        assert_true(reopen(f, err, sizeof err) < 0);
        assert_null(f->ks);
        assert_non_null(strstr(err, k2));

        /* k2's file gone: published, but nothing here to keep */
        assert_int_equal(unlink(pem), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_true(key_file_exists(f, k1));

        /* the backup written while the clock was a day ahead: k1 is still
         * kept, whatever the clock says */
        state_member(backup, state_path, "seen", json_integer(now + 86400));
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_true(key_file_exists(f, k1));

        /* k1 dropped by the state (a removal cut short before jwks.json was
         * rewritten): it goes, and no fresh key is made */
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k1);
        snprintf(saved, sizeof saved, "%s/k1.saved", f->dir);
        snprintf(jwks_saved, sizeof jwks_saved, "%s/jwks.saved", f->dir);
        assert_int_equal(link(pem, saved), 0);
        copy_file(jwks_path, jwks_saved, 0644);
        state_member(backup, state_path, "dropped", json_pack("[s]", k1));
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 1);
        assert_false(key_file_exists(f, k1));
        update(f, now, false);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, now)), k0);
        /* an update that drops nothing leaves state.json as it is (a
         * read-only state directory still serves) */
        assert_int_equal(stat(state_path, &st), 0);
        update(f, now, false);
        assert_int_equal(stat(state_path, &st2), 0);
        assert_int_equal(st.st_ino, st2.st_ino);

        /* a state of an earlier version says nothing of what it dropped:
         * an unnamed published key is kept then, rather than risk a live
         * one */
        assert_int_equal(link(saved, pem), 0);
        copy_file(jwks_saved, jwks_path, 0644);
        state_member(backup, state_path, "dropped", NULL);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_true(key_file_exists(f, k1));

        /* state.json and jwks.json both restored, the key files made
         * since left in place (cp -a, tar x): k1 is published nowhere, but
         * its name says a state named it and it may have signed: it is
         * kept, published again, and a fresh key signs */
        copy_file(backup, state_path, 0600);
        copy_file(jwks_backup, jwks_path, 0644);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        assert_true(key_file_exists(f, k1));
        update(f, now, false);
        assert_int_equal(jwks_has(f, k0) + jwks_has(f, k1), 2);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, now)), k0);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, now)), k1);

        /* the same with a jwks.json that cannot be read: it only tells an
         * RSA key's algorithm; P-256 is ES256 */
        copy_file(backup, state_path, 0600);
        write_file(jwks_path, "{not json", 0644);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 3);     /* k0, k1, the fresh key above */
        update(f, now, false);
        assert_int_equal(jwks_has(f, k1), 1);

        /* a key file of an earlier version (no label line), which was
         * written before any state named it: kept only if jwks.json
         * publishes it */
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k1);
        strip_first_line(pem);
        copy_file(backup, state_path, 0600);
        copy_file(jwks_backup, jwks_path, 0644);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_false(key_file_exists(f, k1));
        update(f, now, false);
        assert_int_equal(jwks_has(f, k1), 0);

        /* a key file no state names that is not a usable key stops the
         * start, saying what to do; one the agent may not trust as its
         * own (mode 0640), with the other remedy */
        snprintf(pem, sizeof pem, "%s/keys/AAAAnewer.pem", f->dir);
        write_file(pem, "svcid-alg: ES256\nx", 0600);
        assert_int_equal(reopen(f, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "keys/AAAAnewer.pem: no usable ES256 private key, the algorithm its first "
                                    "line names (if the key is intact, that line is wrong). keys/state.json does "
                                    "not name it: restore the file from a backup, or remove keys/AAAAnewer.pem"));
        assert_int_equal(access(pem, F_OK), 0);
        /* one whose first line is neither a label nor the PEM (CRLF, a
         * hand edit): refused too, not taken for an earlier version's */
        write_file(pem, "svcid-alg: ES256\r\n-----BEGIN PRIVATE KEY-----\n", 0600);
        assert_int_equal(reopen(f, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "keys/AAAAnewer.pem: its first line is not \"svcid-alg: ALG\""));
        assert_int_equal(access(pem, F_OK), 0);
        write_file(pem, "", 0600);                      /* an empty one too */
        assert_int_equal(reopen(f, err, sizeof err), -EBADMSG);
        assert_int_equal(access(pem, F_OK), 0);
        assert_int_equal(chmod(pem, 0640), 0);
        assert_int_equal(reopen(f, err, sizeof err), -EPERM);
        assert_non_null(strstr(err, "keys/AAAAnewer.pem: "));
        assert_non_null(strstr(err, "make it the agent's own with mode 0600, or remove keys/AAAAnewer.pem"));
        assert_int_equal(unlink(pem), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        free(k0);
        free(k1);
        free(k2);
}

/* The algorithm of a kept key that jwks.json does not publish: an RSA
 * key signs RS256 or PS256 alike; its file's label says which, whatever
 * the configuration says now. */
static void test_restored_state_rsa(void **state) {
        fixture *f = *state;
        char err[512] = "", state_path[256], jwks_path[256], backup[300], jwks_backup[300];
        int64_t now = now_realtime();
        json_t *jwks, *k;
        char *kr;
        size_t i;
        bool found = false;

        snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
        snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", f->dir);
        snprintf(backup, sizeof backup, "%s/state.backup", f->dir);
        snprintf(jwks_backup, sizeof jwks_backup, "%s/jwks.backup", f->dir);
        update(f, now, false);
        copy_file(state_path, backup, 0600);
        copy_file(jwks_path, jwks_backup, 0644);
        f->cfg.alg = SVCID_ALG_PS256;
        update(f, now, true);
        kr = kid_of(keystore_active(f->ks, now));
        copy_file(backup, state_path, 0600);
        copy_file(jwks_backup, jwks_path, 0644);
        f->cfg.alg = SVCID_ALG_RS256;
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        update(f, now_realtime(), false);       /* RSA keys take time to make */
        jwks = json_load_file(jwks_path, 0, NULL);
        assert_non_null(jwks);
        json_array_foreach(json_object_get(jwks, "keys"), i, k)
                if (strcmp(json_string_value(json_object_get(k, "kid")), kr) == 0) {
                        assert_string_equal(json_string_value(json_object_get(k, "alg")), "PS256");
                        found = true;
                }
        assert_true(found);
        json_decref(jwks);
        free(kr);
}

static bool starts_with_label(const char *path) {
        char buf[64] = "";
        int fd = open(path, O_RDONLY);

        assert_true(fd >= 0);
        assert_true(read(fd, buf, sizeof buf - 1) > 0);
        close(fd);
        return strncmp(buf, "svcid-alg: ES256\n-----BEGIN ", 28) == 0;
}

/* keystore_update() at now, with what it logs returned (to free). */
static char *update_logged(fixture *f, int64_t now) {
        FILE *saved = stderr;
        char err[256] = "", *text = NULL;
        size_t len = 0;
        int r;

        stderr = open_memstream(&text, &len);
        if (!stderr) {
                stderr = saved;
                fail_msg("open_memstream: %m");
        }
        r = keystore_update(f->ks, &f->cfg, "svcid://test", now, false, err, sizeof err);
        fclose(stderr);
        stderr = saved;
        if (r < 0)
                fail_msg("keystore_update at %lld: %s", (long long) now, err);
        assert_non_null(text);
        return text;
}

/* A key file of an earlier svcid-agent, without the line that names its
 * algorithm, is written again with it by the first update: without it, a
 * restore of an older state and jwks.json would take it for a leftover.
 * While that cannot be done, the update is tried again every
 * KEYSTORE_COMMIT_RETRY seconds, not at the next key event hours away,
 * and keystore_unfinished() says why. A key the state names
 * needs no label to load: one whose first line is damaged (CRLF) loads,
 * and gets a good one. */
static void test_key_file_labelled(void **state) {
        fixture *f = *state;
        char err[512] = "", pem[300], tmp[300], step[300];
        char *k0, *log;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k0);
        snprintf(tmp, sizeof tmp, "%s/keys/.%s.pem.tmp", f->dir, k0);
        snprintf(step, sizeof step, "(its algorithm): removing the leftover .%s.pem.tmp: Is a directory", k0);
        strip_first_line(pem);
        assert_false(starts_with_label(pem));
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(mkdir(tmp, 0700), 0);          /* its rewrite fails */
        log = update_logged(f, T0 + 1);
        assert_non_null(strstr(log, "cannot write it again with its first line"));
        assert_non_null(strstr(log, step));            /* what failed, and on which file */
        free(log);
        assert_false(starts_with_label(pem));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + 1), T0 + 1 + KEYSTORE_COMMIT_RETRY);
        assert_non_null(keystore_unfinished(f->ks));
        assert_non_null(strstr(keystore_unfinished(f->ks), "cannot write it again with its first line"));
        assert_non_null(strstr(keystore_unfinished(f->ks), k0));
        /* said in the log at the first try only; each try says it in
         * keystore_unfinished() */
        log = update_logged(f, T0 + 2);
        assert_null(strstr(log, "cannot write it again"));
        free(log);
        assert_non_null(keystore_unfinished(f->ks));
        assert_non_null(strstr(keystore_unfinished(f->ks), "cannot write it again with its first line"));
        assert_int_equal(rmdir(tmp), 0);
        log = update_logged(f, T0 + 1 + KEYSTORE_COMMIT_RETRY);
        assert_non_null(strstr(log, "every key file is finished now: its final name and first line, synced"));
        free(log);
        assert_null(keystore_unfinished(f->ks));
        assert_true(starts_with_label(pem));
        assert_true(key_file_exists(f, k0));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + 1 + KEYSTORE_COMMIT_RETRY), T0 + L / 2);

        /* a damaged first line on a named key; one that names another
         * algorithm than the state's; and a damaged one on a key the
         * state names still in KID.new (a crash before its rename) */
        strip_first_line(pem);
        prepend(pem, "svcid-alg: ES256\r\n");
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 20)), k0);
        update(f, T0 + 20, false);
        assert_true(starts_with_label(pem));
        strip_first_line(pem);
        prepend(pem, "svcid-alg: EdDSA\n");
        assert_int_equal(reopen(f, err, sizeof err), 0);
        update(f, T0 + 21, false);
        assert_true(starts_with_label(pem));
        strip_first_line(pem);
        prepend(pem, "\n");
        snprintf(tmp, sizeof tmp, "%s/keys/%s.new", f->dir, k0);
        assert_int_equal(rename(pem, tmp), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        update(f, T0 + 22, false);
        assert_int_equal(access(tmp, F_OK), -1);
        assert_true(starts_with_label(pem));
        free(k0);
}

/* A key the state names in KID.pem, with a KID.new beside it (which no
 * rename leaves; a copy from a backup, say): the key loads from KID.pem,
 * and the update removes KID.new rather than renaming it over the key,
 * so a damaged KID.new loses nothing and the next start loads the key.
 * With pem_removed, the stray KID.new turns up while the agent runs and
 * KID.pem is removed by hand: the update writes KID.pem again from the
 * key in memory and removes KID.new, which it never loaded. */
static void check_stray_new(fixture *f, bool pem_removed) {
        char err[512] = "", pem[300], stray[300];
        char *k0, *log;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k0);
        snprintf(stray, sizeof stray, "%s/keys/%s.new", f->dir, k0);
        if (pem_removed)
                assert_int_equal(unlink(pem), 0);
        write_file(stray, "svcid-alg: ES256\n-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n",
                   0600);
        if (!pem_removed) {
                assert_int_equal(reopen(f, err, sizeof err), 0);
                assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 1)), k0);
        }
        log = update_logged(f, T0 + 1);
        assert_non_null(strstr(log, "removing keys/"));
        assert_non_null(strstr(log, ".new, a stray file the key was not loaded from"));
        if (pem_removed)
                assert_non_null(strstr(log, ".pem: removed while the agent runs: written again from the key in "
                                            "memory"));
        free(log);
        assert_int_equal(access(stray, F_OK), -1);
        assert_true(starts_with_label(pem));
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 2)), k0);
        free(k0);
}

static void test_stray_new_beside_pem(void **state) {
        check_stray_new(*state, false);
}

static void test_stray_new_pem_removed(void **state) {
        check_stray_new(*state, true);
}

/* A stray KID.new that cannot be removed (a directory here) is told
 * once, in the log and in keystore_unfinished(), tried again every
 * KEYSTORE_COMMIT_RETRY s, and never taken for the key, which signs on. */
static void test_stray_new_not_removable(void **state) {
        fixture *f = *state;
        char stray[300], said[300];
        char *k0, *log;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        snprintf(stray, sizeof stray, "%s/keys/%s.new", f->dir, k0);
        snprintf(said, sizeof said, "keys/%s.new, a stray file the key was not loaded from, cannot be removed: "
                 "Is a directory; trying again every %d s", k0, KEYSTORE_COMMIT_RETRY);
        assert_int_equal(mkdir(stray, 0700), 0);
        log = update_logged(f, T0 + 1);
        assert_non_null(strstr(log, said));
        free(log);
        assert_non_null(keystore_unfinished(f->ks));
        assert_non_null(strstr(keystore_unfinished(f->ks), "cannot be removed: Is a directory"));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + 1), T0 + 1 + KEYSTORE_COMMIT_RETRY);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 1)), k0);
        log = update_logged(f, T0 + 2);                 /* told once */
        assert_null(strstr(log, "cannot be removed"));
        free(log);
        assert_non_null(keystore_unfinished(f->ks));
        assert_int_equal(rmdir(stray), 0);
        log = update_logged(f, T0 + 1 + KEYSTORE_COMMIT_RETRY);
        assert_non_null(strstr(log, "every key file is finished now"));
        free(log);
        assert_null(keystore_unfinished(f->ks));
        assert_true(key_file_exists(f, k0));
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + 1 + KEYSTORE_COMMIT_RETRY)), k0);
        free(k0);
}

/* The log tells each step of a key update that fails, at its first try:
 * a second key whose file cannot be finished while the first is still
 * being tried again is told too, and neither is told again while it
 * fails on. */
static void test_commit_failures_each_logged(void **state) {
        fixture *f = *state;
        char err[512] = "", pem0[300], pem1[300], tmp0[300], tmp1[300], said0[200], said1[200];
        char *k0, *k1, *log;
        size_t j;

        update(f, T0, false);
        update(f, T0 + L / 2, false);           /* k1 published, signs later */
        k0 = kid_of(keystore_active(f->ks, T0 + L / 2));
        assert_int_equal(f->ks->n, 2);
        j = strcmp(svcid_key_kid(f->ks->entries[0].key), k0) == 0 ? 1 : 0;
        k1 = kid_of(f->ks->entries[j].key);
        snprintf(pem0, sizeof pem0, "%s/keys/%s.pem", f->dir, k0);
        snprintf(pem1, sizeof pem1, "%s/keys/%s.pem", f->dir, k1);
        snprintf(tmp0, sizeof tmp0, "%s/keys/.%s.pem.tmp", f->dir, k0);
        snprintf(tmp1, sizeof tmp1, "%s/keys/.%s.pem.tmp", f->dir, k1);
        snprintf(said0, sizeof said0, "keys/%s.pem: cannot write it again", k0);
        snprintf(said1, sizeof said1, "keys/%s.pem: cannot write it again", k1);

        strip_first_line(pem0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(mkdir(tmp0, 0700), 0);        /* k0's rewrite fails */
        log = update_logged(f, T0 + L / 2 + 1);
        assert_non_null(strstr(log, said0));
        free(log);

        /* k1's file found unlabelled too, as a start would find it, and
         * its rewrite fails: a new failure, told though k0's goes on */
        strip_first_line(pem1);
        j = strcmp(svcid_key_kid(f->ks->entries[0].key), k1) == 0 ? 0 : 1;
        f->ks->entries[j].unlabelled = true;
        assert_int_equal(mkdir(tmp1, 0700), 0);
        log = update_logged(f, T0 + L / 2 + 2);
        assert_non_null(strstr(log, said1));
        assert_null(strstr(log, said0));
        free(log);
        assert_non_null(strstr(keystore_unfinished(f->ks), said0));

        /* k0 done: k1's failure goes on, not told again */
        assert_int_equal(rmdir(tmp0), 0);
        log = update_logged(f, T0 + L / 2 + 3);
        assert_null(strstr(log, "cannot write it again"));
        assert_null(strstr(log, "every key file"));
        free(log);
        assert_true(starts_with_label(pem0));
        assert_non_null(strstr(keystore_unfinished(f->ks), said1));

        assert_int_equal(rmdir(tmp1), 0);
        log = update_logged(f, T0 + L / 2 + 4);
        assert_non_null(strstr(log, "every key file is finished now: its final name and first line, synced"));
        free(log);
        assert_null(keystore_unfinished(f->ks));
        assert_true(starts_with_label(pem1));
        free(k0);
        free(k1);
}

/* A failed fsync() of keys/ after a rename is logged once and tried
 * again every KEYSTORE_COMMIT_RETRY s, though the tries after it have
 * nothing to rename, until one succeeds; then no more. */
static void test_commit_fsync_retried(void **state) {
        fixture *f = *state;
        char *log;

        fsync_fails = true;
        log = update_logged(f, T0);     /* the first key: KID.new renamed */
        assert_non_null(strstr(log, "keys/: fsync after renaming new key files: Input/output error"));
        free(log);
        assert_non_null(strstr(keystore_unfinished(f->ks), "fsync after renaming new key files"));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0), T0 + KEYSTORE_COMMIT_RETRY);

        /* tried again, fails again: not logged again */
        fsyncs = 0;
        log = update_logged(f, T0 + KEYSTORE_COMMIT_RETRY);
        assert_int_equal(fsyncs, 1);
        assert_null(strstr(log, "fsync"));
        assert_null(strstr(log, "every key file"));
        free(log);
        assert_non_null(strstr(keystore_unfinished(f->ks), "fsync after renaming new key files"));

        fsync_fails = false;
        fsyncs = 0;
        log = update_logged(f, T0 + 2 * KEYSTORE_COMMIT_RETRY);
        assert_int_equal(fsyncs, 1);
        assert_non_null(strstr(log, "every key file is finished now: its final name and first line, synced"));
        free(log);
        assert_null(keystore_unfinished(f->ks));
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, T0 + 2 * KEYSTORE_COMMIT_RETRY), T0 + L / 2);
        fsyncs = 0;
        log = update_logged(f, T0 + 2 * KEYSTORE_COMMIT_RETRY + 1);
        assert_int_equal(fsyncs, 0);
        assert_null(strstr(log, "every key file"));
        free(log);
}

/* No state.json, but a jwks.json: the state was lost (no crash leaves
 * this), and starting afresh would unpublish the keys of every token out
 * there. */
static void test_lost_state_refused(void **state) {
        fixture *f = *state;
        char path[128], err[512] = "";

        update(f, T0, false);
        update(f, T0 + L / 2, false);           /* two keys, two files */
        snprintf(path, sizeof path, "%s/keys/state.json", f->dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(reopen(f, err, sizeof err), -ENOKEY);
        assert_non_null(strstr(err, "keys/state.json is missing, but"));
        assert_non_null(strstr(err, "/jwks.json is there"));
        assert_int_equal(pem_files(f), 2);
}

/* First starts that failed at the state write (a full disk), again and
 * again: each left a key file, none published anything. Once the disk is
 * fixed the agent starts, with one key, and no stray files. */
static void test_failed_first_starts(void **state) {
        fixture *f = *state;
        char tmp[128], err[512] = "";

        /* a directory where the state's temporary file goes: every state
         * write fails, and nothing at start removes it */
        snprintf(tmp, sizeof tmp, "%s/keys/.state.json.tmp", f->dir);
        assert_int_equal(mkdir(tmp, 0700), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(reopen(f, err, sizeof err), 0);
                assert_true(keystore_update(f->ks, &f->cfg, "svcid://test", T0 + i, false, err, sizeof err) < 0);
        }
        assert_int_equal(rmdir(tmp), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(pem_files(f), 0);
        update(f, T0 + 3, false);
        assert_int_equal(keystore_count(f->ks), 1);
        assert_int_equal(pem_files(f), 1);
}

/* The clock stepped back, an update ran (a restart, SIGHUP), then a
 * forced rotation: the key that signed before the step must not be taken
 * for a pending key that never signed and removed with its tokens live. */
static void test_clock_back_then_force(void **state) {
        fixture *f = *state;
        char *k0;

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, T0 - 50, false);
        update(f, T0 - 49, true);
        assert_int_equal(jwks_has(f, k0), 1);
        assert_true(key_file_exists(f, k0));
        free(k0);
}

/* A forced rotation with a long key life: the agent must wake for the
 * retired key's leaving the JWKS (its last token's exp, plus the
 * verifiers' leeway), not sleep until the new key's half life hours
 * later, with the key in doubt published all that time. */
static void test_forced_rotation_next_event(void **state) {
        fixture *f = *state;
        const int64_t forced = T0 + 10, gone = forced + 600 + SVCID_LEEWAY_DEFAULT;
        char *k0;

        f->cfg.key_lifetime = 86400;
        f->cfg.max_ttl = 600;
        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, forced, true);
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, forced)), k0);
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, forced + 1), gone);
        update(f, gone - 1, false);
        assert_int_equal(jwks_has(f, k0), 1);
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, gone - 1), gone);
        update(f, gone, false);
        assert_int_equal(jwks_has(f, k0), 0);
        /* then nothing until the new key's half life */
        assert_int_equal(keystore_next_event(f->ks, &f->cfg, gone), forced + 86400 / 2);
        free(k0);
}

/* keys/state.json's "dropped" is want (stolen). */
static void assert_dropped(fixture *f, json_t *want) {
        char path[256];
        json_t *st;

        snprintf(path, sizeof path, "%s/keys/state.json", f->dir);
        st = json_load_file(path, 0, NULL);
        assert_non_null(st);
        if (!json_equal(json_object_get(st, "dropped"), want)) {
                char *got = json_dumps(json_object_get(st, "dropped"), JSON_ENCODE_ANY | JSON_COMPACT);
                char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);

                fail_msg("state.json dropped %s, expected %s", got ? got : "(none)", w ? w : "?");
        }
        json_decref(st);
        json_decref(want);
}

/* The list of dropped keys in state.json: the update that removes a key
 * adds exactly that key; an update that drops nothing keeps the list and
 * does not rewrite the file; the next removal adds to it. At start, a
 * key file the list names goes (a removal cut short, or a file copied
 * back) and no fresh key is made. */
static void test_dropped_list(void **state) {
        fixture *f = *state;
        char err[512] = "", state_path[256], pem0[256], pem1[256], saved0[256], saved1[256], *k0, *k1;
        struct stat st, st2;
        int64_t t;
        size_t n;

        snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
        snprintf(saved0, sizeof saved0, "%s/k0.saved", f->dir);
        snprintf(saved1, sizeof saved1, "%s/k1.saved", f->dir);
        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        update(f, T0 + L / 2, false);                   /* k1 published */
        update(f, T0 + L, false);                       /* k1 signs */
        k1 = kid_of(keystore_active(f->ks, T0 + L));
        assert_dropped(f, json_array());
        snprintf(pem0, sizeof pem0, "%s/keys/%s.pem", f->dir, k0);
        snprintf(pem1, sizeof pem1, "%s/keys/%s.pem", f->dir, k1);
        assert_int_equal(link(pem0, saved0), 0);

        /* k0's tokens have all expired: it goes, and the list says so */
        update(f, T0 + L + KEEP, false);
        assert_int_equal(jwks_has(f, k0), 0);
        assert_false(key_file_exists(f, k0));
        assert_dropped(f, json_pack("[s]", k0));

        /* nothing dropped: the list stays, and so does the file */
        assert_int_equal(stat(state_path, &st), 0);
        update(f, T0 + L + KEEP + 1, false);
        assert_int_equal(stat(state_path, &st2), 0);
        assert_int_equal(st.st_ino, st2.st_ino);
        assert_int_equal(st.st_mtim.tv_sec, st2.st_mtim.tv_sec);
        assert_int_equal(st.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
        assert_dropped(f, json_pack("[s]", k0));

        /* k0's file back (its unlink was cut short): it goes at start,
         * nothing is adopted, and the key that signed signs on */
        assert_int_equal(link(saved0, pem0), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);     /* k1 and its pending successor */
        assert_false(key_file_exists(f, k0));
        update(f, T0 + L + KEEP + 2, false);
        assert_string_equal(svcid_key_kid(keystore_active(f->ks, T0 + L + KEEP + 2)), k1);
        assert_int_equal(keystore_count(f->ks), 2);

        /* on to the next removal (k1's), through the updates between
         * (k2 signs, its successor is made), which drop nothing: that
         * one adds to the list */
        assert_int_equal(link(pem1, saved1), 0);
        t = T0 + L + KEEP + 2;
        for (int i = 0; jwks_has(f, k1); i++) {
                assert_true(i < 10);
                assert_dropped(f, json_pack("[s]", k0));
                t = keystore_next_event(f->ks, &f->cfg, t);
                update(f, t, false);
        }
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, t)), k1);
        assert_dropped(f, json_pack("[s,s]", k0, k1));
        n = keystore_count(f->ks);

        /* both files back (a backup copied over, say): both go, as the
         * list names both, and nothing is adopted */
        assert_int_equal(link(saved0, pem0), 0);
        assert_int_equal(link(saved1, pem1), 0);
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_false(key_file_exists(f, k1));
        assert_false(key_file_exists(f, k0));
        assert_int_equal(keystore_count(f->ks), n);
        free(k0);
        free(k1);
}

/* A key kept at start (restored state) stays published CONFIG_TTL_MAX
 * (every ttl it can have signed with) plus the verifiers' leeway from the
 * start, and not a second longer; a key file whose mtime is ahead of the
 * clock (stepped back after the restore) is kept all the same, not taken
 * for a pending key that never signed. (keystore_open() reads the real
 * clock: the updates here run at times around it.) */
static void test_adopted_key_life(void **state) {
        fixture *f = *state;
        char err[512] = "", state_path[256], backup[256], pem[300];
        int64_t now = now_realtime(), before, after;
        char *k0, *k1;

        snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
        snprintf(backup, sizeof backup, "%s/state.backup", f->dir);
        update(f, now, false);
        k0 = kid_of(keystore_active(f->ks, now));
        copy_file(state_path, backup, 0600);
        update(f, now, true);
        k1 = kid_of(keystore_active(f->ks, now));
        assert_string_not_equal(k0, k1);
        snprintf(pem, sizeof pem, "%s/keys/%s.pem", f->dir, k1);

        /* the backup of before k1 put back, k1's file dated 1000 s ahead */
        copy_file(backup, state_path, 0600);
        {
                struct timespec ts[2] = { { .tv_sec = now + 1000 }, { .tv_sec = now + 1000 } };

                assert_int_equal(utimensat(AT_FDCWD, pem, ts, 0), 0);
        }
        assert_int_equal(reopen(f, err, sizeof err), 0);
        assert_int_equal(keystore_count(f->ks), 2);
        now = now_realtime();
        update(f, now, false);
        assert_int_equal(jwks_has(f, k1), 1);
        assert_true(key_file_exists(f, k1));
        assert_string_not_equal(svcid_key_kid(keystore_active(f->ks, now)), k1);

        /* again with its mtime now: published until CONFIG_TTL_MAX + leeway
         * after the start, and no longer */
        copy_file(backup, state_path, 0600);
        assert_int_equal(utimensat(AT_FDCWD, pem, NULL, 0), 0);
        before = now_realtime();
        assert_int_equal(reopen(f, err, sizeof err), 0);
        after = now_realtime();
        update(f, after, false);
        assert_int_equal(jwks_has(f, k1), 1);
        update(f, before + CONFIG_TTL_MAX + SVCID_LEEWAY_DEFAULT - 1, false);
        assert_int_equal(jwks_has(f, k1), 1);
        assert_true(key_file_exists(f, k1));
        update(f, after + CONFIG_TTL_MAX + SVCID_LEEWAY_DEFAULT, false);
        assert_int_equal(jwks_has(f, k1), 0);
        assert_false(key_file_exists(f, k1));
        free(k0);
        free(k1);
}

/* keys/state.json: saved with keys[0]'s member name set to value
 * (stolen), or with the top-level member (entry false). */
static void state_edit(const char *saved, const char *path, bool entry, const char *name, json_t *value) {
        json_t *j = json_load_file(saved, 0, NULL);

        assert_non_null(j);
        assert_int_equal(json_object_set_new(entry ? json_array_get(json_object_get(j, "keys"), 0) : j, name,
                                             value), 0);
        assert_int_equal(json_dump_file(j, path, JSON_INDENT(2)), 0);
        assert_int_equal(chmod(path, 0600), 0);
        json_decref(j);
}

/* The start refuses, with words that say what is wrong: a keys/ that
 * its group may list, a key file holding only a public key (every mint
 * would fail later, naming nothing), and a state.json of another version
 * or with a time or a list that this version never writes. */
static void test_start_refusals(void **state) {
        fixture *f = *state;
        char err[768] = "", path[256], saved[256], state_path[256], state_saved[256], want[256], *k0;
        keystore *again = NULL;
        const struct {
                bool entry;
                const char *name;
                json_int_t value;       /* or, with is_real, 1.5; with is_string, "1000000" */
                bool is_real, is_string;
                const char *why;
        } bad[] = {
                { false, "version", 0, false, false, "keys/state.json: not a version 1 key state" },
                { false, "version", 1, true, false, "keys/state.json: not a version 1 key state" },
                { true, "created", -1, false, false, "keys/state.json: malformed key entry" },
                { true, "not_before", -1, false, false, "keys/state.json: malformed key entry" },
                { true, "max_ttl", -1, false, false, "keys/state.json: malformed key entry" },
                { true, "not_after", ((json_int_t) 1 << 40) + 1, false, false, "keys/state.json: malformed key entry" },
                { true, "not_after", T0 - 1, false, false, "keys/state.json: malformed key entry" },
                { true, "created", 0, true, false, "keys/state.json: malformed key entry" },
                { true, "not_after", 0, false, true, "keys/state.json: malformed key entry" },
                { false, "seen", -1, false, false, "keys/state.json: malformed seen" },
        };

        update(f, T0, false);
        k0 = kid_of(keystore_active(f->ks, T0));
        keystore_free(f->ks);
        f->ks = NULL;

        /* keys/ of mode 0750: its group can list the private keys */
        snprintf(path, sizeof path, "%s/keys", f->dir);
        assert_int_equal(chmod(path, 0750), 0);
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EPERM);
        assert_null(again);
        snprintf(want, sizeof want, "/keys: must be owned by uid %u with mode 0700 (is %u, 0750)",
                 (unsigned) geteuid(), (unsigned) geteuid());
        assert_non_null(strstr(err, want));
        assert_int_equal(chmod(path, 0700), 0);

        /* k0's file holding its public key only */
        snprintf(path, sizeof path, "%s/keys/%s.pem", f->dir, k0);
        snprintf(saved, sizeof saved, "%s/saved.pem", f->dir);
        {
                svcid_key *key, *pub;
                char *pem = NULL;
                size_t len;

                assert_int_equal(read_file_at(AT_FDCWD, path, PEM_MAX, true, &pem, &len), 0);
                assert_int_equal(svcid_key_from_pem(pem, len, SVCID_ALG_ES256, &key), 0);
                svcid_free_secret(pem);
                assert_int_equal(svcid_key_public_pem(key, &pem), 0);
                /* the public key alone is one svcid reads, of the same kid */
                assert_int_equal(svcid_key_from_pem(pem, strlen(pem), SVCID_ALG_ES256, &pub), 0);
                assert_string_equal(svcid_key_kid(pub), k0);
                assert_false(svcid_key_is_private(pub));
                svcid_key_unref(pub);
                svcid_key_unref(key);
                assert_int_equal(rename(path, saved), 0);
                write_file(path, pem, 0600);
                free(pem);
        }
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EINVAL);
        assert_null(again);
        snprintf(want, sizeof want, "keys/%s.pem: not a usable ES256 private key", k0);
        assert_non_null(strstr(err, want));
        assert_int_equal(rename(saved, path), 0);

        /* state.json edited by hand, one thing at a time */
        snprintf(state_path, sizeof state_path, "%s/keys/state.json", f->dir);
        snprintf(state_saved, sizeof state_saved, "%s/state.saved", f->dir);
        copy_file(state_path, state_saved, 0600);
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                json_t *v = bad[i].is_real     ? json_real(1.5)
                            : bad[i].is_string ? json_string("1000000")
                                               : json_integer(bad[i].value);
                char *text = json_dumps(v, JSON_ENCODE_ANY);
                int r;

                state_edit(state_saved, state_path, bad[i].entry, bad[i].name, v);
                err[0] = 0;
                r = keystore_open(f->dir, &f->lock, err, sizeof err, &again);
                if (r != -EINVAL || !strstr(err, bad[i].why))
                        fail_msg("%s%s = %s: expected -EINVAL with \"%s\", got %d \"%s\"",
                                 bad[i].entry ? "keys[0]." : "", bad[i].name, text, bad[i].why, r, err);
                free(text);
                assert_null(again);
                assert_non_null(strstr(err, "Restore "));
        }
        /* a later version's: no advice to restore or discard keys */
        state_edit(state_saved, state_path, false, "version", json_integer(2));
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EPROTONOSUPPORT);
        assert_null(again);
        assert_non_null(strstr(err, "keys/state.json: key state version 2, written by a later svcid-agent; this one "
                                    "reads version 1: run that one"));
        assert_null(strstr(err, "Restore"));
        /* empty, or not JSON at all */
        for (size_t i = 0; i < 3; i++) {
                static const char *const text[] = { "", "{", "not json at all" };

                write_file(state_path, text[i], 0600);
                assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EINVAL);
                assert_null(again);
                assert_non_null(strstr(err, i == 0 ? "keys/state.json: empty" : "keys/state.json: not JSON (damaged?)"));
                assert_non_null(strstr(err, "Restore "));
        }
        /* a "dropped" that is not a list of kids */
        state_edit(state_saved, state_path, false, "dropped", json_string(k0));
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &again), -EINVAL);
        assert_null(again);
        assert_non_null(strstr(err, "keys/state.json: malformed dropped"));

        /* what was refused was the edit: the state as written opens */
        copy_file(state_saved, state_path, 0600);
        assert_int_equal(keystore_open(f->dir, &f->lock, err, sizeof err, &f->ks), 0);
        assert_int_equal(keystore_count(f->ks), 1);
        free(k0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_schedule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forced_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signed_while_key_made, setup, teardown),
                cmocka_unit_test_setup_teardown(test_algorithm_change, setup, teardown),
                cmocka_unit_test_setup_teardown(test_late_successor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_key_lifetime_raised, setup, teardown),
                cmocka_unit_test_setup_teardown(test_downtime_and_clock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_ttl_raised, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fail_closed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_jwks_write_keeps_named_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signed_past_life, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_back_before_first_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_back_then_forced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_back_before_start_then_forced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_back_past_life_then_forced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stopped_key_is_not_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_far_ahead_then_forced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_far_back_fresh_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_ttl_raise_unwritten, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_updates_leave_no_key_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lost_state_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_first_starts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stray_key_after_two_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_landed_state_caps_the_signer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_landed_state_newest_and_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(test_seen_survives_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nothing_to_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clock_back_then_force, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restored_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restored_state_rsa, setup, teardown),
                cmocka_unit_test_setup_teardown(test_key_file_labelled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stray_new_beside_pem, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stray_new_pem_removed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stray_new_not_removable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_failures_each_logged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_fsync_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_updates_keep_one_stray, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forced_rotation_next_event, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropped_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_adopted_key_life, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_removed_files_written_again, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_file_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotations_within_a_second, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
