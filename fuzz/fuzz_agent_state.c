/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what svcid-agent reads back from its state directory
 * at a start (agent/keys.c, keystore_open()): keys/state.json, the key
 * files with their "svcid-alg:" first line, and jwks.json, which decides
 * whether a key file no state names is kept.
 *
 * Input: the files of a state directory, each after a line
 * "=== NAME [MODE]" (MODE octal, default 0600): NAME jwks.json is the
 * state directory's, any other a file in keys/. Bytes before the first
 * such line are options: "force" rotates, "EdDSA" makes the update use
 * EdDSA rather than ES256. The clock is fixed, and so are the files'
 * mtimes, so that an input always does the same. SVCID_FUZZ_VERBOSE set
 * in the environment: says what became of each input.
 *
 * Beyond "no crash, no leak", it checks what the agent relies on:
 *   - a refused directory is left as it was, byte for byte, with a reason;
 *   - what the agent logs on the way is printable, one line each;
 *   - a state that loads holds distinct private keys sorted by their
 *     schedule, each one state.json names (or, adopted, one it neither
 *     names nor dropped) whose file is there as KID.pem or KID.new; no
 *     other key file and no temporary file is left in keys/;
 *   - an update from it then succeeds, jwks.json is what the agent
 *     serves, a key signs, and a second start (a restart) loads the very
 *     keys and schedule the update left, and changes nothing on disk.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* keys.c asks the time only to date an adopted key: the fixed clock. */
#define now_realtime fuzz_now_realtime
#include "../agent/keys.c"
#undef now_realtime
int64_t now_realtime(void);     /* util.h declared the other name */
#include "../agent/util.c"

/* A little after the seeds in fuzz/corpus/fuzz_agent_state were written
 * by agents with key_lifetime = 4 and max_ttl = 2. */
#define FIXED_NOW INT64_C(1796100066)
#define MAX_FILES 16
#define HEADER "=== "

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int64_t fuzz_now_realtime(void) {
        return FIXED_NOW;
}

/* The log: quiet, but each message must be one line of printable text:
 * whatever the state directory holds, it cannot write lines of its own
 * into the agent's log. */
void log_msg(int priority, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        (void) priority;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        for (const char *p = buf; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e) {
                        fprintf(stderr, "fuzz_agent_state: a log line with a control character: %s\n", buf);
                        abort();
                }
}

void log_key(const char *event, const char *kid, const char *alg) {
        (void) event;
        (void) kid;
        (void) alg;
}

static char base[64], state_dir[128];
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static void die(const char *what, const char *err) {
        fprintf(stderr, "fuzz_agent_state: %s%s%s\n", what, err ? ": " : "", err ? err : "");
        abort();
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static void rm_tree(const char *path) {
        (void) nftw(path, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void) {
        rm_tree(base);
}

static void build(const char *data, size_t size, char *opts, size_t opts_len);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* tmpfs when there is one, as the agent fsyncs every file it
         * writes; but only where the agent would keep its state (the
         * directories above it owned by root, writable by no one else
         * but with the sticky bit): else every input would be refused. */
        static const char *const tops[] = { "/dev/shm", "/tmp" };
        char err[1024] = "", opts[8];

        (void) argc;
        (void) argv;
        atexit(cleanup);
        for (size_t i = 0; i < sizeof tops / sizeof *tops; i++) {
                keystore *ks = NULL;

                snprintf(base, sizeof base, "%s/svcid-fuzz-state.XXXXXX", tops[i]);
                if (!mkdtemp(base))
                        continue;
                snprintf(state_dir, sizeof state_dir, "%s/s", base);
                build("", 0, opts, sizeof opts);
                if (keystore_open(state_dir, &lock, err, sizeof err, &ks) == 0) {
                        keystore_free(ks);
                        return 0;
                }
                rm_tree(base);
        }
        die("no directory where an empty state opens", err);
        return 0;
}

/* A file name the input may give: one component, not "." or "..". */
static bool name_usable(const char *name) {
        return *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static void write_file(int dir_fd, const char *name, mode_t mode, const char *data, size_t len) {
        struct timespec times[2] = { { .tv_sec = FIXED_NOW - 10 }, { .tv_sec = FIXED_NOW - 10 } };
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0)
                return;         /* named twice: the first one stays */
        if (write(fd, data, len) != (ssize_t) len || fchmod(fd, mode) < 0 || futimens(fd, times) < 0)
                die("writing an input file", strerror(errno));
        close(fd);
}

/* The state directory the input describes; the options go to ret_opts. */
static void build(const char *data, size_t size, char *opts, size_t opts_len) {
        const char *p = data, *end = data + size;
        int dir_fd, keys_fd;
        size_t files = 0;

        rm_tree(state_dir);
        if (mkdir(state_dir, 0755) < 0 || chmod(state_dir, 0755) < 0)
                die("mkdir", strerror(errno));
        dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0 || mkdirat(dir_fd, "keys", 0700) < 0)
                die("mkdir keys", strerror(errno));
        keys_fd = openat(dir_fd, "keys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (keys_fd < 0)
                die("open keys", strerror(errno));

        /* the options: up to the first header */
        {
                const char *h = data;
                size_t n;

                if (size < 4 || memcmp(data, HEADER, 4) != 0) {
                        h = memmem(data, size, "\n" HEADER, 5);
                        if (h)
                                h++;
                }
                n = h ? (size_t) (h - data) : size;
                snprintf(opts, opts_len, "%.*s", (int) (n < opts_len ? n : opts_len - 1), data);
                p = h ? h : end;        /* at a header, "=== " */
        }
        while (p < end && files < MAX_FILES) {
                const char *line_end = memchr(p, '\n', (size_t) (end - p));
                const char *body, *next;
                char header[256], *name, *mode_s;
                unsigned long mode = 0600;
                bool jwks;

                if (!line_end)
                        break;
                snprintf(header, sizeof header, "%.*s", (int) (line_end - p - 4 < 255 ? line_end - p - 4 : 255),
                         p + 4);
                body = line_end + 1;
                next = memmem(body, (size_t) (end - body), "\n" HEADER, 5);
                /* the "\n" before a header belongs to the header */
                next = next ? next : end;
                name = strtok_r(header, " ", &mode_s);
                if (name && memchr(p + 4, '\0', (size_t) (line_end - p - 4)) == NULL && name_usable(name)) {
                        char *m = strtok_r(NULL, " ", &mode_s), *e;

                        jwks = strcmp(name, JWKS_FILE) == 0;
                        if (jwks)
                                mode = 0644;
                        if (m) {
                                mode = strtoul(m, &e, 8);
                                if (*e || mode > 07777)
                                        mode = 0600;
                        }
                        write_file(jwks ? dir_fd : keys_fd, name, (mode_t) mode, body, (size_t) (next - body));
                        files++;
                }
                p = next < end ? next + 1 : end;
        }
        close(keys_fd);
        close(dir_fd);
}

/* Everything in the state directory, as one string: names, modes and
 * contents, in a fixed order. */
typedef struct snap {
        char *buf;
        size_t len;
} snap;

static void snap_done(snap *s) {
        free(s->buf);
}

static bool snap_same(const snap *a, const snap *b) {
        return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

static snap snapshot(void) {
        snap s = {};
        FILE *f = open_memstream(&s.buf, &s.len);
        static const char *const dirs[] = { "", "/keys" };

        if (!f)
                die("open_memstream", NULL);
        for (size_t d = 0; d < 2; d++) {
                char path[256];
                struct dirent **list;
                int n;

                snprintf(path, sizeof path, "%s%s", state_dir, dirs[d]);
                n = scandir(path, &list, NULL, alphasort);
                if (n < 0) {
                        fprintf(f, "%s: gone\n", dirs[d]);
                        continue;
                }
                for (int i = 0; i < n; i++) {
                        char file[512];
                        struct stat st;

                        snprintf(file, sizeof file, "%s/%s", path, list[i]->d_name);
                        if (lstat(file, &st) == 0) {
                                fprintf(f, "%s/%s %o %lld\n", dirs[d], list[i]->d_name, (unsigned) st.st_mode,
                                        (long long) st.st_size);
                                if (S_ISREG(st.st_mode)) {
                                        FILE *in = fopen(file, "re");
                                        char chunk[4096];
                                        size_t got;

                                        while (in && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
                                                fwrite(chunk, 1, got, f);
                                        if (in)
                                                fclose(in);
                                }
                        }
                        free(list[i]);
                }
                free(list);
        }
        fclose(f);
        return s;
}

static bool key_file_there(const char *kid) {
        char path[512];
        struct stat st;

        snprintf(path, sizeof path, "%s/keys/%s.pem", state_dir, kid);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
                return true;
        snprintf(path, sizeof path, "%s/keys/%s.new", state_dir, kid);
        return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* What a state that loaded must be (see the top). */
static void check_loaded(const keystore *ks) {
        _cleanup_(json_decrefp) json_t *state = NULL;
        char path[256];
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof path, "%s/keys/" STATE_FILE, state_dir);
        state = json_load_file(path, 0, NULL);
        for (size_t i = 0; i < ks->n; i++) {
                const key_entry *e = &ks->entries[i];
                const char *kid = svcid_key_kid(e->key);
                bool in_state = false;
                size_t j;
                json_t *o;

                if (!kid_ok(kid) || !svcid_key_is_private(e->key) || e->not_after < e->not_before)
                        die("a loaded key is not a private key with a kid and a schedule", kid);
                if (i > 0 && cmp_entry(&ks->entries[i - 1], e) > 0)
                        die("keys not sorted by their schedule", kid);
                for (j = 0; j < i; j++)
                        if (strcmp(svcid_key_kid(ks->entries[j].key), kid) == 0)
                                die("a key loaded twice", kid);
                if (!key_file_there(kid))
                        die("a loaded key has no file", kid);
                json_array_foreach(json_object_get(state, "keys"), j, o)
                        if (json_is_string(json_object_get(o, "kid")) &&
                            strcmp(json_string_value(json_object_get(o, "kid")), kid) == 0) {
                                svcid_alg alg;

                                in_state = true;
                                if (svcid_alg_from_str(json_string_value(json_object_get(o, "alg")), &alg) < 0 ||
                                    alg != svcid_key_alg(e->key))
                                        die("a key loaded for another algorithm than its state's", kid);
                        }
                if (!in_state && (!ks->adopted || dropped(ks, kid, strlen(kid))))
                        die("a key state.json does not name was loaded, not adopted, or dropped", kid);
        }
        /* leftovers are gone */
        snprintf(path, sizeof path, "%s/keys", state_dir);
        d = opendir(path);
        if (!d)
                die("keys/ gone", NULL);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);

                if (is_key_file(de->d_name, true) && !named(ks, de->d_name, n - 4))
                        die("a key file no key in memory has is left", de->d_name);
                if (de->d_name[0] == '.' && n > 5 && strcmp(de->d_name + n - 4, ".tmp") == 0)
                        die("a temporary file is left", de->d_name);
        }
        closedir(d);
}

/* A store holds the keys of e[n] (each with a reference of its own)
 * with the same schedule. */
static void check_same(const key_entry *e, size_t n, const keystore *b) {
        if (n != b->n)
                die("a restart loads another number of keys", NULL);
        for (size_t i = 0; i < n; i++) {
                const key_entry *x = &e[i], *y = &b->entries[i];

                if (strcmp(svcid_key_kid(x->key), svcid_key_kid(y->key)) != 0 ||
                    svcid_key_alg(x->key) != svcid_key_alg(y->key) || !svcid_key_equal_public(x->key, y->key) ||
                    x->created != y->created || x->not_before != y->not_before || x->not_after != y->not_after ||
                    x->max_ttl != y->max_ttl)
                        die("a restart loads another key or schedule", svcid_key_kid(x->key));
        }
}

/* Updates ks, which it frees, and starts again from the directory. */
static void check_update(keystore *ks, const char *opts) {
        agent_config cfg = {
                .alg = strstr(opts, "EdDSA") ? SVCID_ALG_EDDSA : SVCID_ALG_ES256,
                .default_ttl = 2, .max_ttl = 2, .key_lifetime = 4, .anonymous = true,
        };
        _cleanup_(keystore_freep) keystore *again = NULL;
        _cleanup_(snap_done) snap before = {}, after = {};
        _cleanup_(free_p) char *disk = NULL;
        key_entry *saved = NULL;
        size_t n_saved;
        svcid_trust *trust = NULL;
        const svcid_key *active;
        const char *jwks;
        char err[1024] = "", path[256];
        size_t len, disk_len;
        int r;

        r = keystore_update(ks, &cfg, "svcid://fuzz.example", FIXED_NOW, strstr(opts, "force") != NULL, err,
                            sizeof err);
        if (r < 0)
                die("an update of a state that loaded failed", err);
        active = keystore_active(ks, FIXED_NOW);
        if (!active || keystore_ttl_cap(ks, FIXED_NOW) <= 0)
                die("no key signs after an update", NULL);
        jwks = keystore_jwks(ks, &len);
        snprintf(path, sizeof path, "%s/" JWKS_FILE, state_dir);
        if (read_file_at(AT_FDCWD, path, SVCID_JWKS_MAX, false, &disk, &disk_len) < 0 || disk_len != len ||
            memcmp(disk, jwks, len) != 0)
                die("jwks.json is not the JWKS the agent serves", NULL);
        if (svcid_trust_new(&trust) < 0 || svcid_trust_add_jwks(trust, jwks, len, "jwks", err, sizeof err) < 0 ||
            svcid_trust_key_count(trust) != ks->n)
                die("the JWKS the agent serves does not load", err);
        svcid_trust_free(trust);

        /* a restart */
        n_saved = ks->n;
        saved = calloc(n_saved + 1, sizeof *saved);
        if (!saved)
                die("out of memory", NULL);
        for (size_t i = 0; i < n_saved; i++) {
                saved[i] = ks->entries[i];
                svcid_key_ref(saved[i].key);
        }
        before = snapshot();
        keystore_free(ks);
        r = keystore_open(state_dir, &lock, err, sizeof err, &again);
        if (r < 0)
                die("a restart after an update fails", err);
        after = snapshot();
        if (!snap_same(&before, &after))
                die("a restart after an update changed files", NULL);
        check_same(saved, n_saved, again);
        entries_free(saved, n_saved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(snap_done) snap before = {}, after = {};
        keystore *ks = NULL;
        char err[1024] = "", opts[64];
        int r;

        build((const char *) data, size, opts, sizeof opts);
        before = snapshot();
        r = keystore_open(state_dir, &lock, err, sizeof err, &ks);
        if (r < 0) {
                if (!err[0] || strnlen(err, sizeof err) == sizeof err)
                        die("refused without a reason", NULL);
                after = snapshot();
                if (!snap_same(&before, &after))
                        die("a refused state directory was changed", err);
                if (getenv("SVCID_FUZZ_VERBOSE"))
                        fprintf(stderr, "fuzz_agent_state: refused: %s\n", err);
                return 0;
        }
        if (getenv("SVCID_FUZZ_VERBOSE"))
                fprintf(stderr, "fuzz_agent_state: loaded %zu keys%s\n", ks->n, ks->adopted ? ", some adopted" : "");
        check_loaded(ks);
        check_update(ks, opts);
        return 0;
}
