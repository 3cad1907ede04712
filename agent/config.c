/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/path.h"
#include "../common/text.h"
#include "../common/user.h"
#include "config.h"
#include "util.h"
#include "../common/json.h"

/* inih (Debian's build) truncates a section name at 49 bytes without
 * telling; we refuse names that reach that length instead. Key names it
 * hands over whole. */
#define INIH_SECTION_MAX 49

enum {
        SEEN_ISSUER      = 1 << 0,
        SEEN_ALGORITHM   = 1 << 1,
        SEEN_DEFAULT_TTL = 1 << 2,
        SEEN_MAX_TTL     = 1 << 3,
        SEEN_LIFETIME    = 1 << 4,
        SEEN_STATE_DIR   = 1 << 5,
        SEEN_ANONYMOUS   = 1 << 6,
        SEEN_USER        = 1 << 7,
        SEEN_UNIT        = 1 << 8,
        SEEN_AUDIENCES   = 1 << 9,
        SEEN_TTL         = 1 << 10,
        SEEN_REUSE       = 1 << 11,
};

typedef struct parse_ctx {
        agent_config *config;
        const char *origin;             /* the file, for warnings */
        /* the input, handed to inih one line at a time */
        const char *p, *end;
        unsigned line;
        unsigned long_line;             /* first line longer than inih takes */
        int max_line;
        /* first error seen by the reader or the handler */
        unsigned err_line;
        char err_msg[256];
        /* where we are: set by the reader at each [section] header */
        bool in_agent, agent_seen;
        agent_account *account;         /* current [account] or NULL */
        unsigned seen;                  /* SEEN_* of the current section */
        unsigned default_ttl_line, max_ttl_line, key_lifetime_line;
} parse_ctx;

static void account_done(agent_account *a) {
        if (!a)
                return;
        free(a->name);
        free(a->user);
        free(a->unit);
        if (a->audiences)
                for (char **g = a->audiences; *g; g++)
                        free(*g);
        free(a->audiences);
        json_decref(a->claims);
}

void config_free(agent_config *config) {
        if (!config)
                return;
        for (size_t i = 0; i < config->n_accounts; i++)
                account_done(&config->accounts[i]);
        free(config->accounts);
        for (size_t i = 0; i < config->n_warnings; i++)
                free(config->warnings[i]);
        free(config->warnings);
        free(config->issuer);
        free(config->state_dir);
        free(config);
}
DEFINE_PTR_CLEANUP(agent_config, config_free)

static int fail(parse_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parse_ctx *c, const char *fmt, ...) {
        va_list ap;

        if (c->err_line == 0) {
                c->err_line = c->line;
                va_start(ap, fmt);
                vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
                va_end(ap);
                /* it may quote the file: no control byte to a terminal */
                copy_printable_n(c->err_msg, sizeof c->err_msg, c->err_msg, strlen(c->err_msg), true);
        }
        return 0;       /* inih: handler failed */
}

/* Notes "origin:line: message" in config->warnings; out of memory, the
 * warning is lost (it changes nothing the policy does). */
static void warn(parse_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(parse_ctx *c, const char *fmt, ...) {
        agent_config *cfg = c->config;
        _cleanup_(free_p) char *msg = NULL;
        char **w;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                return;
        }
        w = reallocarray(cfg->warnings, cfg->n_warnings + 1, sizeof *w);
        if (!w)
                return;
        cfg->warnings = w;
        if (asprintf(&w[cfg->n_warnings], "%s:%u: %s", c->origin, c->line, msg) >= 0)
                cfg->n_warnings++;
}

/* Most values may not hold a space, so a '#' note after one is refused.
 * The two that may, a path and a claim's, would carry the note along:
 * only ';' after a space starts a comment. */
static void warn_hash(parse_ctx *c, const char *name, const char *value, const char *what) {
        if (strstr(value, " #") || strstr(value, "\t#"))
                warn(c, "the value of '%s' holds ' #', which is part of the %s: after a value, only "
                        "';' after a space starts a comment", name, what);
}

static int enter_section(parse_ctx *c, const char *section);

/* Where inih's find_chars_or_comment() stops: at one of chars, at an
 * inline comment (';' after a space), or at the end. */
static const char *inih_find(const char *s, const char *chars) {
        bool was_space = false;

        for (; *s && !strchr(chars, *s) && !(was_space && *s == ';'); s++)
                was_space = isspace((unsigned char) *s);
        return s;
}

/* Looks at a line as inih is about to, for what inih does not tell the
 * handler: every [section] header, even one no key follows (inih names
 * the section only with a key, and two sections of one name in a row
 * would look like one), and where a key ends. */
static void look_at_line(parse_ctx *c, const char *line) {
        const char *s = line, *end, *rest;
        char name[INIH_SECTION_MAX];

        if (c->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
                s += 3;         /* inih skips a UTF-8 BOM */
        while (isspace((unsigned char) *s))
                s++;
        if (*s == '\0' || *s == ';' || *s == '#')
                return;
        if (*s == '[') {
                end = inih_find(s + 1, "]");
                if (*end != ']')
                        return; /* inih's syntax error */
                if ((size_t) (end - s - 1) >= sizeof name) {
                        fail(c, "section name too long (at most %d characters between the brackets: "
                                "an account's name is at most %d)", INIH_SECTION_MAX - 1,
                             INIH_SECTION_MAX - 1 - (int) strlen("account "));
                        return;
                }
                memcpy(name, s + 1, (size_t) (end - s - 1));
                name[end - s - 1] = '\0';
                /* inih ignores whatever follows the ']': allow only what
                 * would be a comment after a value. */
                rest = end + 1;
                while (isspace((unsigned char) *rest))
                        rest++;
                if (*rest != '\0' && !(*rest == ';' && rest > end + 1)) {
                        fail(c, "text after [%s] (only a comment may follow it, after a space and ';')", name);
                        return;
                }
                enter_section(c, name);
                return;
        }
        /* inih ends a key at the first '=' or ':': "claim.ns:role = x"
         * would be the key "claim.ns" with the value "role = x". */
        end = inih_find(s, "=:");
        if (*end == ':')
                fail(c, "':' before '=' (a key ends at the first ':' or '='; write 'key = value', "
                        "and key names have no ':')");
}

/* inih's reader: one line per call, so c->line is the handler's line. */
static char *reader(char *str, int num, void *stream) {
        parse_ctx *c = stream;
        const char *nl;
        size_t n, text;

        if (c->p >= c->end || c->long_line || c->err_line)
                return NULL;
        nl = memchr(c->p, '\n', (size_t) (c->end - c->p));
        n = nl ? (size_t) (nl - c->p) + 1 : (size_t) (c->end - c->p);
        c->line++;
        /* inih would cut a longer line in two and parse the rest as a
         * line of its own: refuse it instead. Its buffer holds num - 3
         * bytes of text and the line's "\r\n\0": that many, whatever
         * ends the line. */
        c->max_line = num - 3;
        text = n;
        if (text > 0 && c->p[text - 1] == '\n')
                text--;
        if (text > 0 && c->p[text - 1] == '\r')
                text--;
        if (num <= 3 || text > (size_t) c->max_line) {
                c->long_line = c->line;
                return NULL;
        }
        memcpy(str, c->p, n);
        str[n] = '\0';
        c->p += n;
        look_at_line(c, str);
        return c->err_line ? NULL : str;
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                *--e = '\0';
        return s;
}

/* Splits a comma-separated list into trimmed items, each checked by ok. */
static int split_list(const char *value, bool (*ok)(const char *), char ***ret_items, size_t *ret_n) {
        _cleanup_(free_p) char *copy = strdup(value);
        char **items = NULL, *tok;
        size_t n = 0;

        if (!copy)
                return -ENOMEM;
        /* strtok_r would skip empty items; we want "a,,b" to be an error */
        for (char *p = copy;; ) {
                char *comma = strchr(p, ',');
                char **grown;

                if (comma)
                        *comma = '\0';
                tok = trim(p);
                if (!ok(tok))
                        goto bad;
                grown = realloc(items, (n + 2) * sizeof *items);
                if (!grown)
                        goto nomem;
                items = grown;
                items[n] = strdup(tok);
                if (!items[n])
                        goto nomem;
                items[++n] = NULL;
                if (!comma)
                        break;
                p = comma + 1;
        }
        *ret_items = items;
        *ret_n = n;
        return 0;
bad:
        for (size_t i = 0; i < n; i++)
                free(items[i]);
        free(items);
        return -EINVAL;
nomem:
        for (size_t i = 0; i < n; i++)
                free(items[i]);
        free(items);
        return -ENOMEM;
}

static bool claim_name_ok(const char *s) {
        static const char *const reserved[] = {
                "iss", "sub", "aud", "iat", "exp", "jti", "uid", "gid", "unit",
                "nbf",  /* verifiers act on it: never policy's to set */
        };
        size_t n = strlen(s);

        if (n == 0 || n > 64 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") != n)
                return false;
        /* In any case: JSON names are case-sensitive, but not every
         * reader of a token is (Go's encoding/json fills a "sub" field
         * from "Sub" too, the last one in the payload winning), so a
         * policy "Sub" beside the agent's "sub" could name another
         * subject to it. */
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strcasecmp(s, reserved[i]) == 0)
                        return false;
        return true;
}

/* A claim value: printable, no control characters; spaces allowed. Its
 * length is bounded by the line's, and by the token's (shortest_token()). */
static bool claim_value_ok(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if ((unsigned char) s[n] < 0x20 || s[n] == 0x7f)
                        return false;
        return n > 0;
}

static int seen_once(parse_ctx *c, unsigned bit, const char *name) {
        if (c->seen & bit)
                return fail(c, "duplicate key '%s'", name);
        c->seen |= bit;
        return 1;
}

static int set_int(parse_ctx *c, const char *name, const char *value, int64_t min, int64_t max, int64_t *ret) {
        int64_t v;
        int r = parse_int64(value, min, max, &v);

        if (r == -ERANGE)
                return fail(c, "%s must be between %lld and %lld, not '%s'", name,
                            (long long) min, (long long) max, value);
        if (r < 0)
                return fail(c, "%s must be a whole number of seconds, not '%s'", name, value);
        *ret = v;
        return 1;
}

static int agent_key(parse_ctx *c, const char *name, const char *value) {
        agent_config *cfg = c->config;

        if (strcmp(name, "issuer") == 0) {
                if (!seen_once(c, SEEN_ISSUER, name))
                        return 0;
                if (!name_ok(value))
                        return fail(c, "issuer must be 1 to %d printable characters without spaces", CONFIG_NAME_MAX);
                free(cfg->issuer);
                cfg->issuer = strdup(value);
                return cfg->issuer ? 1 : fail(c, "out of memory");
        }
        if (strcmp(name, "algorithm") == 0) {
                if (!seen_once(c, SEEN_ALGORITHM, name))
                        return 0;
                if (svcid_alg_from_str(value, &cfg->alg) < 0)
                        return fail(c, "unknown algorithm '%s' (ES256, EdDSA, RS256 or PS256)", value);
                return 1;
        }
        if (strcmp(name, "default_ttl") == 0) {
                if (!seen_once(c, SEEN_DEFAULT_TTL, name))
                        return 0;
                c->default_ttl_line = c->line;
                return set_int(c, name, value, 1, CONFIG_TTL_MAX, &cfg->default_ttl);
        }
        if (strcmp(name, "max_ttl") == 0) {
                if (!seen_once(c, SEEN_MAX_TTL, name))
                        return 0;
                c->max_ttl_line = c->line;
                return set_int(c, name, value, 1, CONFIG_TTL_MAX, &cfg->max_ttl);
        }
        if (strcmp(name, "key_lifetime") == 0) {
                if (!seen_once(c, SEEN_LIFETIME, name))
                        return 0;
                c->key_lifetime_line = c->line;
                return set_int(c, name, value, CONFIG_KEY_LIFETIME_MIN, CONFIG_KEY_LIFETIME_MAX, &cfg->key_lifetime);
        }
        if (strcmp(name, "token_reuse") == 0) {
                if (!seen_once(c, SEEN_REUSE, name))
                        return 0;
                return set_int(c, name, value, 0, CONFIG_REUSE_MAX, &cfg->token_reuse);
        }
        if (strcmp(name, "state_dir") == 0) {
                if (!seen_once(c, SEEN_STATE_DIR, name))
                        return 0;
                if (value[0] != '/' || strlen(value) >= PATH_MAX - 64)
                        return fail(c, "state_dir must be an absolute path");
                free(cfg->state_dir);
                cfg->state_dir = strdup(value);
                if (!cfg->state_dir)
                        return fail(c, "out of memory");
                warn_hash(c, name, value, "path");
                return 1;
        }
        if (strcmp(name, "anonymous") == 0) {
                if (!seen_once(c, SEEN_ANONYMOUS, name))
                        return 0;
                if (strcmp(value, "allow") == 0)
                        cfg->anonymous = true;
                else if (strcmp(value, "deny") == 0)
                        cfg->anonymous = false;
                else
                        return fail(c, "anonymous must be 'allow' or 'deny', not '%s'", value);
                return 1;
        }
        return fail(c, "unknown key '%s' in [agent]", name);
}

static int account_key(parse_ctx *c, const char *name, const char *value) {
        agent_account *a = c->account;

        if (strcmp(name, "user") == 0) {
                int64_t uid;
                uid_t named;
                int r;

                if (!seen_once(c, SEEN_USER, name))
                        return 0;
                /* All digits: a uid. A name may start with a digit. */
                if (*value && strspn(value, "0123456789") == strlen(value)) {
                        if (parse_int64(value, 0, (int64_t) UINT32_MAX - 1, &uid) < 0)
                                return fail(c, "uid %s is out of range", value);
                        r = lookup_user_uid(value, &named);
                        if (r > 0 && named != (uid_t) uid)
                                return fail(c, "user '%s' is ambiguous: a uid, and the name of the user with "
                                               "uid %u (write that uid to match that user)",
                                            value, (unsigned) named);
                        if (r < 0)
                                warn(c, "cannot look up whether a user is named '%s' now: %s", value, strerror(-r));
                        a->has_uid = true;
                        a->uid = (uid_t) uid;
                        return 1;
                }
                if (!name_ok(value) || value[0] == '-' || strchr(value, ':') || strchr(value, '/'))
                        return fail(c, "bad user name '%s'", value);
                a->user = strdup(value);
                if (!a->user)
                        return fail(c, "out of memory");
                /* Users may come later: a warning, which a typo deserves. */
                r = lookup_user_uid(value, &named);
                if (r == 0)
                        warn(c, "no user is named '%s' now: [account %s] matches no caller by user until one is",
                             value, a->name);
                else if (r < 0)
                        warn(c, "cannot look up user '%s' now: %s", value, strerror(-r));
                return 1;
        }
        if (strcmp(name, "unit") == 0) {
                if (!seen_once(c, SEEN_UNIT, name))
                        return 0;
                if (!name_ok(value))
                        return fail(c, "unit must be a glob of printable characters without spaces");
                a->unit = strdup(value);
                return a->unit ? 1 : fail(c, "out of memory");
        }
        if (strcmp(name, "audiences") == 0) {
                size_t n;
                int r;

                if (!seen_once(c, SEEN_AUDIENCES, name))
                        return 0;
                r = split_list(value, name_ok, &a->audiences, &n);
                if (r == -ENOMEM)
                        return fail(c, "out of memory");
                if (r < 0)
                        return fail(c, "audiences must be a comma-separated list of globs without spaces "
                                       "(a ';' comment needs a space before it)");
                return 1;
        }
        if (strcmp(name, "ttl") == 0) {
                if (!seen_once(c, SEEN_TTL, name))
                        return 0;
                return set_int(c, name, value, 1, CONFIG_TTL_MAX, &a->ttl);
        }
        if (strncmp(name, "claim.", 6) == 0) {
                const char *claim = name + 6, *other;
                _cleanup_(json_decrefp) json_t *v = NULL;
                json_t *ignored;

                if (!claim_name_ok(claim))
                        return fail(c, "bad claim name '%s' (1 to 64 letters, digits and '_-.', and not a registered claim in any case)", claim);
                if (json_object_get(a->claims, claim))
                        return fail(c, "duplicate key '%s'", name);
                /* Readers that fold case (Go's encoding/json) would take
                 * one for the other, whichever comes last in the token. */
                json_object_foreach(a->claims, other, ignored)
                        if (strcasecmp(other, claim) == 0)
                                return fail(c, "'claim.%s' and '%s' differ only in case", other, name);
                if (strchr(value, ',')) {
                        char **items;
                        size_t n;
                        int r = split_list(value, claim_value_ok, &items, &n);

                        if (r == -ENOMEM)
                                return fail(c, "out of memory");
                        if (r < 0)
                                return fail(c, "bad list value for '%s' (empty item or control character)", name);
                        v = json_array();
                        for (size_t i = 0; i < n; i++) {
                                if (v && json_array_append_new(v, json_string(items[i])) < 0)
                                        json_decref(TAKE_PTR(v));
                                free(items[i]);
                        }
                        free(items);
                } else {
                        if (!claim_value_ok(value))
                                return fail(c, "bad value for '%s' (empty or control character)", name);
                        v = json_string(value);
                }
                if (!v || json_object_set_new(a->claims, claim, TAKE_PTR(v)) < 0)
                        return fail(c, "bad value for '%s' (not UTF-8?)", name);
                warn_hash(c, name, value, "claim");
                return 1;
        }
        return fail(c, "unknown key '%s' in [account %s]", name, a->name);
}

/* A [section] header, from the reader, on its line. */
static int enter_section(parse_ctx *c, const char *section) {
        agent_config *cfg = c->config;
        _cleanup_(free_p) char *copy = NULL;
        agent_account *grown;
        char *s, *name;

        c->in_agent = false;
        c->account = NULL;
        c->seen = 0;

        copy = strdup(section);
        if (!copy)
                return fail(c, "out of memory");
        s = trim(copy);
        if (s[0] == '\0')
                return fail(c, "empty section name (write [agent] or [account NAME])");
        if (strcmp(s, "agent") == 0) {
                if (c->agent_seen)
                        return fail(c, "duplicate section [agent]");
                c->in_agent = c->agent_seen = true;
                return 1;
        }
        if (strncmp(s, "account", 7) != 0 || (s[7] != ' ' && s[7] != '\t'))
                return fail(c, "unknown section [%s]", s);
        name = trim(s + 7);
        /* the name becomes the token's sub: same rules as an issuer */
        if (!name_ok(name))
                return fail(c, "bad account name '%s'", name);
        for (size_t i = 0; i < cfg->n_accounts; i++)
                if (strcmp(cfg->accounts[i].name, name) == 0)
                        return fail(c, "duplicate section [account %s]", name);

        grown = reallocarray(cfg->accounts, cfg->n_accounts + 1, sizeof *grown);
        if (!grown)
                return fail(c, "out of memory");
        cfg->accounts = grown;
        c->account = &cfg->accounts[cfg->n_accounts];
        *c->account = (agent_account) { .line = c->line };
        cfg->n_accounts++;
        c->account->name = strdup(name);
        c->account->claims = json_object();
        if (!c->account->name || !c->account->claims)
                return fail(c, "out of memory");
        return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        parse_ctx *c = user;

        /* The reader has entered every [section] header as it passed,
         * and refused the names inih would cut short. */
        (void) section;
        if (c->err_line)
                return 0;       /* only the first error counts */
        if (!c->in_agent && !c->account)
                return fail(c, "key outside a section (start with [agent] or [account NAME])");
        if (c->in_agent)
                return agent_key(c, name, value);
        return account_key(c, name, value);
}

/* Base64url's length for n bytes. */
static size_t b64_len(size_t n) {
        return (n * 4 + 2) / 3;
}

/* The end of the bracket expression glob g starts ('['), as glibc's
 * fnmatch() reads one: a first ']' (after any '!' or '^') is a member, as
 * is "\\]"; a class "[:name:]" (lower-case letters), an equivalence
 * class "[=c=]" and a collating symbol "[.x.]" hold their own ']', and any
 * other '[' is a member. NULL where it does not end: then '[' is itself. */
static const char *bracket_end(const char *g) {
        const char *p = g + 1;

        p += *p == '!' || *p == '^';
        p += *p == ']';
        for (; *p && *p != ']'; p++) {
                const char *q = p + 2;

                if (*p == '\\' && p[1])
                        p++;
                else if (*p != '[')
                        continue;
                else if (p[1] == ':') {
                        while (*q >= 'a' && *q <= 'z')
                                q++;
                        if (q[0] == ':' && q[1] == ']')
                                p = q + 1;
                } else if (p[1] == '=') {
                        if (p[2] && p[3] == '=' && p[4] == ']')
                                p += 4;
                } else if (p[1] == '.') {
                        while (*q && !(q[0] == '.' && q[1] == ']'))
                                q++;
                        if (*q)
                                p = q + 1;
                }
        }
        return *p ? p : NULL;
}

/* The fewest bytes of a string fnmatch() matches with glob g (no flags). */
static size_t glob_min_len(const char *g) {
        size_t n = 0;

        for (; *g; g++) {
                const char *end;

                if (*g == '*')
                        continue;
                n++;
                if (*g == '\\' && g[1])
                        g++;
                else if (*g == '[' && (end = bracket_end(g)))
                        g = end;
        }
        return n;
}

/* The size of the shortest token account a could get: its claims beside
 * the shortest iss, uid and gid, the shortest audience it may ask for,
 * times of this era (10 digits), a jti, the header svcid writes (alg, a
 * thumbprint kid, typ), and the longest signature of the keys the agent
 * makes (384 bytes, RSA-3072's): after a change of algorithm the old key
 * signs until its rotation, and the check holds for either. 0 if out of
 * memory. */
static size_t shortest_token(const agent_config *cfg, const agent_account *a) {
        static const size_t header = sizeof "{\"alg\":\"ES256\",\"kid\":\"\",\"typ\":\"JWT\"}" - 1 + 43;
        static const size_t sig = 384;
        _cleanup_(json_decrefp) json_t *claims = NULL;
        _cleanup_(free_p) char *text = NULL;
        char aud[CONFIG_NAME_MAX + 1];
        size_t aud_len = SIZE_MAX;

        for (char **g = a->audiences; g && *g; g++) {
                size_t n = glob_min_len(*g);

                if (n < aud_len)
                        aud_len = n;
        }
        /* any audience, or a glob that matches the empty string: "a" */
        if (aud_len == SIZE_MAX || aud_len == 0)
                aud_len = 1;
        memset(aud, 'a', aud_len);      /* a glob is at most CONFIG_NAME_MAX bytes */
        aud[aud_len] = '\0';
        claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I}", "iss", cfg->issuer ? cfg->issuer : "svcid://a",
                           "sub", a->name, "aud", aud, "iat", (json_int_t) 1000000000, "exp", (json_int_t) 1000000000,
                           "jti", "AAAAAAAAAAAAAAAAAAAAAA", "uid", (json_int_t) 0, "gid", (json_int_t) 0);
        if (!claims || json_object_update(claims, a->claims) < 0)
                return 0;
        text = json_dumps_whole(claims, JSON_COMPACT);
        return text ? b64_len(header) + 1 + b64_len(strlen(text)) + 1 + b64_len(sig) : 0;
}

/* Whether every caller account b matches is matched by a, which comes
 * first: then b is never used. Only the sure cases: a user given alike
 * (or none), and a unit glob alike, "*" for any unit, or none. */
static bool shadows(const agent_account *a, const agent_account *b) {
        bool user_covers = (!a->user && !a->has_uid) ||
                           (a->has_uid && b->has_uid && a->uid == b->uid) ||
                           (a->user && b->user && strcmp(a->user, b->user) == 0);
        bool unit_covers = !a->unit || (b->unit && (strcmp(a->unit, "*") == 0 || strcmp(a->unit, b->unit) == 0));

        return user_covers && unit_covers;
}

static int check_config(parse_ctx *c) {
        agent_config *cfg = c->config;

        /* The default default_ttl yields to a lower max_ttl; one that was
         * set must fit it. */
        if (!c->default_ttl_line && cfg->default_ttl > cfg->max_ttl)
                cfg->default_ttl = cfg->max_ttl;
        if (cfg->default_ttl > cfg->max_ttl) {
                c->line = c->default_ttl_line > c->max_ttl_line ? c->default_ttl_line : c->max_ttl_line;
                return fail(c, "default_ttl %lld exceeds max_ttl %lld",
                            (long long) cfg->default_ttl, (long long) cfg->max_ttl);
        }
        /* A retired key stays published for max_ttl after its last token,
         * so about max_ttl / key_lifetime keys are published at once. Each
         * verifier reads and checks all of them (and refuses a JWKS over
         * 1 MiB): a key_lifetime of seconds would swell the JWKS into an
         * outage. */
        if (cfg->max_ttl > (int64_t) CONFIG_RETIRED_KEYS_MAX * cfg->key_lifetime) {
                c->line = c->key_lifetime_line > c->max_ttl_line ? c->key_lifetime_line : c->max_ttl_line;
                return fail(c, "key_lifetime %lld is too short for max_ttl %lld: over %d retired keys would "
                               "stay published (key_lifetime must be at least max_ttl / %d)",
                            (long long) cfg->key_lifetime, (long long) cfg->max_ttl, CONFIG_RETIRED_KEYS_MAX,
                            CONFIG_RETIRED_KEYS_MAX);
        }
        for (size_t i = 0; i < cfg->n_accounts; i++) {
                agent_account *a = &cfg->accounts[i];
                size_t size;

                if (!a->user && !a->has_uid && !a->unit) {
                        c->line = a->line;
                        return fail(c, "[account %s] needs 'user' or 'unit' (an account matching everyone is "
                                       "what 'anonymous' is for)", a->name);
                }
                for (size_t j = 0; j < i; j++)
                        if (shadows(&cfg->accounts[j], a)) {
                                c->line = a->line;
                                warn(c, "[account %s] is never used: [account %s] (line %u) comes first and "
                                        "matches every caller it would", a->name, cfg->accounts[j].name,
                                     cfg->accounts[j].line);
                                break;
                        }
                size = shortest_token(cfg, a);
                if (size > SVCID_TOKEN_MAX) {
                        c->line = a->line;
                        return fail(c, "[account %s]: its claims make every token over %u bytes (at least %zu)",
                                    a->name, SVCID_TOKEN_MAX, size);
                }
        }
        return 1;
}

int config_parse(const char *text, size_t len, const char *origin,
                 char *err, size_t err_len, agent_config **ret_config) {
        _cleanup_(config_freep) agent_config *cfg = NULL;
        parse_ctx c = {};
        const char *nul;
        int r;

        if (!origin)
                origin = "agent.conf";
        if (len > CONFIG_FILE_MAX) {
                if (err)
                        snprintf(err, err_len, "%s: larger than %u bytes", origin, CONFIG_FILE_MAX);
                return -EFBIG;
        }
        cfg = calloc(1, sizeof *cfg);
        if (!cfg)
                return -ENOMEM;
        cfg->alg = SVCID_ALG_ES256;
        cfg->default_ttl = 300;
        cfg->max_ttl = CONFIG_TTL_MAX;
        cfg->key_lifetime = 86400;
        cfg->token_reuse = 10;
        cfg->anonymous = true;

        c.config = cfg;
        c.origin = origin;
        c.p = text;
        c.end = text + len;
        /* inih stops at a NUL byte as if the file ended there: refuse it. */
        nul = memchr(text, '\0', len);
        if (nul)
                c.end = nul;

        /* Debian's inih takes some options at run time: an indented line
         * is a key of its own, not a continuation of the previous value. */
        ini_allow_multiline = false;
        ini_stop_on_first_error = true;

        r = ini_parse_stream(reader, &c, handler, &c);
        if (r == -2) {
                if (err)
                        snprintf(err, err_len, "%s: out of memory", origin);
                return -ENOMEM;
        }
        if (nul && !c.err_line && r == 0) {
                unsigned line = 1;
                for (const char *p = text; p < nul; p++)
                        line += *p == '\n';
                c.line = line;
                fail(&c, "NUL byte");
        }
        if (c.long_line && (!c.err_line || c.long_line < c.err_line) && (r <= 0 || c.long_line <= (unsigned) r)) {
                c.err_line = 0;
                c.line = c.long_line;
                fail(&c, "line longer than %d bytes", c.max_line);
        }
        if (r > 0 && (!c.err_line || (unsigned) r < c.err_line)) {
                c.err_line = 0;
                c.line = (unsigned) r;
                fail(&c, "syntax error (expected [section], 'key = value' or a comment)");
        }
        if (!c.err_line)
                check_config(&c);
        if (c.err_line) {
                if (err)
                        snprintf(err, err_len, "%s:%u: %s", origin, c.err_line, c.err_msg);
                return -EINVAL;
        }
        *ret_config = TAKE_PTR(cfg);
        return 0;
}

/* Why read_file_at() refused name in dirfd (-EPERM): which of the two. */
static int refused(int dirfd, const char *name, const char *path, char *err, size_t err_len) {
        struct stat st;
        char me[32] = "";
        const char *hint;

        if (geteuid() != 0)
                snprintf(me, sizeof me, " or uid %u", (unsigned) geteuid());
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return set_err(err, err_len, -EPERM, "%s: refusing it: %m", path);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return set_err(err, err_len, -EPERM, "%s: writable by group or others (mode %04o): refusing it",
                               path, (unsigned) (st.st_mode & 07777));
        hint = owner_hint(path, false);         /* "; run the agent as ..." */
        return set_err(err, err_len, -EPERM, "%s: owned by uid %u, not root%s: refusing it%s%s", path,
                       (unsigned) st.st_uid, me, *hint ? "; give it to root, or " : "", *hint ? hint + 2 : "");
}

int config_load(const char *path, bool missing_ok, char *err, size_t err_len,
                agent_config **ret_config) {
        _cleanup_(free_p) char *text = NULL;
        _cleanup_(close_fdp) int dirfd = -1;
        char name[NAME_MAX + 1], why[256] = "";
        size_t len;
        int r;

        /* Whoever may write the file, or a directory above it, decides
         * which claims callers get: root, or the agent's own user, which
         * holds the signing keys anyway. */
        len = strlen(path);
        if (len > 0 && path[len - 1] == '/')
                /* open_parent_checked() takes "dir/" for "dir", as a
                 * directory's path may be written; a file's may not */
                return set_err(err, err_len, -EISDIR, "%s: names a directory (it ends in '/'), not a file", path);
        r = dirfd = open_parent_checked(path, owner_root_or_self, NULL, name, why, sizeof why);
        if (r >= 0)
                r = read_file_at(dirfd, name, CONFIG_FILE_MAX, false, &text, &len);
        else if (r != -ENOENT)
                return set_err(err, err_len, r, "%s: %s", path, why);
        switch (r) {
        case 0:
                return config_parse(text, len, path, err, err_len, ret_config);
        case -ENOENT:
                if (!missing_ok)       /* why names a directory above that is missing */
                        return set_err(err, err_len, r, "%s: %s", path, why[0] ? why : strerror(-r));
                r = config_parse("", 0, path, err, err_len, ret_config);
                return r < 0 ? r : 1;
        case -EFBIG:
                return set_err(err, err_len, r, "%s: larger than %u bytes", path, CONFIG_FILE_MAX);
        case -EPERM:
                return refused(dirfd, name, path, err, err_len);
        case -EBADFD:
                return set_err(err, err_len, r, "%s: not a regular file", path);
        case -ELOOP:
                return set_err(err, err_len, r, "%s: a symbolic link, which svcid-agent does not follow: "
                               "name the file itself", path);
        }
        return set_err(err, err_len, r, "%s: %s", path, strerror(-r));
}

const agent_account *config_match(const agent_config *config, uid_t uid,
                                  const char *user_name, const char *unit) {
        for (size_t i = 0; i < config->n_accounts; i++) {
                const agent_account *a = &config->accounts[i];

                if (a->has_uid && a->uid != uid)
                        continue;
                if (a->user && (!user_name || strcmp(a->user, user_name) != 0))
                        continue;
                if (a->unit && (!unit || fnmatch(a->unit, unit, 0) != 0))
                        continue;
                return a;
        }
        return NULL;
}

bool config_audience_allowed(const agent_account *account, const char *aud) {
        if (!account || !account->audiences)
                return true;
        for (char **g = account->audiences; *g; g++)
                if (fnmatch(*g, aud, 0) == 0)
                        return true;
        return false;
}
