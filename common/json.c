/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* What the rest of a guarded parse may need once memory has run out:
 * every byte jansson allocates while it reads a document, freed or not.
 * For a document of n bytes the costliest shape tried (test_oom; an
 * array of empty objects) adds up to about 80 n; the reserve is 96 n, and
 * at least 1 MiB, which each thread keeps for documents up to 10 KiB.
 * Only the pages a parse draws on are ever touched. */
#define RESERVE_PER_BYTE 96u
#define RESERVE_KEPT (1024u * 1024u)
#define RESERVE_ALIGN 16u

static json_malloc_t next_malloc;
static json_free_t next_free;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
static pthread_key_t kept_key;
static bool hooks_ok;

/* This thread's reserve for the parse under way (active), and the one it
 * keeps between parses. */
static __thread struct {
        unsigned char *base;
        size_t size, used;
        bool active, drew;
} reserve;
static __thread unsigned char *kept;

static void *guarded_malloc(size_t n) {
        void *p = next_malloc(n);

        if (p || !reserve.active)
                return p;
        n = (n + RESERVE_ALIGN - 1) & ~(size_t) (RESERVE_ALIGN - 1);
        if (n > reserve.size - reserve.used)
                return NULL;
        p = reserve.base + reserve.used;
        reserve.used += n;
        reserve.drew = true;
        return p;
}

static void guarded_free(void *p) {
        /* Reserve memory never outlives the parse that drew on it. */
        if (reserve.base && (uintptr_t) p - (uintptr_t) reserve.base < reserve.size)
                return;
        next_free(p);
}

/* At thread exit, and so that a reading after it (from another
 * destructor) sets aside a new one rather than use this. */
static void kept_free(void *p) {
        if (kept == p) {
                kept = NULL;
                reserve.base = NULL;
                reserve.size = 0;
        }
        free(p);
}

static void install(void) {
        if (pthread_key_create(&kept_key, kept_free) != 0)
                return;
        json_get_alloc_funcs(&next_malloc, &next_free);
        json_set_alloc_funcs(guarded_malloc, guarded_free);
        hooks_ok = true;
}

void json_guard_install(void) {
        (void) pthread_once(&hooks_once, install);
}

/* Sets this thread's reserve for a document of len bytes: 0, -ENOMEM
 * (none could be set aside), or -EPERM (jansson's functions are not ours:
 * unguarded). */
static int reserve_set(size_t len) {
        size_t need = len > RESERVE_KEPT / RESERVE_PER_BYTE ? len * RESERVE_PER_BYTE : RESERVE_KEPT;
        json_malloc_t m;
        json_free_t f;

        if (pthread_once(&hooks_once, install) != 0 || !hooks_ok)
                return -ENOMEM;
        json_get_alloc_funcs(&m, &f);
        if (m != guarded_malloc || f != guarded_free)
                return -EPERM;
        if (need > RESERVE_KEPT) {
                /* a large document's own, for this parse only */
                unsigned char *own = malloc(need);

                if (!own)
                        return -ENOMEM;
                reserve.base = own;
        } else {
                if (!kept) {
                        kept = malloc(RESERVE_KEPT);
                        if (!kept)
                                return -ENOMEM;
                        if (pthread_setspecific(kept_key, kept) != 0) {
                                free(kept);
                                kept = NULL;
                                return -ENOMEM;
                        }
                }
                reserve.base = kept;
        }
        reserve.size = need;
        return 0;
}

/* Back to the kept reserve (or none): a large one's memory goes back to
 * the system, which may hand it out again. */
static void reserve_done(void) {
        if (reserve.base != kept)
                free(reserve.base);
        reserve.base = kept;
        reserve.size = kept ? RESERVE_KEPT : 0;
}

json_t *json_load_guarded(const void *text, size_t len, json_error_t *error, bool *ret_out_of_memory) {
        json_error_t scratch;
        bool oom = false;
        json_t *j = NULL;
        int r;

        if (!error)
                error = &scratch;
        r = reserve_set(len);
        if (r == 0) {
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
                reserve_done();
        } else if (r == -EPERM) {
                /* Unguarded, jansson words what it meets after a byte it
                 * lost as a syntax error. Read again: a real one is met
                 * again at the same place, in the same words. */
                j = json_loadb(text, len, JSON_REJECT_DUPLICATES, error);
                if (!j && error->text[0]) {
                        json_error_t again;

                        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &again);
                        if (!j && (again.position != error->position || strcmp(again.text, error->text) != 0))
                                again.text[0] = '\0';
                        *error = again;
                }
                /* jansson words every syntax error; not a failed allocation */
                oom = !j && !error->text[0];
        } else {
                /* no reserve, no parse: jansson must not run short */
                memset(error, 0, sizeof *error);
                oom = true;
        }
        if (ret_out_of_memory)
                *ret_out_of_memory = oom;
        return j;
}

char *json_dumps_whole(const json_t *json, size_t flags) {
        size_t size, again;
        char *text;

        /* the size first: nothing is written, nothing allocated but what
         * jansson's loop check needs, whose failure it reports */
        errno = 0;
        size = json_dumpb(json, NULL, 0, flags);
        if (size == 0) {
                if (errno == 0)
                        errno = EINVAL;
                return NULL;
        }
        text = malloc(size + 1);
        if (!text)
                return NULL;
        errno = 0;
        again = json_dumpb(json, text, size, flags);
        if (again != size) {
                free(text);
                if (errno == 0)
                        errno = again == 0 ? ENOMEM : EINVAL;
                return NULL;
        }
        text[size] = '\0';
        return text;
}
