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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/capability.h>
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

/* A child that holds `dir` by an open file or its cwd; `as`: of that uid
 * (and gid), not ours, where not 0; `name`: its process name, where not NULL. */
static pid_t child_in(const char *dir, bool open_file, uid_t as, const char *name) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                alarm(20);   /* gone by itself if the test fails before it kills it */
                if (as != 0 && (setresgid(as, as, as) < 0 || setresuid(as, as, as) < 0))
                        _exit(1);
                if (name && prctl(PR_SET_NAME, name) < 0)
                        _exit(1);
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

        pid_t by_cwd = child_in(dir, false, 0, NULL), by_file = child_in(dir, true, 0, NULL);
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

        /* The text of these two alone: what else holds /tmp (a busy test
         * machine's) could fill the text first. */
        Holder ours[2] = { *a, *b };
        char text[4096];
        holders_format(ours, 2, text, sizeof(text));
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

/* A holder that named itself with a tab and terminal escapes (ESC, and the
 * C1 byte CSI): named with '?' for each, in the holder and its text. */
static void test_find_named(void **state) {
        char dir[] = "/tmp/test-holders-dir-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        pid_t pid = child_in(dir, false, 0, "ev\033[2J\til\233");

        /* The control: the kernel kept the name as given. */
        char p[64], raw[32] = "";
        snprintf(p, sizeof(p), "/proc/%d/comm", (int) pid);
        FILE *f = fopen(p, "re");
        assert_non_null(f);
        assert_non_null(fgets(raw, sizeof(raw), f));
        fclose(f);
        assert_string_equal(raw, "ev\033[2J\til\233\n");

        Holder *h = NULL;
        size_t n = 0;
        assert_int_equal(holders_find(st.st_dev, &h, &n), 0);
        const Holder *a = find_pid(h, n, pid);
        assert_non_null(a);
        assert_string_equal(a->comm, "ev?[2J?il?");
        char text[4096];
        holders_format(a, 1, text, sizeof(text));
        for (const char *t = text; *t; t++)
                assert_false((unsigned char) *t < 0x20 || (unsigned char) *t >= 0x7f);
        free(h);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
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

/* scratchd-holders --listen on a socket of this test's, named to holders.c
 * through $SCRATCHD_HOLDERS_SOCKET; its pid into *ret_pid. */
static char helper_socket[64];

static pid_t start_helper(void) {
        const char *bin = getenv("SCRATCHD_HOLDERS_BIN");
        if (!bin || access(bin, X_OK) < 0)
                return -1;
        snprintf(helper_socket, sizeof(helper_socket), "/tmp/test-holders-%d.sock", (int) getpid());
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl(bin, bin, "--listen", helper_socket, (char *) NULL);
                _exit(127);
        }
        /* Listening once a connection is taken. */
        for (int i = 0; i < 500; i++) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                strcpy(sa.sun_path, helper_socket);
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
                close(fd);
                if (ok)
                        break;
                usleep(10000);
        }
        setenv("SCRATCHD_HOLDERS_SOCKET", helper_socket, 1);
        return pid;
}

static void stop_helper(pid_t pid) {
        unsetenv("SCRATCHD_HOLDERS_SOCKET");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        unlink(helper_socket);
}

/* Through the helper, as the daemon under systemd: the same holders found,
 * the job user's killed and named, a request it does not know refused. */
static void test_through_helper(void **state) {
        if (geteuid() != 0)
                skip();   /* kills another uid's process */
        pid_t helper = start_helper();
        if (helper < 0)
                skip();
        char dir[] = "/tmp/test-holders-dir-XXXXXX";
        assert_non_null(mkdtemp(dir));
        assert_int_equal(chmod(dir, 0755), 0);
        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        pid_t nobody = child_in(dir, false, 65534, NULL), root_child = child_in(dir, false, 0, NULL);

        Holder *h = NULL;
        size_t n = 0;
        assert_int_equal(holders_find(st.st_dev, &h, &n), 0);
        assert_non_null(find_pid(h, n, nobody));
        assert_int_equal(find_pid(h, n, nobody)->uid, 65534);
        assert_true(find_pid(h, n, nobody)->why & HOLDER_CWD);
        assert_non_null(find_pid(h, n, root_child));
        free(h);

        char killed[1024];
        holders_killed_reset();
        assert_int_equal(holders_kill(st.st_dev, 65534, 2000000, killed, sizeof(killed)), 1);
        char want[64];
        snprintf(want, sizeof(want), "%d (", (int) nobody);
        assert_non_null(strstr(killed, want));
        assert_non_null(strstr(holders_killed(), want));
        int status;
        assert_int_equal(waitpid(nobody, &status, 0), nobody);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Root's holder: never killed, still there. */
        assert_int_equal(kill(root_child, 0), 0);
        assert_int_equal(holders_kill(st.st_dev, 0, 100000, killed, sizeof(killed)), 0);
        assert_int_equal(kill(root_child, 0), 0);

        /* A request the helper does not know: refused, said so. */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, helper_socket);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(write(fd, "delete everything\n", 18), 18);
        shutdown(fd, SHUT_WR);
        char answer[64] = "";
        assert_true(read(fd, answer, sizeof(answer) - 1) > 0);
        assert_string_equal(answer, "end -22\n");
        close(fd);

        /* The control that these went through the helper: without it, its
         * socket left behind, the same call fails. */
        kill(helper, SIGKILL);
        waitpid(helper, NULL, 0);
        h = NULL;
        assert_int_equal(holders_find(st.st_dev, &h, &n), -ECONNREFUSED);
        kill(root_child, SIGKILL);
        waitpid(root_child, NULL, 0);
        stop_helper(helper);
        rmdir(dir);
}

/* A helper's socket that nobody answers on is an error, not a scan here
 * that might not see (and not "no holders"). No socket at all: here. */
static void test_helper_gone(void **state) {
        char path[] = "/tmp/test-holders-stale-XXXXXX";
        assert_non_null(mkdtemp(path));
        char sock[128];
        snprintf(sock, sizeof(sock), "%s/s", path);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);   /* the file stays; nothing listens */
        setenv("SCRATCHD_HOLDERS_SOCKET", sock, 1);
        Holder *h = NULL;
        size_t n = 0;
        assert_int_equal(holders_find(makedev(4095, 1048575), &h, &n), -ECONNREFUSED);
        char killed[64];
        assert_int_equal(holders_kill(makedev(4095, 1048575), 1000, 0, killed, sizeof(killed)), -ECONNREFUSED);
        unlink(sock);
        /* The control: no socket, the scan is made here, and answers. */
        assert_int_equal(holders_find(makedev(4095, 1048575), &h, &n), 0);
        free(h);
        unsetenv("SCRATCHD_HOLDERS_SOCKET");
        rmdir(path);
}

/* Root without CAP_SYS_PTRACE (scratchd's unit) cannot see other uids'
 * processes: the scan says so rather than find nobody. */
static void test_blind_scan_fails(void **state) {
        if (geteuid() != 0)
                skip();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct __user_cap_header_struct hd = { .version = _LINUX_CAPABILITY_VERSION_3 };
                struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
                Holder *h = NULL;
                size_t n = 0;
                /* The control first: with it, the scan runs. */
                if (holders_find_local(makedev(4095, 1048575), &h, &n) != 0)
                        _exit(2);
                free(h);
                if (syscall(SYS_capget, &hd, d) < 0)
                        _exit(3);
                d[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
                if (syscall(SYS_capset, &hd, d) < 0)
                        _exit(4);
                _exit(holders_find_local(makedev(4095, 1048575), &h, &n) == -EPERM ? 0 : 5);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_mountinfo_line),
                cmocka_unit_test(test_submounts),
                cmocka_unit_test(test_find_real),
                cmocka_unit_test(test_find_named),
                cmocka_unit_test(test_find_thread),
                cmocka_unit_test(test_through_helper),
                cmocka_unit_test(test_helper_gone),
                cmocka_unit_test(test_blind_scan_fails),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
