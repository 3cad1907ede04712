/* SPDX-License-Identifier: MIT */
/* map= files: which token subjects may log in as which local user.
 *
 *     # SUBJECT-GLOB  USER
 *     deploy-bot      deploy
 *     ci-*            builder
 *
 * A bad line stops the whole file (fail closed): a half-read map would
 * quietly grant less, or more, than the administrator wrote. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

struct map_entry {
        char *glob;
        char *user;
};

struct pam_svcid_map {
        struct map_entry *entries;
        size_t n, allocated;
};

void pam_svcid_map_free(pam_svcid_map *map) {
        if (!map)
                return;
        for (size_t i = 0; i < map->n; i++) {
                free(map->entries[i].glob);
                free(map->entries[i].user);
        }
        free(map->entries);
        free(map);
}

size_t pam_svcid_map_size(const pam_svcid_map *map) {
        return map ? map->n : 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* A user field: what useradd would accept, loosely — printable, no blanks,
 * no ':' or '/' (never a valid user name, and a sign of a garbled line). */
static bool valid_user(const char *s, size_t n) {
        if (n == 0 || n > 256)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c <= 0x20 || c >= 0x7f || c == ':' || c == '/')
                        return false;
        }
        return true;
}

static bool valid_glob(const char *s, size_t n) {
        if (n == 0 || n > 512)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c <= 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

static int add(pam_svcid_map *m, const char *glob, size_t glob_len, const char *user, size_t user_len) {
        struct map_entry *e;

        if (m->n == m->allocated) {
                size_t want = m->allocated ? m->allocated * 2 : 8;
                e = reallocarray(m->entries, want, sizeof *e);
                if (!e)
                        return -ENOMEM;
                m->entries = e;
                m->allocated = want;
        }
        e = &m->entries[m->n];
        e->glob = strndup(glob, glob_len);
        e->user = strndup(user, user_len);
        if (!e->glob || !e->user) {
                free(e->glob);
                free(e->user);
                return -ENOMEM;
        }
        m->n++;
        return 0;
}

static int parse_line(pam_svcid_map *m, const char *p, size_t n, unsigned line, char *err, size_t err_len) {
        const char *end = p + n, *glob, *user;
        size_t glob_len, user_len;

        if (n > 0 && p[n - 1] == '\r')          /* tolerate CRLF files */
                end--;
        while (p < end && is_blank(*p))
                p++;
        while (end > p && is_blank(end[-1]))
                end--;
        if (p == end || *p == '#')
                return 0;

        glob = p;
        while (p < end && !is_blank(*p))
                p++;
        glob_len = (size_t) (p - glob);
        while (p < end && is_blank(*p))
                p++;
        user = p;
        while (p < end && !is_blank(*p))
                p++;
        user_len = (size_t) (p - user);
        if (p != end || user_len == 0) {
                snprintf(err, err_len, "line %u: expected \"SUBJECT-GLOB USER\"", line);
                return -EINVAL;
        }
        if (!valid_glob(glob, glob_len)) {
                snprintf(err, err_len, "line %u: bad subject glob", line);
                return -EINVAL;
        }
        if (!valid_user(user, user_len)) {
                snprintf(err, err_len, "line %u: bad user name", line);
                return -EINVAL;
        }
        return add(m, glob, glob_len, user, user_len);
}

int pam_svcid_map_parse(const char *text, size_t len, pam_svcid_map **ret_map, char *err, size_t err_len) {
        pam_svcid_map *m;
        char scratch[PAM_SVCID_ERR_MAX];
        unsigned line = 0;
        size_t off = 0;
        int r = 0;

        if ((!text && len > 0) || !ret_map)
                return -EINVAL;
        if (!err || err_len == 0) {
                err = scratch;
                err_len = sizeof scratch;
        }
        if (len > PAM_SVCID_MAP_MAX) {
                snprintf(err, err_len, "larger than %u bytes", PAM_SVCID_MAP_MAX);
                return -EFBIG;
        }
        if (memchr(text, '\0', len)) {
                snprintf(err, err_len, "contains a NUL byte");
                return -EINVAL;
        }
        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        /* A byte order mark, as some editors write, is not the first
         * line's subject glob: a glob starting with it would never match. */
        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                off = 3;
        while (off < len) {
                const char *nl = memchr(text + off, '\n', len - off);
                size_t n = nl ? (size_t) (nl - (text + off)) : len - off;

                line++;
                if (n > PAM_SVCID_MAP_LINE_MAX) {
                        snprintf(err, err_len, "line %u: longer than %u bytes", line, PAM_SVCID_MAP_LINE_MAX);
                        r = -EINVAL;
                        break;
                }
                r = parse_line(m, text + off, n, line, err, err_len);
                if (r < 0)
                        break;
                off += n + (nl ? 1 : 0);
        }
        if (r < 0) {
                pam_svcid_map_free(m);
                return r;
        }
        *ret_map = m;
        return 0;
}

bool pam_svcid_map_allows(const pam_svcid_map *map, const char *sub, const char *user) {
        if (!map || !sub || !user)
                return false;
        for (size_t i = 0; i < map->n; i++)
                if (strcmp(map->entries[i].user, user) == 0 && fnmatch(map->entries[i].glob, sub, 0) == 0)
                        return true;
        return false;
}
