/* SPDX-License-Identifier: MIT */
/*
 * pam_svcid's cost next to a bare verify, in the same run.
 *
 *  - pam_auth: authentications per second through the real Linux-PAM and
 *    build/pam_svcid.so, each with a fresh handle (pam_start_confdir,
 *    pam_authenticate answering the prompt with the token, pam_end), as a
 *    login service does per connection: arguments parsed, trust checked
 *    for changes (the parsed store is reused), policy built, token
 *    verified, subject checked, audit line logged, state kept.
 *  - pam_bare_verify: svcid_verify() of the same ES256 token with trust and
 *    policy built once, claims returned and freed.
 *  - pam_auth_same_handle: the same through one handle kept open, to
 *    tell the module's own cost from Linux-PAM's per-handle work
 *    (pam_start/pam_end: reading the service file, loading modules,
 *    libaudit's netlink round trip per pam_authenticate stays in both).
 *  - pam_permit_auth: the same fresh-handle authentication through a stack
 *    of pam_permit.so alone, a module that does nothing: what Linux-PAM
 *    itself costs per authentication, whatever the module.
 *  - pam_vs_bare_verify_cost: time per authentication / time per bare
 *    verify (from CPU time, which neighbours on a shared machine disturb
 *    less than wall time); the goal is <= 1.25.
 *  - pam_module_own_vs_bare_verify_cost: (time per authentication - time
 *    per pam_permit authentication) / time per bare verify: what
 *    pam_svcid adds to a login, Linux-PAM's own part taken out.
 *
 * The loops alternate in short rounds (ROUNDS) so that all see the same
 * machine (loop.h). $BENCH_SECONDS (default 3) is the total time per figure. Needs
 * root: the module trusts only root-owned files (exit 77 otherwise).
 *
 * Output, one figure a line: BENCH <name> <value> <unit>.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "svcid/svcid.h"
#include "loop.h"

#define ISSUER "svcid://build01.example.com"
#define AUDIENCE "ssh:web01"
#define USER "deploy-bot"
/* Slices per loop: 90 of 33 ms for the default 3 s. With 6 of 500 ms,
 * five runs gave pam_vs_bare_verify_cost from 1.24 to 1.51; with 90, ten
 * runs gave 1.29 to 1.38: more and shorter slices spread a passing load
 * over every loop alike. */
#define ROUNDS 90

static char tmpdir[] = "/tmp/svcid-bench-pam-XXXXXX";
static char confdir[PATH_MAX + 16];
static const char *token;

static void die(const char *what, int r) {
        fprintf(stderr, "bench_pam: %s: %s\n", what, r < 0 ? strerror(-r) : "failed");
        exit(EXIT_FAILURE);
}

static void write_file(const char *path, const char *data) {
        FILE *f = fopen(path, "we");

        if (!f || fputs(data, f) < 0 || fchmod(fileno(f), 0644) < 0 || fclose(f) != 0)
                die(path, -errno);
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *userdata) {
        struct pam_response *r = calloc((size_t) n, sizeof *r);

        (void) userdata;
        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++)
                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
                        r[i].resp = strdup(token);
        *resp = r;
        return PAM_SUCCESS;
}

/* A fresh handle for the service, as a login service makes one per
 * connection. */
static void one_auth(const void *service) {
        struct pam_conv c = { conv, NULL };
        pam_handle_t *pamh = NULL;
        int r;

        if (pam_start_confdir(service, USER, &c, confdir, &pamh) != PAM_SUCCESS)
                die("pam_start_confdir", 0);
        r = pam_authenticate(pamh, 0);
        pam_end(pamh, r);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "bench_pam: pam_authenticate (%s): %s\n", (const char *) service,
                        pam_strerror(NULL, r));
                exit(EXIT_FAILURE);
        }
}

static void same_handle_auth(const void *pamh) {
        int r = pam_authenticate((pam_handle_t *) pamh, 0);

        if (r != PAM_SUCCESS) {
                fprintf(stderr, "bench_pam: pam_authenticate (same handle): %s\n",
                        pam_strerror((pam_handle_t *) pamh, r));
                exit(EXIT_FAILURE);
        }
}

static void one_verify(const void *policy) {
        svcid_claims *claims = NULL;
        svcid_report report;

        if (svcid_verify(policy, token, strlen(token), &claims, &report) != SVCID_OK) {
                fprintf(stderr, "bench_pam: svcid_verify: %s: %s\n", svcid_reason_str(report.reason), report.detail);
                exit(EXIT_FAILURE);
        }
        svcid_claims_free(claims);
}

/* CPU seconds per operation */
static double per_op(const struct loop *l) {
        return l->cpu / (double) l->n;
}

static void report(const char *name, const char *unit, const struct loop *l) {
        printf("BENCH %s %.0f %s\n", name, (double) l->n / l->wall, unit);
        printf("BENCH %s_cpu %.0f %s\n", name, (double) l->n / l->cpu, unit);
}

/* The pam_permit.so stack. pam_svcid keeps itself loaded (RTLD_NODELETE)
 * so that its trust cache lives on; pam_permit.so is pinned the same way
 * here, or every pam_end() would unload it and every pam_start() map it
 * again, and the floor would count a dlopen() that pam_svcid does not pay.
 * It sits in the security/ folder beside libpam. */
static void write_permit_stack(const char *stack_path) {
        char lib[PATH_MAX], permit[PATH_MAX + 32], *stack = NULL;
        Dl_info info;

        if (!dladdr((void *) pam_start, &info) || !info.dli_fname ||
            snprintf(lib, sizeof lib, "%s", info.dli_fname) >= (int) sizeof lib)
                die("dladdr pam_start", 0);
        snprintf(permit, sizeof permit, "%s/security/pam_permit.so", dirname(lib));
        if (!dlopen(permit, RTLD_NOW | RTLD_NODELETE)) {
                fprintf(stderr, "bench_pam: %s\n", dlerror());
                exit(EXIT_FAILURE);
        }
        if (asprintf(&stack, "auth required %s\n", permit) < 0)
                die("asprintf", -ENOMEM);
        write_file(stack_path, stack);
        free(stack);
}

static void cleanup(void) {
        char cmd[PATH_MAX + 16];

        if (!strstr(tmpdir, "XXXXXX")) {
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench_pam: could not remove %s\n", tmpdir);
        }
}

int main(int argc, char **argv) {
        char module[PATH_MAX], path[PATH_MAX + 64], trust[PATH_MAX + 16];
        char *jwk = NULL, *doc = NULL, *claims = NULL, *tok = NULL;
        const char *build = getenv("SVCID_BUILD"), *secs = getenv("BENCH_SECONDS");
        double seconds = 3.0;
        struct pam_conv same_conv = { conv, NULL };
        pam_handle_t *same = NULL;
        svcid_key *key = NULL;
        svcid_trust *t = NULL;
        svcid_policy *policy = NULL;
        int64_t now = (int64_t) time(NULL);
        int r;

        (void) argc;
        if (geteuid() != 0) {
                fprintf(stderr, "bench_pam: skipped: pam_svcid trusts only root-owned files, so this needs root\n");
                return 77;
        }
        if (secs) {
                char *end;
                errno = 0;
                seconds = strtod(secs, &end);
                if (errno || *end || seconds <= 0 || seconds > 600) {
                        fprintf(stderr, "bench_pam: bad BENCH_SECONDS '%s'\n", secs);
                        return EXIT_FAILURE;
                }
        }
        /* The module beside this program's directory unless SVCID_BUILD says. */
        if (build)
                snprintf(module, sizeof module, "%s/pam_svcid.so", build);
        else {
                char self[PATH_MAX];
                ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
                if (n < 0)
                        die("readlink /proc/self/exe", -errno);
                self[n] = '\0';
                snprintf(module, sizeof module, "%s/../pam_svcid.so", dirname(self));
        }
        {
                char real[PATH_MAX];

                if (access(module, R_OK) != 0 || !realpath(module, real)) {
                        fprintf(stderr, "bench_pam: no module at %s (argv[0] %s)\n", module, argv[0]);
                        return EXIT_FAILURE;
                }
                memcpy(module, real, sizeof module);
        }

        if (!mkdtemp(tmpdir))
                die("mkdtemp", -errno);
        atexit(cleanup);
        if (chmod(tmpdir, 0755) < 0)
                die("chmod", -errno);
        snprintf(confdir, sizeof confdir, "%s/pam.d", tmpdir);
        snprintf(trust, sizeof trust, "%s/trust.d", tmpdir);
        if (mkdir(confdir, 0755) < 0 || mkdir(trust, 0755) < 0)
                die("mkdir", -errno);

        /* ES256, the agent's default; an agent-shaped token. */
        r = svcid_key_generate(SVCID_ALG_ES256, &key);
        if (r < 0)
                die("svcid_key_generate", r);
        r = svcid_key_public_jwk(key, &jwk);
        if (r < 0)
                die("svcid_key_public_jwk", r);
        if (asprintf(&doc, "{\"iss\":\"" ISSUER "\",\"keys\":[%s]}", jwk) < 0)
                die("asprintf", -ENOMEM);
        snprintf(path, sizeof path, "%s/build01.jwks", trust);
        write_file(path, doc);
        if (asprintf(&claims,
                     "{\"iss\":\"" ISSUER "\",\"sub\":\"" USER "\",\"aud\":\"" AUDIENCE "\",\"iat\":%lld,"
                     "\"exp\":%lld,\"jti\":\"5Kx3n0QwVb2mJc8T1yHq7A\",\"uid\":1001,\"gid\":1001,"
                     "\"unit\":\"deploy-web.service\"}",
                     (long long) now, (long long) now + 3000) < 0)
                die("asprintf", -ENOMEM);
        r = svcid_jwt_sign(key, claims, strlen(claims), &tok);
        if (r < 0)
                die("svcid_jwt_sign", r);
        token = tok;

        snprintf(path, sizeof path, "%s/svcid-bench", confdir);
        {
                char *stack = NULL;
                if (asprintf(&stack, "auth [success=done default=die] %s audience=" AUDIENCE " trust=%s\n",
                             module, trust) < 0)
                        die("asprintf", -ENOMEM);
                write_file(path, stack);
                free(stack);
                snprintf(path, sizeof path, "%s/permit-bench", confdir);
                write_permit_stack(path);
                /* Every real PAM configuration has "other"; without it
                 * Linux-PAM logs a complaint on each pam_start. */
                snprintf(path, sizeof path, "%s/other", confdir);
                write_file(path, "# nothing: every call this bench makes has a service\n");
        }

        r = svcid_trust_new(&t);
        if (r >= 0)
                r = svcid_trust_add_jwks(t, doc, strlen(doc), "bench", NULL, 0);
        if (r >= 0)
                r = svcid_policy_new(t, AUDIENCE, &policy);
        if (r < 0)
                die("trust/policy", r);

        if (pam_start_confdir("svcid-bench", USER, &same_conv, confdir, &same) != PAM_SUCCESS)
                die("pam_start_confdir", 0);

        struct loop pam = { .run = one_auth, .arg = "svcid-bench" },
                    bare = { .run = one_verify, .arg = policy },
                    same_loop = { .run = same_handle_auth, .arg = same },
                    permit = { .run = one_auth, .arg = "permit-bench" };
        struct loop *loops[] = { &pam, &bare, &same_loop, &permit };

        /* Warm up every path (modules loaded and pinned, trust parsed). */
        for (int i = 0; i < 50; i++)
                for (size_t k = 0; k < sizeof loops / sizeof *loops; k++)
                        loops[k]->run(loops[k]->arg);

        run_interleaved(loops, sizeof loops / sizeof *loops, ROUNDS, seconds);
        pam_end(same, PAM_SUCCESS);

        {
                double ratio = per_op(&pam) / per_op(&bare);

                report("pam_auth", "auths/s", &pam);
                report("pam_bare_verify", "ops/s", &bare);
                report("pam_auth_same_handle", "auths/s", &same_loop);
                report("pam_permit_auth", "auths/s", &permit);
                printf("BENCH pam_vs_bare_verify_cost %.3f ratio\n", ratio);
                printf("BENCH pam_same_handle_vs_bare_verify_cost %.3f ratio\n", per_op(&same_loop) / per_op(&bare));
                printf("BENCH pam_module_own_vs_bare_verify_cost %.3f ratio\n",
                       (per_op(&pam) - per_op(&permit)) / per_op(&bare));
                fprintf(stderr, "bench_pam: goal: a PAM authentication costs <= 1.25x a bare verify: %s (%.3fx)\n",
                        ratio <= 1.25 ? "met" : "NOT met", ratio);
        }

        svcid_policy_free(policy);
        svcid_trust_free(t);
        svcid_key_unref(key);
        svcid_free_secret(tok);
        free(claims);
        free(doc);
        free(jwk);
        return 0;
}
