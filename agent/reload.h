/* SPDX-License-Identifier: MIT */
/* svcid-agent --reload PID (reload.c). */
#ifndef SVCID_AGENT_RELOAD_H
#define SVCID_AGENT_RELOAD_H

#include <sys/types.h>

/* Asks the agent of process pid, which serves socket_path (NULL: the
 * default), to reload its policy (SIGHUP), and waits, at most a minute,
 * until it reports that reload done. Returns the exit status: 0 reloaded,
 * 1 not (the reason on stderr: the agent's own, as its log gives it, for
 * a reload it refused; the old policy then runs on). */
int reload_agent(const char *socket_path, pid_t pid);

#endif
