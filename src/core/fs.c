/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <blkid/blkid.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <pthread.h>
#include <libudev.h>

#include "scratchd/fs.h"
#include "scratchd/holders.h"
#include "scratchd/log.h"
#include "scratchd/pid1.h"
#include "scratchd/process.h"
#include "scratchd/util.h"

/* openat2() (Linux 5.6): from the kernel's header where it has one. */
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {   /* the kernel reads it */
        // cppcheck-suppress unusedStructMember
        uint64_t flags;
        // cppcheck-suppress unusedStructMember
        uint64_t mode;
        // cppcheck-suppress unusedStructMember
        uint64_t resolve;
};
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Up to this size XFS's own log (about 1/2048 of the disk) is at most 64 MiB;
 * past it, the default grows to 2 GiB, which mkfs writes in full (11 s of a
 * 4 TiB disk's 12 s wipe in UML), so we cap it. */
#define XFS_LOG_CAP_FROM (UINT64_C(128) << 30)

/* The smallest disk each file system is made on with fs_make()'s options, as
 * found by running them on sparse files. mkfs.xfs (5.19 and later) refuses
 * less than 300 MiB ("Filesystem must be larger than 300MB."; 300 MiB less
 * 4 KiB fails). mke2fs 1.47 makes something down to 104 KiB, but below 2 MiB
 * it leaves out the journal ("Filesystem too small for a journal"): not the
 * ext4 that was asked for. Plain dm-crypt takes no room of the disk, so these
 * are sizes of the disk itself. */
static const uint64_t file_system_min_size_table[_FILE_SYSTEM_MAX] = {
        [FILE_SYSTEM_XFS] = UINT64_C(300) << 20,
        [FILE_SYSTEM_EXT4] = UINT64_C(2) << 20,
};

uint64_t file_system_min_size(FileSystem fs) {
        return fs >= 0 && fs < _FILE_SYSTEM_MAX ? file_system_min_size_table[fs] : 0;
}

int fs_check_size(FileSystem fs, const char *device, uint64_t size, char *reason, size_t reason_size) {
        uint64_t min = file_system_min_size(fs);
        if (size >= min)
                return 0;

        /* Name the file systems that would fit, so that the admin can choose. */
        char fits[64] = "";
        for (FileSystem f = 0; f < _FILE_SYSTEM_MAX; f++)
                if (f != fs && size >= file_system_min_size(f))
                        snprintf(fits + strlen(fits), sizeof(fits) - strlen(fits), "%sFileSystem=%s",
                                 fits[0] ? " or " : "", file_system_to_string(f));

        /* In bytes where rounding would make the two sizes read the same. */
        char a[32], b[32];
        if (streq(format_bytes(a, sizeof(a), size), format_bytes(b, sizeof(b), min))) {
                snprintf(a, sizeof(a), "%" PRIu64 " bytes", size);
                snprintf(b, sizeof(b), "%" PRIu64 " bytes", min);
        }
        snprintf(reason, reason_size, "%s is %s, below the %s that FileSystem=%s needs; use %s%sa larger disk",
                 device, a, b, file_system_to_string(fs), fits, fits[0] ? " or " : "");
        return -ENOSPC;
}

int fs_make(FileSystem fs, const char *device, uint64_t size, char **ret_output) {
        switch (fs) {
        case FILE_SYSTEM_XFS: {
                char *argv[] = { "mkfs.xfs", "-f", "-q", "-K", "-L", "scratch", NULL, NULL, NULL, NULL };
                size_t n = 6;
                if (size >= XFS_LOG_CAP_FROM) {
                        argv[n++] = "-l";
                        argv[n++] = "size=64m";
                }
                argv[n] = (char *) device;
                return process_run(argv, ret_output);
        }
        case FILE_SYSTEM_EXT4: {
                /* -m 0: scratch has no root-owned daemons that need reserved blocks. */
                char *argv[] = { "mkfs.ext4", "-F", "-q", "-m", "0", "-L", "scratch",
                                 "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
                                 (char *) device, NULL };
                return process_run(argv, ret_output);
        }
        default:
                return -EINVAL;
        }
}

/* Makes `path` and its missing parents with `mode`, whatever the umask
 * (jobs must traverse the mount point). */
static int mkdir_parents(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1;; p++) {
                if (*p != '/' && *p)
                        continue;
                char c = *p;
                *p = 0;
                if (mkdir(buf, mode) == 0) {
                        if (chmod(buf, mode) < 0)
                                return -errno;
                } else if (errno != EEXIST)
                        return -errno;
                if (!c)
                        return 0;
                *p = c;
        }
}

/* Under systemd, mounts are PID 1's to make (pid1.c); without it (the
 * initramfs, scratchd's commands by hand, tests) we make them ourselves in
 * PID 1's namespace, as below. */
static bool through_pid1;

void fs_mount_through_pid1(bool on) {
        through_pid1 = on;
}

/* Jobs must see the scratch mount. When systemd runs us in a mount namespace
 * of our own (ProtectSystem= and friends), a mount made there would stay
 * there; so mounts are made in PID 1's namespace, by a child that joins it,
 * and propagation brings them back into ours (systemd makes ours a slave).
 * Joining takes CAP_SYS_ADMIN, CAP_SYS_CHROOT and ptrace rights over PID 1
 * (CAP_SYS_PTRACE); when we already are in its namespace, joining it again
 * changes nothing. A pidfd where the kernel has them, else /proc/1/ns/mnt. */
static int open_init_mount_namespace(void) {
        int fd = (int) syscall(SYS_pidfd_open, 1, 0);
        if (fd >= 0)
                return fd;
        fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
}

#define CHILD_TIMEOUT_MS (60 * 1000)

/* What the child's work failed at, for the parent's log: a string literal,
 * whose address is the same in the parent (a fork's copy of the process). */
static const char *child_failed_at;

typedef struct ChildResult {
        int r;
        const char *failed_at;
} ChildResult;

static int fail_at(const char *what, int error) {
        child_failed_at = what;
        return error;
}

static int in_host_mount_namespace(int (*fn)(const void *), const void *arg, const char **ret_failed_at) {
        int ns = open_init_mount_namespace();
        if (ns < 0)
                return ns;
        /* The child's result comes through a pipe, not its exit status,
         * which a tool around us may set (valgrind's --error-exitcode, for
         * the heap a forked child of a threaded process seems to leak). */
        int result[2];
        if (pipe2(result, O_CLOEXEC) < 0) {
                int e = -errno;
                close(ns);
                return e;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(ns);
                close(result[0]);
                close(result[1]);
                return e;
        }
        if (pid == 0) {
                /* Only system calls from here: the parent has threads. */
                child_failed_at = NULL;
                int r = setns(ns, CLONE_NEWNS) < 0 ? fail_at("setns", -errno) : fn(arg);
                ChildResult out = { .r = r, .failed_at = child_failed_at };
                (void) !write(result[1], &out, sizeof(out));
                _exit(r < 0 ? -r : 0);
        }
        close(ns);
        close(result[1]);
        /* Bounded: a FUSE file system stacked where we look, whose daemon is
         * stopped, would hold the child for good. Its waits are killable;
         * a write-back of the kernel's (unmount without shutdown) is not,
         * and then the work's own deadline answers. */
        int status;
        pid_t k;
        for (unsigned waited = 0; (k = waitpid(pid, &status, WNOHANG)) == 0 && waited < CHILD_TIMEOUT_MS; waited += 10)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 10000000 }, NULL);
        if (k < 0) {
                int e = -errno;
                close(result[0]);
                return e;
        }
        if (k == 0) {
                close(result[0]);
                (void) kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return -errno;
                if (ret_failed_at)
                        *ret_failed_at = "the helper process did not finish in 60 s (killed)";
                return -ETIMEDOUT;
        }
        ChildResult out;
        ssize_t n = read(result[0], &out, sizeof(out));
        close(result[0]);
        if (n == (ssize_t) sizeof(out)) {
                if (ret_failed_at)
                        *ret_failed_at = out.r < 0 ? out.failed_at : NULL;
                return out.r < 0 ? out.r : 0;
        }
        if (ret_failed_at)
                *ret_failed_at = WIFSIGNALED(status) ? "the helper process was killed by a signal" : NULL;
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

typedef struct MountArgs {
        const char *device, *where, *type;
        bool detach;
        char **submounts;   /* below `where`, deepest first */
        const char *parent; /* the directory `where` is in */
        dev_t dev;          /* ours */
} MountArgs;

/* "/proc/self/fd/N" without stdio: the child of a threaded process may
 * only make system calls. */
static void fd_path(int fd, char buf[static 32]) {
        char digits[12];
        size_t n = 0;
        do
                digits[n++] = (char) ('0' + fd % 10);
        while ((fd /= 10) > 0 && n < sizeof(digits));
        memcpy(buf, "/proc/self/fd/", 14);
        for (size_t i = 0; i < n; i++)
                buf[14 + i] = digits[n - 1 - i];
        buf[14 + n] = 0;
}

/* The device of what `path` shows, without asking its file system. */
static int top_device(const char *path, dev_t *ret) {
        struct statx stx;
        int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int k = statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx);
        int e = errno;
        close(fd);
        if (k < 0)
                return -e;
        *ret = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        return 0;
}

/* A submount the job made, detached by what its path names with no symlink
 * on the way: a component the user swapped for a link cannot point this at
 * another mount of the host's. */
static void detach_submount(const char *path) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
        int fd = (int) syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
                /* No openat2 (Linux before 5.6, or a filter that predates
                 * it): by the path, its last component not followed. */
                (void) umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH);
                return;
        }
        if (fd < 0)
                return;
        char p[32];
        fd_path(fd, p);
        (void) umount2(p, MNT_DETACH);
        close(fd);
}

static int do_mount(const void *userdata) {
        const MountArgs *a = userdata;
        int r = mkdir_parents(a->where, 0755);
        if (r < 0)
                return r;
        if (mount(a->device, a->where, a->type, MS_NODEV | MS_NOSUID, NULL) < 0)
                return -errno;
        /* The file system's root (mkfs makes it 0755): others may pass
         * through to their job's directory, but not list the jobs, nor sit
         * in it (a shell whose cwd is the root would hold the mount). */
        if (chmod(a->where, 0711) < 0) {
                r = -errno;
                (void) umount2(a->where, UMOUNT_NOFOLLOW);
                return r;
        }
        return 0;
}

/* XFS_IOC_GOINGDOWN and EXT4_IOC_SHUTDOWN are one ioctl, with the same
 * flags; neither header is in the kernel's uapi for both. */
#define FS_SHUTDOWN_IOCTL _IOR('X', 125, uint32_t)
#define FS_SHUTDOWN_NOLOGFLUSH 0x2

static int do_unmount(const void *userdata) {
        const MountArgs *a = userdata;
        /* Every unmount of ours comes before the key is destroyed: what the
         * finished job left in the page cache is data about to be erased,
         * and writing it out through dm-crypt can take minutes on nodes with
         * a TiB of RAM. So the file system is shut down first, without
         * flushing its log: its dirty pages are dropped, not written.
         * Where it cannot be (another file system, no CAP_SYS_ADMIN), the
         * unmount writes them out as before. A fence (detach) leaves a
         * volume that may still be in use as it is. */
        /* What the finished job mounted below its directory (FUSE through
         * fusermount3, a bind mount) would keep ours busy: detached first. */
        for (char **m = a->submounts; m && *m; m++)
                detach_submount(*m);
        /* The user owns the job's directory and may mount over it, before or
         * while we look: each round sees what is on top there, without
         * asking its file system (no FUSE round trip), detaches it when it
         * is not ours, and unmounts ours when it is, until the directory
         * under ours shows through. */
        dev_t under;
        int r = top_device(a->parent, &under);
        if (r < 0)
                return fail_at("statx of the directory above the mount point", r);
        bool shut = a->detach;
        for (int round = 0; round < 16; round++) {
                dev_t top;
                r = top_device(a->where, &top);
                if (r == -ENOENT || (r >= 0 && top == under))
                        return 0;
                /* A fence must not be stopped by a file system that cannot
                 * even say what it is (a failed disk): what the mount table
                 * showed on top here was ours, so it is detached unseen. */
                if (r < 0 && r != -ENOENT && a->detach) {
                        if (umount2(a->where, UMOUNT_NOFOLLOW | MNT_DETACH) == 0)
                                continue;
                        if (errno == EINVAL)   /* no mount there at all */
                                return 0;
                        return fail_at("umount2 (lazy, of a mount point that cannot be examined)", -errno);
                }
                if (r < 0)
                        return fail_at("statx of the mount point", r);
                if (top != a->dev) {
                        if (umount2(a->where, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
                                return fail_at("detaching what is mounted over it", -errno);
                        continue;
                }
                if (!shut) {
                        shut = true;
                        int fd = open(a->where, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        struct statx stx;
                        if (fd >= 0 && statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0 &&
                            makedev(stx.stx_dev_major, stx.stx_dev_minor) == a->dev) {
                                uint32_t flags = FS_SHUTDOWN_NOLOGFLUSH;
                                (void) ioctl(fd, FS_SHUTDOWN_IOCTL, &flags);
                        }
                        if (fd >= 0)
                                close(fd);
                }
                if (umount2(a->where, UMOUNT_NOFOLLOW) < 0) {
                        if (errno == EINVAL)
                                return 0;
                        if (errno != EBUSY || !a->detach)
                                return fail_at("umount2", -errno);
                        if (umount2(a->where, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
                                return fail_at("umount2 (lazy)", -errno);
                }
        }
        return fail_at("mounts kept coming back over it", -EBUSY);
}

/* systemd mounts a device only once udev has announced it ready, and its
 * rules hold a dm-crypt device back as long as no file system was seen on
 * it (99-systemd.rules: "probably still calling mke2fs"). udev looks again
 * when a writer closes the device (its inotify watch); where that close came
 * before the watch, or was missed, nothing would ever look again and the
 * mount would wait for the device until it times out. So: wait until udev
 * has it with its file system, and close it after a write-open ourselves
 * (what mkfs does) when it has not. 0, or -ETIMEDOUT after `timeout_usec`. */
#define DEVICE_READY_USEC (30 * USEC_PER_SEC)

static int udev_sees_file_system(struct udev *udev, dev_t dev) {
        struct udev_device *d = udev_device_new_from_devnum(udev, 'b', dev);
        if (!d)
                return -errno;
        const char *type = udev_device_get_property_value(d, "ID_FS_TYPE");
        const char *ready = udev_device_get_property_value(d, "SYSTEMD_READY");
        int r = udev_device_get_is_initialized(d) > 0 && type && type[0] && !(ready && streq(ready, "0"));
        udev_device_unref(d);
        return r;
}

static int wait_device_ready(const char *device) {
        struct stat st;
        if (stat(device, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return 0;
        struct udev *udev = udev_new();
        if (!udev)
                return -ENOMEM;
        int r;
        uint64_t start = now_usec(), poked = 0;
        while ((r = udev_sees_file_system(udev, st.st_rdev)) == 0) {
                uint64_t now = now_usec();
                if (now - start >= DEVICE_READY_USEC) {
                        r = -ETIMEDOUT;
                        break;
                }
                if (now - start >= USEC_PER_SEC && now - poked >= 5 * USEC_PER_SEC) {
                        int fd = open(device, O_RDWR | O_CLOEXEC);
                        if (fd >= 0)
                                close(fd);
                        poked = now;
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 50000000 }, NULL);
        }
        udev_unref(udev);
        return r < 0 ? r : 0;
}

int fs_mount(const char *device, const char *where, FileSystem fs) {
        if (through_pid1) {
                char error[512];
                int r = wait_device_ready(device);
                if (r < 0)
                        return log_error_errno(r, "cannot mount %s at %s: udev has not seen its file system within "
                                               "%llu s, and systemd mounts only what udev calls ready", device, where,
                                               (unsigned long long) (DEVICE_READY_USEC / USEC_PER_SEC));
                r = pid1_mount(device, where, file_system_to_string(fs), "nodev,nosuid", error, sizeof(error));
                if (r < 0)
                        return log_error_errno(r, "cannot mount %s at %s through systemd: %s", device, where, error);
                /* Propagation has brought it here already; as in do_mount(). */
                if (chmod(where, 0711) < 0) {
                        r = -errno;
                        (void) pid1_unmount(where, error, sizeof(error));
                        return r;
                }
                return 0;
        }
        MountArgs a = { .device = device, .where = where, .type = file_system_to_string(fs) };
        return in_host_mount_namespace(do_mount, &a, NULL);
}

/* Whether `dev` is mounted at `where`, at any depth of what stands there. */
static int mounted_at(const char *where, dev_t dev) {
        _cleanup_fclose_ FILE *m = fopen("/proc/self/mountinfo", "re");
        if (!m)
                return -errno;
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        while (getline(&line, &n, m) > 0) {
                int id;
                dev_t d;
                bool propagates;
                char path[PATH_MAX];
                if (holders_parse_mountinfo_line(line, &id, &d, path, sizeof(path), &propagates) >= 0 && d == dev &&
                    streq(path, where))
                        return 1;
        }
        return 0;
}

int fs_unmount(const char *where, bool detach) {
        return fs_unmount_device(where, 0, detach);
}

/* Shuts down the file system of `dev` at `where` as our namespace shows
 * it, as do_unmount() does; what a user mounted over it is detached here,
 * in our own namespace only. */
static void shut_down_here(const char *where, dev_t dev) {
        for (int round = 0; round < 16; round++) {
                dev_t top;
                if (top_device(where, &top) < 0)
                        return;
                if (top != dev) {
                        if (umount2(where, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
                                return;
                        continue;
                }
                /* Opened without its file system's say (O_PATH), checked to be
                 * ours, and only then opened for the ioctl: a user who mounts
                 * FUSE over it in between cannot make us wait on it. */
                int path_fd = open(where, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct statx stx;
                if (path_fd < 0)
                        return;
                if (statx(path_fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0 &&
                    makedev(stx.stx_dev_major, stx.stx_dev_minor) == dev) {
                        char p[32];
                        fd_path(path_fd, p);
                        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd >= 0) {
                                uint32_t flags = FS_SHUTDOWN_NOLOGFLUSH;
                                (void) ioctl(fd, FS_SHUTDOWN_IOCTL, &flags);
                                close(fd);
                        }
                }
                close(path_fd);
                return;
        }
}

static int unmount_through_pid1(const char *where, dev_t dev, bool detach) {
        if (!detach) {
                shut_down_here(where, dev);
                /* The mount unit unmounts lazily (so that what the job
                 * mounted below goes with it), which no holder stops: so
                 * the holders are looked for first, and any that the scan
                 * names (an open file, a cwd) make it busy. One it cannot
                 * see keeps the mapping open after the unmount, and its
                 * removal fails: fenced, unnamed. */
                _cleanup_free_ Holder *h = NULL;
                size_t n = 0;
                int r = holders_find(dev, &h, &n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (h[i].why & (HOLDER_FILE | HOLDER_CWD | HOLDER_MAP))
                                return -EBUSY;
        }
        char error[512];
        int r = pid1_unmount(where, error, sizeof(error));
        /* Still there: not a mount unit of ours, whose stop is no lazy
         * unmount (mounted before systemd ran us: the initramfs, an older
         * scratchd), so what a job mounted below it kept it busy. PID 1
         * then runs umount --lazy, once for each mount on top. */
        for (int round = 0; round < 16 && mounted_at(where, dev) > 0; round++) {
                if (r < 0)
                        log_debug("%s: %s; unmounting it lazily", where, error);
                r = pid1_lazy_unmount(where, error, sizeof(error));
                if (r < 0)
                        break;
        }
        if (r < 0)
                return log_error_errno(r, "cannot unmount %s through systemd: %s", where, error);
        r = mounted_at(where, dev);
        if (r > 0) {
                log_error("%s is still mounted after systemd's unmount", where);
                return -EBUSY;
        }
        return r;
}

int fs_unmount_device(const char *where, dev_t dev, bool detach) {
        int r = dev ? mounted_at(where, dev) : fs_mounted_device(where, &dev);
        if (r <= 0)
                return r;
        if (through_pid1)
                return unmount_through_pid1(where, dev, detach);
        /* The host's mount table, where the job's submounts were made. */
        _cleanup_strv_free_ char **submounts = NULL;
        r = holders_submounts("/proc/1/mountinfo", where, &submounts);
        if (r < 0)
                return r;
        _cleanup_free_ char *copy = strdup(where);
        if (!copy)
                return -ENOMEM;
        MountArgs a = { .where = where, .detach = detach, .submounts = submounts, .parent = dirname(copy), .dev = dev };
        const char *failed_at = NULL;
        r = in_host_mount_namespace(do_unmount, &a, &failed_at);
        if (r < 0 && failed_at)
                log_warning_errno(r, "cannot unmount %s: %s: %m", where, failed_at);
        return r;
}

static int do_rmdir(const void *userdata) {
        const MountArgs *a = userdata;
        if (rmdir(a->where) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int fs_remove_mount_point(const char *where) {
        if (through_pid1) {
                /* On the tmpfs fs_prepare_mount_root() made, which propagation
                 * brought here writable (our / is read-only), or which was
                 * there before a restart of ours. */
                if (rmdir(where) == 0 || errno == ENOENT)
                        return 0;
                _cleanup_free_ char *copy = strdup(where);
                if (errno != EROFS || !copy || fs_writable_here(dirname(copy)) <= 0)
                        return -EROFS;
                return rmdir(where) < 0 && errno != ENOENT ? -errno : 0;
        }
        MountArgs a = { .where = where };
        return in_host_mount_namespace(do_rmdir, &a, NULL);
}

int fs_writable_here(const char *where) {
        struct statvfs sv;
        if (!through_pid1)
                return 0;
        if (statvfs(where, &sv) < 0)
                return -errno;
        if (!(sv.f_flag & ST_RDONLY))
                return 0;
        /* Its other flags as they are: a bind remount sets them all. */
        static const struct {
                unsigned long st, ms;
        } keep[] = {
                { ST_NOSUID, MS_NOSUID },     { ST_NODEV, MS_NODEV },         { ST_NOEXEC, MS_NOEXEC },
                { ST_NOATIME, MS_NOATIME },   { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
        };
        unsigned long flags = MS_REMOUNT | MS_BIND;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                if (sv.f_flag & keep[i].st)
                        flags |= keep[i].ms;
        if (mount(NULL, where, NULL, flags, NULL) < 0)
                return -errno;
        log_debug("%s: made writable in our own mount namespace (it was mounted before it was made)", where);
        return 1;
}

int fs_prepare_mount_root(const char *where) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        if (!through_pid1)
                return 0;
        pthread_mutex_lock(&lock);
        dev_t dev;
        _cleanup_strv_free_ char **below = NULL;
        int r = fs_mounted_device(where, &dev);
        if (r == 0)
                r = holders_submounts("/proc/self/mountinfo", where, &below);
        /* Volumes mounted below it already (an older scratchd mounted them
         * on the root file system): a tmpfs over them would hide them. */
        if (r == 0 && !below) {
                char error[512];
                r = pid1_mount("tmpfs", where, "tmpfs", "mode=0711,nodev,nosuid,noexec,size=1M", error, sizeof(error));
                if (r < 0)
                        log_error_errno(r, "cannot mount a tmpfs at %s through systemd: %s", where, error);
        }
        pthread_mutex_unlock(&lock);
        return r < 0 ? r : 0;
}

int fs_mounted_device(const char *where, dev_t *ret) {
        _cleanup_fclose_ FILE *m = fopen("/proc/self/mountinfo", "re");
        if (!m)
                return -errno;

        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        int found = 0;
        /* The last entry for a path is the one on top. */
        while (getline(&line, &n, m) > 0) {
                unsigned ma, mi;
                char path[PATH_MAX];
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, path) != 3)
                        continue;
                if (streq(path, where)) {
                        *ret = makedev(ma, mi);
                        found = 1;
                }
        }
        return found;
}

int fs_find_users(dev_t dev, char **ret) {
        _cleanup_free_ Holder *h = NULL;
        size_t n = 0;
        int r = holders_find(dev, &h, &n);
        if (r < 0)
                return r;
        *ret = NULL;
        if (n == 0)
                return 0;
        size_t size = n * 96 + 1;
        char *out = malloc(size);
        if (!out)
                return -ENOMEM;
        holders_format(h, n, out, size);
        *ret = out;
        return 0;
}

FileSystem fs_probe_type(const char *device, FileSystem fallback) {
        blkid_probe pr = blkid_new_probe_from_filename(device);
        if (!pr)
                return fallback;
        FileSystem fs = fallback;
        const char *type = NULL;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 && type) {
                FileSystem found = file_system_from_string(type);
                if (found >= 0)
                        fs = found;
        }
        blkid_free_probe(pr);
        return fs;
}
