/* SPDX-License-Identifier: MIT */
/*
 * A preload for tests of the agent (a mock, the one way to have this on a
 * newer kernel): SO_PEERPIDFD and PIDFD_GET_INFO fail as on a kernel
 * before Linux 6.5, Debian 12's own 6.1 among them, so that the agent
 * pins callers with pidfd_open() and reads their ids from /proc.
 * Built by the tests that use it: cc -shared -fPIC -o X.so old_kernel.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>

int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
        static int (*real)(int, int, int, void *, socklen_t *);

        if (level == SOL_SOCKET && name == 77) {        /* SO_PEERPIDFD */
                errno = ENOPROTOOPT;
                return -1;
        }
        if (!real)
                real = (int (*)(int, int, int, void *, socklen_t *)) dlsym(RTLD_NEXT, "getsockopt");
        return real(fd, level, name, val, len);
}

int ioctl(int fd, unsigned long request, ...) {
        static int (*real)(int, unsigned long, ...);
        va_list ap;
        void *arg;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        if (request == 0xc040ff0bUL) {                  /* PIDFD_GET_INFO */
                errno = ENOTTY;
                return -1;
        }
        if (!real)
                real = (int (*)(int, unsigned long, ...)) dlsym(RTLD_NEXT, "ioctl");
        return real(fd, request, arg);
}
