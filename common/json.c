/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "json.h"

/* What the rest of a guarded parse may need once memory has run out:
 * every byte jansson allocates while it reads a document, freed or not.
 * For JSON_GUARDED_MAX bytes the costliest shape test_oom tries (an array
 * of empty objects) adds up to about 620 KiB. Only the pages a parse
 * draws on are ever touched. */
#define RESERVE_SIZE (1024u * 1024u)
#define RESERVE_ALIGN 16u

static json_malloc_t next_malloc;
static json_free_t next_free;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
static pthread_key_t reserve_key;
static bool hooks_ok;

/* This thread's reserve; active during a guarded parse. */
static __thread struct {
        unsigned char *base;
        size_t used;
        bool active, drew;
} reserve;

static void *guarded_malloc(size_t n) {
        void *p = next_malloc(n);

        if (p || !reserve.active)
                return p;
        n = (n + RESERVE_ALIGN - 1) & ~(size_t) (RESERVE_ALIGN - 1);
        if (n > RESERVE_SIZE - reserve.used)
                return NULL;
        p = reserve.base + reserve.used;
        reserve.used += n;
        reserve.drew = true;
        return p;
}

static void guarded_free(void *p) {
        /* Reserve memory never outlives the parse that drew on it. */
        if (reserve.base && (uintptr_t) p - (uintptr_t) reserve.base < RESERVE_SIZE)
                return;
        next_free(p);
}

static void install(void) {
        if (pthread_key_create(&reserve_key, free) != 0)
                return;
        json_get_alloc_funcs(&next_malloc, &next_free);
        json_set_alloc_funcs(guarded_malloc, guarded_free);
        hooks_ok = true;
}

/* Whether this thread can parse guarded: the functions are still ours and
 * its reserve is set aside. */
static int guard_ready(void) {
        json_malloc_t m;
        json_free_t f;

        if (pthread_once(&hooks_once, install) != 0 || !hooks_ok)
                return -ENOMEM;
        json_get_alloc_funcs(&m, &f);
        if (m != guarded_malloc || f != guarded_free)
                return -EPERM;  /* the application's own: unguarded */
        if (!reserve.base) {
                reserve.base = malloc(RESERVE_SIZE);
                if (!reserve.base)
                        return -ENOMEM;
                if (pthread_setspecific(reserve_key, reserve.base) != 0) {
                        free(reserve.base);
                        reserve.base = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

json_t *json_load_guarded(const void *text, size_t len, json_error_t *error, bool *ret_out_of_memory) {
        bool oom = false;
        json_t *j;
        int r;

        r = len <= JSON_GUARDED_MAX ? guard_ready() : -EPERM;
        if (r == -ENOMEM) {
                /* no reserve, no parse: jansson must not run short */
                json_error_t none = {};

                if (error)
                        *error = none;
                oom = true;
                j = NULL;
        } else if (r < 0)
                j = json_loadb(text, len, JSON_REJECT_DUPLICATES, error);
        else {
                reserve.used = 0;
                reserve.drew = false;
                reserve.active = true;
                j = json_loadb(text, len, JSON_REJECT_DUPLICATES, error);
                if (reserve.drew) {
                        json_decref(j);
                        j = NULL;
                        oom = true;
                }
                reserve.active = false;
        }
        if (ret_out_of_memory)
                *ret_out_of_memory = oom;
        return j;
}
