/* SPDX-License-Identifier: MIT */
/*
 * Interoperability with an independent JWT implementation: Debian's PyJWT
 * (python3-jwt) on /usr/bin/python3.
 *
 *  - libsvcid → PyJWT: for each alg a key from svcid_key_generate() signs an
 *    agent-shaped token with svcid_jwt_sign(); PyJWT verifies it with the
 *    public JWK libsvcid exported (parsed by PyJWT's own jwt.PyJWK) and
 *    prints the claims, which must be those we signed. PyJWT must refuse the
 *    token with a forged payload or a flipped signature bit.
 *  - PyJWT → libsvcid: for each alg Python generates a key (cryptography),
 *    writes a JWKS with "iss" and signs a token; libsvcid accepts it through
 *    svcid_trust_add_jwks() + svcid_verify() and through the command line
 *    `svcid verify`, and refuses tampered copies as bad_signature.
 *
 * Exit 77 when /usr/bin/python3 lacks jwt or cryptography.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "svcid/svcid.h"

#define PYTHON "/usr/bin/python3"
#define AUDIENCE "ssh:web01"

static char tmpdir[] = "/tmp/svcid-interop-XXXXXX";
static const char *src_dir;
static const char *build_dir;

/* ---- small helpers ------------------------------------------------------ */

static char *path_join(const char *dir, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* Reads a whole (small) file; NULL if it cannot be opened. */
static char *read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        assert_non_null(buf);
        for (;;) {
                if (cap - len < 2) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                        assert_non_null(buf);
                }
                size_t n = fread(buf + len, 1, cap - len - 1, f);
                if (n == 0)
                        break;
                len += n;
        }
        assert_int_equal(ferror(f), 0);
        fclose(f);
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        return buf;
}

/* Strips trailing whitespace (the helpers end files with a newline). */
static size_t rstrip(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
                s[--n] = '\0';
        return n;
}

/* Runs argv[0] with stdout and stderr sent to files; returns the exit
 * status, or 128 + signal. */
static int run(char *const argv[], const char *out_path, const char *err_path) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (out < 0 || err < 0 || null < 0 ||
                    dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                assert_int_equal(errno, EINTR);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

/* Prints a captured file, for the log of a failing check. */
static void show(const char *what, const char *path) {
        char *text = read_file(path, NULL);
        if (text && *text)
                print_message("%s: %s\n", what, text);
        free(text);
}

/* A copy of token with one character of the signature segment changed in
 * its middle (not the last character, whose trailing bits could make the
 * token malformed rather than badly signed). */
static char *flip_signature(const char *token) {
        char *t = strdup(token);
        assert_non_null(t);
        char *sig = strrchr(t, '.');
        assert_non_null(sig);
        size_t n = strlen(sig + 1);
        assert_true(n > 8);
        char *c = sig + 1 + n / 2;
        *c = *c == 'A' ? 'B' : 'A';
        return t;
}

/* A copy of token whose payload says "sub":"root" but keeps the original
 * header and signature: the forgery a verifier exists to refuse. */
static char *forge_payload(const char *token) {
        const char *dot1 = strchr(token, '.');
        assert_non_null(dot1);
        const char *dot2 = strchr(dot1 + 1, '.');
        assert_non_null(dot2);

        unsigned char *payload = NULL;
        size_t plen = 0;
        assert_int_equal(svcid_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), &payload, &plen), 0);
        json_error_t jerr;
        json_t *claims = json_loadb((const char *) payload, plen, 0, &jerr);
        free(payload);
        assert_non_null(claims);
        assert_int_equal(json_object_set_new(claims, "sub", json_string("root")), 0);
        char *forged_json = json_dumps(claims, JSON_COMPACT);
        json_decref(claims);
        assert_non_null(forged_json);

        char *forged_b64 = NULL;
        assert_int_equal(svcid_b64url_encode(forged_json, strlen(forged_json), &forged_b64), 0);
        free(forged_json);

        char *t = NULL;
        assert_true(asprintf(&t, "%.*s.%s%s", (int) (dot1 - token), token, forged_b64, dot2) > 0);
        free(forged_b64);
        return t;
}

static json_t *load_json(const char *path) {
        json_error_t jerr;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                print_message("%s: not JSON: %s (line %d)\n", path, jerr.text, jerr.line);
        assert_non_null(j);
        return j;
}

/* Asserts that object got has member name equal (as JSON) to want's. */
static void assert_member_equal(const json_t *want, const json_t *got, const char *name) {
        json_t *w = json_object_get(want, name), *g = json_object_get(got, name);
        if (!w || !g || !json_equal(w, g)) {
                char *gs = g ? json_dumps(g, JSON_ENCODE_ANY) : NULL;
                char *ws = w ? json_dumps(w, JSON_ENCODE_ANY) : NULL;
                print_message("claim %s: want %s, got %s\n", name, ws ? ws : "(absent)", gs ? gs : "(absent)");
                free(gs);
                free(ws);
                fail();
        }
}

/* ---- libsvcid signs, PyJWT verifies ------------------------------------- */

static void svcid_to_pyjwt(svcid_alg alg) {
        const char *name = svcid_alg_str(alg);
        assert_non_null(name);
        print_message("interop: libsvcid %s token -> PyJWT\n", name);

        svcid_key *key = NULL;
        assert_int_equal(svcid_key_generate(alg, &key), 0);
        assert_int_equal(svcid_key_alg(key), alg);

        char *jti = NULL;
        assert_int_equal(svcid_jti_new(&jti), 0);
        json_int_t now = (json_int_t) time(NULL);
        json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:i, s:s}",
                                   "iss", "svcid://build01.example.com",
                                   "sub", "deploy-bot",
                                   "aud", AUDIENCE,
                                   "iat", now,
                                   "exp", now + 300,
                                   "jti", jti,
                                   "uid", 1001, "gid", 1001,
                                   "unit", "deploy-web.service");
        assert_non_null(claims);
        free(jti);
        char *claims_json = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_non_null(claims_json);

        char *token = NULL;
        assert_int_equal(svcid_jwt_sign(key, claims_json, strlen(claims_json), &token), 0);
        free(claims_json);

        char *jwk = NULL;
        assert_int_equal(svcid_key_public_jwk(key, &jwk), 0);
        /* The exported JWK is public: no private member may leave. */
        json_t *jwk_obj = json_loads(jwk, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(jwk_obj);
        static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
        for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
                assert_null(json_object_get(jwk_obj, private_members[i]));
        json_decref(jwk_obj);

        char *dir = path_join(tmpdir, name);
        assert_int_equal(mkdir(dir, 0700), 0);
        char *jwk_path = path_join(dir, "key.jwk"), *tok_path = path_join(dir, "token"),
             *out_path = path_join(dir, "out"), *err_path = path_join(dir, "err"),
             *script = path_join(src_dir, "tests/interop/pyjwt_verify.py");
        write_file(jwk_path, jwk);
        write_file(tok_path, token);
        char *argv[] = { (char *) PYTHON, script, jwk_path, tok_path, (char *) AUDIENCE, NULL };

        /* The genuine token: accepted, with exactly our header and claims. */
        int rc = run(argv, out_path, err_path);
        if (rc != 0)
                show("pyjwt_verify.py", err_path);
        assert_int_equal(rc, 0);
        json_t *out = load_json(out_path);
        json_t *header = json_object_get(out, "header"), *got = json_object_get(out, "claims");
        assert_non_null(header);
        assert_non_null(got);
        assert_string_equal(json_string_value(json_object_get(header, "alg")), name);
        assert_string_equal(json_string_value(json_object_get(header, "kid")), svcid_key_kid(key));
        assert_string_equal(json_string_value(json_object_get(header, "typ")), "JWT");
        /* DESIGN.md: the kid is the RFC 7638 thumbprint, as Python computes it. */
        char *thumb = NULL;
        assert_int_equal(svcid_key_thumbprint(key, &thumb), 0);
        assert_string_equal(json_string_value(json_object_get(out, "thumbprint")), thumb);
        assert_string_equal(svcid_key_kid(key), thumb);
        free(thumb);
        assert_int_equal(json_object_size(got), json_object_size(claims));
        const char *member;
        json_t *value;
        json_object_foreach(claims, member, value)
                assert_member_equal(claims, got, member);
        json_decref(out);

        /* Forged claims under the original signature: PyJWT says bad signature (1). */
        char *forged = forge_payload(token);
        write_file(tok_path, forged);
        rc = run(argv, out_path, err_path);
        show("pyjwt_verify.py (forged payload, expected rejection)", err_path);
        assert_int_equal(rc, 1);

        /* A flipped signature bit: bad signature (1). */
        char *flipped = flip_signature(token);
        write_file(tok_path, flipped);
        rc = run(argv, out_path, err_path);
        show("pyjwt_verify.py (flipped signature, expected rejection)", err_path);
        assert_int_equal(rc, 1);

        /* The genuine token for another audience: refused, but not as a bad
         * signature (2) — proves the helper checks claims, not just exits. */
        write_file(tok_path, token);
        argv[4] = (char *) "ssh:other";
        rc = run(argv, out_path, err_path);
        assert_int_equal(rc, 2);

        /* And libsvcid itself accepts what it signed (and refuses the forgery). */
        svcid_trust *trust = NULL;
        svcid_policy *policy = NULL;
        assert_int_equal(svcid_trust_new(&trust), 0);
        assert_int_equal(svcid_trust_add_key(trust, "svcid://build01.example.com", key), 0);
        assert_int_equal(svcid_policy_new(trust, AUDIENCE, &policy), 0);
        svcid_report report;
        assert_int_equal(svcid_verify(policy, token, strlen(token), NULL, &report), SVCID_OK);
        assert_int_equal(svcid_verify(policy, forged, strlen(forged), NULL, &report), SVCID_BAD_SIGNATURE);
        assert_int_equal(svcid_verify(policy, flipped, strlen(flipped), NULL, &report), SVCID_BAD_SIGNATURE);
        svcid_policy_free(policy);
        svcid_trust_free(trust);

        free(forged);
        free(flipped);
        free(jwk_path);
        free(tok_path);
        free(out_path);
        free(err_path);
        free(script);
        free(dir);
        free(jwk);
        free(token);
        json_decref(claims);
        svcid_key_unref(key);
}

static void test_svcid_to_pyjwt_es256(void **state) { (void) state; svcid_to_pyjwt(SVCID_ALG_ES256); }
static void test_svcid_to_pyjwt_eddsa(void **state) { (void) state; svcid_to_pyjwt(SVCID_ALG_EDDSA); }
static void test_svcid_to_pyjwt_rs256(void **state) { (void) state; svcid_to_pyjwt(SVCID_ALG_RS256); }
static void test_svcid_to_pyjwt_ps256(void **state) { (void) state; svcid_to_pyjwt(SVCID_ALG_PS256); }

/* ---- PyJWT signs, libsvcid verifies ------------------------------------- */

/* svcid verify through the command line: exit status, stdout, stderr. */
static int cli_verify(const char *dir, const char *jwks_path, const char *token,
                      char **ret_out, char **ret_err) {
        char *svcid = path_join(build_dir, "svcid");
        char *out_path = path_join(dir, "cli.out"), *err_path = path_join(dir, "cli.err");
        char *argv[] = { svcid, (char *) "verify", (char *) "-a", (char *) AUDIENCE,
                         (char *) "--trust", (char *) jwks_path, (char *) token, NULL };
        int rc = run(argv, out_path, err_path);
        *ret_out = read_file(out_path, NULL);
        *ret_err = read_file(err_path, NULL);
        assert_non_null(*ret_out);
        assert_non_null(*ret_err);
        free(svcid);
        free(out_path);
        free(err_path);
        return rc;
}

static void pyjwt_to_svcid(const char *name) {
        print_message("interop: PyJWT %s token -> libsvcid\n", name);

        char *dir = NULL;
        assert_true(asprintf(&dir, "%s/py-%s", tmpdir, name) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        char *script = path_join(src_dir, "tests/interop/pyjwt_sign.py");
        char *out_path = path_join(dir, "out"), *err_path = path_join(dir, "err");
        char *argv[] = { (char *) PYTHON, script, (char *) name, dir, (char *) AUDIENCE, NULL };
        int rc = run(argv, out_path, err_path);
        if (rc != 0)
                show("pyjwt_sign.py", err_path);
        assert_int_equal(rc, 0);

        char *jwks_path = path_join(dir, "trust.jwks"), *tok_path = path_join(dir, "token"),
             *claims_path = path_join(dir, "claims.json");
        size_t jwks_len;
        char *jwks = read_file(jwks_path, &jwks_len);
        char *token = read_file(tok_path, NULL);
        assert_non_null(jwks);
        assert_non_null(token);
        size_t token_len = rstrip(token);
        json_t *want = load_json(claims_path);

        /* In process. */
        svcid_trust *trust = NULL;
        svcid_policy *policy = NULL;
        char err[256] = "";
        assert_int_equal(svcid_trust_new(&trust), 0);
        rc = svcid_trust_add_jwks(trust, jwks, jwks_len, jwks_path, err, sizeof(err));
        if (rc < 0)
                print_message("svcid_trust_add_jwks: %s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(svcid_trust_key_count(trust), 1);
        assert_int_equal(svcid_policy_new(trust, AUDIENCE, &policy), 0);

        svcid_report report;
        svcid_claims *claims = NULL;
        svcid_reason r = svcid_verify(policy, token, token_len, &claims, &report);
        if (r != SVCID_OK)
                print_message("svcid_verify: %s: %s\n", svcid_reason_str(r), report.detail);
        assert_int_equal(r, SVCID_OK);
        assert_non_null(claims);
        svcid_alg alg;
        assert_int_equal(svcid_alg_from_str(name, &alg), 0);
        assert_int_equal(svcid_claims_alg(claims), alg);
        char *kid = NULL;
        assert_true(asprintf(&kid, "pyjwt-%s-key", name) > 0);
        for (char *c = kid; *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        assert_string_equal(svcid_claims_kid(claims), kid);
        assert_string_equal(svcid_claims_string(claims, "iss"), json_string_value(json_object_get(want, "iss")));
        assert_string_equal(svcid_claims_string(claims, "sub"), json_string_value(json_object_get(want, "sub")));
        assert_string_equal(svcid_claims_string(claims, "jti"), json_string_value(json_object_get(want, "jti")));
        assert_string_equal(report.jti, json_string_value(json_object_get(want, "jti")));
        int64_t v;
        assert_int_equal(svcid_claims_int(claims, "exp", &v), 0);
        assert_int_equal(v, json_integer_value(json_object_get(want, "exp")));
        assert_int_equal(svcid_claims_int(claims, "uid", &v), 0);
        assert_int_equal(v, 4242);
        char *got_json = NULL;
        assert_int_equal(svcid_claims_json(claims, &got_json), 0);
        json_t *got = json_loads(got_json, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(got);
        assert_true(json_equal(got, want));
        json_decref(got);
        free(got_json);
        svcid_claims_free(claims);

        char *forged = forge_payload(token), *flipped = flip_signature(token);
        assert_int_equal(svcid_verify(policy, forged, strlen(forged), NULL, &report), SVCID_BAD_SIGNATURE);
        assert_int_equal(svcid_verify(policy, flipped, strlen(flipped), NULL, &report), SVCID_BAD_SIGNATURE);
        svcid_policy_free(policy);

        /* The right key, the wrong audience. */
        assert_int_equal(svcid_policy_new(trust, "ssh:other", &policy), 0);
        assert_int_equal(svcid_verify(policy, token, token_len, NULL, &report), SVCID_WRONG_AUDIENCE);
        svcid_policy_free(policy);
        svcid_trust_free(trust);

        /* Through the command line, as a script would. */
        char *svcid = path_join(build_dir, "svcid");
        if (access(svcid, X_OK) < 0) {
                print_message("interop: %s missing, command-line path not checked\n", svcid);
        } else {
                char *out, *errtext;
                rc = cli_verify(dir, jwks_path, token, &out, &errtext);
                if (rc != 0)
                        print_message("svcid verify: exit %d: %s\n", rc, errtext);
                assert_int_equal(rc, 0);
                got = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
                assert_non_null(got);
                assert_true(json_equal(got, want));
                json_decref(got);
                free(out);
                free(errtext);

                const char *const bad[] = { forged, flipped };
                for (size_t i = 0; i < 2; i++) {
                        rc = cli_verify(dir, jwks_path, bad[i], &out, &errtext);
                        assert_int_equal(rc, 1);
                        assert_string_equal(out, "");
                        if (strncmp(errtext, "svcid: rejected: bad_signature", 30) != 0)
                                print_message("svcid verify stderr: %s\n", errtext);
                        assert_int_equal(strncmp(errtext, "svcid: rejected: bad_signature", 30), 0);
                        free(out);
                        free(errtext);
                }
        }

        free(svcid);
        free(forged);
        free(flipped);
        free(kid);
        json_decref(want);
        free(jwks);
        free(token);
        free(jwks_path);
        free(tok_path);
        free(claims_path);
        free(out_path);
        free(err_path);
        free(script);
        free(dir);
}

static void test_pyjwt_to_svcid_es256(void **state) { (void) state; pyjwt_to_svcid("ES256"); }
static void test_pyjwt_to_svcid_eddsa(void **state) { (void) state; pyjwt_to_svcid("EdDSA"); }
static void test_pyjwt_to_svcid_rs256(void **state) { (void) state; pyjwt_to_svcid("RS256"); }
static void test_pyjwt_to_svcid_ps256(void **state) { (void) state; pyjwt_to_svcid("PS256"); }

/* ---- setup -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tmpdir(void) {
        /* mkdtemp() made it: the template's X's are gone (one of the
         * random characters may be an X too) */
        if (strstr(tmpdir, "XXXXXX") == NULL)
                nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* PyJWT and cryptography must be importable by /usr/bin/python3. */
static bool have_pyjwt(void) {
        char *argv[] = { (char *) PYTHON, (char *) "-c",
                         (char *) "import jwt, cryptography.hazmat.primitives.asymmetric.ed25519", NULL };
        if (access(PYTHON, X_OK) < 0)
                return false;
        pid_t pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
        src_dir = getenv("SVCID_SRC");
        if (!src_dir || !*src_dir)
                src_dir = ".";
        build_dir = getenv("SVCID_BUILD");
        if (!build_dir || !*build_dir)
                build_dir = "build";

        if (!have_pyjwt()) {
                printf("test_interop: skipped: " PYTHON " cannot import jwt and cryptography "
                       "(apt-get install python3-jwt python3-cryptography)\n");
                return 77;
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        atexit(remove_tmpdir);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_svcid_to_pyjwt_es256),
                cmocka_unit_test(test_svcid_to_pyjwt_eddsa),
                cmocka_unit_test(test_svcid_to_pyjwt_rs256),
                cmocka_unit_test(test_svcid_to_pyjwt_ps256),
                cmocka_unit_test(test_pyjwt_to_svcid_es256),
                cmocka_unit_test(test_pyjwt_to_svcid_eddsa),
                cmocka_unit_test(test_pyjwt_to_svcid_rs256),
                cmocka_unit_test(test_pyjwt_to_svcid_ps256),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
