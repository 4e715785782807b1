/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mounts made by PID 1: a transient mount unit, started and stopped over
 * systemd's own bus socket (/run/systemd/private, what systemctl uses as
 * root: no D-Bus broker needed). The mount is made in the host's namespace,
 * where jobs see it, without our joining that namespace; so the unit keeps
 * its sandbox and needs neither CAP_SYS_CHROOT nor CAP_SYS_PTRACE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>

#include "scratchd/log.h"
#include "scratchd/pid1.h"
#include "scratchd/util.h"

#define PID1_SOCKET "/run/systemd/private"
#define PID1_BUS "unix:path=" PID1_SOCKET
/* systemd's own limit on a mount command is TimeoutSec= below, on the
 * device it waits for 90 s (DefaultTimeoutStartSec=); its job ends soon
 * after, with a result that says which. One that has not ended by this
 * never will. */
#define MOUNT_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define JOB_WAIT_USEC (150 * USEC_PER_SEC)

int pid1_unit_name(const char *where, char *buf, size_t size) {
        /* systemd's path escaping (systemd.unit(5), "String Escaping"):
         * slashes become dashes, anything but [A-Za-z0-9:_.] \xNN, and a
         * leading dot too. */
        while (*where == '/')
                where++;
        size_t used = 0;
        for (const char *p = where; *p; p++) {
                char piece[5];
                if (*p == '/') {
                        while (p[1] == '/')
                                p++;
                        if (!p[1])
                                break;
                        strcpy(piece, "-");
                } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                           *p == ':' || *p == '_' || (*p == '.' && p != where))
                        piece[0] = *p, piece[1] = 0;
                else
                        snprintf(piece, sizeof(piece), "\\x%02x", (unsigned char) *p);
                size_t k = strlen(piece);
                if (used + k >= size)
                        return -ENAMETOOLONG;
                strcpy(buf + used, piece);
                used += k;
        }
        if (used == 0) {
                if (size < 2)
                        return -ENAMETOOLONG;
                strcpy(buf, "-");
                used = 1;
        }
        if (used + sizeof(".mount") > size)
                return -ENAMETOOLONG;
        strcpy(buf + used, ".mount");
        return 0;
}

static int pid1_bus(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, PID1_BUS);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

typedef struct JobWait {
        char *job;                 /* the object path of ours */
        char result[32];           /* "done", "failed", "timeout", ... */
        bool ended;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        JobWait *w = userdata;
        uint32_t id;
        const char *path, *unit, *result;
        (void) error;
        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->job && streq(path, w->job)) {
                snprintf(w->result, sizeof(w->result), "%s", result);
                w->ended = true;
        }
        return 0;
}

/* Sends `m` (a call that queues a job) and waits for the job to end. The
 * job's result, or -errno; a bus error's text in `error`. */
static int run_job(sd_bus *bus, sd_bus_message *m, JobWait *w, char *error, size_t size) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        /* Direct connection: PID 1 sends its signals to us unasked. */
        int r = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                    "JobRemoved", on_job_removed, w);
        if (r >= 0)
                r = sd_bus_call(bus, m, JOB_WAIT_USEC, &e, &reply);
        if (r < 0) {
                snprintf(error, size, "%s", e.message ?: strerror(-r));
                if (sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
                        r = -ENOENT;
                else if (sd_bus_error_has_name(&e, "org.freedesktop.systemd1.UnitExists"))
                        r = -EEXIST;
                sd_bus_error_free(&e);
                return r;
        }
        const char *job;
        r = sd_bus_message_read(reply, "o", &job);
        if (r >= 0 && !(w->job = strdup(job)))
                r = -ENOMEM;
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        /* Signals that came in during the call wait in the queue: none is
         * missed by starting to look only now. */
        for (uint64_t deadline = now_usec() + JOB_WAIT_USEC; !w->ended;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                uint64_t now = now_usec();
                if (now >= deadline) {
                        snprintf(error, size, "systemd's job %s did not end within %llu s", w->job,
                                 (unsigned long long) (JOB_WAIT_USEC / USEC_PER_SEC));
                        return -ETIMEDOUT;
                }
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return r;
        }
        return 0;
}

/* One call to PID 1's manager that queues a job, from connection to the
 * job's end. */
typedef struct Call {
        sd_bus *bus;
        sd_bus_message *m;
} Call;

/* Connects and starts `method`(`name`, `mode`, ...): the caller appends the
 * rest to c->m. */
static int call_begin(Call *c, const char *method, const char *name, const char *mode, char *error, size_t size) {
        int r = pid1_bus(&c->bus);
        if (r < 0) {
                snprintf(error, size, "cannot reach systemd at %s: %s", PID1_SOCKET, strerror(-r));
                return r;
        }
        r = sd_bus_message_new_method_call(c->bus, &c->m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", method);
        if (r >= 0)
                r = sd_bus_message_append(c->m, "ss", name, mode);
        if (r < 0)
                snprintf(error, size, "cannot ask systemd for %s: %s", name, strerror(-r));
        return r;
}

/* Sends it (unless building it failed: `r`), waits for the job and frees
 * the call. A job that ends other than "done" is `failed`. */
static int call_finish(Call *c, int r, const char *name, int failed, char *error, size_t size) {
        JobWait w = {};
        if (r >= 0) {
                r = run_job(c->bus, c->m, &w, error, size);
                if (r >= 0 && !streq(w.result, "done")) {
                        snprintf(error, size, "systemd's job for %s ended \"%s\"; see journalctl -u '%s'", name,
                                 w.result, name);
                        r = failed;
                }
        } else if (c->m)
                snprintf(error, size, "cannot ask systemd for %s: %s", name, strerror(-r));
        free(w.job);
        sd_bus_message_unref(c->m);
        sd_bus_flush_close_unref(c->bus);
        return r;
}

static int mount_once(const char *what, const char *where, const char *type, const char *options, char *error, size_t size) {
        char name[256];   /* systemd's longest unit name, with its NUL */
        int r = pid1_unit_name(where, name, sizeof(name));
        if (r < 0)
                return r;
        char description[PATH_MAX + 32];
        snprintf(description, sizeof(description), "scratchd: %s", where);
        /* "fail": never displace a job queued on the same path.
         * LazyUnmount=: stopping it detaches what a finished job mounted
         * below it too (FUSE, binds), in the host's namespace. No default
         * dependencies: not part of local-fs.target, which is long reached
         * when we mount. */
        Call c = {};
        r = call_begin(&c, "StartTransientUnit", name, "fail", error, size);
        if (r >= 0)
                r = sd_bus_message_append(c.m, "a(sv)", 9,
                                          "Description", "s", description,
                                          "What", "s", what,
                                          "Type", "s", type,
                                          "Options", "s", options,
                                          "DirectoryMode", "u", (uint32_t) 0755,
                                          "LazyUnmount", "b", 1,
                                          "DefaultDependencies", "b", 0,
                                          "CollectMode", "s", "inactive-or-failed",
                                          "TimeoutUSec", "t", (uint64_t) MOUNT_TIMEOUT_USEC);
        if (r >= 0)
                r = sd_bus_message_append(c.m, "a(sa(sv))", 0);
        return call_finish(&c, r, name, -EIO, error, size);
}

static int mount_by_command(const char *what, const char *where, const char *type, const char *options,
                            char *error, size_t size);

int pid1_mount(const char *what, const char *where, const char *type, const char *options, char *error, size_t size) {
        /* The unit of an unmount a moment ago may still be loaded: systemd
         * collects it at its next turn. */
        int r;
        for (int i = 0; (r = mount_once(what, where, type, options, error, size)) == -EEXIST && i < 10; i++)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100000000 }, NULL);
        /* Still loaded a second later: a unit of systemd's own for the
         * path, which it keeps (the initramfs mounted there). */
        if (r == -EEXIST)
                r = mount_by_command(what, where, type, options, error, size);
        /* A job we gave up on may still mount later, under a mapping the
         * caller is about to remove: stopped (a stop cancels it). */
        if (r == -ETIMEDOUT) {
                char ignored[256];
                (void) pid1_unmount(where, ignored, sizeof(ignored));
        }
        return r;
}

int pid1_unmount(const char *where, char *error, size_t size) {
        char name[256];   /* systemd's longest unit name, with its NUL */
        int r = pid1_unit_name(where, name, sizeof(name));
        if (r < 0)
                return r;
        /* Only ours: systemd's units for what a job mounted below it require
         * ours, and a stop that followed them would have PID 1 unmount each
         * by the path it last saw, symlinks followed (a user could swap one
         * in). Our lazy unmount detaches all of them, in the kernel, at once. */
        Call c = {};
        r = call_begin(&c, "StopUnit", name, "ignore-dependencies", error, size);
        r = call_finish(&c, r, name, -EBUSY, error, size);
        return r == -ENOENT ? 0 : r;   /* no such unit: nothing mounted there */
}

/* Has PID 1 run `argv` (argv[0] the program's absolute path, then its
 * argv) as a transient oneshot service `name` and waits for it to end. */
static int run_command(const char *name, const char *description, const char *const *argv, char *error,
                       size_t size) {
        Call c = {};
        int r = call_begin(&c, "StartTransientUnit", name, "fail", error, size);
        if (r >= 0)
                r = sd_bus_message_open_container(c.m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(c.m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", description, "Type", "s",
                                          "oneshot", "DefaultDependencies", "b", 0, "CollectMode", "s",
                                          "inactive-or-failed", "TimeoutStartUSec", "t",
                                          (uint64_t) MOUNT_TIMEOUT_USEC);
        /* ExecStart: a(sasb), one command. */
        if (r >= 0)
                r = sd_bus_message_open_container(c.m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(c.m, "s", "ExecStart");
        if (r >= 0)
                r = sd_bus_message_open_container(c.m, 'v', "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(c.m, 'a', "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(c.m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(c.m, "s", argv[0]);
        if (r >= 0)
                r = sd_bus_message_append_strv(c.m, (char **) argv + 1);
        if (r >= 0)
                r = sd_bus_message_append(c.m, "b", 0);
        for (int i = 0; i < 5 && r >= 0; i++)   /* (sasb), a, v, (sv), a */
                r = sd_bus_message_close_container(c.m);
        if (r >= 0)
                r = sd_bus_message_append(c.m, "a(sa(sv))", 0);
        return call_finish(&c, r, name, -EIO, error, size);
}

/* "scratchd-VERB-scratch-job.service" for `where`. */
static int command_unit_name(const char *verb, const char *where, char *buf, size_t size) {
        char mount_name[256];
        int r = pid1_unit_name(where, mount_name, sizeof(mount_name));
        if (r < 0)
                return r;
        mount_name[strlen(mount_name) - strlen(".mount")] = 0;
        if ((size_t) snprintf(buf, size, "scratchd-%s-%s.service", verb, mount_name) >= size)
                return -ENAMETOOLONG;
        return 0;
}

int pid1_lazy_unmount(const char *where, char *error, size_t size) {
        char name[256], description[PATH_MAX + 48];
        int r = command_unit_name("unmount", where, name, sizeof(name));
        if (r < 0)
                return r;
        snprintf(description, sizeof(description), "scratchd: umount --lazy %s", where);
        /* `where` is ours (MountPoint=, or a directory of ours in it): no
         * user can put a symlink on the way. */
        const char *argv[] = { "/bin/umount", "umount", "--lazy", "--no-canonicalize", "--", where, NULL };
        r = run_command(name, description, argv, error, size);
        return r == -EIO ? -EBUSY : r;
}

/* The mount unit of `where` is loaded and not ours (from the mount table:
 * the initramfs mounted there, and systemd keeps the unit): PID 1 runs
 * mount(8), and its unit of `where` follows. */
static int mount_by_command(const char *what, const char *where, const char *type, const char *options,
                            char *error, size_t size) {
        char name[256], description[PATH_MAX + 48];
        int r = command_unit_name("mount", where, name, sizeof(name));
        if (r < 0)
                return r;
        snprintf(description, sizeof(description), "scratchd: mount %s", where);
        const char *argv[] = { "/bin/mount", "mount", "--no-canonicalize", "-t", type, "-o", options, "--", what,
                               where, NULL };
        return run_command(name, description, argv, error, size);
}
