/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "gate.h"

enum { SOURCE_UNKNOWN, SOURCE_UID, SOURCE_UNIX, SOURCE_IPV4, SOURCE_IPV6_64 };

static void set_source(gate_peer *p, unsigned char kind, const void *data, size_t len) {
        memset(p->source, 0, sizeof(p->source));
        p->source[0] = kind;
        if (len > 0)
                memcpy(p->source + 1, data, len < sizeof(p->source) - 1 ? len : sizeof(p->source) - 1);
}

/* An IPv4 source: its address, except that every address of the loopback
 * network 127.0.0.0/8 is one source, as any local user may connect from
 * any of them. */
static void set_ipv4_source(gate_peer *p, const unsigned char addr[4]) {
        static const unsigned char loopback[4] = { 127, 0, 0, 0 };

        set_source(p, SOURCE_IPV4, addr[0] == 127 ? loopback : addr, 4);
}

void gate_peer_get(int fd, gate_peer *ret) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        gate_peer p = { .family = 0 };
        char addr[INET6_ADDRSTRLEN];

        memset(&ss, 0, sizeof(ss));
        if (getsockname(fd, (struct sockaddr *) &ss, &sl) < 0) {
                p.error = -errno;
                snprintf(p.text, sizeof(p.text), "unknown");
                *ret = p;
                return;
        }
        p.family = ss.ss_family;

        if (p.family == AF_UNIX) {
                struct ucred uc;
                socklen_t ul = sizeof(uc);

                /* The kernel's word on who connected; nothing the client says. */
                int r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 ? -errno : 0;

                if (r == 0 && ul == sizeof(uc)) {
                        p.have_cred = true;
                        p.pid = uc.pid;
                        p.uid = uc.uid;
                        p.gid = uc.gid;
                        set_source(&p, SOURCE_UID, &uc.uid, sizeof(uc.uid));
                        snprintf(p.text, sizeof(p.text), "unix:pid=%d,uid=%u,gid=%u",
                                 (int) uc.pid, (unsigned) uc.uid, (unsigned) uc.gid);
                } else {
                        p.error = r;
                        set_source(&p, SOURCE_UNIX, NULL, 0);
                        snprintf(p.text, sizeof(p.text), "unix");
                }
                *ret = p;
                return;
        }

        sl = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        if (getpeername(fd, (struct sockaddr *) &ss, &sl) < 0) {
                snprintf(p.text, sizeof(p.text), "unknown");
        } else if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) &ss;
                set_ipv4_source(&p, (const unsigned char *) &in->sin_addr);
                inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
                snprintf(p.text, sizeof(p.text), "%s:%u", addr, (unsigned) ntohs(in->sin_port));
        } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &ss;
                /* A dual-stack socket's IPv4 clients share ::ffff:0:0/96. */
                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                        set_ipv4_source(&p, in6->sin6_addr.s6_addr + 12);
                else
                        set_source(&p, SOURCE_IPV6_64, in6->sin6_addr.s6_addr, 8);
                inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
                snprintf(p.text, sizeof(p.text), "[%s]:%u", addr, (unsigned) ntohs(in6->sin6_port));
        } else
                snprintf(p.text, sizeof(p.text), "family=%d", (int) ss.ss_family);
        *ret = p;
}
