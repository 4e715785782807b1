/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JobCheck=slurm: a job's cgroup, found where slurmstepd makes it (cgroup
 * v2 and v1 layouts, built in a directory), gone when it is not there, and
 * "cannot see" rather than "gone" where no Slurm cgroup is to be seen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include "scratchd/jobcheck.h"

static void mkdirs(const char *root, const char *rel) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *p = strchr(path + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
                *p = 0;
                assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
                *p = '/';
        }
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put(const char *root, const char *rel, const char *text) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void test_v2(void **state) {
        TempDir *t = *state;
        char why[256];
        mkdirs(t->path, "system.slice/slurmstepd.scope/job_17/step_extern");
        put(t->path, "system.slice/slurmstepd.scope/job_17/cgroup.events", "populated 1\nfrozen 0\n");
        assert_int_equal(jobcheck_slurm(t->path, "17", -1, why, sizeof(why)), 1);
        /* Its processes gone, the cgroup not yet removed: gone. */
        put(t->path, "system.slice/slurmstepd.scope/job_17/cgroup.events", "populated 0\nfrozen 0\n");
        assert_int_equal(jobcheck_slurm(t->path, "17", -1, why, sizeof(why)), 0);
        put(t->path, "system.slice/slurmstepd.scope/job_17/cgroup.events", "populated 1\nfrozen 0\n");
        assert_int_equal(jobcheck_slurm(t->path, "18", -1, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "job 18 has no cgroup"));
        /* Several slurmd on a node: NODENAME_slurmstepd.scope. */
        mkdirs(t->path, "system.slice/node2_slurmstepd.scope/job_19");
        put(t->path, "system.slice/node2_slurmstepd.scope/job_19/cgroup.events", "populated 1\n");
        assert_int_equal(jobcheck_slurm(t->path, "19", -1, why, sizeof(why)), 1);
        assert_int_equal(jobcheck_slurm_visible(t->path, why, sizeof(why)), 0);
}

static void test_v1(void **state) {
        TempDir *t = *state;
        char why[256];
        /* Only memory has the job (task/cgroup without proctrack/cgroup), a
         * node-named slurm directory (slurm_%n). */
        mkdirs(t->path, "freezer/slurm_node1");
        mkdirs(t->path, "memory/slurm_node1/uid_2001/job_42/step_0");
        mkdirs(t->path, "cpuset");
        /* Only a step's cgroup has the processes. */
        put(t->path, "memory/slurm_node1/uid_2001/job_42/cgroup.procs", "");
        put(t->path, "memory/slurm_node1/uid_2001/job_42/step_0/cgroup.procs", "4242\n");
        assert_int_equal(jobcheck_slurm(t->path, "42", -1, why, sizeof(why)), 1);
        assert_int_equal(jobcheck_slurm(t->path, "42", 2001, why, sizeof(why)), 1);
        /* Another user's job 42 is not this one. */
        assert_int_equal(jobcheck_slurm(t->path, "42", 2002, why, sizeof(why)), 0);
        assert_int_equal(jobcheck_slurm(t->path, "43", -1, why, sizeof(why)), 0);
        /* A slurmstepd killed with SIGKILL leaves its empty cgroups: gone. */
        put(t->path, "memory/slurm_node1/uid_2001/job_42/step_0/cgroup.procs", "");
        assert_int_equal(jobcheck_slurm(t->path, "42", -1, why, sizeof(why)), 0);
        assert_non_null(strstr(why, "no cgroup with a process in it"));
}

static void test_cannot_see(void **state) {
        TempDir *t = *state;
        char why[256];
        /* A cgroup root without Slurm in it: not "gone". */
        mkdirs(t->path, "system.slice/ssh.service");
        mkdirs(t->path, "freezer");
        assert_int_equal(jobcheck_slurm(t->path, "42", -1, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "proctrack/cgroup"));
        char missing[128];
        snprintf(missing, sizeof(missing), "%s/nothing-here", t->path);
        assert_int_equal(jobcheck_slurm(missing, "42", -1, why, sizeof(why)), -ENOENT);
        assert_int_equal(jobcheck_slurm_visible(missing, why, sizeof(why)), -ENOENT);
        /* Not a Slurm job id: no cgroup could say. */
        mkdirs(t->path, "system.slice/slurmstepd.scope");
        assert_int_equal(jobcheck_slurm(t->path, "my-test-job", -1, why, sizeof(why)), -EINVAL);
        assert_int_equal(jobcheck_slurm(t->path, "../../x", -1, why, sizeof(why)), -EINVAL);
        assert_int_equal(jobcheck_slurm(t->path, "", -1, why, sizeof(why)), -EINVAL);
        /* Not as Slurm writes ids: never called gone (job_123 would not match "0123"). */
        assert_int_equal(jobcheck_slurm(t->path, "0123", -1, why, sizeof(why)), -EINVAL);
        assert_int_equal(jobcheck_slurm(t->path, "4294967296", -1, why, sizeof(why)), -EINVAL);
        assert_int_equal(jobcheck_slurm(t->path, "4294967295", -1, why, sizeof(why)), 0);
}

/* A directory that cannot be read proves nothing (as root, permissions do
 * not stop a read: skipped there). */
static void test_unreadable(void **state) {
        TempDir *t = *state;
        char why[256], dir[128];
        if (geteuid() == 0)
                skip();
        mkdirs(t->path, "memory/slurm/uid_1/job_5");
        snprintf(dir, sizeof(dir), "%s/memory/slurm", t->path);
        assert_int_equal(chmod(dir, 0), 0);
        assert_true(jobcheck_slurm(t->path, "6", -1, why, sizeof(why)) < 0);
        assert_non_null(strstr(why, "cannot read"));
        assert_int_equal(chmod(dir, 0755), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_v2, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_v1, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_cannot_see, setup_tempdir, teardown_tempdir),
                cmocka_unit_test_setup_teardown(test_unreadable, setup_tempdir, teardown_tempdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
