/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <linux/magic.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77         /* Linux 6.5; glibc 2.36 does not name it */
#endif

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* The effective uid and gid in a /proc/.../status file: 0, or -errno. */
static int status_ids(int dirfd, const char *name, unsigned long *ret_euid, unsigned long *ret_egid) {
        _cleanup_(close_fdp) int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        unsigned long id[2], euid = 0, egid = 0;
        bool have_uid = false, have_gid = false;
        char buf[4096], *line;
        ssize_t n;

        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, sizeof buf - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (sscanf(line, "Uid:\t%lu\t%lu", &id[0], &id[1]) == 2)
                        euid = id[1], have_uid = true;
                else if (sscanf(line, "Gid:\t%lu\t%lu", &id[0], &id[1]) == 2)
                        egid = id[1], have_gid = true;
        }
        if (!have_uid || !have_gid)
                return -EPROTO;
        *ret_euid = euid;
        *ret_egid = egid;
        return 0;
}

/* Whether the process p->pidfd pins is the one that connected, as far as
 * /proc can tell: one of its first PEER_THREADS_READ threads (credentials
 * are per thread, and SO_PEERCRED gives the connecting thread's) has the
 * effective uid and gid SO_PEERCRED reported. Read while it lives: 0 if
 * so; -ESRCH if not, or if it is gone; -E2BIG if the threads read do not
 * tell; -EACCES if /proc hides it (hidepid); another -errno if /proc
 * cannot be read (EMFILE, ENOMEM: the agent's failure, not the caller's). */
static int pinned_is_peer(const peer *p) {
        char path[64];
        _cleanup_(close_fdp) int dfd = -1;
        struct dirent *de;
        bool match = false;
        unsigned n = 0;
        int r = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/task", (int) p->pid);
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || !(d = fdopendir(dfd))) {
                int e = errno;

                if (!peer_alive(p))
                        return -ESRCH;
                /* hidepid hides a live process (ENOENT) or bars it
                 * (EACCES, EPERM); anything else (EMFILE, ENOMEM) refuses */
                return e == ENOENT || e == EACCES || e == EPERM ? -EACCES : -e;
        }
        dfd = -1;               /* d's now */
        while (!match && r == 0 && n < PEER_THREADS_READ) {
                unsigned long euid, egid;
                char name[300];

                errno = 0;
                if (!(de = readdir(d))) {
                        r = -errno;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                n++;
                snprintf(name, sizeof name, "%s/status", de->d_name);
                r = status_ids(dirfd(d), name, &euid, &egid);
                if (r == -ENOENT || r == -ESRCH)
                        r = 0;          /* a thread that exits meanwhile is skipped */
                else if (r == 0)
                        match = euid == p->uid && egid == p->gid;
        }
        de = match || r < 0 ? NULL : readdir(d);     /* one more thread left unread? */
        closedir(d);
        /* What was read is the pinned process's only if it still lives. */
        if (!peer_alive(p))
                return -ESRCH;
        if (r < 0)
                return r == -EACCES || r == -EPERM ? -EACCES : r;
        return match ? 0 : n == PEER_THREADS_READ && de ? -E2BIG : -ESRCH;
}

int peer_from_socket(int fd, peer *p) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        int pidfd = -1, r;

        *p = (peer) { .pidfd = -1 };
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof cred)
                return -EIO;
        p->uid = cred.uid;
        p->gid = cred.gid;
        if (cred.pid <= 0)
                return -ENODATA;
        p->pid = cred.pid;

        len = sizeof pidfd;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) {
                if (len == sizeof pidfd && pidfd >= 0)
                        p->pidfd = pidfd;
                else
                        p->error = -EIO;
                return 0;
        }
        if (errno != ENOPROTOOPT) {
                /* The connecting process is gone: ESRCH, or EINVAL from
                 * Linux 6.5 to 6.15 once it has been reaped. Any other
                 * error (EMFILE, ENFILE: the agent is out of fds) leaves
                 * no pid to trust either. Never fall back to
                 * pidfd_open() here: that would pin whoever has the pid
                 * now. */
                p->error = errno == EINVAL ? -ESRCH : -errno;
                return 0;
        }
        /* A kernel before 6.5 (Debian 12's 6.1): pidfd_open() pins
         * whatever has that pid now. The unit check below still refuses
         * a process that dies later; for the window between connect()
         * and accept(), the process pinned must at least carry the
         * connector's credentials, or the pid went to another process. A
         * process of the same uid and gid that took the pid is beyond
         * what this can tell: only SO_PEERPIDFD closes that. */
        pidfd = pidfd_open_compat(cred.pid);
        if (pidfd < 0) {
                p->error = -errno;
                return 0;
        }
        p->pidfd = pidfd;
        r = pinned_is_peer(p);
        if (r < 0 && r != -EACCES) {
                close(TAKE_FD(p->pidfd));
                p->error = r;
        }
        return 0;
}

int peer_check_proc(char *err, size_t err_len) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/status", "re");
        char line[512], *p, *end;
        long pid = -1;
        int fields = 0;

        if (!f) {
                int e = errno;

                snprintf(err, err_len, "cannot read /proc/self/status: %s (the agent names its callers through /proc)",
                         strerror(e));
                return -e;
        }
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "NSpid:", 6) == 0) {
                        /* one pid for each pid namespace from the one
                         * /proc was mounted for down to the agent's */
                        for (p = line + 6;; p = end) {
                                long v = strtol(p, &end, 10);
                                if (end == p)
                                        break;
                                pid = v;
                                fields++;
                        }
                        break;
                }
        if (fields == 1 && pid == (long) getpid())
                return 0;
        if (fields == 0)
                snprintf(err, err_len, "/proc/self/status has no NSpid line: cannot tell whose /proc this is");
        else
                snprintf(err, err_len,
                         "/proc was mounted for another pid namespace than the agent's (NSpid has %d pids): "
                         "callers would be named after other processes; give the agent its own /proc "
                         "(unshare --pid --fork --mount-proc, a container's), or run it in the namespace "
                         "of this /proc", fields);
        return -EXDEV;
}

void peer_done(peer *p) {
        if (p->pidfd >= 0)
                close(p->pidfd);
        p->pidfd = -1;
}

bool peer_alive(const peer *p) {
        struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

        if (p->pidfd < 0)
                return false;
        /* A pidfd becomes readable when its process exits. */
        for (;;) {
                int r = poll(&pfd, 1, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                return r == 0;
        }
}

/* getpwuid_r() reads /etc/passwd (or asks NSS) every time; a name seen
 * in the last USER_CACHE_SECONDS is used again. A renamed or removed user
 * is seen that much later - the same as nscd's positive cache, and far
 * less than a token's life. */
#define USER_CACHE_SIZE    64
#define USER_CACHE_SECONDS 5

static struct {
        pthread_mutex_t lock;
        struct { uid_t uid; char *name; struct timespec when; bool used; } e[USER_CACHE_SIZE];
        unsigned next;
} user_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int user_name_lookup(uid_t uid, char **ret);

static int user_name(uid_t uid, char **ret) {
        struct timespec now;
        char *name = NULL;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&user_cache.lock);
        for (unsigned i = 0; i < USER_CACHE_SIZE; i++)
                if (user_cache.e[i].used && user_cache.e[i].uid == uid &&
                    now.tv_sec - user_cache.e[i].when.tv_sec < USER_CACHE_SECONDS) {
                        name = strdup(user_cache.e[i].name);
                        pthread_mutex_unlock(&user_cache.lock);
                        if (!name)
                                return -ENOMEM;
                        *ret = name;
                        return 0;
                }
        pthread_mutex_unlock(&user_cache.lock);

        r = user_name_lookup(uid, &name);
        if (r < 0 || !name) {           /* no name: not cached, asked again next time */
                *ret = NULL;
                return r;
        }
        pthread_mutex_lock(&user_cache.lock);
        {
                unsigned i = user_cache.next++ % USER_CACHE_SIZE;
                char *copy = strdup(name);

                if (copy) {
                        free(user_cache.e[i].name);
                        user_cache.e[i].name = copy;
                        user_cache.e[i].uid = uid;
                        user_cache.e[i].when = now;
                        user_cache.e[i].used = true;
                }
        }
        pthread_mutex_unlock(&user_cache.lock);
        *ret = name;
        return 0;
}

uid_t peer_share(uid_t uid) {
        _cleanup_(free_p) char *name = NULL;

        return user_name(uid, &name) == 0 && name ? uid : PEER_SHARE_NAMELESS;
}

static int user_name_lookup(uid_t uid, char **ret) {
        struct passwd pw, *res = NULL;
        size_t size = 1024;

        for (;;) {
                _cleanup_(free_p) char *buf = malloc(size);
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, size, &res);
                if (r == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                /* Only "no such entry" may mean no name. A lookup that
                 * failed (EIO, EMFILE, EACCES, an NSS backend down) says
                 * nothing about the name, and a caller taken for a
                 * nameless uid could match a broader account (by uid or
                 * unit) than the one naming it: fail. getpwuid_r(3) lists
                 * ENOENT, ESRCH, EBADF and EPERM as ways to say "not
                 * found". */
                if (r != 0 && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM)
                        return r > 0 ? -r : -EIO;
                if (r != 0 || !res || !res->pw_name || !res->pw_name[0]) {
                        *ret = NULL;
                        return 0;
                }
                *ret = strdup(res->pw_name);
                return *ret ? 0 : -ENOMEM;
        }
}

/* sd_pid_get_unit() parses /proc/PID/cgroup with stdio and more; it was
 * the largest cost of a cached mint. The unit is a function of that
 * file's text, so a small table maps the text (read with one read()) to
 * the unit. An entry is made only when the text read before and after
 * sd_pid_get_unit() is the same, so a process moving between cgroups
 * meanwhile never poisons it.
 *
 * Reading that file still cost a fifth of the agent's time per connection
 * (the kernel takes a global lock to print it). Where the kernel answers
 * PIDFD_GET_INFO (Linux 6.13), the pidfd itself gives the id of the
 * process's cgroup v2, and the table maps that id to the unit too. A
 * cgroup v2 is never renamed and its id never reused while the system
 * runs, so the unit of the path is the unit of the id; an entry is made
 * only when the path the unit came from is that very cgroup (the id is
 * its directory's inode number), which also keeps the table off where
 * systemd reads units from cgroup v1 (sd_pid_get_unit() uses the v2 path
 * exactly when cgroup v2 is mounted where systemd looks for it). */
#define UNIT_CACHE_SIZE 128
#define CGROUP_TEXT_MAX 2048

/* One table: each entry is keyed by the cgroup file's text, or (text
 * NULL) by the cgroup id. */
static struct {
        pthread_mutex_t lock;
        struct { char *text; uint64_t id; char *unit; bool used, has_unit; } e[UNIT_CACHE_SIZE];
        unsigned next;
} unit_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* PIDFD_GET_INFO's first version of its argument; Debian 12's headers
 * predate it. */
struct pidfd_info_v0 {
        uint64_t mask, cgroupid;
        uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        int32_t exit_code;
};
#define PIDFD_GET_INFO_V0 _IOWR(0xFF, 11, struct pidfd_info_v0)
#define PIDFD_INFO_CREDS (UINT64_C(1) << 1)
#define PIDFD_INFO_CGROUPID (UINT64_C(1) << 2)

/* What the kernel tells of the pinned process: its effective ids and the
 * cgroup v2 it is in, each where info->mask has its bit; 0, or -errno
 * (-ENOTTY or -EINVAL from a kernel before 6.13). */
static int pidfd_info(int pidfd, struct pidfd_info_v0 *info) {
        int r;

        *info = (struct pidfd_info_v0) { .mask = PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID };
        if (pidfd >= 0 && ioctl(pidfd, PIDFD_GET_INFO_V0, info) == 0)
                return 0;
        r = pidfd < 0 ? -EBADF : -errno;
        info->mask = 0;         /* nothing told */
        return r;
}

/* Where cgroup v2 is mounted, in the order systemd looks (its
 * cg_unified_cached()), or NULL if not where it looks. */
static const char *cgroup2_root;
static dev_t cgroup2_dev;
static pthread_once_t cgroup2_once = PTHREAD_ONCE_INIT;

static void find_cgroup2(void) {
        static const char *const where[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd" };
        struct statfs fs;
        struct stat st;

        for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
                if (statfs(where[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC && stat(where[i], &st) == 0) {
                        cgroup2_root = where[i];
                        cgroup2_dev = st.st_dev;
                        return;
                }
}

/* The cgroup v2 path in /proc/PID/cgroup text (its "0::" line): its
 * start and length, or NULL. */
static const char *cgroup2_path(const char *text, size_t *ret_len) {
        const char *line = strncmp(text, "0::/", 4) == 0 ? text : strstr(text, "\n0::/");

        if (!line)
                return NULL;
        line += line == text ? 3 : 4;
        *ret_len = strcspn(line, "\n");
        return line;
}

/* Whether the cgroup v2 path in /proc/PID/cgroup text is the cgroup with
 * that id. */
static bool text_is_cgroup(const char *text, uint64_t id) {
        char path[CGROUP_TEXT_MAX + 64];
        const char *line;
        struct stat st;
        size_t len;

        pthread_once(&cgroup2_once, find_cgroup2);
        if (!cgroup2_root || !(line = cgroup2_path(text, &len)))
                return false;
        /* a cgroup outside the agent's cgroup namespace ("/../x") is not
         * below the mount */
        if (strncmp(line, "/..", 3) == 0 && (len == 3 || line[3] == '/'))
                return false;
        if (snprintf(path, sizeof path, "%s%.*s", cgroup2_root, (int) len, line) >= (int) sizeof path)
                return false;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == cgroup2_dev &&
               (uint64_t) st.st_ino == id;
}

static int read_cgroup(pid_t pid, char *buf, size_t size) {
        char path[64];
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/cgroup", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* A /proc seq_file hands out all it has up to the size asked: a
         * short read is the whole file, a full one may not be. */
        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n < 0)
                return -errno;
        if ((size_t) n >= size - 1 || n == 0)
                return -EFBIG;          /* unusual: no caching */
        buf[n] = '\0';
        return 0;
}

/* The path of the cgroup systemd names units by in /proc/PID/cgroup
 * text, as sd_pid_get_unit() picks it: the cgroup v2 line where there is
 * one, else that of v1's name=systemd hierarchy. Its start and length, or
 * NULL. */
static const char *systemd_cgroup_path(const char *text, size_t *ret_len) {
        const char *line = cgroup2_path(text, ret_len);

        if (line)
                return line;
        line = strstr(text, ":name=systemd:/");
        if (!line)
                return NULL;
        line += strlen(":name=systemd:");
        *ret_len = strcspn(line, "\n");
        return line;
}

/* The root of the mount at path, the fourth field of its line in
 * /proc/self/mountinfo (the last such line: the mount on top), into buf:
 * "/" for a cgroup2 mount of the top of the cgroup namespace it was made
 * in, "/.." for one made outside the reader's. 0, or -errno. */
static int mount_root(const char *path, char *buf, size_t size) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_(free_p) char *line = NULL;
        size_t cap = 0;
        int r = -ENOENT;

        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                char *fields[5], *save = NULL, *w = line;
                int n = 0;

                while (n < 5 && (fields[n] = strtok_r(w, " ", &save)))
                        w = NULL, n++;
                if (n < 5 || strcmp(fields[4], path) != 0)
                        continue;
                if (strlen(fields[3]) >= size)
                        return -ENAMETOOLONG;
                strcpy(buf, fields[3]);
                r = 0;
        }
        return ferror(f) ? -EIO : r;
}

int peer_check_unit_root(char *err, size_t err_len) {
        char text[CGROUP_TEXT_MAX], root[CGROUP_TEXT_MAX], dir[CGROUP_TEXT_MAX + 64], mounted[PATH_MAX];
        static const char *const strip[] = { "/init.scope", "/system.slice", "/system" };
        const char *path;
        struct stat st;
        size_t len;
        int r;

        r = read_cgroup(1, text, sizeof text);
        if (r < 0) {
                snprintf(err, err_len, "cannot read /proc/1/cgroup: %s (units are named relative to pid 1's cgroup)",
                         strerror(-r));
                return r;
        }
        path = systemd_cgroup_path(text, &len);
        if (!path)
                return 0;       /* no systemd cgroups: no unit is ever named */
        snprintf(root, sizeof root, "%.*s", (int) len, path);
        if (strcmp(root, "/..") == 0 || strncmp(root, "/../", 4) == 0) {
                snprintf(err, err_len,
                         "pid 1 is outside the agent's cgroup namespace (its cgroup is %s there): units would be "
                         "named from a part of the tree that need not be systemd's; run the agent in the cgroup "
                         "namespace of its pid 1", root);
                return -EXDEV;
        }
        /* as systemd takes its root: pid 1's cgroup, less this */
        for (size_t i = 0; i < sizeof strip / sizeof strip[0]; i++) {
                size_t n = strlen(root), s = strlen(strip[i]);
                if (n > s && strcmp(root + n - s, strip[i]) == 0) {
                        root[n - s] = '\0';
                        break;
                }
        }
        pthread_once(&cgroup2_once, find_cgroup2);
        if (!cgroup2_root)
                return 0;       /* cgroup v1 alone: not checked */
        /* The path is the agent's cgroup namespace's; below the mount it
         * is that cgroup only if the mount shows the namespace's top. */
        r = mount_root(cgroup2_root, mounted, sizeof mounted);
        if (r < 0) {
                snprintf(err, err_len, "cannot tell what %s shows (/proc/self/mountinfo): %s", cgroup2_root,
                         strerror(-r));
                return r;
        }
        if (strcmp(mounted, "/") != 0) {
                snprintf(err, err_len,
                         "the cgroup v2 mount at %s shows %s of the tree, not the top of the agent's cgroup "
                         "namespace: the cgroup that units are named under cannot be found through it; give "
                         "the agent a cgroup2 mount of its own cgroup namespace (a container's), or run it in "
                         "the host's",
                         cgroup2_root, mounted);
                return -EXDEV;
        }
        snprintf(dir, sizeof dir, "%s%s", cgroup2_root, strcmp(root, "/") == 0 ? "" : root);
        if (stat(dir, &st) < 0) {
                r = -errno;
                snprintf(err, err_len, "cannot check %s, the cgroup units are named under: %s", dir, strerror(-r));
                return r;
        }
        if (st.st_uid != 0) {
                snprintf(err, err_len,
                         "units would be named under the cgroup %s, which uid %u owns and may make a cgroup of "
                         "any unit's name in: run the agent where pid 1's cgroup is root's",
                         dir, (unsigned) st.st_uid);
                return -EPERM;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(err, err_len,
                         "units would be named under the cgroup %s, in which %s may make a cgroup of any unit's "
                         "name (mode %04o): run the agent where only root may write in pid 1's cgroup",
                         dir, st.st_mode & S_IWOTH ? "anyone" : "its group", (unsigned) (st.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

/* By text, or when text is NULL by id: 1 and *ret_unit (maybe NULL) on a
 * hit, 0 on a miss, -ENOMEM. */
static int unit_cache_get(const char *text, uint64_t id, char **ret_unit) {
        int r = 0;

        pthread_mutex_lock(&unit_cache.lock);
        for (unsigned i = 0; i < UNIT_CACHE_SIZE; i++) {
                const typeof(unit_cache.e[0]) *e = &unit_cache.e[i];

                if (!e->used || (text ? !e->text || strcmp(e->text, text) != 0 : e->text || e->id != id))
                        continue;
                *ret_unit = NULL;
                r = 1;
                if (e->has_unit && !(*ret_unit = strdup(e->unit)))
                        r = -ENOMEM;
                break;
        }
        pthread_mutex_unlock(&unit_cache.lock);
        return r;
}

static void unit_cache_put(const char *text, uint64_t id, const char *unit) {
        char *t = text ? strdup(text) : NULL, *u = unit ? strdup(unit) : NULL;
        typeof(unit_cache.e[0]) *e;

        if ((text && !t) || (unit && !u)) {
                free(t);
                free(u);
                return;
        }
        pthread_mutex_lock(&unit_cache.lock);
        e = &unit_cache.e[unit_cache.next++ % UNIT_CACHE_SIZE];
        free(e->text);
        free(e->unit);
        *e = (typeof(*e)) { .text = t, .id = id, .unit = u, .used = true, .has_unit = unit != NULL };
        pthread_mutex_unlock(&unit_cache.lock);
}

/* Files unit under the cgroup id too, if text (the cgroup file the unit
 * was found from) names that cgroup. */
static void unit_cache_put_id(const uint64_t *id, const char *text, const char *unit) {
        if (id && text_is_cgroup(text, *id))
                unit_cache_put(NULL, *id, unit);
}

/* The unit of the process p pins, by its cgroup id where the kernel gives
 * it (id, else NULL), else by its pid (peer_resolve() then checks the pid
 * was still that process's). */
static int peer_unit(const peer *p, const uint64_t *id, char **ret_unit) {
        char before[CGROUP_TEXT_MAX], after[CGROUP_TEXT_MAX];
        char *unit = NULL;
        int r, u;

        if (id) {
                r = unit_cache_get(NULL, *id, ret_unit);
                if (r != 0)
                        return r;
        }
        r = read_cgroup(p->pid, before, sizeof before);
        if (r >= 0) {
                r = unit_cache_get(before, 0, &unit);
                if (r < 0)
                        return r;
                if (r > 0) {
                        unit_cache_put_id(id, before, unit);
                        *ret_unit = unit;
                        return 0;
                }
        }
        u = sd_pid_get_unit(p->pid, &unit);
        if (u < 0) {
                unit = NULL;
                /* Not in a unit, or no systemd cgroups here: no unit claim.
                 * Any other failure (ESRCH, ENOMEM, EMFILE...) leaves the
                 * unit unknown, and a caller taken for one outside any
                 * unit could match a broader account than its own: fail,
                 * and cache nothing. */
                if (u != -ENXIO && u != -ENODATA && u != -ENOMEDIUM && u != -ENOENT)
                        return u;
        }
        if (r == 0 && read_cgroup(p->pid, after, sizeof after) >= 0 && strcmp(before, after) == 0) {
                unit_cache_put(before, 0, unit);
                unit_cache_put_id(id, before, unit);
        }
        *ret_unit = unit;
        return 0;
}

void peer_cache_free(void) {
        pthread_mutex_lock(&user_cache.lock);
        for (unsigned i = 0; i < USER_CACHE_SIZE; i++) {
                free(user_cache.e[i].name);
                user_cache.e[i].name = NULL;
                user_cache.e[i].used = false;
        }
        pthread_mutex_unlock(&user_cache.lock);
        pthread_mutex_lock(&unit_cache.lock);
        for (unsigned i = 0; i < UNIT_CACHE_SIZE; i++) {
                free(unit_cache.e[i].text);
                free(unit_cache.e[i].unit);
                unit_cache.e[i] = (typeof(unit_cache.e[0])) {};
        }
        pthread_mutex_unlock(&unit_cache.lock);
}

int peer_resolve(const peer *p, char **ret_unit, char **ret_user) {
        _cleanup_(free_p) char *unit = NULL, *user = NULL;
        struct pidfd_info_v0 info;
        int r;

        /* Never pinned: gone before accept() (ESRCH), or the agent could
         * not pin it (EMFILE, ENFILE, ENOMEM), which is ours to report,
         * not the caller's doing. */
        if (p->pidfd < 0)
                return p->error == 0 || p->error == -ESRCH ? -ESRCH : p->error;
        /* Still the effective uid and gid it connected with: a process
         * that changed them since asks as what it is now, which is not
         * what SO_PEERCRED told. The kernel gives a pidfd's ids, its main
         * thread's, where it can; where it cannot, or they differ (a
         * thread may have ids of its own, by raw set*id() system calls),
         * /proc tells them, and peer_alive() that they were its. Ids that
         * cannot be read (-EACCES) are not taken for the ones it had. */
        if (pidfd_info(p->pidfd, &info) == 0 && (info.mask & PIDFD_INFO_CREDS) && info.euid == p->uid &&
            info.egid == p->gid)
                r = 0;
        else
                r = pinned_is_peer(p);
        if (r < 0)
                return r;
        r = peer_unit(p, info.mask & PIDFD_INFO_CGROUPID ? &info.cgroupid : NULL, &unit);
        if (r < 0)
                /* ESRCH from a caller still alive: its /proc entry cannot
                 * be read (hidepid), which is not "gone". */
                return !peer_alive(p) ? -ESRCH : r == -ESRCH ? -EACCES : r;
        if (!peer_alive(p))
                return -ESRCH;
        r = user_name(p->uid, &user);
        if (r < 0)
                return r;
        *ret_unit = TAKE_PTR(unit);
        *ret_user = TAKE_PTR(user);
        return 0;
}
