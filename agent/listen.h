/* SPDX-License-Identifier: MIT */
/* The agent's listening socket: systemd's (socket activation) or its own. */
#ifndef SVCID_AGENT_LISTEN_H
#define SVCID_AGENT_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct listener {
        int fd;
        bool from_systemd;
        char *path;             /* ours to remove at exit, or NULL */
        dev_t dev;              /* identity of the socket file we bound */
        ino_t ino;
} listener;

/* Takes the socket passed by systemd (sd_listen_fds()) if any, else binds
 * path (mode 0666): a stale socket file is replaced, a live agent
 * answering there is -EADDRINUSE, a file that is not a socket -EEXIST.
 * On failure err says why. */
int listener_open(const char *path, listener *ret, char *err, size_t err_len);

/* For a socket we bound: the first directory above it that others may
 * not search (no o+x), into dir, so that they cannot reach the socket;
 * false if there is none. */
bool listener_hidden(const listener *l, char *dir, size_t dir_len);

/* Closes the socket and removes the file if it is still the one we made. */
void listener_close(listener *l);

#endif
