/* SPDX-License-Identifier: MIT */
/*
 * The JWT negative corpus: well over sixty distinct bad tokens and a handful
 * of good ones, each judged twice — in process by svcid_verify() (against a
 * trust built from JWKS documents and again from svcid_trust_add_key()) and
 * by the real command line, "svcid verify". Each case asserts the exact
 * reason word of DESIGN.md "Verification", so a check that moves, merges or
 * disappears fails here by name.
 *
 * Tokens are made with real keys: legitimately through svcid_jwt_sign() /
 * svcid_jws_sign(), or forged byte by byte (header and payload text of our
 * choosing, signed with svcid_key_sign_raw(), or with OpenSSL HMAC keyed with
 * a public key for the HS256 confusion attack) so that each bad token has
 * exactly the one fault it is named after.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "svcid/svcid.h"
#include "../common/cleanup.h"
#include "../common/path.h"

DEFINE_PTR_CLEANUP(svcid_policy, svcid_policy_free)
DEFINE_PTR_CLEANUP(svcid_trust, svcid_trust_free)
DEFINE_PTR_CLEANUP(svcid_key, svcid_key_unref)

/* A fixed clock: every time in the corpus is relative to it. */
#define NOW     INT64_C(1800000000)
#define NOW_STR "1800000000"
#define AUD     "app"
#define ISS_A   "svcid://a.example"
#define ISS_B   "svcid://b.example"

/* Who signs a case. A_* are issuer A's trusted keys, B_ES is issuer B's;
 * X_ES and X_ED are real keys nobody trusts. */
enum signer {
        A_ES,
        A_ED,
        A_RS,
        A_PS,
        B_ES,
        X_ES,
        X_ED,
        _SIGNER_MAX,
};

static const char *const signer_tag[_SIGNER_MAX] = {
        [A_ES] = "kA", [A_ED] = "kE", [A_RS] = "kR", [A_PS] = "kP",
        [B_ES] = "kB", [X_ES] = "kX", [X_ED] = "kY",
};

/* How the command line gets a case's token. */
enum cli_mode {
        CLI_ARGV,
        CLI_STDIN,      /* "svcid verify ... -" with the token on stdin */
        CLI_NONE,       /* cannot be said on a command line (NUL, newline, empty) */
};

struct jcase {
        char *name;
        char *token;
        size_t len;
        svcid_reason expect;
        const char *issuer;             /* policy issuer, or NULL */
        const char *require[2];         /* "CLAIM=GLOB" matchers, or NULL */
        const char *leeway;             /* seconds as text, or NULL for the default */
        const char *max_lifetime;       /* seconds as text, or NULL for the default */
        enum cli_mode cli;
        json_t *payload;                /* the payload as signed, when it is JSON */
        char *kid;                      /* the header's kid, when a string */
        svcid_alg alg;                  /* the header's alg, for good cases */
};

static struct fixture {
        svcid_key *key[_SIGNER_MAX];
        svcid_trust *trust_jwks;        /* built with svcid_trust_add_jwks() */
        svcid_trust *trust_keys;        /* built with svcid_trust_add_key() */
        char dir[64];
        char *file_a, *file_b;
        struct jcase *cases;
        size_t n_cases, cap_cases;
        size_t n_lib, n_cli;
} fx;

/* ---- small helpers ------------------------------------------------------ */

static char *xstrdup(const char *s) {
        char *p = strdup(s);
        assert_non_null(p);
        return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        assert_true(r >= 0);
        return s;
}

static char *b64(const void *data, size_t len) {
        char *s = NULL;

        assert_int_equal(svcid_b64url_encode(data, len, &s), 0);
        return s;
}

static unsigned char *unb64(const char *text, size_t len, size_t *ret_len) {
        unsigned char *d = NULL;

        assert_int_equal(svcid_b64url_decode(text, len, &d, ret_len), 0);
        return d;
}

static const char *alg_name(enum signer s) {
        return svcid_alg_str(svcid_key_alg(fx.key[s]));
}

static const char *kid_of(enum signer s) {
        return svcid_key_kid(fx.key[s]);
}

/* Expands @kA@..@kY@ (kids), @iA@ @iB@ (issuers) and @T+N@ / @T-N@ (times
 * relative to NOW) in a header or payload template. */
static char *expand(const char *tmpl) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        for (const char *p = tmpl; *p; ) {
                const char *end;
                char tag[32];
                size_t n;

                if (*p != '@' || !(end = strchr(p + 1, '@'))) {
                        fputc(*p++, f);
                        continue;
                }
                n = (size_t) (end - p - 1);
                if (n == 0 || n >= sizeof(tag)) {
                        fputc(*p++, f);
                        continue;
                }
                memcpy(tag, p + 1, n);
                tag[n] = '\0';
                if (strcmp(tag, "iA") == 0)
                        fputs(ISS_A, f);
                else if (strcmp(tag, "iB") == 0)
                        fputs(ISS_B, f);
                else if (tag[0] == 'T' && (tag[1] == '+' || tag[1] == '-')) {
                        char *e;
                        long long off;

                        errno = 0;
                        off = strtoll(tag + 2, &e, 10);
                        assert_true(errno == 0 && *e == '\0' && e != tag + 2);
                        fprintf(f, "%" PRId64, (int64_t) (tag[1] == '+' ? NOW + off : NOW - off));
                } else {
                        int s;

                        for (s = 0; s < _SIGNER_MAX; s++)
                                if (strcmp(tag, signer_tag[s]) == 0)
                                        break;
                        if (s == _SIGNER_MAX)
                                fail_msg("template tag '@%s@' unknown", tag);
                        fputs(kid_of((enum signer) s), f);
                }
                p = end + 1;
        }
        assert_int_equal(fclose(f), 0);
        return buf;
}

static char *default_header(enum signer s) {
        return xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg_name(s), kid_of(s));
}

static char *signing_input(const char *header, size_t hlen, const char *payload, size_t plen) {
        _cleanup_(free_p) char *h = b64(header, hlen);
        _cleanup_(free_p) char *p = b64(payload, plen);

        return xasprintf("%s.%s", h, p);
}

static char *assemble(const char *input, const void *sig, size_t sig_len) {
        _cleanup_(free_p) char *s = b64(sig, sig_len);

        return xasprintf("%s.%s", input, s);
}

/* Signs header and payload text, byte for byte, with a real key. */
static char *forge(enum signer s, const char *header, const char *payload) {
        _cleanup_(free_p) char *input = signing_input(header, strlen(header), payload, strlen(payload));
        _cleanup_(free_p) unsigned char *sig = NULL;
        size_t sig_len = 0;

        assert_int_equal(svcid_key_sign_raw(fx.key[s], input, strlen(input), &sig, &sig_len), 0);
        return assemble(input, sig, sig_len);
}

/* Splits a compact token into its three segments (borrowed views). */
struct segs {
        const char *h, *p, *s;
        size_t hl, pl, sl;
};

static struct segs split(const char *token) {
        struct segs g;
        const char *d1 = strchr(token, '.'), *d2;

        assert_non_null(d1);
        d2 = strchr(d1 + 1, '.');
        assert_non_null(d2);
        g.h = token;
        g.hl = (size_t) (d1 - token);
        g.p = d1 + 1;
        g.pl = (size_t) (d2 - d1 - 1);
        g.s = d2 + 1;
        g.sl = strlen(d2 + 1);
        return g;
}

/* The token with its signature bytes replaced. */
static char *with_sig(const char *token, const void *sig, size_t sig_len) {
        struct segs g = split(token);
        _cleanup_(free_p) char *input = strndup(token, g.hl + 1 + g.pl);

        assert_non_null(input);
        return assemble(input, sig, sig_len);
}

static unsigned char *sig_of(const char *token, size_t *ret_len) {
        struct segs g = split(token);

        return unb64(g.s, g.sl, ret_len);
}

/* ---- the corpus ----------------------------------------------------------- */

static struct jcase *add_case_len(const char *name, char *token, size_t len, svcid_reason expect) {
        struct jcase *c;

        for (size_t i = 0; i < fx.n_cases; i++)
                if (strcmp(fx.cases[i].name, name) == 0)
                        fail_msg("duplicate corpus case name '%s'", name);
        if (fx.n_cases == fx.cap_cases) {
                fx.cap_cases = fx.cap_cases ? fx.cap_cases * 2 : 64;
                fx.cases = realloc(fx.cases, fx.cap_cases * sizeof(*fx.cases));
                assert_non_null(fx.cases);
        }
        c = &fx.cases[fx.n_cases++];
        *c = (struct jcase) {
                .name = xstrdup(name),
                .token = token,
                .len = len,
                .expect = expect,
                .cli = CLI_ARGV,
        };
        /* What a command line cannot carry as one argument. A leading '-'
         * would read as an option; such tokens go through stdin. */
        if (len == 0 || memchr(token, '\0', len) || memchr(token, '\n', len))
                c->cli = CLI_NONE;
        else if (token[0] == '-')
                c->cli = CLI_STDIN;
        return c;
}

static struct jcase *add_case(const char *name, char *token, svcid_reason expect) {
        return add_case_len(name, token, strlen(token), expect);
}

/* Remembers what the report must show for a token whose header and payload
 * are JSON: iss/sub/jti/kid as signed. */
static void note_parts(struct jcase *c, const char *header, const char *payload) {
        json_t *h = json_loads(header, JSON_REJECT_DUPLICATES, NULL);

        if (h && json_is_string(json_object_get(h, "kid")))
                c->kid = xstrdup(json_string_value(json_object_get(h, "kid")));
        if (h && json_is_string(json_object_get(h, "alg")))
                (void) svcid_alg_from_str(json_string_value(json_object_get(h, "alg")), &c->alg);
        json_decref(h);
        c->payload = json_loads(payload, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        if (c->payload && !json_is_object(c->payload)) {
                json_decref(c->payload);
                c->payload = NULL;
        }
}

/* One row of the table: a header and a payload template signed by a key. */
struct row {
        const char *name;
        enum signer signer;
        const char *header;             /* NULL: {"alg","kid","typ":"JWT"} of signer */
        const char *payload;            /* NULL: GOOD */
        svcid_reason expect;
        const char *issuer;
        const char *require;
        const char *require2;
        const char *leeway;
        const char *max_lifetime;
        enum cli_mode cli;
};

#define C_ISS   "\"iss\":\"@iA@\""
#define C_SUB   "\"sub\":\"build\""
#define C_AUD   "\"aud\":\"app\""
#define C_TIME  "\"iat\":@T-10@,\"exp\":@T+290@"
#define C_JTI   "\"jti\":\"jti-0001\""
#define GOOD    "{" C_ISS "," C_SUB "," C_AUD "," C_TIME "," C_JTI "}"
/* The good claims with iss/sub/aud/times replaced one at a time. */
#define NO_ISS(x)  "{" x "," C_SUB "," C_AUD "," C_TIME "," C_JTI "}"
#define NO_SUB(x)  "{" C_ISS "," x "," C_AUD "," C_TIME "," C_JTI "}"
#define NO_AUD(x)  "{" C_ISS "," C_SUB "," x "," C_TIME "," C_JTI "}"
#define NO_TIME(x) "{" C_ISS "," C_SUB "," C_AUD "," x "," C_JTI "}"
#define PLUS(x)    "{" C_ISS "," C_SUB "," C_AUD "," C_TIME "," C_JTI "," x "}"

#define R(n, s, h, p, e, ...) \
        { .name = n, .signer = s, .header = h, .payload = p, .expect = e, __VA_ARGS__ }

/* "\u0000" inside any string value is malformed: the JSON parser refuses
 * it, so no comparison can stop short at the NUL (aud "app\u0000" must
 * never pass as "app"). */

#define HDR(alg, kid) "{\"alg\":\"" alg "\",\"kid\":\"@" kid "@\",\"typ\":\"JWT\"}"

static const struct row rows[] = {
        /* ---- good tokens ---- */
        R("good ES256",                 A_ES, NULL, NULL, SVCID_OK),
        R("good EdDSA",                 A_ED, NULL, NULL, SVCID_OK, .cli = CLI_STDIN),
        R("good Ed25519 alg name",      A_ED, HDR("Ed25519", "kE"), NULL, SVCID_OK),
        R("good RS256",                 A_RS, NULL, NULL, SVCID_OK),
        R("good PS256",                 A_PS, NULL, NULL, SVCID_OK),
        R("good issuer B",              B_ES, NULL, NO_ISS("\"iss\":\"@iB@\""), SVCID_OK),
        R("good policy issuer A",       A_ES, NULL, NULL, SVCID_OK, .issuer = ISS_A),
        R("good header without typ",    A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\"}", NULL, SVCID_OK),
        R("good header reordered",      A_ES, "{\"typ\":\"JWT\",\"kid\":\"@kA@\",\"alg\":\"ES256\"}", NULL, SVCID_OK),
        R("good aud array",             A_ES, NULL, NO_AUD("\"aud\":[\"other\",\"app\"]"), SVCID_OK),
        R("good exp == now-leeway+1",   A_ES, NULL, NO_TIME("\"iat\":@T-100@,\"exp\":@T-59@"), SVCID_OK),
        R("good iat == now+leeway",     A_ES, NULL, NO_TIME("\"iat\":@T+60@,\"exp\":@T+360@"), SVCID_OK),
        R("good nbf == now+leeway",     A_ES, NULL, PLUS("\"nbf\":@T+60@"), SVCID_OK),
        R("good lifetime == max",       A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":@T+3590@"), SVCID_OK),
        R("good required string",       A_ES, NULL, PLUS("\"stage\":\"deploy\""), SVCID_OK, .require = "stage=deploy"),
        R("good required array",        A_ES, NULL, PLUS("\"roles\":[\"deploy\",\"restart\"],\"stage\":\"deploy\""), SVCID_OK,
          .require = "roles=restart", .require2 = "stage=de*"),
        R("good required glob+number",  A_ES, NULL, PLUS("\"unit\":\"deploy-a.service\",\"uid\":1000"), SVCID_OK,
          .require = "unit=deploy-*.service", .require2 = "uid=1000"),

        /* ---- header members: only alg/kid/typ, typ exactly JWT, kid a non-empty string ---- */
        R("header jwk",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"jwk\":{\"kty\":\"EC\"}}", NULL, SVCID_BAD_HEADER),
        R("header jku",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"jku\":\"https://evil.example/jwks\"}", NULL, SVCID_BAD_HEADER),
        R("header x5c",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"x5c\":[\"MIIB\"]}", NULL, SVCID_BAD_HEADER),
        R("header x5u",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"x5u\":\"https://evil.example/c\"}", NULL, SVCID_BAD_HEADER),
        R("header crit",  A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", NULL, SVCID_BAD_HEADER),
        R("header b64",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"b64\":false}", NULL, SVCID_BAD_HEADER),
        R("header cty",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"cty\":\"JWT\"}", NULL, SVCID_BAD_HEADER),
        R("header zip",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"zip\":\"DEF\"}", NULL, SVCID_BAD_HEADER),
        R("header x5t#S256", A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"x5t#S256\":\"AAAA\"}", NULL, SVCID_BAD_HEADER),
        R("header typ jwt",      A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"jwt\"}", NULL, SVCID_BAD_HEADER),
        R("header typ JOSE",     A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JOSE\"}", NULL, SVCID_BAD_HEADER),
        R("header typ at+jwt",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"at+jwt\"}", NULL, SVCID_BAD_HEADER),
        R("header typ number",   A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":1}", NULL, SVCID_BAD_HEADER),
        R("header typ NUL suffix", A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\\u0000\"}", NULL, SVCID_MALFORMED),
        R("header typ null",     A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":null}", NULL, SVCID_BAD_HEADER),
        R("kid number",   A_ES, "{\"alg\":\"ES256\",\"kid\":5,\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid empty",    A_ES, "{\"alg\":\"ES256\",\"kid\":\"\",\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid null",     A_ES, "{\"alg\":\"ES256\",\"kid\":null,\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid array",    A_ES, "{\"alg\":\"ES256\",\"kid\":[\"@kA@\"],\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),

        /* ---- alg: exactly ES256, EdDSA, Ed25519, RS256, PS256 ---- */
        R("alg none",        A_ES, HDR("none", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg None",        A_ES, HDR("None", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg NONE",        A_ES, HDR("NONE", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg nOnE",        A_ES, HDR("nOnE", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg empty",       A_ES, HDR("", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg HS256",       A_ES, HDR("HS256", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg HS512",       A_ES, HDR("HS512", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg ES384",       A_ES, HDR("ES384", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg ES256K",      A_ES, HDR("ES256K", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg es256",       A_ES, HDR("es256", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg ES256 space", A_ES, HDR("ES256 ", "kA"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg ES256 NUL",   A_ES, HDR("ES256\\u0000", "kA"), NULL, SVCID_MALFORMED),
        R("alg eddsa",       A_ED, HDR("eddsa", "kE"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg RS384",       A_RS, HDR("RS384", "kR"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg PS512",       A_PS, HDR("PS512", "kP"), NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg missing",     A_ES, "{\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg number",      A_ES, "{\"alg\":256,\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg null",        A_ES, "{\"alg\":null,\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_ALG_NOT_ALLOWED),
        R("alg array",       A_ES, "{\"alg\":[\"ES256\"],\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_ALG_NOT_ALLOWED),
        R("header empty object", A_ES, "{}", NULL, SVCID_ALG_NOT_ALLOWED),

        /* ---- issuer ---- */
        R("iss missing",         A_ES, NULL, "{" C_SUB "," C_AUD "," C_TIME "," C_JTI "}", SVCID_UNKNOWN_ISSUER),
        R("iss number",          A_ES, NULL, NO_ISS("\"iss\":1"), SVCID_UNKNOWN_ISSUER),
        R("iss null",            A_ES, NULL, NO_ISS("\"iss\":null"), SVCID_UNKNOWN_ISSUER),
        R("iss array",           A_ES, NULL, NO_ISS("\"iss\":[\"@iA@\"]"), SVCID_UNKNOWN_ISSUER),
        R("iss empty",           A_ES, NULL, NO_ISS("\"iss\":\"\""), SVCID_UNKNOWN_ISSUER),
        R("iss untrusted",       A_ES, NULL, NO_ISS("\"iss\":\"svcid://evil.example\""), SVCID_UNKNOWN_ISSUER),
        R("iss trailing slash",  A_ES, NULL, NO_ISS("\"iss\":\"svcid://a.example/\""), SVCID_UNKNOWN_ISSUER),
        R("iss trailing space",  A_ES, NULL, NO_ISS("\"iss\":\"svcid://a.example \""), SVCID_UNKNOWN_ISSUER),
        R("iss upper case",      A_ES, NULL, NO_ISS("\"iss\":\"SVCID://a.example\""), SVCID_UNKNOWN_ISSUER),
        R("iss prefix",          A_ES, NULL, NO_ISS("\"iss\":\"svcid://a.exampl\""), SVCID_UNKNOWN_ISSUER),
        R("iss NUL suffix",      A_ES, NULL, NO_ISS("\"iss\":\"svcid://a.example\\u0000\""), SVCID_MALFORMED),
        R("iss not policy issuer", A_ES, NULL, NULL, SVCID_UNKNOWN_ISSUER, .issuer = ISS_B),

        /* ---- kid: names one of the issuer's keys, of the header's alg ---- */
        R("kid missing",         A_ES, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid unknown",         A_ES, "{\"alg\":\"ES256\",\"kid\":\"nope\",\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid NUL suffix",      A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\\u0000\",\"typ\":\"JWT\"}", NULL, SVCID_MALFORMED),
        R("kid traversal",       A_ES, "{\"alg\":\"ES256\",\"kid\":\"../../etc/passwd\",\"typ\":\"JWT\"}", NULL, SVCID_UNKNOWN_KEY),
        R("kid of untrusted key", X_ES, NULL, NULL, SVCID_UNKNOWN_KEY),
        R("kid of issuer B, iss A", B_ES, NULL, NULL, SVCID_UNKNOWN_KEY),
        R("kid of issuer A, iss B", A_ES, NULL, NO_ISS("\"iss\":\"@iB@\""), SVCID_UNKNOWN_KEY),
        R("RS256 header on ES256 key",  A_RS, HDR("RS256", "kA"), NULL, SVCID_UNKNOWN_KEY),
        R("EdDSA header on ES256 key",  A_ED, HDR("EdDSA", "kA"), NULL, SVCID_UNKNOWN_KEY),
        R("Ed25519 header on ES256 key", A_ED, HDR("Ed25519", "kA"), NULL, SVCID_UNKNOWN_KEY),
        R("ES256 header on EdDSA key",  A_ES, HDR("ES256", "kE"), NULL, SVCID_UNKNOWN_KEY),
        R("PS256 header on RS256 key",  A_PS, HDR("PS256", "kR"), NULL, SVCID_UNKNOWN_KEY),
        R("RS256 header on PS256 key",  A_RS, HDR("RS256", "kP"), NULL, SVCID_UNKNOWN_KEY),

        /* ---- signature from the wrong key ---- */
        R("ES256 signed by untrusted key", X_ES, HDR("ES256", "kA"), NULL, SVCID_BAD_SIGNATURE),
        R("EdDSA signed by untrusted key", X_ED, HDR("EdDSA", "kE"), NULL, SVCID_BAD_SIGNATURE),
        R("ES256 signed by issuer B key",  B_ES, HDR("ES256", "kA"), NULL, SVCID_BAD_SIGNATURE),
        R("PS256 signed PKCS1 by RS256 key", A_RS, HDR("PS256", "kP"), NULL, SVCID_BAD_SIGNATURE),
        R("RS256 signed PSS by PS256 key", A_PS, HDR("RS256", "kR"), NULL, SVCID_BAD_SIGNATURE),

        /* ---- JSON: not JSON, not objects, duplicates, bad UTF-8, NUL in a key ---- */
        R("header not JSON",      A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\"", NULL, SVCID_MALFORMED),
        R("header trailing garbage", A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\":\"JWT\"}x", NULL, SVCID_MALFORMED),
        R("header array",         A_ES, "[\"ES256\"]", NULL, SVCID_MALFORMED),
        R("header string",        A_ES, "\"ES256\"", NULL, SVCID_MALFORMED),
        R("header number",        A_ES, "256", NULL, SVCID_MALFORMED),
        R("header null",          A_ES, "null", NULL, SVCID_MALFORMED),
        R("header duplicate alg", A_ES, "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_MALFORMED),
        R("header duplicate kid", A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kB@\",\"kid\":\"@kA@\",\"typ\":\"JWT\"}", NULL, SVCID_MALFORMED),
        R("header invalid UTF-8", A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\xff\",\"typ\":\"JWT\"}", NULL, SVCID_MALFORMED),
        R("header NUL in key",    A_ES, "{\"alg\":\"ES256\",\"kid\":\"@kA@\",\"typ\\u0000\":\"JWT\"}", NULL, SVCID_MALFORMED),
        R("payload not JSON",     A_ES, NULL, "{'iss':'svcid://a.example'}", SVCID_MALFORMED),
        R("payload truncated",    A_ES, NULL, "{" C_ISS "," C_SUB, SVCID_MALFORMED),
        R("payload array",        A_ES, NULL, "[" C_ISS "]", SVCID_MALFORMED),
        R("payload string",       A_ES, NULL, "\"svcid://a.example\"", SVCID_MALFORMED),
        R("payload true",         A_ES, NULL, "true", SVCID_MALFORMED),
        R("payload empty",        A_ES, NULL, "", SVCID_MALFORMED),
        R("payload duplicate sub", A_ES, NULL, PLUS("\"sub\":\"root\""), SVCID_MALFORMED),
        R("payload duplicate aud", A_ES, NULL, PLUS("\"aud\":\"other\""), SVCID_MALFORMED),
        R("payload duplicate exp", A_ES, NULL, PLUS("\"exp\":@T+9999@"), SVCID_MALFORMED),
        R("payload duplicate iss", A_ES, NULL, "{\"iss\":\"svcid://evil.example\"," C_ISS "," C_SUB "," C_AUD "," C_TIME "," C_JTI "}", SVCID_MALFORMED),
        R("payload invalid UTF-8", A_ES, NULL, NO_SUB("\"sub\":\"bu\xc3\x28ld\""), SVCID_MALFORMED),
        R("payload overlong UTF-8", A_ES, NULL, NO_SUB("\"sub\":\"\xc0\xaf\""), SVCID_MALFORMED),
        R("payload UTF-8 surrogate", A_ES, NULL, NO_SUB("\"sub\":\"\xed\xa0\x80\""), SVCID_MALFORMED),
        R("payload NUL in key",   A_ES, NULL, PLUS("\"a\\u0000b\":1"), SVCID_MALFORMED),
        R("payload lone surrogate escape", A_ES, NULL, NO_SUB("\"sub\":\"\\ud800\""), SVCID_MALFORMED),
        /* JSON that allows what the parser cannot hold exactly */
        R("payload integer beyond int64", A_ES, NULL, PLUS("\"x\":{\"y\":[18446744073709551616]}"), SVCID_MALFORMED),
        R("exp beyond int64", A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":9223372036854775808"), SVCID_MALFORMED),
        R("payload real overflow", A_ES, NULL, PLUS("\"x\":1e400"), SVCID_MALFORMED),

        /* ---- exp ---- */
        R("exp missing",     A_ES, NULL, NO_TIME("\"iat\":@T-10@"), SVCID_MISSING_CLAIM),
        R("exp string",      A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":\"@T+290@\""), SVCID_MISSING_CLAIM),
        R("exp float",       A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":1.5"), SVCID_MISSING_CLAIM),
        R("exp float whole", A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":@T+290@.0"), SVCID_MISSING_CLAIM),
        R("exp bool",        A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":true"), SVCID_MISSING_CLAIM),
        R("exp null",        A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":null"), SVCID_MISSING_CLAIM),
        R("exp array",       A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":[@T+290@]"), SVCID_MISSING_CLAIM),
        R("exp == now-leeway", A_ES, NULL, NO_TIME("\"iat\":@T-100@,\"exp\":@T-60@"), SVCID_EXPIRED),
        R("exp long ago",    A_ES, NULL, NO_TIME("\"iat\":@T-4000@,\"exp\":@T-3700@"), SVCID_EXPIRED),
        R("exp negative",    A_ES, NULL, NO_TIME("\"iat\":-300,\"exp\":-1"), SVCID_EXPIRED),

        /* ---- iat ---- */
        R("iat missing",     A_ES, NULL, NO_TIME("\"exp\":@T+290@"), SVCID_MISSING_CLAIM),
        R("iat string",      A_ES, NULL, NO_TIME("\"iat\":\"@T-10@\",\"exp\":@T+290@"), SVCID_MISSING_CLAIM),
        R("iat float",       A_ES, NULL, NO_TIME("\"iat\":1.5,\"exp\":@T+290@"), SVCID_MISSING_CLAIM),
        R("iat null",        A_ES, NULL, NO_TIME("\"iat\":null,\"exp\":@T+290@"), SVCID_MISSING_CLAIM),
        R("iat bool",        A_ES, NULL, NO_TIME("\"iat\":false,\"exp\":@T+290@"), SVCID_MISSING_CLAIM),
        R("iat == now+leeway+1", A_ES, NULL, NO_TIME("\"iat\":@T+61@,\"exp\":@T+361@"), SVCID_ISSUED_IN_FUTURE),

        /* ---- nbf ---- */
        R("nbf string",      A_ES, NULL, PLUS("\"nbf\":\"@T-10@\""), SVCID_MISSING_CLAIM),
        R("nbf float",       A_ES, NULL, PLUS("\"nbf\":1.5"), SVCID_MISSING_CLAIM),
        R("nbf null",        A_ES, NULL, PLUS("\"nbf\":null"), SVCID_MISSING_CLAIM),
        R("nbf == now+leeway+1", A_ES, NULL, PLUS("\"nbf\":@T+61@"), SVCID_NOT_YET_VALID),

        /* ---- lifetime ---- */
        R("lifetime == max+1", A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":@T+3591@"), SVCID_LIFETIME_TOO_LONG),
        R("lifetime exp int64 max", A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":9223372036854775807"), SVCID_LIFETIME_TOO_LONG),
        /* exp - iat overflows int64: must not wrap around into "short". */
        R("lifetime iat int64 min", A_ES, NULL, NO_TIME("\"iat\":-9223372036854775808,\"exp\":@T+290@"), SVCID_LIFETIME_TOO_LONG),

        /* ---- aud ---- */
        R("aud missing",     A_ES, NULL, "{" C_ISS "," C_SUB "," C_TIME "," C_JTI "}", SVCID_WRONG_AUDIENCE),
        R("aud number",      A_ES, NULL, NO_AUD("\"aud\":5"), SVCID_WRONG_AUDIENCE),
        R("aud null",        A_ES, NULL, NO_AUD("\"aud\":null"), SVCID_WRONG_AUDIENCE),
        R("aud bool",        A_ES, NULL, NO_AUD("\"aud\":true"), SVCID_WRONG_AUDIENCE),
        R("aud object",      A_ES, NULL, NO_AUD("\"aud\":{\"app\":true}"), SVCID_WRONG_AUDIENCE),
        R("aud empty array", A_ES, NULL, NO_AUD("\"aud\":[]"), SVCID_WRONG_AUDIENCE),
        R("aud array without", A_ES, NULL, NO_AUD("\"aud\":[\"other\",\"ap\"]"), SVCID_WRONG_AUDIENCE),
        R("aud array nested", A_ES, NULL, NO_AUD("\"aud\":[[\"app\"]]"), SVCID_WRONG_AUDIENCE),
        R("aud array app and number", A_ES, NULL, NO_AUD("\"aud\":[\"app\",1]"), SVCID_WRONG_AUDIENCE),
        R("aud array number and app", A_ES, NULL, NO_AUD("\"aud\":[1,\"app\"]"), SVCID_WRONG_AUDIENCE),
        R("aud array app and null", A_ES, NULL, NO_AUD("\"aud\":[\"app\",null]"), SVCID_WRONG_AUDIENCE),
        R("aud array app and object", A_ES, NULL, NO_AUD("\"aud\":[\"app\",{}]"), SVCID_WRONG_AUDIENCE),
        R("aud empty string", A_ES, NULL, NO_AUD("\"aud\":\"\""), SVCID_WRONG_AUDIENCE),
        R("aud ap",          A_ES, NULL, NO_AUD("\"aud\":\"ap\""), SVCID_WRONG_AUDIENCE),
        R("aud app space",   A_ES, NULL, NO_AUD("\"aud\":\"app \""), SVCID_WRONG_AUDIENCE),
        R("aud APP",         A_ES, NULL, NO_AUD("\"aud\":\"APP\""), SVCID_WRONG_AUDIENCE),
        R("aud app NUL",     A_ES, NULL, NO_AUD("\"aud\":\"app\\u0000\""), SVCID_MALFORMED),
        R("aud array app NUL", A_ES, NULL, NO_AUD("\"aud\":[\"app\\u0000\"]"), SVCID_MALFORMED),
        R("aud app glob",    A_ES, NULL, NO_AUD("\"aud\":\"ap*\""), SVCID_WRONG_AUDIENCE),
        /* An array member is compared whole, length and all: one that only
         * begins with the audience is another audience. */
        R("aud array longer", A_ES, NULL, NO_AUD("\"aud\":[\"other\",\"appx\"]"), SVCID_WRONG_AUDIENCE),
        R("aud array app-evil", A_ES, NULL, NO_AUD("\"aud\":[\"app-evil\"]"), SVCID_WRONG_AUDIENCE),

        /* ---- sub ---- */
        R("sub missing",     A_ES, NULL, "{" C_ISS "," C_AUD "," C_TIME "," C_JTI "}", SVCID_MISSING_CLAIM),
        R("sub empty",       A_ES, NULL, NO_SUB("\"sub\":\"\""), SVCID_MISSING_CLAIM),
        R("sub number",      A_ES, NULL, NO_SUB("\"sub\":0"), SVCID_MISSING_CLAIM),
        R("sub null",        A_ES, NULL, NO_SUB("\"sub\":null"), SVCID_MISSING_CLAIM),
        R("sub array",       A_ES, NULL, NO_SUB("\"sub\":[\"build\"]"), SVCID_MISSING_CLAIM),

        /* ---- required claims ---- */
        R("required absent",        A_ES, NULL, NULL, SVCID_MISSING_CLAIM, .require = "stage=deploy"),
        R("required string differs", A_ES, NULL, PLUS("\"stage\":\"test\""), SVCID_CLAIM_MISMATCH, .require = "stage=deploy"),
        R("required glob no match", A_ES, NULL, PLUS("\"unit\":\"build.service\""), SVCID_CLAIM_MISMATCH,
          .require = "unit=deploy-*.service"),
        R("required array no match", A_ES, NULL, PLUS("\"roles\":[\"deploy\",\"build\"]"), SVCID_CLAIM_MISMATCH,
          .require = "roles=restart"),
        R("required NUL suffix",   A_ES, NULL, PLUS("\"stage\":\"deploy\\u0000\""), SVCID_MALFORMED,
          .require = "stage=deploy"),
        R("required number differs", A_ES, NULL, PLUS("\"uid\":1001"), SVCID_CLAIM_MISMATCH, .require = "uid=1000"),
        R("required second fails",  A_ES, NULL, PLUS("\"stage\":\"deploy\",\"roles\":[\"x\"]"), SVCID_CLAIM_MISMATCH,
          .require = "stage=deploy", .require2 = "roles=restart"),
        /* A boolean matches as the text true or false, each only as itself. */
        R("good required true",     A_ES, NULL, PLUS("\"admin\":true"), SVCID_OK, .require = "admin=true"),
        R("good required false",    A_ES, NULL, PLUS("\"admin\":false"), SVCID_OK, .require = "admin=false"),
        R("required true, claim false", A_ES, NULL, PLUS("\"admin\":false"), SVCID_CLAIM_MISMATCH, .require = "admin=true"),
        R("required false, claim true", A_ES, NULL, PLUS("\"admin\":true"), SVCID_CLAIM_MISMATCH, .require = "admin=false"),
        /* null, an object, a real and a nested array never match, not even
         * "*"; an array matches by a member, so one holding only an object
         * does not either. */
        R("required null",          A_ES, NULL, PLUS("\"stage\":null"), SVCID_CLAIM_MISMATCH, .require = "stage=*"),
        R("required object",        A_ES, NULL, PLUS("\"stage\":{}"), SVCID_CLAIM_MISMATCH, .require = "stage=*"),
        R("required object member", A_ES, NULL, PLUS("\"stage\":{\"deploy\":true}"), SVCID_CLAIM_MISMATCH,
          .require = "stage=*"),
        R("required real",          A_ES, NULL, PLUS("\"stage\":1.5"), SVCID_CLAIM_MISMATCH, .require = "stage=*"),
        R("required array of object", A_ES, NULL, PLUS("\"stage\":[{}]"), SVCID_CLAIM_MISMATCH, .require = "stage=*"),
        R("required array of array", A_ES, NULL, PLUS("\"stage\":[[\"deploy\"]]"), SVCID_CLAIM_MISMATCH,
          .require = "stage=*"),

        /* ---- leeway and max lifetime other than the defaults ---- */
        R("leeway 0: exp == now",       A_ES, NULL, NO_TIME("\"iat\":@T-100@,\"exp\":@T+0@"), SVCID_EXPIRED, .leeway = "0"),
        R("good leeway 0: exp == now+1", A_ES, NULL, NO_TIME("\"iat\":@T-100@,\"exp\":@T+1@"), SVCID_OK, .leeway = "0"),
        R("leeway 0: iat == now+1",     A_ES, NULL, NO_TIME("\"iat\":@T+1@,\"exp\":@T+300@"), SVCID_ISSUED_IN_FUTURE, .leeway = "0"),
        R("good leeway 0: iat == now",  A_ES, NULL, NO_TIME("\"iat\":@T+0@,\"exp\":@T+300@"), SVCID_OK, .leeway = "0"),
        R("leeway 0: nbf == now+1",     A_ES, NULL, PLUS("\"nbf\":@T+1@"), SVCID_NOT_YET_VALID, .leeway = "0"),
        R("good leeway 300: exp == now-299", A_ES, NULL, NO_TIME("\"iat\":@T-400@,\"exp\":@T-299@"), SVCID_OK, .leeway = "300"),
        R("leeway 300: exp == now-300", A_ES, NULL, NO_TIME("\"iat\":@T-400@,\"exp\":@T-300@"), SVCID_EXPIRED, .leeway = "300"),
        R("good max lifetime 300: == 300", A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":@T+290@"), SVCID_OK, .max_lifetime = "300"),
        R("max lifetime 300: 301",      A_ES, NULL, NO_TIME("\"iat\":@T-10@,\"exp\":@T+291@"), SVCID_LIFETIME_TOO_LONG, .max_lifetime = "300"),

        /* ---- the first failing check names the reason ---- */
        R("order bad_header before alg", A_ES, "{\"alg\":\"none\",\"kid\":\"@kA@\",\"typ\":\"JWT\",\"jku\":\"x\"}", NULL, SVCID_BAD_HEADER),
        R("order alg before issuer", A_ES, HDR("none", "kA"), NO_ISS("\"iss\":\"svcid://evil.example\""), SVCID_ALG_NOT_ALLOWED),
        R("order alg before kid",  A_ES, "{\"alg\":\"none\",\"kid\":5,\"typ\":\"JWT\"}", NULL, SVCID_ALG_NOT_ALLOWED),
        R("order issuer before kid", A_ES, "{\"alg\":\"ES256\",\"kid\":7,\"typ\":\"JWT\"}", NO_ISS("\"iss\":\"svcid://evil.example\""), SVCID_UNKNOWN_ISSUER),
        R("order issuer before key", A_ES, "{\"alg\":\"ES256\",\"kid\":\"nope\",\"typ\":\"JWT\"}", NO_ISS("\"iss\":\"svcid://evil.example\""), SVCID_UNKNOWN_ISSUER),
        R("order expired before aud", A_ES, NULL, "{" C_ISS "," C_SUB ",\"aud\":\"x\",\"iat\":@T-400@,\"exp\":@T-100@," C_JTI "}", SVCID_EXPIRED),
        R("order iat before nbf", A_ES, NULL, "{" C_ISS "," C_SUB "," C_AUD ",\"iat\":@T+100@,\"exp\":@T+400@,\"nbf\":@T+100@," C_JTI "}", SVCID_ISSUED_IN_FUTURE),
        R("order nbf before lifetime", A_ES, NULL, "{" C_ISS "," C_SUB "," C_AUD ",\"iat\":@T-10@,\"exp\":@T+9000@,\"nbf\":@T+100@," C_JTI "}", SVCID_NOT_YET_VALID),
        R("order lifetime before aud", A_ES, NULL, "{" C_ISS "," C_SUB ",\"aud\":\"x\",\"iat\":@T-10@,\"exp\":@T+9000@," C_JTI "}", SVCID_LIFETIME_TOO_LONG),
        R("order aud before sub", A_ES, NULL, "{" C_ISS ",\"aud\":\"x\"," C_TIME "," C_JTI "}", SVCID_WRONG_AUDIENCE),
        R("order sub before required", A_ES, NULL, "{" C_ISS ",\"sub\":\"\"," C_AUD "," C_TIME ",\"stage\":\"y\"}",
          SVCID_MISSING_CLAIM, .require = "stage=x"),
};

static void add_rows(void) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const struct row *w = &rows[i];
                _cleanup_(free_p) char *header = w->header ? expand(w->header) : default_header(w->signer);
                _cleanup_(free_p) char *payload = expand(w->payload ? w->payload : GOOD);
                struct jcase *c = add_case(w->name, forge(w->signer, header, payload), w->expect);

                c->issuer = w->issuer;
                c->leeway = w->leeway;
                c->max_lifetime = w->max_lifetime;
                c->require[0] = w->require;
                c->require[1] = w->require2;
                if (w->cli != CLI_ARGV)
                        c->cli = w->cli;
                note_parts(c, header, payload);
        }
}

/* A good token signed by s (default header, GOOD claims), parts noted. */
static struct jcase *add_good_variant(const char *name, enum signer s, svcid_reason expect, char **ret_token) {
        _cleanup_(free_p) char *header = default_header(s);
        _cleanup_(free_p) char *payload = expand(GOOD);
        char *token = forge(s, header, payload);
        struct jcase *c;

        *ret_token = token;
        c = add_case(name, xstrdup(token), expect);
        note_parts(c, header, payload);
        return c;
}

/* Signature games, per alg. */
static void add_signature_cases(void) {
        /* P-256 group order n. */
        static const unsigned char p256_n[32] = {
                0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
        };
        /* Ed25519 group order L, little endian. */
        static const unsigned char ed_l[32] = {
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        };
        static const enum signer algs[] = { A_ES, A_ED, A_RS, A_PS };
        unsigned char buf[1024];
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
                _cleanup_(free_p) char *good = NULL, *name = NULL;
                _cleanup_(free_p) unsigned char *sig = NULL;
                struct jcase *c;

                name = xasprintf("%s signature bit flipped", alg_name(algs[i]));
                c = add_good_variant(name, algs[i], SVCID_BAD_SIGNATURE, &good);
                sig = sig_of(good, &n);
                assert_true(n <= sizeof(buf));
                memcpy(buf, sig, n);
                buf[n / 2] ^= 0x01;
                free(c->token);
                c->token = with_sig(good, buf, n);
                c->len = strlen(c->token);

                free(name);
                name = xasprintf("%s signature truncated by one byte", alg_name(algs[i]));
                add_case(name, with_sig(good, sig, n - 1), SVCID_BAD_SIGNATURE);

                free(name);
                name = xasprintf("%s signature one byte longer", alg_name(algs[i]));
                memcpy(buf, sig, n);
                buf[n] = 0;
                add_case(name, with_sig(good, buf, n + 1), SVCID_BAD_SIGNATURE);
        }

        /* RS256, PS256: a signature is exactly as long as the modulus. One
         * whose first byte is zero, with that byte cut, is the same number
         * one byte shorter: OpenSSL's PKCS#1 v1.5 check refuses the length
         * itself, its raw PSS path pads it back. Claims with another jti
         * until a signature starts with a zero byte (1 in 256). */
        static const enum signer rsa[] = { A_RS, A_PS };
        for (size_t i = 0; i < ELEMENTSOF(rsa); i++) {
                _cleanup_(free_p) char *header = default_header(rsa[i]);
                unsigned tries;

                for (tries = 0; tries < 20000; tries++) {
                        _cleanup_(free_p) char *tmpl = xasprintf("{" C_ISS "," C_SUB "," C_AUD "," C_TIME
                                                                 ",\"jti\":\"zero-%u\"}", tries);
                        _cleanup_(free_p) char *payload = expand(tmpl);
                        _cleanup_(free_p) char *name = NULL;
                        _cleanup_(free_p) unsigned char *sig = NULL;
                        char *good = forge(rsa[i], header, payload);
                        struct jcase *c;

                        sig = sig_of(good, &n);
                        if (sig[0] != 0) {
                                free(good);
                                continue;
                        }
                        name = xasprintf("%s signature with a leading zero (control)", alg_name(rsa[i]));
                        c = add_case(name, good, SVCID_OK);
                        note_parts(c, header, payload);
                        free(name);
                        name = xasprintf("%s signature with its leading zero byte cut", alg_name(rsa[i]));
                        c = add_case(name, with_sig(good, sig + 1, n - 1), SVCID_BAD_SIGNATURE);
                        note_parts(c, header, payload);
                        break;
                }
                if (tries == 20000)
                        fail_msg("%s: no signature with a leading zero byte in %u tries", alg_name(rsa[i]), tries);
        }

        /* ES256: exactly 64 bytes R||S; nothing else is a signature. */
        {
                _cleanup_(free_p) char *good = NULL;
                _cleanup_(free_p) unsigned char *sig = NULL, *der = NULL;
                ECDSA_SIG *es = ECDSA_SIG_new();
                BIGNUM *r, *s;
                unsigned char *p;
                int der_len;

                add_good_variant("ES256 pristine (control)", A_ES, SVCID_OK, &good);
                sig = sig_of(good, &n);
                assert_int_equal(n, 64);

                /* The same signature, DER-encoded as OpenSSL and JCA emit it. */
                assert_non_null(es);
                r = BN_bin2bn(sig, 32, NULL);
                s = BN_bin2bn(sig + 32, 32, NULL);
                assert_true(r && s);
                assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
                der_len = i2d_ECDSA_SIG(es, NULL);
                assert_true(der_len > 0);
                der = malloc((size_t) der_len);
                assert_non_null(der);
                p = der;
                assert_int_equal(i2d_ECDSA_SIG(es, &p), der_len);
                ECDSA_SIG_free(es);
                add_case("ES256 DER-encoded signature", with_sig(good, der, (size_t) der_len), SVCID_BAD_SIGNATURE);

                memset(buf, 0, 64);
                memcpy(buf + 32, sig + 32, 32);
                add_case("ES256 r = 0", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memcpy(buf, sig, 32);
                memset(buf + 32, 0, 32);
                add_case("ES256 s = 0", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memset(buf, 0, 64);
                add_case("ES256 r = s = 0", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memcpy(buf, p256_n, 32);
                memcpy(buf + 32, sig + 32, 32);
                add_case("ES256 r = n", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memcpy(buf, sig, 32);
                memcpy(buf + 32, p256_n, 32);
                add_case("ES256 s = n", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memcpy(buf, sig + 32, 32);
                memcpy(buf + 32, sig, 32);
                add_case("ES256 R and S swapped", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memcpy(buf, sig, 64);
                memcpy(buf + 64, sig, 64);
                add_case("ES256 signature twice", with_sig(good, buf, 128), SVCID_BAD_SIGNATURE);
        }

        /* Ed25519: S + L verifies under a lax implementation (malleability). */
        {
                _cleanup_(free_p) char *good = NULL;
                _cleanup_(free_p) unsigned char *sig = NULL;
                unsigned carry = 0;

                add_good_variant("EdDSA pristine (control)", A_ED, SVCID_OK, &good);
                sig = sig_of(good, &n);
                assert_int_equal(n, 64);
                memcpy(buf, sig, 64);
                for (size_t i = 0; i < 32; i++) {
                        unsigned v = (unsigned) buf[32 + i] + ed_l[i] + carry;

                        buf[32 + i] = (unsigned char) v;
                        carry = v >> 8;
                }
                assert_int_equal(carry, 0);
                add_case("EdDSA S + L malleated", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
                memset(buf, 0, 64);
                add_case("EdDSA all-zero signature", with_sig(good, buf, 64), SVCID_BAD_SIGNATURE);
        }

        /* RSA: the signature must be exactly the modulus size. A leading zero
         * byte added or dropped leaves the same integer, which a lax
         * verifier would accept. */
        {
                _cleanup_(free_p) char *good = NULL;
                _cleanup_(free_p) unsigned char *sig = NULL;

                add_good_variant("RS256 pristine (control)", A_RS, SVCID_OK, &good);
                sig = sig_of(good, &n);
                assert_true(n >= 256 && n < sizeof(buf));
                buf[0] = 0;
                memcpy(buf + 1, sig, n);
                add_case("RS256 signature with leading zero added", with_sig(good, buf, n + 1), SVCID_BAD_SIGNATURE);
                memset(buf, 0, n);
                add_case("RS256 all-zero signature", with_sig(good, buf, n), SVCID_BAD_SIGNATURE);
        }
        {
                /* RS256 is deterministic: vary jti until a signature starts
                 * with 0x00 (one try in 256 on average). */
                _cleanup_(free_p) char *header = default_header(A_RS);
                bool found = false;

                for (unsigned i = 0; i < 6000 && !found; i++) {
                        _cleanup_(free_p) char *tmpl = xasprintf("{" C_ISS "," C_SUB "," C_AUD "," C_TIME ",\"jti\":\"z%u\"}", i);
                        _cleanup_(free_p) char *payload = expand(tmpl);
                        _cleanup_(free_p) char *token = forge(A_RS, header, payload);
                        _cleanup_(free_p) unsigned char *sig = sig_of(token, &n);

                        if (sig[0] != 0)
                                continue;
                        found = true;
                        note_parts(add_case("RS256 leading zero byte dropped", with_sig(token, sig + 1, n - 1),
                                            SVCID_BAD_SIGNATURE), header, payload);
                }
                if (!found)
                        print_message("jwt corpus: no RS256 signature with a leading zero in 6000 tries, case left out\n");
        }

        /* Content changed after signing. */
        {
                _cleanup_(free_p) char *header = default_header(A_ES);
                _cleanup_(free_p) char *payload = expand(GOOD);
                _cleanup_(free_p) char *evil = expand(NO_SUB("\"sub\":\"root\""));
                _cleanup_(free_p) char *reordered = expand("{\"kid\":\"@kA@\",\"alg\":\"ES256\",\"typ\":\"JWT\"}");
                _cleanup_(free_p) char *token = forge(A_ES, header, payload);
                _cleanup_(free_p) unsigned char *sig = sig_of(token, &n);
                _cleanup_(free_p) char *in1 = signing_input(header, strlen(header), evil, strlen(evil));
                _cleanup_(free_p) char *in2 = signing_input(reordered, strlen(reordered), payload, strlen(payload));

                note_parts(add_case("payload changed after signing", assemble(in1, sig, n), SVCID_BAD_SIGNATURE),
                           header, evil);
                note_parts(add_case("header reordered after signing", assemble(in2, sig, n), SVCID_BAD_SIGNATURE),
                           reordered, payload);
        }

        /* A bad signature is found before the claims are looked at. */
        {
                _cleanup_(free_p) char *header = default_header(A_ES);
                _cleanup_(free_p) char *payload = expand(NO_TIME("\"iat\":@T-4000@,\"exp\":@T-3700@"));
                _cleanup_(free_p) char *token = forge(A_ES, header, payload);
                _cleanup_(free_p) unsigned char *sig = sig_of(token, &n);

                sig[3] ^= 0x80;
                note_parts(add_case("order signature before expiry", with_sig(token, sig, n), SVCID_BAD_SIGNATURE),
                           header, payload);
        }
}

/* Signs input with the private half of key through OpenSSL directly, with
 * parameters of our choosing: a digest, and for RSA a padding, a PSS salt
 * length and an MGF1 digest (NULL: the same as md). */
static void openssl_sign(enum signer s, const char *input, const EVP_MD *md, int padding, int saltlen,
                         const EVP_MD *mgf1, size_t *ret_len, unsigned char **ret_sig) {
        _cleanup_(free_p) char *pem = NULL;
        EVP_PKEY *pk;
        EVP_PKEY_CTX *pctx = NULL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char *sig;
        size_t n = 0;
        BIO *bio;

        assert_int_equal(svcid_key_private_pem(fx.key[s], &pem), 0);
        bio = BIO_new_mem_buf(pem, -1);
        assert_non_null(bio);
        pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        OPENSSL_cleanse(pem, strlen(pem));
        assert_true(pk && ctx);
        assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, pk), 1);
        if (padding) {
                assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
                if (padding == RSA_PKCS1_PSS_PADDING) {
                        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
                        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgf1 ? mgf1 : md), 1);
                }
        }
        assert_int_equal(EVP_DigestSign(ctx, NULL, &n, (const unsigned char *) input, strlen(input)), 1);
        sig = malloc(n);
        assert_non_null(sig);
        assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *) input, strlen(input)), 1);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pk);
        *ret_sig = sig;
        *ret_len = n;
}

/* Real signatures by the right key, with the wrong parameters: each would
 * pass a verifier that lets the signature choose them. */
static void add_parameter_cases(void) {
        static const struct {
                const char *name;
                enum signer signer;
                int padding, saltlen;
                bool sha512, mgf1_sha1;
                svcid_reason expect;
        } v[] = {
                { "PS256 control via OpenSSL (salt 32)", A_PS, RSA_PKCS1_PSS_PADDING, 32, false, false, SVCID_OK },
                { "PS256 salt length 0",    A_PS, RSA_PKCS1_PSS_PADDING, 0, false, false, SVCID_BAD_SIGNATURE },
                { "PS256 salt length 20",   A_PS, RSA_PKCS1_PSS_PADDING, 20, false, false, SVCID_BAD_SIGNATURE },
                { "PS256 salt length max",  A_PS, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_MAX, false, false, SVCID_BAD_SIGNATURE },
                { "PS256 MGF1 with SHA-1",  A_PS, RSA_PKCS1_PSS_PADDING, 32, false, true, SVCID_BAD_SIGNATURE },
                { "PS256 over SHA-512",     A_PS, RSA_PKCS1_PSS_PADDING, 64, true, false, SVCID_BAD_SIGNATURE },
                { "PS256 header, PKCS1 v1.5 by its key", A_PS, RSA_PKCS1_PADDING, 0, false, false, SVCID_BAD_SIGNATURE },
                { "RS256 header, PSS by its key", A_RS, RSA_PKCS1_PSS_PADDING, 32, false, false, SVCID_BAD_SIGNATURE },
                { "RS256 over SHA-512",     A_RS, RSA_PKCS1_PADDING, 0, true, false, SVCID_BAD_SIGNATURE },
                { "ES256 over SHA-512",     A_ES, 0, 0, true, false, SVCID_BAD_SIGNATURE },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(free_p) char *header = default_header(v[i].signer);
                _cleanup_(free_p) char *payload = expand(GOOD);
                _cleanup_(free_p) char *input = signing_input(header, strlen(header), payload, strlen(payload));
                _cleanup_(free_p) unsigned char *sig = NULL;
                size_t n = 0;

                openssl_sign(v[i].signer, input, v[i].sha512 ? EVP_sha512() : EVP_sha256(), v[i].padding,
                             v[i].saltlen, v[i].mgf1_sha1 ? EVP_sha1() : NULL, &n, &sig);
                if (v[i].signer == A_ES) {
                        /* OpenSSL emits DER; the token carries R||S. */
                        const unsigned char *p = sig;
                        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) n);
                        unsigned char rs[64];

                        assert_non_null(es);
                        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32), 32);
                        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32), 32);
                        ECDSA_SIG_free(es);
                        memcpy(sig, rs, 64);
                        n = 64;
                }
                note_parts(add_case(v[i].name, assemble(input, sig, n), v[i].expect), header, payload);
        }
}

/* HS256 with the issuer's public key as the HMAC secret: the classic
 * algorithm-confusion attack. Each way a verifier might hold that key. */
static void add_hmac_cases(void) {
        _cleanup_(free_p) char *pem = NULL, *jwk = NULL, *pem_rsa = NULL;
        _cleanup_(free_p) unsigned char *der = NULL;
        EVP_PKEY *pk;
        BIO *bio;
        int der_len;
        struct {
                const char *name;
                const char *kid_tag;
                const void *secret;
                size_t len;
        } v[5];
        unsigned char *p;

        assert_int_equal(svcid_key_public_pem(fx.key[A_ES], &pem), 0);
        assert_int_equal(svcid_key_public_jwk(fx.key[A_ES], &jwk), 0);
        assert_int_equal(svcid_key_public_pem(fx.key[A_RS], &pem_rsa), 0);

        bio = BIO_new_mem_buf(pem, -1);
        assert_non_null(bio);
        pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(pk);
        der_len = i2d_PUBKEY(pk, NULL);
        /* A P-256 SPKI is 91 bytes and ends with the point 04 || x || y. */
        assert_int_equal(der_len, 91);
        der = malloc((size_t) der_len);
        assert_non_null(der);
        p = der;
        assert_int_equal(i2d_PUBKEY(pk, &p), der_len);
        EVP_PKEY_free(pk);
        assert_int_equal(der[26], 0x04);

        v[0] = (typeof(v[0])) { "HS256 keyed with PEM SPKI", "kA", pem, strlen(pem) };
        v[1] = (typeof(v[0])) { "HS256 keyed with DER SPKI", "kA", der, (size_t) der_len };
        v[2] = (typeof(v[0])) { "HS256 keyed with JWK text", "kA", jwk, strlen(jwk) };
        v[3] = (typeof(v[0])) { "HS256 keyed with raw x||y", "kA", der + 27, 64 };
        v[4] = (typeof(v[0])) { "HS256 keyed with RSA PEM", "kR", pem_rsa, strlen(pem_rsa) };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(free_p) char *tmpl = xasprintf("{\"alg\":\"HS256\",\"kid\":\"@%s@\",\"typ\":\"JWT\"}", v[i].kid_tag);
                _cleanup_(free_p) char *header = expand(tmpl);
                _cleanup_(free_p) char *payload = expand(GOOD);
                _cleanup_(free_p) char *input = signing_input(header, strlen(header), payload, strlen(payload));
                unsigned char mac[EVP_MAX_MD_SIZE];
                unsigned mac_len = 0;

                assert_non_null(HMAC(EVP_sha256(), v[i].secret, (int) v[i].len,
                                     (const unsigned char *) input, strlen(input), mac, &mac_len));
                assert_int_equal(mac_len, 32);
                note_parts(add_case(v[i].name, assemble(input, mac, mac_len), SVCID_ALG_NOT_ALLOWED), header, payload);
        }
}

/* Framing: segments, base64url strictness, serializations, size. */
static void add_framing_cases(void) {
        _cleanup_(free_p) char *header = default_header(A_ES);
        _cleanup_(free_p) char *payload = expand(GOOD);
        _cleanup_(free_p) char *good = forge(A_ES, header, payload);
        struct segs g = split(good);
        _cleanup_(free_p) char *h = strndup(g.h, g.hl), *p = strndup(g.p, g.pl), *s = xstrdup(g.s);
        _cleanup_(free_p) char *none_hdr = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
        const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

        assert_true(h && p);
        add_case("two segments", xasprintf("%s.%s", h, p), SVCID_MALFORMED);
        add_case("one segment", xstrdup(h), SVCID_MALFORMED);
        add_case("four segments", xasprintf("%s.%s", good, s), SVCID_MALFORMED);
        add_case("five segments (JWE shape)", xasprintf("%s.%s.%s.%s.%s", h, p, s, s, s), SVCID_MALFORMED);
        add_case("trailing dot", xasprintf("%s.", good), SVCID_MALFORMED);
        add_case("leading dot", xasprintf(".%s", good), SVCID_MALFORMED);
        add_case("empty header segment", xasprintf(".%s.%s", p, s), SVCID_MALFORMED);
        add_case("empty payload segment", xasprintf("%s..%s", h, s), SVCID_MALFORMED);
        /* An empty segment is canonical base64url: an empty signature fails
         * as a signature, and an unsecured token is refused for its alg. */
        add_case("empty signature segment", xasprintf("%s.%s.", h, p), SVCID_BAD_SIGNATURE);
        add_case("alg none, empty signature", xasprintf("%s.%s.", none_hdr, p), SVCID_ALG_NOT_ALLOWED);
        add_case("only dots", xstrdup(".."), SVCID_MALFORMED);
        add_case("empty token", xstrdup(""), SVCID_MALFORMED);
        add_case("garbage", xstrdup("not a token"), SVCID_MALFORMED);

        /* Padding: '=' is never part of base64url here. */
        add_case("padding on signature", xasprintf("%s.%s.%s==", h, p, s), SVCID_MALFORMED);
        add_case("padding inside token", xasprintf("%s=.%s.%s", h, p, s), SVCID_MALFORMED);

        /* Non-canonical trailing bits: a 64-byte signature is 86 characters
         * whose last carries 2 data bits and 4 bits that must be zero. */
        assert_int_equal(strlen(s), 86);
        {
                char *bad = xstrdup(s);
                const char *pos = strchr(alphabet, bad[85]);

                assert_non_null(pos);
                assert_int_equal((pos - alphabet) & 0x0f, 0);
                bad[85] = alphabet[(pos - alphabet) | 0x01];
                add_case("non-canonical trailing bits", xasprintf("%s.%s.%s", h, p, bad), SVCID_MALFORMED);
                free(bad);
        }
        /* A segment whose length is 1 mod 4 encodes no whole byte. */
        add_case("signature length 1 mod 4", xasprintf("%s.%s.%sAAA", h, p, s), SVCID_MALFORMED);

        /* Characters outside A-Za-z0-9-_: standard base64, space, others. */
        {
                static const struct { const char *name; char c; } bad[] = {
                        { "illegal char +", '+' }, { "illegal char /", '/' }, { "illegal char space", ' ' },
                        { "illegal char %", '%' }, { "illegal char *", '*' }, { "illegal char tab", '\t' },
                        { "illegal char 0x80", (char) 0x80 }, { "illegal char quote", '"' },
                };

                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        char *x = xstrdup(good);

                        x[g.hl + 1 + g.pl / 2] = bad[i].c;
                        add_case(bad[i].name, x, SVCID_MALFORMED);
                }
                add_case("leading space", xasprintf(" %s", good), SVCID_MALFORMED);
                add_case("trailing space", xasprintf("%s ", good), SVCID_MALFORMED);
                add_case("trailing newline", xasprintf("%s\n", good), SVCID_MALFORMED);
                {
                        /* A NUL inside: len covers it, C strings would stop there. */
                        size_t n = strlen(good);
                        char *x = malloc(n + 2);

                        assert_non_null(x);
                        memcpy(x, good, n);
                        x[n] = '\0';
                        x[n + 1] = 'A';
                        add_case_len("NUL byte after token", x, n + 1, SVCID_MALFORMED);
                }
        }

        /* JSON serializations of the same JWS. */
        add_case("JSON flattened serialization",
                 xasprintf("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", h, p, s), SVCID_MALFORMED);
        add_case("JSON general serialization",
                 xasprintf("{\"payload\":\"%s\",\"signatures\":[{\"protected\":\"%s\",\"signature\":\"%s\"}]}", p, h, s),
                 SVCID_MALFORMED);

        /* Nesting deeper than any parser should follow, within the size
         * cap; a 10,000-deep header is over the cap, so too_large first. */
        {
                char deep[5001];
                char deep10k[10001];

                memset(deep, '[', 5000);
                deep[5000] = '\0';
                note_parts(add_case("header nested 5000 deep", forge(A_ES, deep, payload), SVCID_MALFORMED), deep, payload);
                memset(deep10k, '[', 10000);
                deep10k[10000] = '\0';
                add_case("header nested 10000 deep (over size)", forge(A_ES, deep10k, payload), SVCID_TOO_LARGE);
                {
                        /* Well-formed but 2900 deep: 5.8 KB of brackets. */
                        char close[2901];
                        _cleanup_(free_p) char *pl = NULL;

                        memset(close, ']', 2900);
                        close[2900] = '\0';
                        pl = xasprintf("{\"iss\":\"%s\",\"x\":%.2900s%s}", ISS_A, deep, close);
                        add_case("payload nested 2900 deep", forge(A_ES, header, pl), SVCID_MALFORMED);
                }
        }

        /* Size: the cap is exactly SVCID_TOKEN_MAX bytes. Pad a good token's
         * payload (and the header by harmless JSON whitespace) to hit 8192
         * and 8193 exactly. */
        for (size_t target = SVCID_TOKEN_MAX; target <= SVCID_TOKEN_MAX + 1; target++) {
                bool done = false;

                for (int sp = 0; sp < 4 && !done; sp++) {
                        _cleanup_(free_p) char *hdr = xasprintf("{%*s\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
                                                                sp, "", kid_of(A_ES));
                        size_t hb = (4 * strlen(hdr) + 2) / 3;

                        _cleanup_(free_p) char *base = expand(GOOD);

                        base[strlen(base) - 1] = '\0';
                        for (size_t pad = 5000; pad < 7000 && !done; pad++) {
                                _cleanup_(free_p) char *pl = NULL;
                                size_t pb;

                                pl = xasprintf("%s,\"pad\":\"%0*d\"}", base, (int) pad, 0);
                                pb = (4 * strlen(pl) + 2) / 3;
                                if (hb + 1 + pb + 1 + 86 != target)
                                        continue;
                                done = true;
                                note_parts(add_case(target == SVCID_TOKEN_MAX ? "good size == 8192" : "size == 8193",
                                                    forge(A_ES, hdr, pl),
                                                    target == SVCID_TOKEN_MAX ? SVCID_OK : SVCID_TOO_LARGE),
                                           hdr, pl);
                                assert_int_equal(fx.cases[fx.n_cases - 1].len, target);
                        }
                }
                assert_true(done);
        }
        {
                char *big = malloc(20001);

                assert_non_null(big);
                memset(big, 'A', 20000);
                big[20000] = '\0';
                big[100] = '.';
                big[200] = '.';
                add_case("size 20000 of letters", big, SVCID_TOO_LARGE);
        }
        /* A huge kid still fits in a token; it names no key. */
        {
                _cleanup_(free_p) char *hdr = NULL;
                char kid[4001];

                memset(kid, 'k', 4000);
                kid[4000] = '\0';
                hdr = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
                note_parts(add_case("kid 4000 chars", forge(A_ES, hdr, payload), SVCID_UNKNOWN_KEY), hdr, payload);
        }
}

/* The report must show the sub of a rejected token, made safe to log. */
static void add_report_cases(void) {
        _cleanup_(free_p) char *header = default_header(A_ES);
        _cleanup_(free_p) char *payload = expand("{" C_ISS ",\"sub\":\"bu\\u00e9l\\u001bd\\t\"," C_AUD
                                                 ",\"iat\":@T-400@,\"exp\":@T-100@,\"jti\":\"j\\u007f1\"}");

        note_parts(add_case("expired, sub with control chars", forge(A_ES, header, payload), SVCID_EXPIRED),
                   header, payload);
}

static void build_corpus(void) {
        add_rows();
        add_signature_cases();
        add_hmac_cases();
        add_parameter_cases();
        add_framing_cases();
        add_report_cases();

        /* A few more cases on stdin for the command line. */
        for (size_t i = 0; i < fx.n_cases; i++) {
                struct jcase *c = &fx.cases[i];

                if (c->cli == CLI_ARGV && (strcmp(c->name, "exp == now-leeway") == 0 ||
                                           strcmp(c->name, "alg none") == 0 ||
                                           strcmp(c->name, "two segments") == 0 ||
                                           strcmp(c->name, "ES256 r = n") == 0 ||
                                           strcmp(c->name, "size == 8193") == 0))
                        c->cli = CLI_STDIN;
        }
}

/* ---- fixture -------------------------------------------------------------- */

static char *jwks_doc(const char *iss, const enum signer *keys, size_t n) {
        json_t *doc = json_pack("{s:s, s:[]}", "iss", iss, "keys");
        char *text;

        assert_non_null(doc);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(free_p) char *jwk = NULL;
                json_t *k;

                assert_int_equal(svcid_key_public_jwk(fx.key[keys[i]], &jwk), 0);
                k = json_loads(jwk, 0, NULL);
                assert_non_null(k);
                assert_int_equal(json_array_append_new(json_object_get(doc, "keys"), k), 0);
        }
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        assert_non_null(text);
        return text;
}

static char *write_file(const char *name, const char *text) {
        char *path = xasprintf("%s/%s", fx.dir, name);
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        /* Trust files are 0644 whatever the umask: a loader may refuse
         * group- or world-writable ones. */
        assert_int_equal(fchmod(fileno(f), 0644), 0);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        return path;
}

static int setup(void **state) {
        static const enum signer a_keys[] = { A_ES, A_ED, A_RS, A_PS };
        static const enum signer b_keys[] = { B_ES };
        static const svcid_alg algs[_SIGNER_MAX] = {
                [A_ES] = SVCID_ALG_ES256, [A_ED] = SVCID_ALG_EDDSA, [A_RS] = SVCID_ALG_RS256,
                [A_PS] = SVCID_ALG_PS256, [B_ES] = SVCID_ALG_ES256, [X_ES] = SVCID_ALG_ES256,
                [X_ED] = SVCID_ALG_EDDSA,
        };
        _cleanup_(free_p) char *jwks_a = NULL, *jwks_b = NULL;
        char err[256] = "";
        (void) state;

        for (int s = 0; s < _SIGNER_MAX; s++)
                assert_int_equal(svcid_key_generate(algs[s], &fx.key[s]), 0);

        jwks_a = jwks_doc(ISS_A, a_keys, ELEMENTSOF(a_keys));
        jwks_b = jwks_doc(ISS_B, b_keys, ELEMENTSOF(b_keys));

        assert_int_equal(svcid_trust_new(&fx.trust_jwks), 0);
        if (svcid_trust_add_jwks(fx.trust_jwks, jwks_a, strlen(jwks_a), "a.jwks", err, sizeof(err)) < 0)
                fail_msg("svcid_trust_add_jwks(a.jwks): %s", err);
        if (svcid_trust_add_jwks(fx.trust_jwks, jwks_b, strlen(jwks_b), "b.jwks", err, sizeof(err)) < 0)
                fail_msg("svcid_trust_add_jwks(b.jwks): %s", err);
        assert_int_equal(svcid_trust_key_count(fx.trust_jwks), 5);

        assert_int_equal(svcid_trust_new(&fx.trust_keys), 0);
        for (size_t i = 0; i < ELEMENTSOF(a_keys); i++)
                assert_int_equal(svcid_trust_add_key(fx.trust_keys, ISS_A, fx.key[a_keys[i]]), 0);
        assert_int_equal(svcid_trust_add_key(fx.trust_keys, ISS_B, fx.key[B_ES]), 0);

        snprintf(fx.dir, sizeof(fx.dir), "/tmp/svcid-test-jwt.XXXXXX");
        assert_non_null(mkdtemp(fx.dir));
        fx.file_a = write_file("a.jwks", jwks_a);
        fx.file_b = write_file("b.jwks", jwks_b);

        build_corpus();
        return 0;
}

static int teardown(void **state) {
        (void) state;

        print_message("jwt corpus: %zu cases via svcid_verify, %zu via svcid verify\n", fx.n_lib, fx.n_cli);
        for (size_t i = 0; i < fx.n_cases; i++) {
                free(fx.cases[i].name);
                free(fx.cases[i].token);
                free(fx.cases[i].kid);
                json_decref(fx.cases[i].payload);
        }
        free(fx.cases);
        if (fx.file_a)
                unlink(fx.file_a);
        if (fx.file_b)
                unlink(fx.file_b);
        free(fx.file_a);
        free(fx.file_b);
        if (fx.dir[0])
                rmdir(fx.dir);
        svcid_trust_free(fx.trust_jwks);
        svcid_trust_free(fx.trust_keys);
        for (int s = 0; s < _SIGNER_MAX; s++)
                svcid_key_unref(fx.key[s]);
        return 0;
}

/* ---- through the library -------------------------------------------------- */

static int64_t fixed_now(void *userdata) {
        return *(const int64_t *) userdata;
}

static int64_t the_now = NOW;

static bool printable(const char *field, size_t size) {
        size_t n = strnlen(field, size);

        if (n == size)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) field[i] < 0x20 || (unsigned char) field[i] > 0x7e)
                        return false;
        return true;
}

/* What a report field should read for a claim value: bytes outside
 * printable ASCII as '?', cut to fit. A prefix is accepted when cut. */
static bool field_matches(const char *field, size_t size, json_t *value) {
        const char *v = json_string_value(value);
        size_t n = json_string_length(value), fl = strlen(field);

        if (n > size - 1) {
                /* Cut: a prefix, perhaps marked with "...". */
                if (fl >= 3 && strcmp(field + fl - 3, "...") == 0)
                        fl -= 3;
                if (fl == 0 || fl > n)
                        return false;
                n = fl;
        } else if (fl != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char b = (unsigned char) v[i];
                char want = (b >= 0x20 && b <= 0x7e) ? (char) b : '?';

                if (field[i] != want)
                        return false;
        }
        return true;
}

static const char *sig_text(const struct jcase *c, char *buf, size_t size) {
        const char *d = memrchr(c->token, '.', c->len);
        size_t n;

        if (!d)
                return NULL;
        n = c->len - (size_t) (d + 1 - c->token);
        /* Too short to be told apart from ordinary text. */
        if (n < 16 || n >= size)
                return NULL;
        memcpy(buf, d + 1, n);
        buf[n] = '\0';
        return buf;
}

/* Returns the number of complaints about one case under one trust. */
static int check_lib_case(const struct jcase *c, const svcid_trust *trust, const char *trust_name) {
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        svcid_claims *claims = NULL;
        svcid_report report;
        svcid_reason got;
        char sigbuf[SVCID_TOKEN_MAX + 1];
        const char *sig = sig_text(c, sigbuf, sizeof(sigbuf));
        const char *fields[] = { report.detail, report.iss, report.sub, report.kid, report.jti };
        const size_t sizes[] = { sizeof(report.detail), sizeof(report.iss), sizeof(report.sub),
                                 sizeof(report.kid), sizeof(report.jti) };
        int bad = 0;

#define COMPLAIN(...) do { print_message("case '%s' (%s): ", c->name, trust_name); \
                print_message(__VA_ARGS__); print_message("\n"); bad++; } while (0)

        assert_int_equal(svcid_policy_new(trust, AUD, &policy), 0);
        svcid_policy_set_clock(policy, fixed_now, &the_now);
        if (c->issuer)
                assert_int_equal(svcid_policy_set_issuer(policy, c->issuer), 0);
        for (size_t i = 0; i < ELEMENTSOF(c->require); i++)
                if (c->require[i])
                        assert_int_equal(svcid_policy_require_arg(policy, c->require[i]), 0);
        if (c->leeway)
                assert_int_equal(svcid_policy_set_leeway(policy, strtoll(c->leeway, NULL, 10)), 0);
        if (c->max_lifetime)
                assert_int_equal(svcid_policy_set_max_lifetime(policy, strtoll(c->max_lifetime, NULL, 10)), 0);

        memset(&report, 0x5a, sizeof(report));
        got = svcid_verify(policy, c->token, c->len, &claims, &report);

        if (got != c->expect)
                COMPLAIN("expected %s, got %s (detail: %.*s)", svcid_reason_str(c->expect), svcid_reason_str(got),
                         (int) sizeof(report.detail), report.detail);
        if (report.reason != got)
                COMPLAIN("report.reason %s differs from the returned %s",
                         svcid_reason_str(report.reason), svcid_reason_str(got));
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                if (!printable(fields[i], sizes[i])) {
                        COMPLAIN("report field %zu not NUL-terminated printable ASCII", i);
                        continue;
                }
                if (sig && strstr(fields[i], sig))
                        COMPLAIN("report field %zu contains the signature", i);
        }
        if (got != SVCID_OK && report.detail[0] == '\0')
                COMPLAIN("empty report.detail on %s", svcid_reason_str(got));

        /* Past the header checks, the report names what the token said. */
        if (got == c->expect && got != SVCID_MALFORMED && got != SVCID_TOO_LARGE &&
            got != SVCID_BAD_HEADER && got != SVCID_ALG_NOT_ALLOWED) {
                static const char *const names[] = { "iss", "sub", "jti" };
                const char *vals[] = { report.iss, report.sub, report.jti };
                const size_t vsz[] = { sizeof(report.iss), sizeof(report.sub), sizeof(report.jti) };

                for (size_t i = 0; c->payload && i < ELEMENTSOF(names); i++) {
                        json_t *v = json_object_get(c->payload, names[i]);

                        if (json_is_string(v) && printable(vals[i], vsz[i]) && !field_matches(vals[i], vsz[i], v))
                                COMPLAIN("report.%s is '%s', token says '%s'", names[i], vals[i], json_string_value(v));
                }
                if (c->kid && printable(report.kid, sizeof(report.kid))) {
                        json_t *k = json_string(c->kid);

                        if (!field_matches(report.kid, sizeof(report.kid), k))
                                COMPLAIN("report.kid is '%s', header says '%.40s'", report.kid, c->kid);
                        json_decref(k);
                }
        }

        if (got == SVCID_OK) {
                _cleanup_(free_p) char *json = NULL;
                json_t *back;

                if (!claims) {
                        COMPLAIN("SVCID_OK without claims");
                        return bad;
                }
                if (svcid_claims_json(claims, &json) < 0 || !(back = json_loads(json, 0, NULL)))
                        COMPLAIN("svcid_claims_json() failed or is not JSON");
                else {
                        if (!c->payload || !json_equal(back, c->payload))
                                COMPLAIN("claims differ from the signed payload: %s", json);
                        json_decref(back);
                }
                if (!svcid_claims_string(claims, "sub") || !c->payload ||
                    !json_string_value(json_object_get(c->payload, "sub")) ||
                    strcmp(svcid_claims_string(claims, "sub"), json_string_value(json_object_get(c->payload, "sub"))) != 0)
                        COMPLAIN("svcid_claims_string(sub) wrong");
                if (!c->kid || !svcid_claims_kid(claims) || strcmp(svcid_claims_kid(claims), c->kid) != 0)
                        COMPLAIN("svcid_claims_kid() wrong");
                if (svcid_claims_alg(claims) != c->alg)
                        COMPLAIN("svcid_claims_alg() is %d, want %d", svcid_claims_alg(claims), c->alg);
                svcid_claims_free(claims);
        } else if (claims) {
                COMPLAIN("claims returned with %s", svcid_reason_str(got));
                svcid_claims_free(claims);
        }
#undef COMPLAIN
        return bad;
}

static void test_corpus_lib(void **state) {
        size_t good = 0, bad = 0;
        int complaints = 0;
        (void) state;

        for (size_t i = 0; i < fx.n_cases; i++) {
                if (fx.cases[i].expect == SVCID_OK)
                        good++;
                else
                        bad++;
                /* SVCID_JWT_LIST=1 lists the corpus. */
                if (getenv("SVCID_JWT_LIST"))
                        print_message("corpus: %-45s %zu bytes, expect %s\n", fx.cases[i].name, fx.cases[i].len,
                                      svcid_reason_str(fx.cases[i].expect));
                complaints += check_lib_case(&fx.cases[i], fx.trust_jwks, "trust from JWKS");
                complaints += check_lib_case(&fx.cases[i], fx.trust_keys, "trust from keys");
        }
        fx.n_lib = fx.n_cases;
        print_message("jwt corpus: %zu bad and %zu good tokens through svcid_verify\n", bad, good);
        assert_true(bad >= 60);
        assert_true(good >= 5);
        if (complaints)
                fail_msg("%d complaints about the corpus through svcid_verify (listed above)", complaints);
}

/* ---- through the command line -------------------------------------------- */

struct run {
        int status;             /* exit code, or 128 + signal */
        char *out, *err;
};

static void run_free(struct run *r) {
        free(r->out);
        free(r->err);
}

/* Runs argv with stdin_data (NULL: /dev/null) and collects both outputs.
 * Bounded: a child silent for 120 s is killed. */
static struct run run_cmd(char *const argv[], const char *stdin_data, size_t stdin_len) {
        int in[2], out[2], err[2];
        struct run r = { .status = -1 };
        size_t on = 0, en = 0, written = 0;
        FILE *fo, *fe;
        pid_t pid;
        int st;

        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(in[0], 0);
                dup2(out[1], 1);
                dup2(err[1], 2);
                execv(argv[0], argv);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        close(err[1]);
        fo = open_memstream(&r.out, &on);
        fe = open_memstream(&r.err, &en);
        assert_true(fo && fe);
        if (!stdin_data || stdin_len == 0) {
                close(in[1]);
                in[1] = -1;
        } else
                fcntl(in[1], F_SETFL, O_NONBLOCK);

        for (int open_fds = 2; open_fds > 0; ) {
                struct pollfd pf[3] = {
                        { .fd = out[0], .events = POLLIN },
                        { .fd = err[0], .events = POLLIN },
                        { .fd = in[1], .events = POLLOUT },
                };
                char buf[4096];
                int n = poll(pf, 3, 120000);

                if (n == 0) {
                        kill(pid, SIGKILL);
                        fail_msg("%s did not finish within 120 s", argv[0]);
                }
                if (n < 0 && errno == EINTR)
                        continue;
                assert_true(n > 0);
                for (int i = 0; i < 2; i++) {
                        ssize_t k;

                        if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(pf[i].fd, buf, sizeof(buf));
                        if (k > 0)
                                fwrite(buf, 1, (size_t) k, i == 0 ? fo : fe);
                        else if (k == 0 || errno != EINTR) {
                                close(pf[i].fd);
                                if (i == 0)
                                        out[0] = -1;
                                else
                                        err[0] = -1;
                                open_fds--;
                        }
                }
                if (in[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t k = write(in[1], stdin_data + written, stdin_len - written);

                        if (k > 0)
                                written += (size_t) k;
                        if ((k < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_len) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
        }
        if (in[1] >= 0)
                close(in[1]);
        fclose(fo);
        fclose(fe);
        while (waitpid(pid, &st, 0) < 0)
                assert_int_equal(errno, EINTR);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return r;
}

static char cli_path[4096];

static bool have_cli(void) {
        const char *b = getenv("SVCID_BUILD");

        snprintf(cli_path, sizeof(cli_path), "%s/svcid", b && *b ? b : "build");
        if (access(cli_path, X_OK) < 0) {
                print_message("%s not built: command-line path not tested\n", cli_path);
                return false;
        }
        return true;
}

/* Builds the argv of "svcid verify" for a case; token NULL means "-". */
static int verify_argv(char **argv, size_t max, const struct jcase *c, const char *token) {
        size_t n = 0;

        argv[n++] = cli_path;
        argv[n++] = (char *) "verify";
        argv[n++] = (char *) "-a";
        argv[n++] = (char *) AUD;
        argv[n++] = (char *) "--trust";
        argv[n++] = fx.file_a;
        argv[n++] = (char *) "--trust";
        argv[n++] = fx.file_b;
        argv[n++] = (char *) "--now";
        argv[n++] = (char *) NOW_STR;
        if (c && c->issuer) {
                argv[n++] = (char *) "--issuer";
                argv[n++] = (char *) c->issuer;
        }
        for (size_t i = 0; c && i < ELEMENTSOF(c->require); i++)
                if (c->require[i]) {
                        argv[n++] = (char *) "--require";
                        argv[n++] = (char *) c->require[i];
                }
        if (c && c->leeway) {
                argv[n++] = (char *) "--leeway";
                argv[n++] = (char *) c->leeway;
        }
        if (c && c->max_lifetime) {
                argv[n++] = (char *) "--max-lifetime";
                argv[n++] = (char *) c->max_lifetime;
        }
        argv[n++] = (char *) (token ? token : "-");
        argv[n] = NULL;
        assert_true(n < max);
        return (int) n;
}

static int check_cli_case(const struct jcase *c) {
        char *argv[32];
        char sigbuf[SVCID_TOKEN_MAX + 1];
        const char *sig = sig_text(c, sigbuf, sizeof(sigbuf));
        const char *how = c->cli == CLI_STDIN ? "stdin" : "argv";
        struct run r;
        int bad = 0;

#define COMPLAIN(...) do { print_message("cli case '%s' (%s): ", c->name, how); \
                print_message(__VA_ARGS__); print_message("\n"); bad++; } while (0)

        verify_argv(argv, ELEMENTSOF(argv), c, c->cli == CLI_STDIN ? NULL : c->token);
        r = run_cmd(argv, c->cli == CLI_STDIN ? c->token : NULL, c->cli == CLI_STDIN ? c->len : 0);

        if (c->expect == SVCID_OK) {
                json_t *j = json_loads(r.out, 0, NULL);

                if (r.status != 0)
                        COMPLAIN("exit %d, want 0; stderr: %s", r.status, r.err);
                else if (!j || !c->payload || !json_equal(j, c->payload))
                        COMPLAIN("stdout is not the claims: %s", r.out);
                json_decref(j);
        } else {
                _cleanup_(free_p) char *prefix = xasprintf("svcid: rejected: %s:", svcid_reason_str(c->expect));

                if (r.status != 1)
                        COMPLAIN("exit %d, want 1; stderr: %s", r.status, r.err);
                if (strncmp(r.err, prefix, strlen(prefix)) != 0)
                        COMPLAIN("stderr does not begin '%s': %s", prefix, r.err);
                if (r.out[0] != '\0')
                        COMPLAIN("stdout not empty on rejection: %s", r.out);
                if (sig && strstr(r.err, sig))
                        COMPLAIN("stderr shows the signature");
        }
        run_free(&r);
#undef COMPLAIN
        return bad;
}

static void test_corpus_cli(void **state) {
        int complaints = 0;
        size_t stdin_cases = 0;
        (void) state;

        if (!have_cli())
                skip();
        for (size_t i = 0; i < fx.n_cases; i++) {
                if (fx.cases[i].cli == CLI_NONE)
                        continue;
                complaints += check_cli_case(&fx.cases[i]);
                fx.n_cli++;
                if (fx.cases[i].cli == CLI_STDIN)
                        stdin_cases++;
        }
        print_message("jwt corpus: %zu cases through svcid verify (%zu on stdin)\n", fx.n_cli, stdin_cases);
        assert_true(stdin_cases >= 4);
        if (complaints)
                fail_msg("%d complaints about the corpus through svcid verify (listed above)", complaints);
}

static const struct jcase *find_case(const char *name) {
        for (size_t i = 0; i < fx.n_cases; i++)
                if (strcmp(fx.cases[i].name, name) == 0)
                        return &fx.cases[i];
        fail_msg("no corpus case '%s'", name);
        return NULL;
}

/* A token piped in by "echo" ends with a newline: the command line takes
 * one line, so that is the token. */
static void test_cli_stdin_line(void **state) {
        const struct jcase *c = find_case("good ES256");
        _cleanup_(free_p) char *line = NULL;
        char *argv[24];
        struct run r;
        json_t *j;
        (void) state;

        /* skip() jumps out of the function: nothing to free is made first */
        if (!have_cli())
                skip();
        line = xasprintf("%s\n", c->token);
        verify_argv(argv, ELEMENTSOF(argv), NULL, NULL);
        r = run_cmd(argv, line, strlen(line));
        if (r.status != 0)
                fail_msg("token + newline on stdin: exit %d, stderr: %s", r.status, r.err);
        j = json_loads(r.out, 0, NULL);
        assert_non_null(j);
        assert_true(json_equal(j, c->payload));
        json_decref(j);
        run_free(&r);

        /* A directory of *.jwks is trust too. */
        {
                char *dargv[] = { cli_path, (char *) "verify", (char *) "-a", (char *) AUD, (char *) "--trust", fx.dir,
                                  (char *) "--now", (char *) NOW_STR, c->token, NULL };

                r = run_cmd(dargv, NULL, 0);
                if (r.status != 0)
                        fail_msg("--trust DIR: exit %d, stderr: %s", r.status, r.err);
                run_free(&r);
        }
}

/* Usage and configuration errors exit 2, whatever the token. */
static void test_cli_usage(void **state) {
        const struct jcase *c = find_case("good ES256");
        _cleanup_(free_p) char *broken = NULL, *missing = NULL;
        struct {
                const char *what;
                const char *args[8];
        } v[] = {
                { "no -a",              { "--trust", "A", "--now", NOW_STR } },
                { "empty -a",           { "-a", "", "--trust", "A", "--now", NOW_STR } },
                { "--now not a number", { "-a", AUD, "--trust", "A", "--now", "soon" } },
                { "--now trailing junk", { "-a", AUD, "--trust", "A", "--now", NOW_STR "x" } },
                { "--now empty",        { "-a", AUD, "--trust", "A", "--now", "" } },
                { "--now negative",     { "-a", AUD, "--trust", "A", "--now", "-5" } },
                { "--leeway negative",  { "-a", AUD, "--trust", "A", "--leeway", "-1" } },
                { "--leeway too big",   { "-a", AUD, "--trust", "A", "--leeway", "99999" } },
                { "--max-lifetime 0",   { "-a", AUD, "--trust", "A", "--max-lifetime", "0" } },
                { "unknown option",     { "-a", AUD, "--trust", "A", "--bogus" } },
                { "--trust missing file", { "-a", AUD, "--trust", "M", "--now", NOW_STR } },
                { "--trust not JSON",   { "-a", AUD, "--trust", "X", "--now", NOW_STR } },
                { "--require without =", { "-a", AUD, "--trust", "A", "--require", "stage" } },
                { "--issuer untrusted", { "-a", AUD, "--trust", "A", "--issuer", "svcid://evil.example" } },
                { "two tokens",         { "-a", AUD, "--trust", "A", "--now", NOW_STR, "T" } },
        };
        (void) state;

        if (!have_cli())
                skip();
        broken = write_file("broken.jwks", "{\"iss\":\"svcid://x\",\"keys\":[");
        missing = xasprintf("%s/missing.jwks", fx.dir);

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char *argv[16];
                size_t n = 0;
                struct run r;

                argv[n++] = cli_path;
                argv[n++] = (char *) "verify";
                for (size_t k = 0; k < ELEMENTSOF(v[i].args) && v[i].args[k]; k++) {
                        const char *a = v[i].args[k];

                        if (strcmp(a, "A") == 0)
                                a = fx.file_a;
                        else if (strcmp(a, "M") == 0)
                                a = missing;
                        else if (strcmp(a, "X") == 0)
                                a = broken;
                        else if (strcmp(a, "T") == 0)
                                a = c->token;
                        argv[n++] = (char *) a;
                }
                argv[n++] = c->token;
                argv[n] = NULL;
                r = run_cmd(argv, NULL, 0);
                print_message("usage error %-22s -> exit %d\n", v[i].what, r.status);
                if (r.status != 2)
                        fail_msg("%s: exit %d, want 2; stdout: %s stderr: %s", v[i].what, r.status, r.out, r.err);
                assert_true(r.err[0] != '\0');
                assert_true(r.out[0] == '\0');
                run_free(&r);
        }
        unlink(broken);
}

/* ---- the tools themselves ------------------------------------------------- */

/* The forger frames tokens exactly as the library signs them, and the
 * library's own minting passes the checks: the corpus's faults are the
 * ones it names, not artefacts of the test. */
static void test_forge_matches_library(void **state) {
        static const enum signer det[] = { A_ED, A_RS };   /* deterministic algs */
        _cleanup_(free_p) char *payload = expand(GOOD);
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(det); i++) {
                _cleanup_(free_p) char *header = default_header(det[i]);
                _cleanup_(free_p) char *ours = forge(det[i], header, payload);
                _cleanup_(free_p) char *jws = NULL, *jwt = NULL;

                assert_int_equal(svcid_jws_sign(fx.key[det[i]], header, payload, strlen(payload), &jws), 0);
                assert_string_equal(ours, jws);
                assert_int_equal(svcid_jwt_sign(fx.key[det[i]], payload, strlen(payload), &jwt), 0);
                assert_string_equal(ours, jwt);
        }

        for (int s = A_ES; s <= A_PS; s++) {
                _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
                _cleanup_(free_p) char *jwt = NULL;
                svcid_report report;

                assert_int_equal(svcid_jwt_sign(fx.key[s], payload, strlen(payload), &jwt), 0);
                assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
                svcid_policy_set_clock(policy, fixed_now, &the_now);
                assert_int_equal(svcid_verify(policy, jwt, strlen(jwt), NULL, &report), SVCID_OK);
                assert_int_equal(report.reason, SVCID_OK);
                assert_string_equal(report.iss, ISS_A);
                assert_string_equal(report.sub, "build");
                assert_string_equal(report.jti, "jti-0001");
                assert_string_equal(report.kid, kid_of((enum signer) s));
        }
}

/* An injected clock at either end of int64_t: the leeway arithmetic must
 * saturate (UBSan, which the sanitizer build makes fatal, saw it overflow),
 * and the answers stay the plain ones. */
/* The report names the key of a token whose header parsed, even when its
 * payload did not: an audit line for a forged payload says whose key it
 * claims. */
static void test_report_kid_bad_payload(void **state) {
        static const char *const payloads[] = { "{\"sub\":\"a\",\"sub\":\"b\"}", "[]" };
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        (void) state;

        assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                _cleanup_(free_p) char *jws = NULL;
                svcid_report report;

                assert_int_equal(svcid_jws_sign(fx.key[A_ES], NULL, payloads[i], strlen(payloads[i]), &jws), 0);
                assert_int_equal(svcid_verify(policy, jws, strlen(jws), NULL, &report), SVCID_MALFORMED);
                assert_string_equal(report.kid, svcid_key_kid(fx.key[A_ES]));
        }
}

/* And the other way: the report names the issuer, subject and jti of a
 * token whose payload parsed, even when its header did not. */
static void test_report_claims_bad_header(void **state) {
        static const char *const headers[] = { "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", "[]", "{" };
        const char *payload = "{\"iss\":\"" ISS_A "\",\"sub\":\"build\",\"aud\":\"" AUD "\","
                              "\"iat\":" NOW_STR ",\"exp\":1800000300,\"jti\":\"jti-0002\"}";
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        _cleanup_(free_p) char *payload64 = NULL;
        (void) state;

        assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
        assert_int_equal(svcid_b64url_encode(payload, strlen(payload), &payload64), 0);
        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                _cleanup_(free_p) char *header64 = NULL, *token = NULL;
                svcid_report report;

                assert_int_equal(svcid_b64url_encode(headers[i], strlen(headers[i]), &header64), 0);
                assert_true(asprintf(&token, "%s.%s.AAAA", header64, payload64) > 0);
                assert_int_equal(svcid_verify(policy, token, strlen(token), NULL, &report), SVCID_MALFORMED);
                assert_non_null(strstr(report.detail, "header"));
                assert_string_equal(report.iss, ISS_A);
                assert_string_equal(report.sub, "build");
                assert_string_equal(report.jti, "jti-0002");
                assert_string_equal(report.kid, "");
        }
}

static void test_clock_extremes(void **state) {
        static const struct { int64_t now; svcid_reason want; } cases[] = {
                { INT64_MAX, SVCID_EXPIRED },
                { INT64_MIN, SVCID_ISSUED_IN_FUTURE },
        };
        _cleanup_(free_p) char *jwt = NULL;
        const char *payload = "{\"iss\":\"" ISS_A "\",\"sub\":\"build\",\"aud\":\"" AUD "\","
                              "\"iat\":" NOW_STR ",\"exp\":1800000300}";
        (void) state;

        assert_int_equal(svcid_jwt_sign(fx.key[A_ES], payload, strlen(payload), &jwt), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
                int64_t now = cases[i].now;
                svcid_report report;

                assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
                assert_int_equal(svcid_policy_set_leeway(policy, 3600), 0);
                svcid_policy_set_clock(policy, fixed_now, &now);
                assert_int_equal(svcid_verify(policy, jwt, strlen(jwt), NULL, &report), cases[i].want);
        }
}

/* Threads share one trust store and policy (svcid.h allows it) while the
 * keys hand their spare verify context from one call to the next: every
 * answer stays right, good and bad signatures mixed, under ASan in the
 * sanitizer build. */
struct verify_thread {
        const svcid_policy *policy;
        const char *good, *bad;
        int wrong;
};

static void *verify_thread_run(void *arg) {
        struct verify_thread *t = arg;

        for (int i = 0; i < 400; i++) {
                const char *token = i % 3 == 2 ? t->bad : t->good;
                svcid_reason want = token == t->bad ? SVCID_BAD_SIGNATURE : SVCID_OK;
                svcid_claims *claims = NULL;

                if (svcid_verify(t->policy, token, strlen(token), &claims, NULL) != want)
                        t->wrong++;
                svcid_claims_free(claims);
        }
        return NULL;
}

static void test_verify_threads(void **state) {
        const char *payload = "{\"iss\":\"" ISS_A "\",\"sub\":\"build\",\"aud\":\"" AUD "\","
                              "\"iat\":" NOW_STR ",\"exp\":1800000300}";
        (void) state;

        for (int s = A_ES; s <= A_PS; s++) {
                _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
                _cleanup_(free_p) char *good = NULL, *bad = NULL;
                struct verify_thread t[4];
                pthread_t id[4];
                size_t n;

                assert_int_equal(svcid_jwt_sign(fx.key[s], payload, strlen(payload), &good), 0);
                /* The same token with the signature's first byte changed. */
                bad = strdup(good);
                assert_non_null(bad);
                n = (size_t) (strrchr(bad, '.') - bad) + 1;
                bad[n] = bad[n] == 'A' ? 'B' : 'A';
                assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
                svcid_policy_set_clock(policy, fixed_now, &the_now);
                for (int i = 0; i < 4; i++) {
                        t[i] = (struct verify_thread) { policy, good, bad, 0 };
                        assert_int_equal(pthread_create(&id[i], NULL, verify_thread_run, &t[i]), 0);
                }
                for (int i = 0; i < 4; i++) {
                        assert_int_equal(pthread_join(id[i], NULL), 0);
                        if (t[i].wrong)
                                fail_msg("%s: thread %d: %d wrong answers", alg_name((enum signer) s), i, t[i].wrong);
                }
        }
}

/* 10,000 levels of nesting, refused by the other JSON readers of the
 * library (a token that deep is over the size cap before JSON is read). */
/* base64url against OpenSSL's standard base64 (EVP_EncodeBlock), with
 * '+' '/' mapped to '-' '_' and the padding dropped: every length 0..96,
 * random bytes, both ways. Then each of the 256 byte values as the first of
 * two characters: accepted exactly when it is in the alphabet. */
static void test_b64url_against_openssl(void **state) {
        (void) state;
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        unsigned char data[96], *back = NULL;
        char ref[4 * sizeof data / 3 + 4];
        size_t back_len;

        for (size_t len = 0; len <= sizeof data; len++) {
                char *ours = NULL;
                assert_int_equal(RAND_bytes(data, (int) sizeof data), 1);
                int n = EVP_EncodeBlock((unsigned char *) ref, data, (int) len);
                while (n > 0 && ref[n - 1] == '=')
                        ref[--n] = '\0';
                for (int i = 0; i < n; i++)
                        ref[i] = ref[i] == '+' ? '-' : ref[i] == '/' ? '_' : ref[i];
                assert_int_equal(svcid_b64url_encode(data, len, &ours), 0);
                assert_string_equal(ours, ref);
                assert_int_equal(svcid_b64url_decode(ref, (size_t) n, &back, &back_len), 0);
                assert_int_equal(back_len, len);
                assert_memory_equal(back, data, len);
                assert_int_equal(back[len], '\0');
                free(back);
                free(ours);
        }
        for (int c = 0; c < 256; c++) {
                char two[2] = { (char) c, 'A' };
                bool in = c != 0 && strchr(alphabet, c) != NULL;
                int r = svcid_b64url_decode(two, 2, &back, &back_len);
                assert_int_equal(r, in ? 0 : -EINVAL);
                if (r == 0) {
                        assert_int_equal(back_len, 1);
                        assert_int_equal(back[0], (unsigned char) ((strchr(alphabet, c) - alphabet) << 2));
                        free(back);
                }
        }
        /* Three characters carry 18 bits for two bytes: the last 2 bits must
         * be zero, so each two bytes have one encoding (a 43-character JWK
         * coordinate, a 683-character RSA-4096 signature end like this). */
        for (int c = 0; c < 256; c++) {
                char three[3] = { 'A', 'A', (char) c };
                const char *at = c != 0 ? strchr(alphabet, c) : NULL;
                bool canonical = at && ((at - alphabet) & 3) == 0;
                int r = svcid_b64url_decode(three, 3, &back, &back_len);

                if (r != (canonical ? 0 : -EINVAL))
                        fail_msg("\"AA%c\" (0x%02x): decode returned %d, want %d", c > 32 && c < 127 ? c : '?', c,
                                 r, canonical ? 0 : -EINVAL);
                if (r == 0) {
                        assert_int_equal(back_len, 2);
                        assert_int_equal(back[0], 0);
                        assert_int_equal(back[1], (unsigned char) ((at - alphabet) >> 2));
                        free(back);
                }
        }
}

/* The signature layer on its own (libsvcid.3): svcid_jws_sign() signs only
 * under its key's alg, and svcid_jws_verify() refuses a "crit" header
 * (RFC 7515 §4.1.11: svcid understands no extension) and a header alg that
 * is not its key's, though the signature is good. */
static void test_jws_layer(void **state) {
        static const char *const other_alg[] = { "{\"alg\":\"RS256\"}", "{\"alg\":\"EdDSA\"}",
                                                 "{\"alg\":\"PS256\"}" };
        static const struct { enum signer s; const char *header; } mislabelled[] = {
                { A_ES, "{\"alg\":\"EdDSA\"}" },
                { A_ES, "{\"alg\":\"RS256\"}" },
                { A_ED, "{\"alg\":\"ES256\"}" },
                { A_PS, "{\"alg\":\"RS256\"}" },
                { A_RS, "{\"alg\":\"PS256\"}" },
        };
        const char *payload = "{\"sub\":\"build\"}";
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(other_alg); i++) {
                char *jws = NULL;

                if (svcid_jws_sign(fx.key[A_ES], other_alg[i], payload, strlen(payload), &jws) != -EINVAL)
                        fail_msg("svcid_jws_sign(ES256 key, %s) did not return -EINVAL", other_alg[i]);
                assert_null(jws);
        }

        /* The crit header, signed and verified as the key's own otherwise. */
        {
                _cleanup_(free_p) char *plain = NULL, *crit = NULL;
                const char *h = "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}";

                assert_int_equal(svcid_jws_sign(fx.key[A_ES], "{\"alg\":\"ES256\",\"exp\":1}", payload,
                                                strlen(payload), &plain), 0);
                assert_int_equal(svcid_jws_verify(fx.key[A_ES], plain, strlen(plain), NULL, NULL), SVCID_OK);
                assert_int_equal(svcid_jws_sign(fx.key[A_ES], h, payload, strlen(payload), &crit), 0);
                assert_int_equal(svcid_jws_verify(fx.key[A_ES], crit, strlen(crit), NULL, NULL), SVCID_BAD_HEADER);
        }

        /* A good signature by the key under another alg's name. */
        for (size_t i = 0; i < ELEMENTSOF(mislabelled); i++) {
                _cleanup_(free_p) char *own = default_header(mislabelled[i].s);
                _cleanup_(free_p) char *good = forge(mislabelled[i].s, own, payload);
                _cleanup_(free_p) char *jws = forge(mislabelled[i].s, mislabelled[i].header, payload);
                svcid_reason r;

                assert_int_equal(svcid_jws_verify(fx.key[mislabelled[i].s], good, strlen(good), NULL, NULL), SVCID_OK);
                r = svcid_jws_verify(fx.key[mislabelled[i].s], jws, strlen(jws), NULL, NULL);
                if (r != SVCID_ALG_NOT_ALLOWED)
                        fail_msg("%s key, header %s: %s, want alg_not_allowed", alg_name(mislabelled[i].s),
                                 mislabelled[i].header, svcid_reason_str(r));
        }
}

/* The documented ranges: leeway 0..3600 s, max lifetime 1..86400 s. */
static void test_policy_ranges(void **state) {
        static const struct { int64_t seconds; int want; } leeway[] = {
                { 0, 0 }, { 3600, 0 }, { -1, -ERANGE }, { 3601, -ERANGE }, { INT64_MAX, -ERANGE },
        }, lifetime[] = {
                { 1, 0 }, { 86400, 0 }, { 0, -ERANGE }, { -1, -ERANGE }, { 86401, -ERANGE }, { INT64_MIN, -ERANGE },
        };
        _cleanup_(svcid_policy_freep) svcid_policy *policy = NULL;
        (void) state;

        assert_int_equal(svcid_policy_new(fx.trust_jwks, AUD, &policy), 0);
        for (size_t i = 0; i < ELEMENTSOF(leeway); i++)
                if (svcid_policy_set_leeway(policy, leeway[i].seconds) != leeway[i].want)
                        fail_msg("svcid_policy_set_leeway(%" PRId64 ") did not return %d", leeway[i].seconds,
                                 leeway[i].want);
        for (size_t i = 0; i < ELEMENTSOF(lifetime); i++)
                if (svcid_policy_set_max_lifetime(policy, lifetime[i].seconds) != lifetime[i].want)
                        fail_msg("svcid_policy_set_max_lifetime(%" PRId64 ") did not return %d",
                                 lifetime[i].seconds, lifetime[i].want);
        assert_int_equal(svcid_policy_set_leeway(NULL, 0), -EINVAL);
        assert_int_equal(svcid_policy_set_max_lifetime(NULL, 1), -EINVAL);
        /* An issuer: one the trust holds; not one it does not (nor a near
         * miss of one), nor an empty name. */
        assert_int_equal(svcid_policy_set_issuer(policy, ISS_A), 0);
        assert_int_equal(svcid_policy_set_issuer(policy, ISS_B), 0);
        assert_int_equal(svcid_policy_set_issuer(policy, "svcid://c.example"), -ENOENT);
        assert_int_equal(svcid_policy_set_issuer(policy, ISS_A "/"), -ENOENT);
        assert_int_equal(svcid_policy_set_issuer(policy, ""), -EINVAL);
        assert_int_equal(svcid_policy_set_issuer(NULL, ISS_A), -EINVAL);
}

static void test_json_deep_nesting(void **state) {
        _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
        _cleanup_(free_p) char *doc = NULL;
        svcid_key *key = NULL;
        char deep[10001], err[256] = "";
        (void) state;

        memset(deep, '[', 10000);
        deep[10000] = '\0';
        assert_int_equal(svcid_key_from_jwk(deep, 10000, &key), -EINVAL);
        assert_null(key);
        doc = xasprintf("{\"iss\":\"svcid://deep\",\"keys\":%s", deep);
        assert_int_equal(svcid_trust_new(&trust), 0);
        assert_true(svcid_trust_add_jwks(trust, doc, strlen(doc), "deep", err, sizeof(err)) < 0);
        assert_true(err[0] != '\0');
        assert_false(svcid_trust_has_issuer(trust, "svcid://deep"));
        assert_int_equal(svcid_trust_key_count(trust), 0);

        /* A key that is no object is named so, whatever it is instead. */
        static const char *const not_objects[] = { "\"k\"", "1", "null", "true" };
        for (size_t i = 0; i < sizeof not_objects / sizeof *not_objects; i++) {
                free(doc);
                doc = xasprintf("{\"iss\":\"svcid://deep\",\"keys\":[%s]}", not_objects[i]);
                assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "odd", err, sizeof(err)), -EINVAL);
                if (strcmp(err, "odd: key 0 is not a JSON object") != 0)
                        fail_msg("keys [%s]: \"%s\"", not_objects[i], err);
        }
}

/* ---- trust errors are safe to print ---------------------------------- */

/* The loader's error goes to a terminal and into logs (svcid verify,
 * svcid-gate, pam_svcid): not one byte of it may be a control character. */
static void assert_printable(const char *what, const char *text) {
        for (const unsigned char *p = (const unsigned char *) text; *p; p++)
                if (*p < 0x20 || *p >= 0x7f)
                        fail_msg("%s: byte 0x%02x at %td of the error", what, *p, (const char *) p - text);
}

/* key's public JWK with its "kid" set to kid. */
static char *jwk_with_kid(const svcid_key *key, const char *kid) {
        _cleanup_(free_p) char *text = NULL;
        json_t *jwk;
        char *out;

        assert_int_equal(svcid_key_public_jwk(key, &text), 0);
        jwk = json_loads(text, 0, NULL);
        assert_non_null(jwk);
        assert_int_equal(json_object_set_new(jwk, "kid", json_string(kid)), 0);
        out = json_dumps(jwk, JSON_COMPACT);
        assert_non_null(out);
        json_decref(jwk);
        return out;
}

static void test_trust_errors_printable(void **state) {
        /* A kid the library refuses (a control character), one it takes
         * but shows only in printable ASCII, and an iss that would start
         * a new log line and paint it. */
        static const char bad_kid[] = "x\n\x1b[31mFAKE";
        static const char kid[] = "x\xc3\xa9[31mFAKE";
        static const char iss[] = "svcid://evil\r\x07.example";
        _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
        _cleanup_(free_p) char *jwk1 = jwk_with_kid(fx.key[X_ES], kid);
        _cleanup_(free_p) char *jwk2 = jwk_with_kid(fx.key[B_ES], kid);
        _cleanup_(free_p) char *doc = NULL, *dir = NULL, *file = NULL;
        char err[256] = "";
        (void) state;

        _cleanup_(free_p) char *jwk_bad = jwk_with_kid(fx.key[X_ES], bad_kid);
        assert_int_equal(svcid_trust_new(&trust), 0);

        doc = xasprintf("{\"iss\":\"svcid://a.example\",\"keys\":[%s]}", jwk_bad);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "ctl.jwks", err, sizeof err), -EINVAL);
        assert_printable("kid with a control character", err);
        assert_non_null(strstr(err, "ctl.jwks: key 0 is not a usable signature key: \"kid\" has a control character"));
        free(doc);

        /* Two keys of one document under the same kid. */
        doc = xasprintf("{\"iss\":\"svcid://a.example\",\"keys\":[%s,%s]}", jwk1, jwk2);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "two.jwks", err, sizeof err), -EINVAL);
        assert_printable("repeated kid", err);
        assert_non_null(strstr(err, "two.jwks: key 1 repeats kid \"x??[31mFAKE\""));
        free(doc);

        /* A second key for a kid the issuer already has. */
        doc = xasprintf("{\"iss\":\"svcid://evil\\r\\u0007.example\",\"keys\":[%s]}", jwk1);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "one.jwks", err, sizeof err), 0);
        assert_true(svcid_trust_has_issuer(trust, iss));
        free(doc);
        doc = xasprintf("{\"iss\":\"svcid://evil\\r\\u0007.example\",\"keys\":[%s]}", jwk2);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "other.jwks", err, sizeof err), -EEXIST);
        assert_printable("kid already trusted", err);
        assert_non_null(strstr(err, "kid \"x??[31mFAKE\" of \"svcid://evil??.example\" is already trusted"));
        free(doc);

        /* A document that lists one kid twice is refused even when the
         * first of them is a key already trusted (and so not added). */
        doc = xasprintf("{\"iss\":\"svcid://evil\\r\\u0007.example\",\"keys\":[%s,%s]}", jwk1, jwk1);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "twice.jwks", err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "twice.jwks: key 1 repeats kid"));

        /* File names are read from a directory: a broken file whose name
         * holds an escape sequence and a newline, in a directory whose
         * name holds one too. */
        dir = xasprintf("%s/ctl\x1b[0m.d", fx.dir);
        file = xasprintf("%s/bad\n\x1b[31m.jwks", dir);
        assert_int_equal(mkdir(dir, 0755), 0);
        fclose(fopen(file, "we"));
        assert_true(svcid_trust_load(trust, dir, err, sizeof err) < 0);
        unlink(file);
        rmdir(dir);
        assert_printable("file name", err);
        assert_non_null(strstr(err, "/ctl?[0m.d/bad??[31m.jwks: not a JSON object"));

        /* No room for a message (err NULL, whatever err_len says) is
         * still an answer, for a file and a directory others may write. */
        file = (free(file), xasprintf("%s/open.jwks", fx.dir));
        fclose(fopen(file, "we"));
        assert_int_equal(chmod(file, 0666), 0);
        assert_int_equal(svcid_trust_load(trust, file, NULL, 256), -EPERM);
        unlink(file);
        assert_int_equal(mkdir(dir, 0777), 0);
        assert_int_equal(chmod(dir, 0777), 0);
        assert_int_equal(svcid_trust_load(trust, dir, NULL, 256), -EPERM);
        rmdir(dir);
        /* ... and for a file that is not there, a symbolic link, a FIFO
         * and one over the size cap. */
        file = (free(file), xasprintf("%s/absent.jwks", fx.dir));
        assert_int_equal(svcid_trust_load(trust, file, NULL, 256), -ENOENT);
        assert_int_equal(symlink("absent.jwks", file = (free(file), xasprintf("%s/link.jwks", fx.dir))), 0);
        assert_int_equal(svcid_trust_load(trust, file, NULL, 256), -ELOOP);
        unlink(file);
        assert_int_equal(mkfifo(file = (free(file), xasprintf("%s/fifo.jwks", fx.dir)), 0644), 0);
        assert_true(svcid_trust_load(trust, file, NULL, 256) < 0);
        unlink(file);
        file = (free(file), xasprintf("%s/big.jwks", fx.dir));
        fclose(fopen(file, "we"));
        assert_int_equal(truncate(file, SVCID_JWKS_MAX + 1), 0);
        assert_int_equal(svcid_trust_load(trust, file, NULL, 256), -EFBIG);
        /* With room, a path is shown as the library shows one: '"' kept. */
        assert_int_equal(svcid_trust_load(trust, file, err, sizeof err), -EFBIG);
        assert_non_null(strstr(err, "/big.jwks: larger than 1 MiB"));
        unlink(file);
        file = (free(file), xasprintf("%s/say\"hi.jwks", fx.dir));
        assert_int_equal(svcid_trust_load(trust, file, err, sizeof err), -ENOENT);
        assert_non_null(strstr(err, "/say\"hi.jwks: No such file or directory"));
        /* ... the same name, there and writable by others: the same words */
        fclose(fopen(file, "we"));
        assert_int_equal(chmod(file, 0666), 0);
        assert_int_equal(svcid_trust_load(trust, file, err, sizeof err), -EPERM);
        assert_non_null(strstr(err, "/say\"hi.jwks: writable by group or others"));
        unlink(file);
}

/* A file of text in dir, mode 0644. */
static void put(const char *dir, const char *name, const char *text) {
        _cleanup_(free_p) char *path = xasprintf("%s/%s", dir, name);
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fchmod(fileno(f), 0644), 0);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

/* Which entries of a trust directory are trust files, and in what order
 * they load: one rule (trust_dir_names()) for the library, the PAM
 * module's cache and the gate's reload stamp. The entries that are not
 * trust files hold garbage, so that loading one would fail. */
static void test_trust_dir_names(void **state) {
        static const char *const ignored[] = { ".jwks", ".a.jwks", "a.jwks~", "a.jwks.bak", "jwks", "a.JWKS",
                                               "notes.txt", "xjwks" };
        _cleanup_(free_p) char *dir = xasprintf("%s/names.d", fx.dir), *jwk_x = NULL, *jwk_b = NULL;
        _cleanup_(free_p) char *doc_x = NULL, *doc_b = NULL, *doc_a = NULL;
        _cleanup_(trust_dir_names_freep) char **names = NULL;
        _cleanup_(close_fdp) int fd = -1;
        char err[512] = "";
        size_t n = 99;
        (void) state;

        assert_int_equal(mkdir(dir, 0755), 0);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(trust_dir_names(fd, &names, &n), 0);
        assert_int_equal(n, 0);
        assert_null(names[0]);
        names = (trust_dir_names_free(names), NULL);

        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                put(dir, ignored[i], "garbage");
        /* Created out of order, in case readdir() follows creation. */
        put(dir, "b.jwks", "{}");
        put(dir, "a.jwks", "{}");
        put(dir, "c.jwks", "{}");
        /* Twice on one descriptor, which stays the caller's. */
        for (int round = 0; round < 2; round++) {
                assert_int_equal(trust_dir_names(fd, &names, &n), 0);
                assert_int_equal(n, 3);
                assert_string_equal(names[0], "a.jwks");
                assert_string_equal(names[1], "b.jwks");
                assert_string_equal(names[2], "c.jwks");
                assert_null(names[3]);
                names = (trust_dir_names_free(names), NULL);
        }
        assert_true(fcntl(fd, F_GETFD) >= 0);

        /* The library loads those files, in that order: b.jwks and
         * c.jwks give kid "same" of one issuer to two keys, and c.jwks
         * is the one refused, whichever of them was made first. */
        jwk_x = jwk_with_kid(fx.key[X_ES], "same");
        jwk_b = jwk_with_kid(fx.key[B_ES], "same");
        doc_a = jwks_doc(ISS_A, (const enum signer[]) { A_ES }, 1);
        doc_x = xasprintf("{\"iss\":\"svcid://dir.example\",\"keys\":[%s]}", jwk_x);
        doc_b = xasprintf("{\"iss\":\"svcid://dir.example\",\"keys\":[%s]}", jwk_b);
        put(dir, "a.jwks", doc_a);
        for (int round = 0; round < 2; round++) {
                _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
                _cleanup_(free_p) char *want = xasprintf("%s/c.jwks: kid \"same\"", dir);

                assert_int_equal(unlinkat(fd, "b.jwks", 0), 0);
                assert_int_equal(unlinkat(fd, "c.jwks", 0), 0);
                put(dir, round ? "c.jwks" : "b.jwks", doc_x);
                put(dir, round ? "b.jwks" : "c.jwks", doc_b);
                assert_int_equal(svcid_trust_new(&trust), 0);
                assert_int_equal(svcid_trust_load(trust, dir, err, sizeof err), -EEXIST);
                if (!strstr(err, want))
                        fail_msg("round %d: \"%s\", not about c.jwks", round, err);
        }
        /* Alone with the garbage, a.jwks loads: nothing else was read. */
        {
                _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
                _cleanup_(free_p) char *b = xasprintf("%s/b.jwks", dir), *c = xasprintf("%s/c.jwks", dir);

                assert_int_equal(unlink(b), 0);
                assert_int_equal(unlink(c), 0);
                assert_int_equal(svcid_trust_new(&trust), 0);
                if (svcid_trust_load(trust, dir, err, sizeof err) < 0)
                        fail_msg("%s", err);
                assert_int_equal(svcid_trust_key_count(trust), 1);
        }

        /* A file is not a directory. */
        {
                _cleanup_(close_fdp) int file = openat(fd, "a.jwks", O_RDONLY | O_CLOEXEC);

                assert_true(file >= 0);
                assert_int_equal(trust_dir_names(file, &names, &n), -ENOTDIR);
                assert_null(names);
        }

        for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
                assert_int_equal(unlinkat(fd, ignored[i], 0), 0);
        assert_int_equal(unlinkat(fd, "a.jwks", 0), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* One key, one alg: the same RSA public key may not be trusted under both
 * RS256 and PS256, in one document, across documents, or across issuers;
 * under one alg it may be trusted for two issuers. */
static void test_trust_rsa_key_one_alg(void **state) {
        _cleanup_(svcid_trust_freep) svcid_trust *trust = NULL;
        _cleanup_(svcid_key_unrefp) svcid_key *as_ps = NULL;
        _cleanup_(free_p) char *pem = NULL, *rs = NULL, *ps = NULL, *other_ps = NULL, *doc = NULL;
        char err[256] = "";
        (void) state;

        /* fx.key[A_RS]'s public half, named for PS256. */
        assert_int_equal(svcid_key_public_pem(fx.key[A_RS], &pem), 0);
        assert_int_equal(svcid_key_from_pem(pem, strlen(pem), SVCID_ALG_PS256, &as_ps), 0);
        rs = jwk_with_kid(fx.key[A_RS], "k-rs");
        ps = jwk_with_kid(as_ps, "k-ps");
        other_ps = jwk_with_kid(fx.key[A_PS], "k-ps");

        assert_int_equal(svcid_trust_new(&trust), 0);
        doc = xasprintf("{\"iss\":\"svcid://a.example\",\"keys\":[%s,%s]}", rs, ps);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "both.jwks", err, sizeof err), -EEXIST);
        assert_non_null(strstr(err, "both.jwks: key 1 is the key of kid \"k-rs\" for RS256; a key is used with one alg"));
        assert_int_equal(svcid_trust_key_count(trust), 0);
        free(doc);

        /* Two different RSA keys, one for each alg: fine. */
        doc = xasprintf("{\"iss\":\"svcid://a.example\",\"keys\":[%s,%s]}", rs, other_ps);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "two.jwks", err, sizeof err), 0);
        assert_int_equal(svcid_trust_key_count(trust), 2);
        free(doc);

        /* The RS256 key for a second issuer, still RS256: fine. */
        doc = xasprintf("{\"iss\":\"svcid://b.example\",\"keys\":[%s]}", rs);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "b.jwks", err, sizeof err), 0);
        assert_int_equal(svcid_trust_key_count(trust), 3);
        free(doc);

        /* As PS256, for another issuer or through svcid_trust_add_key: no. */
        doc = xasprintf("{\"iss\":\"svcid://c.example\",\"keys\":[%s]}", ps);
        assert_int_equal(svcid_trust_add_jwks(trust, doc, strlen(doc), "c.jwks", err, sizeof err), -EEXIST);
        assert_non_null(strstr(err, "c.jwks: key 0 is the key of kid \"k-rs\" for RS256"));
        assert_false(svcid_trust_has_issuer(trust, "svcid://c.example"));
        assert_int_equal(svcid_trust_add_key(trust, "svcid://c.example", as_ps), -EEXIST);
        assert_int_equal(svcid_trust_key_count(trust), 3);
}

/* ---- the signer keeps the size limit --------------------------------- */

/* Characters of unpadded base64url for n bytes. */
static size_t b64_len(size_t n) {
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Every verifier refuses a token over SVCID_TOKEN_MAX bytes, signature
 * included, so the signer must not make one. RSA signatures (3072 bits:
 * 512 characters) make the difference between the signing input and the
 * token largest. */
static void test_sign_size_limit(void **state) {
        static const enum signer signers[] = { A_RS, A_PS, A_ES, A_ED };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(signers); i++) {
                const svcid_key *key = fx.key[signers[i]];
                _cleanup_(free_p) char *probe = NULL, *claims = NULL, *header = NULL, *payload = NULL;
                char *token = NULL;
                size_t h64, sig64, input, n = 0;

                assert_int_equal(svcid_jws_sign(key, NULL, "{}", 2, &probe), 0);
                h64 = (size_t) (strchr(probe, '.') - probe);
                sig64 = strlen(strrchr(probe, '.') + 1);

                /* Minting: claims whose signing input fits, with half a
                 * signature to spare, but whose token does not. */
                claims = xasprintf("{\"pad\":\"%0*d\"}", (int) ((SVCID_TOKEN_MAX - h64 - 1 - sig64 / 2) * 3 / 4 - 10), 0);
                input = h64 + 1 + b64_len(strlen(claims));
                assert_true(input <= SVCID_TOKEN_MAX && input + 1 + sig64 > SVCID_TOKEN_MAX);
                assert_int_equal(svcid_jwt_sign(key, claims, strlen(claims), &token), -EFBIG);
                assert_null(token);
                /* Claims text longer than a token is still too big, not
                 * invalid... */
                free(claims);
                claims = xasprintf("{\"pad\":\"%0*d\"}", SVCID_TOKEN_MAX, 0);
                assert_int_equal(svcid_jwt_sign(key, claims, strlen(claims), &token), -EFBIG);
                assert_null(token);
                /* ...and spaces that make it that long do not count. */
                free(claims);
                claims = xasprintf("{\"sub\":\"x\"%*s}", SVCID_TOKEN_MAX, "");
                assert_int_equal(svcid_jwt_sign(key, claims, strlen(claims), &token), 0);
                assert_true(strlen(token) < 1024);
                free(token);
                token = NULL;

                /* The signature layer: a header (padded with spaces to
                 * reach every length) and payload that make the token
                 * exactly SVCID_TOKEN_MAX bytes. */
                for (int pad = 0; pad < 3 && n == 0; pad++) {
                        free(header);
                        header = xasprintf("%*s{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", pad, "",
                                           svcid_alg_str(svcid_key_alg(key)), svcid_key_kid(key));
                        for (size_t m = 1; m < SVCID_TOKEN_MAX && n == 0; m++)
                                if (b64_len(strlen(header)) + 1 + b64_len(m) + 1 + sig64 == SVCID_TOKEN_MAX)
                                        n = m;
                }
                assert_true(n > 0);
                payload = malloc(n + 1);
                assert_non_null(payload);
                memset(payload, 'p', n + 1);
                /* One byte more: the signing input fits, the token not. */
                assert_true(b64_len(strlen(header)) + 1 + b64_len(n + 1) <= SVCID_TOKEN_MAX);
                assert_int_equal(svcid_jws_sign(key, header, payload, n + 1, &token), -EFBIG);
                assert_null(token);
                /* At the limit: signed, and accepted by the verifier. */
                assert_int_equal(svcid_jws_sign(key, header, payload, n, &token), 0);
                assert_int_equal(strlen(token), SVCID_TOKEN_MAX);
                assert_int_equal(svcid_jws_verify(key, token, strlen(token), NULL, NULL), SVCID_OK);
                free(token);
                token = NULL;
                /* A header longer than a token is too big as well, not
                 * invalid: its base64url alone is over the cap. */
                free(header);
                header = xasprintf("{\"alg\":\"%s\",\"pad\":\"%0*d\"}", svcid_alg_str(svcid_key_alg(key)),
                                   SVCID_TOKEN_MAX, 0);
                assert_int_equal(svcid_jws_sign(key, header, "{}", 2, &token), -EFBIG);
                assert_null(token);
        }
}

int main(void) {
        /* A command that exits before reading its stdin must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_b64url_against_openssl),
                cmocka_unit_test(test_report_kid_bad_payload),
                cmocka_unit_test(test_report_claims_bad_header),
                cmocka_unit_test(test_jws_layer),
                cmocka_unit_test(test_policy_ranges),
                cmocka_unit_test(test_clock_extremes),
                cmocka_unit_test(test_verify_threads),
                cmocka_unit_test(test_forge_matches_library),
                cmocka_unit_test(test_json_deep_nesting),
                cmocka_unit_test(test_trust_errors_printable),
                cmocka_unit_test(test_trust_rsa_key_one_alg),
                cmocka_unit_test(test_trust_dir_names),
                cmocka_unit_test(test_sign_size_limit),
                cmocka_unit_test(test_corpus_lib),
                cmocka_unit_test(test_corpus_cli),
                cmocka_unit_test(test_cli_stdin_line),
                cmocka_unit_test(test_cli_usage),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
