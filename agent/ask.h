/* SPDX-License-Identifier: MIT */
/* svcid-agent --reload PID and --rotate PID (ask.c). */
#ifndef SVCID_AGENT_ASK_H
#define SVCID_AGENT_ASK_H

#include <sys/types.h>

typedef enum agent_ask {
        ASK_NONE,
        ASK_RELOAD,     /* SIGHUP: reload the policy */
        ASK_ROTATE,     /* SIGUSR2: rotate the signing key now */
} agent_ask;

/* Asks the agent of process pid, which serves socket_path (NULL: the
 * default), to reload its policy or rotate its key, and waits, at most a
 * minute, until it reports that done. Returns the exit status: 0 done,
 * 1 not (the reason on stderr: the agent's own, as its log gives it, for
 * a reload it refused or a rotation that failed; the old policy or key
 * then serves on). */
int ask_agent(const char *socket_path, pid_t pid, agent_ask what);

#endif
