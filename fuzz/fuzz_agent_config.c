/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the agent's config parser (agent/config.c): any
 * bytes as agent.conf. Checks that a config that parses keeps its
 * promises (ttls in range, accounts named, claim names not reserved in
 * any case, no line longer than inih reads whole, no NUL byte), and that a
 * refusal always names "origin:line: reason".
 *
 * The fuzz build links lib/ and common/ only, not libinih: inih is reached
 * through dlopen() here, its run-time options copied over before each
 * parse, so the parser under test is the very one the agent uses. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../agent/config.c"
#include "../agent/util.c"

bool ini_allow_multiline = true;
bool ini_stop_on_first_error = false;

typedef int (*parse_stream_fn)(ini_reader, void *, ini_handler, void *);

int ini_parse_stream(ini_reader reader, void *stream, ini_handler h, void *user) {
        static parse_stream_fn real;
        static bool *real_multiline, *real_stop;

        if (!real) {
                void *lib = dlopen("libinih.so.1", RTLD_NOW | RTLD_LOCAL);
                if (!lib) {
                        fprintf(stderr, "fuzz_agent_config: %s\n", dlerror());
                        abort();
                }
                real = (parse_stream_fn) dlsym(lib, "ini_parse_stream");
                real_multiline = dlsym(lib, "ini_allow_multiline");
                real_stop = dlsym(lib, "ini_stop_on_first_error");
                if (!real || !real_multiline || !real_stop)
                        abort();
        }
        *real_multiline = ini_allow_multiline;
        *real_stop = ini_stop_on_first_error;
        return real(reader, stream, h, user);
}

/* The names no claim.* may take, written out here rather than taken from
 * config.c, so that a change there that lets one through is caught. */
static bool reserved_claim(const char *name) {
        static const char *const names[] = { "iss", "sub", "aud", "iat", "exp", "nbf", "jti", "uid", "gid", "unit" };

        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                if (strcasecmp(name, names[i]) == 0)
                        return true;
        return false;
}

/* Whether every line of an accepted file is one inih read whole: at most
 * 197 bytes (svcid.conf(5)) before its "\n" or "\r\n", and no NUL. */
static bool lines_whole(const uint8_t *data, size_t size) {
        size_t start = 0;

        if (memchr(data, '\0', size))
                return false;
        for (size_t i = 0; i <= size; i++)
                if (i == size || data[i] == '\n') {
                        size_t len = i - start;

                        if (len > 0 && data[start + len - 1] == '\r')
                                len--;
                        if (len > 197)
                                return false;
                        start = i + 1;
                }
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        agent_config *cfg = NULL;
        char err[512] = "";
        int r;

        r = config_parse((const char *) data, size, "fuzz.conf", err, sizeof err, &cfg);
        if (r < 0) {
                if (r != -ENOMEM && strncmp(err, "fuzz.conf", 9) != 0)
                        abort();        /* every refusal names its origin */
                if (r == -EINVAL && !strstr(err, "fuzz.conf:"))
                        abort();        /* ... and its line */
                return 0;
        }
        if (cfg->default_ttl < 1 || cfg->default_ttl > cfg->max_ttl || cfg->max_ttl > CONFIG_TTL_MAX ||
            cfg->key_lifetime < CONFIG_KEY_LIFETIME_MIN || cfg->alg == SVCID_ALG_INVALID)
                abort();
        if (cfg->issuer && !name_ok(cfg->issuer))
                abort();
        if (!lines_whole(data, size))
                abort();        /* a long line cut in two, or a NUL, let through */
        for (size_t i = 0; i < cfg->n_accounts; i++) {
                const agent_account *a = &cfg->accounts[i];
                const char *k;
                json_t *v;

                if (!name_ok(a->name) || (!a->user && !a->has_uid && !a->unit))
                        abort();
                json_object_foreach(a->claims, k, v)
                        if (!claim_name_ok(k) || reserved_claim(k))
                                abort();
                (void) config_audience_allowed(a, "ssh:web01");
        }
        (void) config_match(cfg, 1000, "deploy", "deploy-x.service");
        config_free(cfg);
        return 0;
}
