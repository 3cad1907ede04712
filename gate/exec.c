/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/text.h"
#include "gate.h"

extern char **environ;

/* Set by the gate for the service; an inherited value must never pass as
 * ours (a stale SVCID_UNIT would name the wrong caller). */
static const char *const owned_vars[] = {
        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "SVCID_TOKEN",
};

static bool named(const char *entry, const char *name) {
        size_t n = strlen(name);

        return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static bool owned(const char *entry) {
        for (size_t i = 0; i < ELEMENTSOF(owned_vars); i++)
                if (named(entry, owned_vars[i]))
                        return true;
        for (size_t i = 0; i < IDENTITY_ENV_N; i++)
                if (named(entry, identity_env[i]))
                        return true;
        return false;
}

int gate_env_base(char ***ret) {
        size_t n = 0, k = 0;
        char **base;

        for (char **e = environ; e && *e; e++)
                n++;
        base = calloc(n + 1, sizeof(char *));
        if (!base)
                return -ENOMEM;
        for (char **e = environ; e && *e; e++)
                if (!owned(*e))
                        base[k++] = *e;
        base[k] = NULL;
        *ret = base;
        return 0;
}

void gate_env_free(gate_env *env) {
        if (!env)
                return;
        free(env->envp);
        *env = (gate_env) { 0 };
}

#define N_OWN 10

/* A string claim fit for the environment, or NULL: absent, or with a
 * control character (then it is in SVCID_CLAIMS only, JSON-escaped). */
static const char *env_claim(const svcid_claims *claims, const char *name) {
        const char *v = svcid_claims_string(claims, name);

        return v && env_value_ok(v) ? v : NULL;
}

int gate_env_build(char **base, const gate_config *cfg, const svcid_claims *claims, gate_env *ret) {
        _cleanup_(free_p) char *json = NULL;
        const char *names[N_OWN], *values[N_OWN];
        char uid_buf[32], pid_slot[32];
        size_t n_base = 0, n = 0, text = 0, k = 0;
        int64_t uid;
        char **envp, *p;
        int r;

        for (char **e = base; e && *e; e++)
                n_base++;

        r = svcid_claims_json(claims, &json);
        if (r < 0)
                return r;

#define ADD(name, value) do { const char *_v = (value); if (_v) { names[n] = (name); values[n] = _v; n++; } } while (0)
        ADD("SVCID_SUB", env_claim(claims, "sub"));
        ADD("SVCID_ISS", env_claim(claims, "iss"));
        ADD("SVCID_AUD", cfg->audience);
        ADD("SVCID_JTI", env_claim(claims, "jti"));
        if (svcid_claims_int(claims, "uid", &uid) == 0) {
                snprintf(uid_buf, sizeof(uid_buf), "%" PRId64, uid);
                ADD("SVCID_UID", uid_buf);
        }
        ADD("SVCID_UNIT", env_claim(claims, "unit"));
        ADD("SVCID_CLAIMS", json);
        ADD("LISTEN_FDS", "1");
        ADD("LISTEN_FDNAMES", "connection");
        /* Room for any pid; gate_exec() writes the real one. */
        memset(pid_slot, '0', 20);
        pid_slot[20] = '\0';
        ADD("LISTEN_PID", pid_slot);
#undef ADD

        for (size_t i = 0; i < n; i++)
                text += strlen(names[i]) + 1 + strlen(values[i]) + 1;

        /* One block: the pointer array, then the strings. */
        envp = malloc((n_base + n + 1) * sizeof(char *) + text);
        if (!envp)
                return -ENOMEM;
        p = (char *) (envp + n_base + n + 1);
        for (size_t i = 0; i < n_base; i++)
                envp[k++] = base[i];
        *ret = (gate_env) { .envp = envp };
        for (size_t i = 0; i < n; i++) {
                size_t nl = strlen(names[i]), vl = strlen(values[i]);

                envp[k++] = p;
                memcpy(p, names[i], nl);
                p[nl] = '=';
                memcpy(p + nl + 1, values[i], vl + 1);
                if (strcmp(names[i], "LISTEN_PID") == 0) {
                        ret->listen_pid = p + nl + 1;
                        ret->listen_pid_size = vl + 1;
                }
                p += nl + 1 + vl + 1;
        }
        envp[k] = NULL;
        return 0;
}

/* Puts fd on target without FD_CLOEXEC (dup2 onto itself keeps the flag,
 * so clear it explicitly). */
static int place_fd(int fd, int target) {
        if (fd == target)
                return fcntl(fd, F_SETFD, 0) < 0 ? -errno : 0;
        return dup2(fd, target) < 0 ? -errno : 0;
}

/* fd 2 is inherited, unless it is a listening socket: in inetd "wait"
 * style (StandardInput=socket, Accept=no) systemd's default stderr is the
 * listener itself, and a service holding it could accept callers the
 * gate never judged. It gets /dev/null there instead. */
static int hide_listener_on_stderr(void) {
        int listening = 0, null_fd, r;
        socklen_t sl = sizeof(listening);

        if (getsockopt(STDERR_FILENO, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0 || !listening)
                return 0;
        null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return -errno;
        r = dup2(null_fd, STDERR_FILENO) < 0 ? -errno : 0;
        (void) close(null_fd);
        return r;
}

/* path is an executable regular file: 0, or -errno. */
static int command_check(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;         /* as execve() says of a directory */
        return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0 ? -errno : 0;
}

int gate_command_find(const char *name, char **ret_path) {
        const char *dir, *end;
        int r = -ENOENT;

        if (!*name)
                return -ENOENT;
        if (strchr(name, '/')) {
                r = command_check(name);
                if (r == 0 && !(*ret_path = strdup(name)))
                        r = -ENOMEM;
                return r;
        }
        /* execvpe()'s search: $PATH, or the C library's default path; an
         * empty entry is the working directory. */
        dir = getenv("PATH");
        if (!dir)
                dir = "/bin:/usr/bin";
        for (;; dir = end + 1) {
                char *path;
                int k;

                end = strchrnul(dir, ':');
                if (asprintf(&path, "%.*s%s%s", (int) (end - dir), dir, end > dir ? "/" : "", name) < 0)
                        return -ENOMEM;
                k = command_check(path);
                if (k == 0) {
                        *ret_path = path;
                        return 0;
                }
                free(path);
                /* execvpe() goes on past these, remembering EACCES (found,
                 * but not to be run), and stops at any other error. */
                if (k == -EACCES)
                        r = k;
                else if (k != -ENOENT && k != -ESTALE && k != -ENOTDIR && k != -ENODEV && k != -ETIMEDOUT)
                        return k;
                if (!*end)
                        return r;
        }
}

int gate_exec(int conn_fd, const char *path, char **argv, gate_env *env) {
        sigset_t none;
        int r;

        /* The connection may sit on 0, 1 or 3 already; move it out of the
         * way first so that placing one copy does not close another. */
        if (conn_fd <= 3) {
                int moved = fcntl(conn_fd, F_DUPFD_CLOEXEC, 4);
                if (moved < 0) {
                        r = -errno;
                        goto fail;
                }
                conn_fd = moved;
        }
        if ((r = place_fd(conn_fd, 0)) < 0 || (r = place_fd(conn_fd, 1)) < 0 ||
            (r = place_fd(conn_fd, 3)) < 0 || (r = hide_listener_on_stderr()) < 0)
                goto fail;
        /* Every other descriptor above 3 goes: the service inherits the
         * connection and stdio, nothing of the gate's. */
        if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
                for (int fd = 4; fd < 1024; fd++)
                        (void) close(fd);

        /* LISTEN_PID must name the process that will read fd 3: this one,
         * whose pid exec keeps. */
        if (env->listen_pid)
                snprintf(env->listen_pid, env->listen_pid_size, "%d", (int) getpid());

        /* The long-lived gate blocks signals for its signalfd; the service
         * starts with none blocked. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        execvpe(path, argv, env->envp);
        r = -errno;
        conn_fd = 0;            /* the connection is there now, conn_fd closed */
fail:
        gate_reset_on_close(conn_fd);
        return r;
}
