/* SPDX-License-Identifier: MIT */
/* svcid-agent --reload PID and --rotate PID: a reload or a forced key
 * rotation that returns once it is done. A signal alone returns at once,
 * before the agent has acted on it; this sends it, then asks the agent's
 * /v1/health until the agent reports one that began after an answer it
 * gave before the signal was sent (by the agent's own clock, so that a
 * time namespace between the two changes nothing), and says how it went. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include <jansson.h>

#include "../common/cleanup.h"
#include "../lib/internal.h"
#include "ask.h"
#include "util.h"

#define ASK_WAIT_NS     (60 * 1000000000LL)     /* a reload that brings the agent up may make keys */
#define POLL_FIRST_MS   5
#define POLL_MAX_MS     200

static const struct {
        int signo;
        const char *name;       /* in messages */
        const char *field;      /* of /v1/health */
} asks[] = {
        [ASK_RELOAD] = { SIGHUP, "reload", "last_reload" },
        [ASK_ROTATE] = { SIGUSR2, "rotate", "last_rotation" },
};

static const char *ask_name;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "svcid-agent: %s: %s\n", ask_name, msg);
        return 1;
}

/* The process's name as the kernel has it: "svcid-agent" for the agent,
 * whatever path started it. */
static bool is_agent(pid_t pid, char *comm, size_t comm_len) {
        char path[64];
        _cleanup_(close_fdp) int fd = -1;
        ssize_t n;

        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd < 0 ? -1 : read(fd, comm, comm_len - 1);
        if (n <= 0) {
                snprintf(comm, comm_len, "?");
                return false;
        }
        comm[n] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        copy_printable_n(comm, comm_len, comm, strlen(comm), true);
        return strcmp(comm, "svcid-agent") == 0;
}

static int health(const char *socket_path, const char *after, json_t **ret) {
        char err[512];
        int r = lib_agent_health(socket_path, err, sizeof err, ret);

        if (r < 0)
                return fail("%s%s", err, after);
        return 0;
}

int ask_agent(const char *socket_path, pid_t pid, agent_ask what) {
        _cleanup_(json_decrefp) json_t *h = NULL;
        _cleanup_(close_fdp) int pidfd = -1;
        char comm[64], shown[1024], sent[64], hint[128] = "";
        json_int_t since, said_pid;
        int64_t asked;
        int wait_ms = POLL_FIRST_MS;

        ask_name = asks[what].name;
        /* the agent's own default, whatever $SVCID_AGENT_SOCKET says */
        if (!socket_path) {
                socket_path = SVCID_AGENT_SOCKET_DEFAULT;
                if (getenv("SVCID_AGENT_SOCKET"))
                        snprintf(hint, sizeof hint, "; $SVCID_AGENT_SOCKET is not read here: give --socket PATH");
        }
        /* A pidfd names this process and no later one with its number. */
        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0)
                return fail("pid %d: %s", (int) pid,
                            errno == ENOENT || errno == EINVAL ? "not the pid of a process (a thread's?)"
                                                               : strerror(errno));
        if (!is_agent(pid, comm, sizeof comm))
                return fail("pid %d is not svcid-agent (it is '%s')", (int) pid, comm);
        /* The agent must answer before it is asked: afterwards there
         * would be no telling whether it did what it was asked. Its pid
         * says that it is the one asked; its clock, what came after. */
        if (health(socket_path, hint, &h) != 0)
                return 1;
        said_pid = json_integer_value(json_object_get(h, "pid"));
        since = json_integer_value(json_object_get(h, "now_monotonic_ns"));
        if (said_pid <= 0 || since <= 0 || !json_is_object(json_object_get(h, asks[what].field)))
                return fail("the agent at %s does not report its reloads and rotations (an earlier "
                            "svcid-agent?): restart it, or send it SIG%s", socket_path,
                            sigabbrev_np(asks[what].signo));
        if (said_pid != pid)
                return fail("the agent at %s is pid %lld, not %d", socket_path, (long long) said_pid, (int) pid);
        asked = now_monotonic_ns();
        if (pidfd_send_signal(pidfd, asks[what].signo, NULL, 0) < 0)
                return fail("cannot signal pid %d: %s%s", (int) pid, strerror(errno),
                            errno == EPERM ? " (run this as root or as the agent's user)" : "");
        snprintf(sent, sizeof sent, " (SIG%s was sent)", sigabbrev_np(asks[what].signo));
        for (;;) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                json_t *last;
                const char *error;

                /* readable: the process ended */
                if (poll(&pfd, 1, wait_ms) > 0)
                        return fail("the agent (pid %d) ended before it reported it done", (int) pid);
                json_decref(h);
                h = NULL;
                if (health(socket_path, sent, &h) != 0)
                        return 1;
                last = json_object_get(h, asks[what].field);
                if (json_integer_value(json_object_get(last, "monotonic_ns")) > since) {
                        error = json_string_value(json_object_get(last, "error"));
                        if (!error)
                                return 0;
                        /* the agent's words, but whatever listens on a
                         * socket given with --socket may send any bytes */
                        copy_printable_n(shown, sizeof shown, error, strlen(error), true);
                        return fail("%s", shown);
                }
                if (now_monotonic_ns() - asked > ASK_WAIT_NS)
                        return fail("the agent (pid %d) did not report it done in %lld s%s", (int) pid,
                                    ASK_WAIT_NS / 1000000000LL, sent);
                wait_ms = wait_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : wait_ms * 2;
        }
}
