/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "../common/cleanup.h"
#include "../common/hash.h"
#include "cache.h"

#define BUCKETS 2048u           /* a power of two, above CACHE_MAX_ENTRIES */
#define KEY_BUF 768             /* a serialized key of usual size fits */

typedef struct entry {
        struct entry *next;
        char *key;              /* the serialized cache_key, kid included */
        size_t key_len;
        int64_t made;
        mint_result result;
} entry;

struct token_cache {
        pthread_mutex_t lock;
        entry *buckets[BUCKETS];
        size_t n;
        uint64_t seed;          /* audiences are the caller's: no chosen collisions */
};

int token_cache_new(token_cache **ret) {
        token_cache *c = calloc(1, sizeof *c);

        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        if (RAND_bytes((unsigned char *) &c->seed, sizeof c->seed) != 1) {
                free(c);
                return -EIO;
        }
        *ret = c;
        return 0;
}

static void entry_free(entry *e) {
        free(e->key);
        mint_result_done(&e->result);   /* wipes the token */
        free(e);
}

static void clear_locked(token_cache *c) {
        for (size_t i = 0; i < BUCKETS; i++) {
                entry *e = c->buckets[i];
                while (e) {
                        entry *next = e->next;
                        entry_free(e);
                        e = next;
                }
                c->buckets[i] = NULL;
        }
        c->n = 0;
}

void token_cache_free(token_cache *c) {
        if (!c)
                return;
        clear_locked(c);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

void token_cache_clear(token_cache *c) {
        pthread_mutex_lock(&c->lock);
        clear_locked(c);
        pthread_mutex_unlock(&c->lock);
}

/* Appends the decimal digits of v. */
static char *put_u64(char *p, uint64_t v) {
        char digits[20];
        size_t n = 0;

        do
                digits[n++] = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        while (n > 0)
                *p++ = digits[--n];
        return p;
}

/* Appends "LEN:BYTES". */
static char *put_str(char *p, const char *s, size_t len) {
        p = put_u64(p, len);
        *p++ = ':';
        memcpy(p, s, len);
        return p + len;
}

/* The key as bytes: every string with its length in front, so it is
 * unambiguous whatever bytes a unit name (a cgroup's) may hold. Written
 * into buf if it fits (the usual case: no allocation on a lookup), else
 * into a malloc'd buffer; the caller frees the result if it is not buf.
 * (asprintf() here cost more than the rest of a cache hit.) */
static char *serialize(const cache_key *k, const char *kid, char *buf, size_t size, size_t *ret_len) {
        const char *user = k->user ? k->user : "", *unit = k->unit ? k->unit : "";
        size_t user_len = strlen(user), unit_len = strlen(unit), aud_len = strlen(k->aud),
               kid_len = strlen(kid), iss_len = strlen(k->iss);
        /* 8 numbers of at most 20 digits, 8 separators, 2 flags */
        size_t max = 8 * 21 + 2 + user_len + unit_len + aud_len + kid_len + iss_len;
        char *out = max <= size ? buf : malloc(max), *p;

        if (!out)
                return NULL;
        p = put_u64(out, k->uid);
        *p++ = ':';
        p = put_u64(p, k->gid);
        *p++ = ':';
        p = put_u64(p, (uint64_t) k->ttl);      /* 0 to CONFIG_TTL_MAX: checked before */
        *p++ = ':';
        *p++ = k->user ? '1' : '0';
        p = put_str(p, user, user_len);
        *p++ = k->unit ? '1' : '0';
        p = put_str(p, unit, unit_len);
        p = put_str(p, k->aud, aud_len);
        p = put_str(p, kid, kid_len);
        p = put_str(p, k->iss, iss_len);
        *ret_len = (size_t) (p - out);
        return out;
}

static char *memdup(const char *p, size_t len) {
        char *q = malloc(len);

        return q ? memcpy(q, p, len) : NULL;
}

static size_t bucket_of(const token_cache *c, const char *key, size_t len) {
        uint64_t h = fnv1a(FNV1A_INIT ^ c->seed, key, len);     /* seeded */

        return (size_t) (h ^ (h >> 29)) & (BUCKETS - 1);
}

static int copy_result(const mint_result *from, mint_result *to) {
        *to = (mint_result) { .exp = from->exp };
        to->token = strdup(from->token);
        to->sub = strdup(from->sub);
        to->body = from->body ? strdup(from->body) : NULL;
        memcpy(to->jti, from->jti, sizeof to->jti);
        if (!to->token || !to->sub || (from->body && !to->body)) {
                mint_result_done(to);
                return -ENOMEM;
        }
        return 0;
}

bool token_cache_get(token_cache *c, const cache_key *k, const char *kid, int64_t now,
                     int64_t window, mint_result *ret) {
        char buf[KEY_BUF], *key;
        bool hit = false;
        size_t len;

        if (window <= 0)
                return false;
        key = serialize(k, kid, buf, sizeof buf, &len);
        if (!key)
                return false;
        pthread_mutex_lock(&c->lock);
        for (entry *e = c->buckets[bucket_of(c, key, len)]; e; e = e->next)
                if (e->key_len == len && memcmp(e->key, key, len) == 0) {
                        /* A clock that went back makes no entry young; a
                         * token is reused for at most a tenth of its own
                         * life, whatever ttl was asked. */
                        int64_t age = now - e->made;

                        if (e->made <= now && age <= window && age * 10 <= e->result.exp - e->made)
                                hit = copy_result(&e->result, ret) == 0;
                        break;
                }
        pthread_mutex_unlock(&c->lock);
        if (key != buf)
                free(key);
        return hit;
}

void token_cache_put(token_cache *c, const cache_key *k, const char *kid, int64_t now,
                     const mint_result *result) {
        char buf[KEY_BUF], *key;
        entry *e, **pp;
        size_t len, b;

        key = serialize(k, kid, buf, sizeof buf, &len);
        if (key == buf)
                key = memdup(buf, len);
        if (!key)
                return;
        e = calloc(1, sizeof *e);
        if (!e || copy_result(result, &e->result) < 0) {
                free(e);
                free(key);
                return;
        }
        e->key = key;
        e->key_len = len;
        e->made = now;
        b = bucket_of(c, key, len);

        pthread_mutex_lock(&c->lock);
        for (pp = &c->buckets[b]; *pp; pp = &(*pp)->next)
                if ((*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0) {
                        entry *old = *pp;
                        *pp = old->next;
                        entry_free(old);
                        c->n--;
                        break;
                }
        /* Bounded: when full, start over. Cheap, and a flood of distinct
         * audiences costs the flooder signatures, not the agent memory. */
        if (c->n >= CACHE_MAX_ENTRIES)
                clear_locked(c);
        e->next = c->buckets[b];
        c->buckets[b] = e;
        c->n++;
        pthread_mutex_unlock(&c->lock);
}
