/* SPDX-License-Identifier: MIT */
/* Scope-bound cleanup, after systemd's _cleanup_: a variable declared
 * _cleanup_(free_p) char *s = NULL; is freed when it leaves scope, unless
 * TAKE_PTR(s) handed it on. Every destructor here accepts NULL. */
#ifndef SVCID_CLEANUP_H
#define SVCID_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <jansson.h> /* provides json_decrefp() for _cleanup_ */

#define _cleanup_(f) __attribute__((cleanup(f)))

#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#define DEFINE_PTR_CLEANUP(type, func)                          \
        static inline void func##p(type **p) {                  \
                if (*p)                                         \
                        func(*p);                               \
        }

static inline void free_p(void *p) { free(*(void **) p); }

static inline void close_fdp(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}


#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#endif
