/* SPDX-License-Identifier: MIT */
/* Conformance vectors through libsvcid's signature layer — keys
 * (svcid_key_from_jwk/_pem), svcid_jws_verify, svcid_key_verify_raw and
 * the trust store — never the JWT claim checks:
 *  - the JWS examples of RFC 7515, RFC 8037 and RFC 7520
 *    (tests/vectors/rfc/rfc_jws.json);
 *  - C2SP Wycheproof (tests/vectors/wycheproof/, Apache-2.0): every case of
 *    the JWS and JWK files and of four primitive files.
 * Every case is judged; a mismatch prints its tcId and comment and fails
 * the test, and each file's case count must equal its numberOfTests so a
 * case cannot be skipped silently. See tests/vectors/README.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svcid/svcid.h"
#include "../common/cleanup.h"
#include "vectors_util.h"

#define MISMATCH(file, id, comment, ...)                                        \
        do {                                                                    \
                printf("vectors: MISMATCH %s tcId %lld (%s): ", (file),         \
                       (long long) (id), (comment) ? (comment) : "");           \
                printf(__VA_ARGS__);                                            \
                printf("\n");                                                   \
        } while (0)

static const char *reason_or_key(bool key_loaded, svcid_reason reason) {
        return key_loaded ? svcid_reason_str(reason) : "key refused";
}

/* ---- RFC examples ------------------------------------------------------- */

/* Members of a private JWK; removing them gives the public JWK. */
static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "k" };

/* Loads a vector's key: the JWK as the RFC prints it, or only its public
 * members. add_alg, when the vector has one, is the JWS header's alg. */
static int rfc_load_key(json_t *vec, bool public_only, svcid_key **ret) {
        _cleanup_(json_decrefp) json_t *jwk = json_deep_copy(json_object_get(vec, "jwk"));
        _cleanup_(free_p) char *text = NULL;
        json_t *add_alg = json_object_get(vec, "add_alg");

        assert_non_null(jwk);
        /* svcid binds every key to one alg and cannot tell RS256 from PS256
         * by an RSA key alone, so an RSA JWK without "alg" is refused. RFC
         * 7515 A.2.1 and RFC 7520 Figure 4 print their RSA keys without
         * one: give them the alg of the JWS they sign. */
        if (add_alg)
                assert_int_equal(json_object_set(jwk, "alg", add_alg), 0);
        if (public_only)
                for (size_t i = 0; i < ELEMENTSOF(private_members); i++)
                        json_object_del(jwk, private_members[i]);
        text = json_dumps(jwk, JSON_COMPACT);
        assert_non_null(text);
        return svcid_key_from_jwk(text, strlen(text), ret);
}

static json_t *rfc_find(json_t *vectors, const char *name) {
        size_t i;
        json_t *v;

        json_array_foreach(vectors, i, v)
                if (vec_streq(json_object_get(v, "name"), name))
                        return v;
        fail_msg("no RFC vector named %s", name);
        return NULL;
}

/* Changes one character in the middle of segment seg (0-2) to another
 * base64url letter: the text stays canonical base64url, the bytes differ. */
static char *tamper(const char *jws, unsigned seg) {
        char *t = strdup(jws);
        const char *start = NULL;
        size_t len = 0;

        assert_non_null(t);
        assert_true(vec_segment(jws, seg, &start, &len));
        assert_true(len >= 4);
        size_t at = (size_t) (start - jws) + len / 2;
        t[at] = t[at] == 'A' ? 'B' : 'A';
        return t;
}

static void rfc_accepted(json_t *vec, const char *name) {
        const char *jws = json_string_value(json_object_get(vec, "jws"));
        const char *payload = json_string_value(json_object_get(vec, "payload"));
        json_t *jwk = json_object_get(vec, "jwk");
        const char *kid = json_string_value(json_object_get(jwk, "kid"));

        assert_non_null(jws);
        assert_non_null(payload);
        for (int public_only = 0; public_only <= 1; public_only++) {
                _cleanup_(vec_key_unrefp) svcid_key *key = NULL;
                _cleanup_(free_p) unsigned char *out = NULL;
                _cleanup_(free_p) char *bad_sig = NULL, *bad_payload = NULL;
                size_t out_len = 0;
                svcid_reason r;
                svcid_alg alg;

                if (rfc_load_key(vec, public_only, &key) < 0)
                        fail_msg("%s: the %s key did not load", name, public_only ? "public" : "RFC's");
                assert_int_equal(svcid_key_is_private(key),
                                 !public_only && json_object_get(jwk, "d") != NULL);
                /* The key is bound to the alg of the JWS it signed. */
                _cleanup_(free_p) char *header_alg = vec_header_string(jws, "alg");
                assert_non_null(header_alg);
                assert_int_equal(svcid_alg_from_str(header_alg, &alg), 0);
                assert_int_equal(svcid_key_alg(key), alg);
                if (kid)
                        assert_string_equal(svcid_key_kid(key), kid);

                r = svcid_jws_verify(key, jws, strlen(jws), &out, &out_len);
                if (r != SVCID_OK)
                        fail_msg("%s: refused (%s) with the %s key", name, svcid_reason_str(r),
                                 public_only ? "public" : "RFC's");
                assert_int_equal(out_len, strlen(payload));
                assert_memory_equal(out, payload, out_len);

                /* The same JWS with one signature or payload byte changed. */
                bad_sig = tamper(jws, 2);
                assert_int_equal(svcid_jws_verify(key, bad_sig, strlen(bad_sig), NULL, NULL), SVCID_BAD_SIGNATURE);
                bad_payload = tamper(jws, 1);
                assert_int_equal(svcid_jws_verify(key, bad_payload, strlen(bad_payload), NULL, NULL),
                                 SVCID_BAD_SIGNATURE);
        }
}

/* Each refused example, and what svcid_jws_verify says when the example is
 * presented to a key svcid does load (an alg-confusion attempt). */
static const struct {
        const char *name;
        const char *other_key;
        svcid_reason reason;
        /* Optionally: the same header and payload under the signature of
         * other_key's own example, and the reason for that. */
        bool graft;
        svcid_reason graft_reason;
} rfc_refused[] = {
        /* HS256 is not an svcid alg: an "oct" key never loads, and a JWS
         * naming HS256 is refused before any key material is used. */
        { "RFC 7515 A.1", "RFC 7515 A.3", SVCID_ALG_NOT_ALLOWED, false, SVCID_OK },
        /* "none" has no key. An empty signature segment is canonical
         * base64url, so the header's "none" is what is refused — with or
         * without a real ES256 signature grafted on. */
        { "RFC 7515 A.5", "RFC 7515 A.3", SVCID_ALG_NOT_ALLOWED, true, SVCID_ALG_NOT_ALLOWED },
        /* PS384: the RSA key loads as RS256 (or PS256) only, and the header
         * must name the key's own alg. */
        { "RFC 7520 4.2", "RFC 7520 4.1", SVCID_ALG_NOT_ALLOWED, false, SVCID_OK },
        /* ES512 on P-521: no such key loads; ES512 is not ES256. */
        { "RFC 7520 4.3", "RFC 7515 A.3", SVCID_ALG_NOT_ALLOWED, false, SVCID_OK },
        /* HS256 presented to the RSA key of the same cookbook: the classic
         * RSA-public-key-as-HMAC-secret confusion. */
        { "RFC 7520 4.4", "RFC 7520 4.1", SVCID_ALG_NOT_ALLOWED, false, SVCID_OK },
};

static void rfc_refused_one(json_t *vectors, json_t *vec, const char *name, unsigned *keys_refused) {
        const char *jws = json_string_value(json_object_get(vec, "jws"));
        size_t i;

        assert_non_null(jws);
        if (json_object_get(vec, "jwk")) {
                for (int public_only = 0; public_only <= 1; public_only++) {
                        svcid_key *key = NULL;
                        int r = rfc_load_key(vec, public_only, &key);
                        if (r >= 0) {
                                svcid_key_unref(key);
                                fail_msg("%s: the %s key loaded; it is outside svcid's profile", name,
                                         public_only ? "public" : "RFC's");
                        }
                        assert_int_equal(r, -EINVAL);
                }
                (*keys_refused)++;
        }

        for (i = 0; i < ELEMENTSOF(rfc_refused); i++)
                if (strcmp(rfc_refused[i].name, name) == 0)
                        break;
        assert_true(i < ELEMENTSOF(rfc_refused));

        _cleanup_(vec_key_unrefp) svcid_key *other = NULL;
        assert_int_equal(rfc_load_key(rfc_find(vectors, rfc_refused[i].other_key), true, &other), 0);
        svcid_reason r = svcid_jws_verify(other, jws, strlen(jws), NULL, NULL);
        if (r != rfc_refused[i].reason)
                fail_msg("%s with the key of %s: %s, expected %s", name, rfc_refused[i].other_key,
                         svcid_reason_str(r), svcid_reason_str(rfc_refused[i].reason));

        if (rfc_refused[i].graft) {
                const char *other_jws = json_string_value(json_object_get(
                        rfc_find(vectors, rfc_refused[i].other_key), "jws"));
                const char *sig = NULL;
                size_t sig_len = 0;
                _cleanup_(free_p) char *grafted = NULL;

                assert_non_null(other_jws);
                assert_true(vec_segment(other_jws, 2, &sig, &sig_len));
                /* jws ends with its (empty) signature segment's dot. */
                assert_true(asprintf(&grafted, "%s%.*s", jws, (int) sig_len, sig) > 0);
                r = svcid_jws_verify(other, grafted, strlen(grafted), NULL, NULL);
                if (r != rfc_refused[i].graft_reason)
                        fail_msg("%s with the signature of %s: %s, expected %s", name, rfc_refused[i].other_key,
                                 svcid_reason_str(r), svcid_reason_str(rfc_refused[i].graft_reason));
        }
}

static void test_rfc_examples(void **state) {
        _cleanup_(json_decrefp) json_t *doc = vec_load("rfc/rfc_jws.json");
        unsigned total = 0, accepted = 0, refused = 0, keys_refused = 0;
        json_t *vectors, *vec;
        size_t i;

        (void) state;
        assert_non_null(doc);
        vectors = json_object_get(doc, "vectors");
        assert_true(json_is_array(vectors));

        json_array_foreach(vectors, i, vec) {
                const char *name = json_string_value(json_object_get(vec, "name"));
                const char *expect = json_string_value(json_object_get(vec, "expect"));

                assert_non_null(name);
                assert_non_null(expect);
                total++;
                if (strcmp(expect, "accept") == 0) {
                        rfc_accepted(vec, name);
                        accepted++;
                } else {
                        assert_string_equal(expect, "refuse");
                        rfc_refused_one(vectors, vec, name, &keys_refused);
                        refused++;
                }
        }
        /* The four the issue names as accepted, the five as refused. */
        assert_int_equal(accepted, 4);
        assert_int_equal(refused, ELEMENTSOF(rfc_refused));
        assert_int_equal(total, json_integer_value(json_object_get(doc, "numberOfVectors")));
        printf("vectors: rfc_jws.json: %u cases, %u valid accepted, %u out-of-profile refused "
               "(%u keys not loadable)\n", total, accepted, refused, keys_refused);
}

/* ---- Wycheproof JWS and JWK --------------------------------------------- */

struct counts {
        unsigned total;
        unsigned valid_accepted;
        unsigned invalid_refused;
        unsigned invalid_at_key;        /* of those: refused when loading the key */
        unsigned out_of_profile;
        unsigned overridden;
        unsigned acceptable_accepted;
        unsigned acceptable_refused;
        unsigned key_policy;            /* refused by key policy (primitives) */
        unsigned failures;
};

/* Wycheproof marks tcIds 372 and 373 of json_web_signature_test.json
 * "valid", but each has a '?' inside a base64url segment ("...NiJ?9" in
 * the header, "VGVzdA?" in the payload). RFC 7515 §2 and §7.1 define the
 * segments as base64url without any other character, and svcid decodes
 * strictly (DESIGN.md: nothing outside A-Za-z0-9-_), so a '?' makes the
 * JWS malformed: both are overridden to "invalid". */
static bool jws_overridden(json_int_t id) {
        return id == 372 || id == 373;
}

/* The compact text of a case's "jws": a string, or (tcId 17, a JWS JSON
 * Serialization) an object, which is passed as its JSON text. */
static char *case_jws(json_t *t) {
        json_t *jws = json_object_get(t, "jws");

        if (json_is_string(jws))
                return strdup(json_string_value(jws));
        return json_dumps(jws, JSON_COMPACT);
}

/* Judges one JWS case: the key (or NULL if svcid refused it), whether the
 * keys involved are in the profile, and the verdict. */
static void judge_jws(const char *file, json_t *t, const svcid_key *key, bool keys_in_profile,
                      struct counts *c) {
        json_int_t id = json_integer_value(json_object_get(t, "tcId"));
        const char *comment = json_string_value(json_object_get(t, "comment"));
        const char *result = json_string_value(json_object_get(t, "result"));
        _cleanup_(free_p) char *jws = case_jws(t);
        _cleanup_(free_p) char *alg = NULL;
        _cleanup_(free_p) unsigned char *payload = NULL;
        size_t payload_len = 0;
        svcid_reason reason = SVCID_INTERNAL_ERROR;
        bool accepted;

        assert_non_null(jws);
        assert_non_null(result);
        c->total++;
        if (key)
                reason = svcid_jws_verify(key, jws, strlen(jws), &payload, &payload_len);
        accepted = key && reason == SVCID_OK;

        if (jws_overridden(id)) {
                assert_string_equal(result, "valid");
                if (accepted) {
                        MISMATCH(file, id, comment, "overridden to invalid (a '?' in base64url), but accepted");
                        c->failures++;
                } else
                        c->overridden++;
                return;
        }

        if (strcmp(result, "valid") == 0) {
                alg = vec_header_string(jws, "alg");
                if (!keys_in_profile || !vec_alg_in_profile(alg)) {
                        /* Valid JOSE, outside svcid's profile: refused at
                         * key load, or by the alg check — by nothing else. */
                        if (key && reason != SVCID_ALG_NOT_ALLOWED) {
                                MISMATCH(file, id, comment, "alg %s is out of profile: expected key refused "
                                         "or alg_not_allowed, got %s", alg ?: "?", svcid_reason_str(reason));
                                c->failures++;
                        } else
                                c->out_of_profile++;
                        return;
                }
                if (!accepted) {
                        MISMATCH(file, id, comment, "valid %s JWS refused: %s", alg,
                                 reason_or_key(key, reason));
                        c->failures++;
                        return;
                }
                /* Accepted: the payload handed back is the JWS's own. */
                _cleanup_(free_p) unsigned char *expected = NULL;
                size_t expected_len = 0;
                const char *seg = NULL;
                size_t seg_len = 0;
                assert_true(vec_segment(jws, 1, &seg, &seg_len));
                assert_int_equal(vec_b64url(seg, seg_len, &expected, &expected_len), 0);
                if (payload_len != expected_len || memcmp(payload, expected, expected_len) != 0) {
                        MISMATCH(file, id, comment, "accepted, but the payload returned differs");
                        c->failures++;
                        return;
                }
                c->valid_accepted++;
                return;
        }

        if (strcmp(result, "invalid") == 0) {
                /* Refused, and judged: an internal error is not a verdict. */
                if (accepted || (key && reason == SVCID_INTERNAL_ERROR)) {
                        MISMATCH(file, id, comment, "invalid, but %s",
                                 accepted ? "accepted" : "internal_error (not judged)");
                        c->failures++;
                        return;
                }
                c->invalid_refused++;
                if (!key)
                        c->invalid_at_key++;
                return;
        }

        assert_string_equal(result, "acceptable");
        if (accepted)
                c->acceptable_accepted++;
        else
                c->acceptable_refused++;
}

static void print_counts(const char *file, const struct counts *c) {
        printf("vectors: %s: %u cases, %u valid accepted, %u invalid refused (%u at key load), "
               "%u out-of-profile refused, %u overridden", file, c->total, c->valid_accepted,
               c->invalid_refused, c->invalid_at_key, c->out_of_profile, c->overridden);
        if (c->acceptable_accepted + c->acceptable_refused)
                printf(", %u acceptable (%u accepted, %u refused)", c->acceptable_accepted + c->acceptable_refused,
                       c->acceptable_accepted, c->acceptable_refused);
        if (c->key_policy)
                printf(", %u refused by key policy", c->key_policy);
        printf("\n");
}

static void check_total(const char *file, json_t *doc, const struct counts *c) {
        json_int_t n = json_integer_value(json_object_get(doc, "numberOfTests"));

        if ((json_int_t) c->total != n)
                fail_msg("%s: %u cases judged, numberOfTests is %lld", file, c->total, (long long) n);
        if (c->failures)
                fail_msg("%s: %u mismatches (listed above)", file, c->failures);
}

/* An RSA JWK without "alg" cannot be loaded by svcid (see rfc_load_key);
 * such a vector key gets the alg of the JWS it is used with, so that the
 * key is judged on what the vector tests (its "use", its "key_ops"). */
static bool rsa_without_alg(json_t *jwk) {
        return vec_streq(json_object_get(jwk, "kty"), "RSA") && !json_object_get(jwk, "alg");
}

/* A copy of jwk, with "alg" set to the case's header alg when the key is
 * an RSA key without one. */
static json_t *case_jwk(json_t *jwk, json_t *t) {
        json_t *copy = json_deep_copy(jwk);

        assert_non_null(copy);
        if (rsa_without_alg(jwk)) {
                _cleanup_(free_p) char *jws = case_jws(t);
                _cleanup_(free_p) char *alg = NULL;

                assert_non_null(jws);
                alg = vec_header_string(jws, "alg");
                if (alg)
                        assert_int_equal(json_object_set_new(copy, "alg", json_string(alg)), 0);
        }
        return copy;
}

static void test_wycheproof_jws(void **state) {
        static const char *const file = "json_web_signature_test.json";
        _cleanup_(json_decrefp) json_t *doc = vec_load("wycheproof/json_web_signature_test.json");
        struct counts c = {};
        unsigned alg_added = 0;
        json_t *groups, *g;
        size_t gi;

        (void) state;
        assert_non_null(doc);
        groups = json_object_get(doc, "testGroups");
        assert_true(json_array_size(groups) > 0);

        json_array_foreach(groups, gi, g) {
                json_t *jwk = json_object_get(g, "public") ?: json_object_get(g, "private");
                json_t *tests = json_object_get(g, "tests"), *t;
                size_t ti;

                json_array_foreach(tests, ti, t) {
                        _cleanup_(json_decrefp) json_t *k = case_jwk(jwk, t);
                        _cleanup_(free_p) char *text = json_dumps(k, JSON_COMPACT);
                        _cleanup_(vec_key_unrefp) svcid_key *key = NULL;

                        assert_non_null(text);
                        if (rsa_without_alg(jwk))
                                alg_added++;
                        if (svcid_key_from_jwk(text, strlen(text), &key) < 0)
                                key = NULL;
                        judge_jws(file, t, key, vec_jwk_in_profile(k), &c);
                }
        }
        print_counts(file, &c);
        printf("vectors: %s: %u cases with an RSA key given the header's alg\n", file, alg_added);
        check_total(file, doc, &c);
        /* tcIds 372 and 373, and nothing else. */
        assert_int_equal(c.overridden, 2);
}

static void test_wycheproof_jwk(void **state) {
        static const char *const file = "json_web_key_test.json";
        _cleanup_(json_decrefp) json_t *doc = vec_load("wycheproof/json_web_key_test.json");
        struct counts c = {};
        unsigned sets_refused = 0;
        json_t *groups, *g;
        size_t gi;

        (void) state;
        assert_non_null(doc);
        groups = json_object_get(doc, "testGroups");
        assert_true(json_array_size(groups) > 0);

        json_array_foreach(groups, gi, g) {
                json_t *src = json_object_get(g, "public") ?: json_object_get(g, "private");
                _cleanup_(json_decrefp) json_t *set = json_deep_copy(src);
                _cleanup_(vec_trust_freep) svcid_trust *trust = NULL;
                _cleanup_(free_p) char *text = NULL;
                json_t *tests = json_object_get(g, "tests"), *t, *k;
                char iss[64], err[256] = "";
                bool in_profile = true;
                size_t ti, ki;
                int r;

                assert_non_null(set);
                json_array_foreach(json_object_get(set, "keys"), ki, k) {
                        in_profile = in_profile && vec_jwk_in_profile(k);
                        /* Every RSA key of these keysets names its alg, so
                         * none needs one added (see case_jwk). */
                        assert_false(rsa_without_alg(k));
                }
                /* svcid's JWKS names its issuer; Wycheproof's keysets don't. */
                snprintf(iss, sizeof iss, "https://wycheproof.test/jwk/%zu", gi);
                assert_int_equal(json_object_set_new(set, "iss", json_string(iss)), 0);
                text = json_dumps(set, JSON_COMPACT);
                assert_non_null(text);
                assert_int_equal(svcid_trust_new(&trust), 0);
                r = svcid_trust_add_jwks(trust, text, strlen(text), file, err, sizeof err);
                if (r < 0)
                        /* Nothing of a refused document may be trusted. */
                        assert_int_equal(svcid_trust_key_count(trust), 0);

                json_array_foreach(tests, ti, t) {
                        _cleanup_(free_p) char *jws = case_jws(t);
                        _cleanup_(free_p) char *kid = NULL;
                        const svcid_key *key = NULL;

                        assert_non_null(jws);
                        kid = vec_header_string(jws, "kid");
                        if (r >= 0 && kid)
                                key = svcid_trust_find(trust, iss, kid);
                        judge_jws(file, t, key, in_profile, &c);
                }
                if (r < 0)
                        sets_refused++;
        }
        print_counts(file, &c);
        printf("vectors: %s: %u of %zu keysets refused by svcid_trust_add_jwks\n", file, sets_refused,
               json_array_size(groups));
        check_total(file, doc, &c);
}

/* ---- Wycheproof primitives ---------------------------------------------- */

struct primitive {
        const char *file;
        svcid_alg alg;
        const char *jwk_member;         /* the group's JWK, when it has one */
};

static void check_group_params(const struct primitive *p, json_t *g) {
        /* These files test exactly the parameters of svcid's algs; a group
         * with others would not be a test of svcid at all. */
        json_t *sha = json_object_get(g, "sha");

        if (p->alg == SVCID_ALG_EDDSA)
                return;
        assert_true(vec_streq(sha, "SHA-256"));
        if (p->alg == SVCID_ALG_PS256) {
                assert_true(vec_streq(json_object_get(g, "mgf"), "MGF1"));
                assert_true(vec_streq(json_object_get(g, "mgfSha"), "SHA-256"));
                assert_int_equal(json_integer_value(json_object_get(g, "sLen")), 32);
        }
}

static void run_primitive(const struct primitive *p) {
        _cleanup_(free_p) char *rel = NULL;
        _cleanup_(json_decrefp) json_t *doc = NULL;
        struct counts c = {};
        json_t *groups, *g;
        size_t gi;

        assert_true(asprintf(&rel, "wycheproof/%s", p->file) > 0);
        doc = vec_load(rel);
        assert_non_null(doc);
        groups = json_object_get(doc, "testGroups");
        assert_true(json_array_size(groups) > 0);

        json_array_foreach(groups, gi, g) {
                const char *pem = json_string_value(json_object_get(g, "publicKeyPem"));
                json_t *jwk = json_object_get(g, p->jwk_member);
                _cleanup_(vec_key_unrefp) svcid_key *kp = NULL, *kj = NULL;
                _cleanup_(free_p) char *jwk_text = NULL;
                json_t *tests = json_object_get(g, "tests"), *t;
                size_t ti;

                check_group_params(p, g);
                assert_non_null(pem);
                if (svcid_key_from_pem(pem, strlen(pem), p->alg, &kp) < 0)
                        kp = NULL;
                if (jwk) {
                        /* The same key as a JWK must meet the same fate, and
                         * be the same key. */
                        jwk_text = json_dumps(jwk, JSON_COMPACT);
                        assert_non_null(jwk_text);
                        if (svcid_key_from_jwk(jwk_text, strlen(jwk_text), &kj) < 0)
                                kj = NULL;
                        if (!kp != !kj)
                                fail_msg("%s group %zu: the PEM key %s but the JWK %s", p->file, gi,
                                         kp ? "loaded" : "was refused", kj ? "loaded" : "was refused");
                        if (kp)
                                assert_true(svcid_key_equal_public(kp, kj));
                }
                if (kp) {
                        assert_int_equal(svcid_key_alg(kp), p->alg);
                        assert_false(svcid_key_is_private(kp));
                }

                json_array_foreach(tests, ti, t) {
                        json_int_t id = json_integer_value(json_object_get(t, "tcId"));
                        const char *comment = json_string_value(json_object_get(t, "comment"));
                        const char *result = json_string_value(json_object_get(t, "result"));
                        _cleanup_(free_p) unsigned char *msg = NULL, *sig = NULL;
                        size_t msg_len = 0, sig_len = 0;
                        int r;

                        assert_non_null(result);
                        c.total++;
                        if (!kp) {
                                /* A refused key may only cost refusals: a
                                 * "valid" signature under it is a mismatch. */
                                if (strcmp(result, "valid") == 0) {
                                        MISMATCH(p->file, id, comment, "valid, but svcid refused the group's key");
                                        c.failures++;
                                } else
                                        c.key_policy++;
                                continue;
                        }
                        assert_int_equal(vec_hex(json_string_value(json_object_get(t, "msg")), &msg, &msg_len), 0);
                        assert_int_equal(vec_hex(json_string_value(json_object_get(t, "sig")), &sig, &sig_len), 0);
                        r = svcid_key_verify_raw(kp, msg, msg_len, sig, sig_len);
                        if (kj) {
                                int rj = svcid_key_verify_raw(kj, msg, msg_len, sig, sig_len);
                                if (rj != r) {
                                        MISMATCH(p->file, id, comment, "PEM key says %d, JWK key %d", r, rj);
                                        c.failures++;
                                        continue;
                                }
                        }

                        if (strcmp(result, "valid") == 0) {
                                if (r != 0) {
                                        MISMATCH(p->file, id, comment, "valid, got %d (%s)", r, strerror(-r));
                                        c.failures++;
                                } else
                                        c.valid_accepted++;
                        } else if (strcmp(result, "invalid") == 0) {
                                /* svcid.h: -EBADMSG for an invalid signature. */
                                if (r != -EBADMSG) {
                                        MISMATCH(p->file, id, comment, "invalid, got %d (%s), expected -EBADMSG",
                                                 r, r ? strerror(-r) : "accepted");
                                        c.failures++;
                                } else
                                        c.invalid_refused++;
                        } else {
                                assert_string_equal(result, "acceptable");
                                if (r == 0)
                                        c.acceptable_accepted++;
                                else if (r == -EBADMSG)
                                        c.acceptable_refused++;
                                else {
                                        MISMATCH(p->file, id, comment, "acceptable, got %d (%s)", r, strerror(-r));
                                        c.failures++;
                                }
                        }
                }
        }
        print_counts(p->file, &c);
        check_total(p->file, doc, &c);
        /* Every group key of these files is within the key policy svcid.h
         * documents (P-256 points on the curve, 32-byte Ed25519 keys, RSA of
         * 2048 bits with e 65537 or 3), so none may be refused — not even
         * under a group whose cases are all invalid. */
        assert_int_equal(c.key_policy, 0);
}

static void test_wycheproof_ecdsa_p256(void **state) {
        static const struct primitive p = { "ecdsa_secp256r1_sha256_p1363_test.json", SVCID_ALG_ES256, "publicKeyJwk" };
        (void) state;
        run_primitive(&p);
}

static void test_wycheproof_ed25519(void **state) {
        static const struct primitive p = { "ed25519_test.json", SVCID_ALG_EDDSA, "publicKeyJwk" };
        (void) state;
        run_primitive(&p);
}

static void test_wycheproof_rsa_pkcs1(void **state) {
        static const struct primitive p = { "rsa_signature_2048_sha256_test.json", SVCID_ALG_RS256, "keyJwk" };
        (void) state;
        run_primitive(&p);
}

static void test_wycheproof_rsa_pss(void **state) {
        static const struct primitive p = { "rsa_pss_2048_sha256_mgf1_32_test.json", SVCID_ALG_PS256, "publicKeyJwk" };
        (void) state;
        run_primitive(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc_examples),
                cmocka_unit_test(test_wycheproof_jws),
                cmocka_unit_test(test_wycheproof_jwk),
                cmocka_unit_test(test_wycheproof_ecdsa_p256),
                cmocka_unit_test(test_wycheproof_ed25519),
                cmocka_unit_test(test_wycheproof_rsa_pkcs1),
                cmocka_unit_test(test_wycheproof_rsa_pss),
        };

        setvbuf(stdout, NULL, _IOLBF, 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
