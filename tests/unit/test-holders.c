/* SPDX-License-Identifier: GPL-2.0-or-later */
/* holders.c: mountinfo lines, submounts deepest first, and the real /proc
 * scan against children of this test that hold a directory by their cwd
 * or an open file (and a device no one holds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scratchd/holders.h"
#include "scratchd/util.h"

static void test_parse_mountinfo_line(void **state) {
        int id;
        dev_t dev;
        bool propagates;
        char mp[256];

        assert_int_equal(holders_parse_mountinfo_line("36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 "
                                                      "/dev/root rw,errors=continue\n",
                                                      &id, &dev, mp, sizeof(mp), &propagates),
                         0);
        assert_int_equal(id, 36);
        assert_int_equal(major(dev), 98);
        assert_int_equal(minor(dev), 0);
        assert_string_equal(mp, "/mnt/a b");
        assert_true(propagates);

        /* No tags: a private copy (unshare -m). */
        assert_int_equal(holders_parse_mountinfo_line("512 400 254:3 / /scratch rw,nodev - xfs /dev/mapper/x rw\n",
                                                      &id, &dev, mp, sizeof(mp), &propagates),
                         0);
        assert_false(propagates);
        assert_string_equal(mp, "/scratch");

        assert_int_equal(holders_parse_mountinfo_line("36 35 98:0 /mnt1 /mnt2 rw shared:7 master:2 - ext3 x rw",
                                                      &id, &dev, mp, sizeof(mp), &propagates),
                         0);
        assert_true(propagates);

        assert_int_equal(holders_parse_mountinfo_line("garbage\n", &id, &dev, mp, sizeof(mp), &propagates),
                         -EINVAL);
        assert_int_equal(holders_parse_mountinfo_line("36 35 98:0 / /mnt rw shared:7", &id, &dev, mp, sizeof(mp),
                                                      &propagates),
                         -EINVAL);   /* no separator */
        assert_int_equal(holders_parse_mountinfo_line("36 35 98:0 / /a-long-path rw - x y z", &id, &dev, mp, 4,
                                                      &propagates),
                         -ENAMETOOLONG);
}

static void test_submounts(void **state) {
        char path[] = "/tmp/test-holders-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        static const char table[] =
                "20 1 0:5 / / rw - ext4 /dev/root rw\n"
                "30 20 254:1 / /scratch rw - xfs /dev/mapper/s rw\n"
                "31 30 0:40 / /scratch/101/fuse rw,nosuid - fuse.squashfuse squashfuse rw\n"
                "32 31 0:41 / /scratch/101/fuse/deeper/still rw - tmpfs tmpfs rw\n"
                "33 30 0:42 / /scratch/102/bind rw - tmpfs tmpfs rw\n"
                "34 20 0:43 / /scratch-other rw - tmpfs tmpfs rw\n"
                "35 20 0:44 / /scratchy/x rw - tmpfs tmpfs rw\n";
        assert_int_equal(write(fd, table, sizeof(table) - 1), (ssize_t) (sizeof(table) - 1));
        close(fd);

        char **subs = NULL;
        assert_int_equal(holders_submounts(path, "/scratch", &subs), 0);
        assert_int_equal(strv_length(subs), 3);
        assert_string_equal(subs[0], "/scratch/101/fuse/deeper/still");
        /* Then the shallower ones, each after what is below it. */
        assert_true(strv_contains(subs, "/scratch/101/fuse"));
        assert_true(strv_contains(subs, "/scratch/102/bind"));
        assert_false(strv_contains(subs, "/scratch"));
        assert_false(strv_contains(subs, "/scratch-other"));
        strv_free(subs);

        subs = NULL;
        assert_int_equal(holders_submounts(path, "/nothing-here", &subs), 0);
        assert_int_equal(strv_length(subs), 0);
        strv_free(subs);
        unlink(path);

        assert_int_equal(holders_submounts("/nonexistent/mountinfo", "/scratch", &subs), -ENOENT);
}

static pid_t child_in(const char *dir, bool open_file) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                alarm(20);   /* gone by itself if the test fails before it kills it */
                if (open_file) {
                        char p[4096];
                        snprintf(p, sizeof(p), "%s/held", dir);
                        if (open(p, O_RDWR | O_CREAT, 0600) < 0)
                                _exit(1);
                        if (chdir("/") < 0)
                                _exit(1);
                } else if (chdir(dir) < 0)
                        _exit(1);
                if (write(ready[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        char c;
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        return pid;
}

/* A process whose main thread is at / while another thread, with a cwd of
 * its own (unshare(CLONE_FS)), is in `dir`. */
static int thread_ready[2];
static void *thread_in(void *dir) {
        if (unshare(CLONE_FS) < 0 || chdir(dir) < 0 || write(thread_ready[1], "x", 1) != 1)
                _exit(1);
        for (;;)
                pause();
        return NULL;
}

static pid_t child_thread_in(const char *dir) {
        assert_int_equal(pipe(thread_ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                pthread_t t;
                alarm(20);   /* gone by itself if the test fails before it kills it */
                if (chdir("/") < 0 || pthread_create(&t, NULL, thread_in, (void *) dir) != 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        char c;
        close(thread_ready[1]);
        assert_int_equal(read(thread_ready[0], &c, 1), 1);
        close(thread_ready[0]);
        return pid;
}

static const Holder *find_pid(const Holder *h, size_t n, pid_t pid) {
        for (size_t i = 0; i < n; i++)
                if (h[i].pid == pid)
                        return &h[i];
        return NULL;
}

static void test_find_real(void **state) {
        char dir[] = "/tmp/test-holders-dir-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);

        pid_t by_cwd = child_in(dir, false), by_file = child_in(dir, true);
        Holder *h = NULL;
        size_t n = 0;
        assert_int_equal(holders_find(st.st_dev, &h, &n), 0);
        const Holder *a = find_pid(h, n, by_cwd), *b = find_pid(h, n, by_file);
        assert_non_null(a);
        assert_true(a->why & HOLDER_CWD);
        assert_int_equal(a->uid, getuid());
        assert_non_null(b);
        assert_true(b->why & HOLDER_FILE);
        assert_null(find_pid(h, n, getpid()));   /* never itself */

        char text[4096];
        holders_format(h, n, text, sizeof(text));
        char want[64];
        snprintf(want, sizeof(want), "%d (", (int) by_cwd);
        assert_non_null(strstr(text, want));
        free(h);

        /* A device no process holds: none, and no error. */
        h = NULL;
        assert_int_equal(holders_find(makedev(4095, 1048575), &h, &n), 0);
        assert_int_equal(n, 0);
        free(h);

        kill(by_cwd, SIGKILL);
        kill(by_file, SIGKILL);
        waitpid(by_cwd, NULL, 0);
        waitpid(by_file, NULL, 0);
        char held[4200];
        snprintf(held, sizeof(held), "%s/held", dir);
        unlink(held);
        rmdir(dir);
}

/* A thread with a cwd of its own in a file system that the process's own
 * cwd is not in (a tmpfs at /dev/shm, the process at /). */
static void test_find_thread(void **state) {
        char dir[] = "/dev/shm/test-holders-XXXXXX";
        struct statfs sf;
        if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC || !mkdtemp(dir))
                skip();
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        pid_t pid = child_thread_in(dir);
        char link[PATH_MAX] = "", cwd[64];
        snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", (int) pid);
        assert_true(readlink(cwd, link, sizeof(link) - 1) > 0);
        assert_string_equal(link, "/");   /* the control: the process's own cwd is elsewhere */
        Holder *h = NULL;
        size_t n = 0;
        assert_int_equal(holders_find(st.st_dev, &h, &n), 0);
        const Holder *t = find_pid(h, n, pid);
        assert_non_null(t);
        assert_true(t->why & HOLDER_CWD);
        free(h);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_mountinfo_line),
                cmocka_unit_test(test_submounts),
                cmocka_unit_test(test_find_real),
                cmocka_unit_test(test_find_thread),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
