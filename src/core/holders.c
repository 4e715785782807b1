/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "scratchd/holders.h"
#include "scratchd/log.h"
#include "scratchd/util.h"

/* Mountinfo escapes blanks and backslashes as \ooo. */
static void unoctal(char *s) {
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

int holders_parse_mountinfo_line(const char *line, int *ret_id, dev_t *ret_dev, char *mount_point, size_t size,
                                 bool *ret_propagates) {
        unsigned ma, mi;
        int id, k = 0;
        char path[PATH_MAX];

        /* id parent major:minor root mount-point options [tags...] - type source super-options */
        if (sscanf(line, "%d %*d %u:%u %*s %4095s %*s %n", &id, &ma, &mi, path, &k) != 4 || k == 0)
                return -EINVAL;
        bool propagates = false;
        for (const char *p = line + k; *p && !(p[0] == '-' && (p[1] == ' ' || p[1] == 0));) {
                propagates = propagates || startswith(p, "shared:") || startswith(p, "master:");
                p = strchr(p, ' ');
                if (!p)
                        return -EINVAL;
                p++;
        }
        unoctal(path);
        if (strlen(path) >= size)
                return -ENAMETOOLONG;
        strcpy(mount_point, path);
        *ret_id = id;
        *ret_dev = makedev(ma, mi);
        *ret_propagates = propagates;
        return 0;
}

/* Whether `path` is `top` or below it. */
static bool path_under(const char *path, const char *top) {
        size_t n = strlen(top);
        if (streq(top, "/"))
                return true;
        return strncmp(path, top, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* One mount namespace, as its mountinfo shows the device. */
typedef struct Namespace {
        char id[64];               /* "mnt:[4026531841]" */
        char **mount_points;       /* where the device is mounted in it */
        bool pins;                 /* a mount of it that no unmount of ours reaches */
} Namespace;

typedef struct Scan {
        dev_t dev;
        char self_ns[64], init_ns[64];
        Namespace *ns;
        size_t n_ns;
        int *mount_ids;            /* of the device's mounts, in every namespace (ids are global) */
        size_t n_mount_ids;
} Scan;

static void scan_done(Scan *s) {
        for (size_t i = 0; i < s->n_ns; i++)
                strv_free(s->ns[i].mount_points);
        free(s->ns);
        free(s->mount_ids);
        *s = (Scan) {};
}

static int read_link(const char *pid, const char *what, char *buf, size_t size) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%s/%s", pid, what);
        ssize_t k = readlink(p, buf, size - 1);
        if (k < 0)
                return -errno;
        buf[k] = 0;
        return 0;
}

/* The namespace of `pid`, read once per namespace. NULL if the process is
 * gone or its mountinfo unreadable (then it holds nothing we could undo). */
static Namespace *namespace_of(Scan *s, const char *pid, int *ret_error) {
        char id[64];
        *ret_error = 0;
        if (read_link(pid, "ns/mnt", id, sizeof(id)) < 0)
                return NULL;
        for (size_t i = 0; i < s->n_ns; i++)
                if (streq(s->ns[i].id, id))
                        return &s->ns[i];

        char p[64];
        snprintf(p, sizeof(p), "/proc/%s/mountinfo", pid);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f)
                return NULL;
        Namespace n = {};
        snprintf(n.id, sizeof(n.id), "%s", id);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        while (getline(&line, &len, f) > 0) {
                int mid;
                dev_t d;
                bool propagates;
                char mp[PATH_MAX];
                if (holders_parse_mountinfo_line(line, &mid, &d, mp, sizeof(mp), &propagates) < 0 || d != s->dev)
                        continue;
                int *ids = realloc(s->mount_ids, sizeof(int) * (s->n_mount_ids + 1));
                if (!ids || strv_extend(&n.mount_points, mp) < 0) {
                        if (ids)
                                s->mount_ids = ids;
                        strv_free(n.mount_points);
                        *ret_error = -ENOMEM;
                        return NULL;
                }
                s->mount_ids = ids;
                s->mount_ids[s->n_mount_ids++] = mid;
                /* Ours and the host's unmount reaches; any other namespace's
                 * copy without propagation stays behind. */
                if (!propagates && !streq(id, s->self_ns) && !streq(id, s->init_ns))
                        n.pins = true;
        }
        Namespace *grown = realloc(s->ns, sizeof(Namespace) * (s->n_ns + 1));
        if (!grown) {
                strv_free(n.mount_points);
                *ret_error = -ENOMEM;
                return NULL;
        }
        s->ns = grown;
        s->ns[s->n_ns] = n;
        return &s->ns[s->n_ns++];
}

static bool is_mount_id(const Scan *s, int id) {
        for (size_t i = 0; i < s->n_mount_ids; i++)
                if (s->mount_ids[i] == id)
                        return true;
        return false;
}

/* An open file whose mount is one of the device's: fdinfo's mnt_id, which
 * the kernel prints without asking the file's file system anything. */
static bool holds_file(const Scan *s, const char *pid) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%s/fdinfo", pid);
        DIR *d = opendir(p);
        if (!d)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char q[96], buf[512];
                snprintf(q, sizeof(q), "/proc/%s/fdinfo/%s", pid, de->d_name);
                int fd = open(q, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t k = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (k <= 0)
                        continue;
                buf[k] = 0;
                const char *m = strstr(buf, "mnt_id:");
                found = m && is_mount_id(s, atoi(m + 7));
        }
        closedir(d);
        return found;
}

/* Its cwd or root below a mount point of the device in its namespace: the
 * links read as text (d_path), never followed. */
static bool holds_cwd(const Namespace *n, const char *pid) {
        static const char *const links[] = { "cwd", "root" };
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                char path[PATH_MAX];
                if (read_link(pid, links[i], path, sizeof(path)) < 0)
                        continue;
                size_t len = strlen(path);
                if (len > 10 && streq(path + len - 10, " (deleted)"))
                        path[len - 10] = 0;
                for (char **m = n->mount_points; m && *m; m++)
                        if (path_under(path, *m))
                                return true;
        }
        return false;
}

/* A thread may have a cwd of its own (after unshare(CLONE_FS)): each other
 * thread of a process with several is looked at too. */
static bool threads_hold_cwd(const Namespace *n, const char *pid) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%s/task", pid);
        DIR *d = opendir(p);
        if (!d)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || streq(de->d_name, pid))
                        continue;
                char task[96];
                snprintf(task, sizeof(task), "%s/task/%s", pid, de->d_name);
                found = holds_cwd(n, task);
        }
        closedir(d);
        return found;
}

static uid_t real_uid(const char *pid) {
        char p[64], line[256];
        snprintf(p, sizeof(p), "/proc/%s/status", pid);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        unsigned uid;
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "Uid: %u", &uid) == 1)
                        return (uid_t) uid;
        return (uid_t) -1;
}

/* Reading another uid's fdinfo, cwd and namespace links takes ptrace
 * rights over it: root without CAP_SYS_PTRACE (scratchd's own unit) would
 * see only its own processes and call everything else free. (Another uid
 * sees its own processes: tests.) */
static int can_see_others(void) {
        if (geteuid() != 0)
                return 0;
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        return (d[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective & CAP_TO_MASK(CAP_SYS_PTRACE)) ? 0 : -EPERM;
}

int holders_find_local(dev_t dev, Holder **ret, size_t *ret_n) {
        int e = can_see_others();
        if (e < 0)
                return e;
        _cleanup_(scan_done) Scan s = { .dev = dev };
        if (read_link("self", "ns/mnt", s.self_ns, sizeof(s.self_ns)) < 0)
                return -errno;
        (void) read_link("1", "ns/mnt", s.init_ns, sizeof(s.init_ns));

        /* First every namespace, so that every mount id of the device is
         * known before any open file is looked at: a process may hold a file
         * of a mount in another namespace than its own. */
        DIR *d = opendir("/proc");
        if (!d)
                return -errno;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
                        (void) namespace_of(&s, de->d_name, &r);
        if (r < 0) {
                closedir(d);
                return r;
        }

        char self[32];
        snprintf(self, sizeof(self), "%d", (int) getpid());
        Holder *out = NULL;
        size_t n = 0;
        rewinddir(d);
        while ((de = readdir(d))) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || streq(de->d_name, self))
                        continue;
                Namespace *ns = namespace_of(&s, de->d_name, &r);
                if (r < 0)
                        break;
                if (!ns)
                        continue;
                unsigned why = 0;
                if (ns->pins)
                        why |= HOLDER_NAMESPACE;
                if (ns->mount_points && (holds_cwd(ns, de->d_name) || threads_hold_cwd(ns, de->d_name)))
                        why |= HOLDER_CWD;
                if (s.n_mount_ids > 0 && holds_file(&s, de->d_name))
                        why |= HOLDER_FILE;
                if (!why)
                        continue;
                Holder *grown = realloc(out, sizeof(Holder) * (n + 1));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                out = grown;
                Holder *h = &out[n++];
                *h = (Holder) { .pid = (pid_t) atoi(de->d_name), .uid = real_uid(de->d_name), .why = why };
                char p[64];
                _cleanup_free_ char *comm = NULL;
                snprintf(p, sizeof(p), "/proc/%s/comm", de->d_name);
                (void) read_one_line(p, &comm);
                snprintf(h->comm, sizeof(h->comm), "%s", comm ?: "?");
                /* A process names itself (prctl PR_SET_NAME): a job's user
                 * could put a newline or a terminal escape there (C0, or a
                 * C1 byte such as CSI), which the reason carries to logs,
                 * records and an admin's terminal: printable ASCII only. */
                for (char *c = h->comm; *c; c++)
                        if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                                *c = '?';
        }
        closedir(d);
        if (r < 0) {
                free(out);
                return r;
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

void holders_format(const Holder *h, size_t n, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        for (size_t i = 0; i < n && used < size; i++) {
                char why[64] = "";
                if (h[i].why & HOLDER_CWD)
                        strcat(why, "/cwd");
                if (h[i].why & HOLDER_FILE)
                        strcat(why, "/open file");
                if (h[i].why & HOLDER_NAMESPACE)
                        strcat(why, "/mount namespace");
                int k = snprintf(buf + used, size - used, "%s%d (%s, uid %u, %s)", i ? ", " : "", (int) h[i].pid,
                                 h[i].comm, (unsigned) h[i].uid, why[0] ? why + 1 : "?");
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

/* SIGKILL to this very process: the pid is pinned by a pidfd and its owner
 * read again through it, so that a pid the holder freed and another process
 * took meanwhile is not killed. */
static int kill_exactly(pid_t pid, uid_t uid) {
#ifdef SYS_pidfd_open
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0) {
                char p[32];
                snprintf(p, sizeof(p), "%d", (int) pid);
                int r = 0;
                if (real_uid(p) != uid)
                        r = -ESRCH;
                else if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0)
                        r = -errno;
                close(fd);
                return r;
        }
        /* No pidfds (before Linux 5.3), or a filter that predates them. */
        if (errno != ENOSYS && errno != EPERM)
                return -errno;
#endif
        return kill(pid, SIGKILL) < 0 ? -errno : 0;
}

int holders_kill_local(dev_t dev, uid_t uid, unsigned long long wait_usec, Holder **ret, size_t *ret_n) {
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0, k = 0;
        int r = holders_find_local(dev, &h, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (h[i].uid != uid || uid == 0)
                        continue;
                int e = kill_exactly(h[i].pid, uid);
                if (e == 0)
                        h[k++] = h[i];
                else if (e != -ESRCH)
                        log_warning("cannot kill %d (%s, uid %u), which holds the volume: %s%s", (int) h[i].pid,
                                    h[i].comm, (unsigned) uid, strerror(-e),
                                    e == -EPERM ? " (the scan needs CAP_KILL)" : "");
        }
        /* Gone once /proc no longer shows them, or they are zombies: their
         * files and namespaces are released before that. */
        for (unsigned long long waited = 0; k > 0 && waited < wait_usec; waited += 20000) {
                bool any = false;
                for (size_t i = 0; i < k && !any; i++) {
                        char p[64];
                        _cleanup_free_ char *stat = NULL;
                        snprintf(p, sizeof(p), "/proc/%d/stat", (int) h[i].pid);
                        if (read_one_line(p, &stat) < 0)
                                continue;
                        const char *e = strrchr(stat, ')');
                        any = !(e && e[1] == ' ' && (e[2] == 'Z' || e[2] == 'X'));
                }
                if (!any)
                        break;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20000000 }, NULL);
        }
        *ret = TAKE_PTR(h);
        *ret_n = k;
        return (int) k;
}

int holders_submounts(const char *mountinfo, const char *where, char ***ret) {
        _cleanup_fclose_ FILE *f = fopen(mountinfo, "re");
        if (!f)
                return -errno;
        _cleanup_strv_free_ char **out = NULL;
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        while (getline(&line, &len, f) > 0) {
                int id;
                dev_t d;
                bool propagates;
                char mp[PATH_MAX];
                if (holders_parse_mountinfo_line(line, &id, &d, mp, sizeof(mp), &propagates) < 0)
                        continue;
                if (!streq(mp, where) && path_under(mp, where) && !strv_contains(out, mp) &&
                    strv_extend(&out, mp) < 0)
                        return -ENOMEM;
        }
        /* Deepest first: longer paths below shorter ones. */
        size_t n = strv_length(out);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strlen(out[j]) > strlen(out[j - 1]); j--) {
                        char *t = out[j];
                        out[j] = out[j - 1];
                        out[j - 1] = t;
                }
        *ret = TAKE_PTR(out);
        return 0;
}
