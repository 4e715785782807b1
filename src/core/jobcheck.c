/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether a job still runs on this node: Slurm's job cgroups. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include "scratchd/jobcheck.h"
#include "scratchd/util.h"

/* The cgroup v1 controllers slurmstepd makes job cgroups in, whichever of
 * proctrack/cgroup (freezer), task/cgroup (cpuset, memory, devices) and
 * jobacct_gather/cgroup (cpuacct, memory) are in use. */
static const char *const v1_controllers[] = { "freezer", "memory", "cpuset", "devices", "cpuacct", "pids" };

/* cgroup v2's word: 1 or 0; -ENOENT where there is no cgroup.events (v1). */
static int events_populated(const char *path) {
        char file[PATH_MAX], line[64];
        snprintf(file, sizeof(file), "%s/cgroup.events", path);
        FILE *f = fopen(file, "re");
        if (!f)
                return -errno;
        int r = -EIO;
        while (r == -EIO && fgets(line, sizeof(line), f))
                if (startswith(line, "populated "))
                        r = line[10] == '1';
        fclose(f);
        return r;
}

/* Whether a cgroup's own cgroup.procs lists a process: 1, 0, or -errno; a
 * cgroup removed meanwhile has none. */
static int procs_listed(const char *path) {
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s/cgroup.procs", path);
        FILE *f = fopen(file, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        int r = fgetc(f) != EOF ? 1 : ferror(f) ? -EIO : 0;
        fclose(f);
        return r;
}

/* Whether the cgroup at `path` (a job's) or one below it holds a process:
 * 1, 0, or -errno. A slurmstepd killed with SIGKILL leaves its job's empty
 * cgroup behind, so a directory that is there proves nothing by itself.
 * cgroup v2 says so in cgroup.events; v1 has cgroup.procs in each (steps and
 * tasks below the job: a depth of three is Slurm's). */
static int populated(const char *path, unsigned depth) {
        int r = events_populated(path);
        if (r != -ENOENT)
                return r;
        r = procs_listed(path);
        if (r != 0)
                return r;
        if (depth == 0)
                return 0;
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        for (struct dirent *e; (e = readdir(d));) {
                char sub[PATH_MAX];
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                r = populated(sub, depth - 1);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* The first error glob() met that is not "no such directory" (a controller
 * not mounted, a job's directory gone): that one proves nothing. The loop
 * that calls this is the only one. */
static __thread int glob_error;

static int on_glob_error(const char *path, int error) {
        if (error == ENOENT || error == ENOTDIR)
                return 0;
        glob_error = error;
        return 1;
}

/* Whether `pattern` matches a directory (with `live`: one that holds a
 * process, populated()): 1, 0, or -errno when a directory on the way could
 * not be read (which proves nothing). A job's own subtree that cannot be
 * read counts as running: its user may own some of it, and "cannot tell"
 * must never erase a job's data. */
static int glob_dir(const char *pattern, bool live) {
        glob_t g = {};
        glob_error = 0;
        int r = glob(pattern, GLOB_ONLYDIR | GLOB_NOSORT, on_glob_error, &g);
        if (r == GLOB_NOMATCH) {
                globfree(&g);
                return 0;
        }
        if (r != 0) {
                globfree(&g);
                return r == GLOB_NOSPACE ? -ENOMEM : -(glob_error ?: EIO);
        }
        int found = live ? 0 : 1;
        for (size_t i = 0; live && i < g.gl_pathc && found == 0; i++)
                found = populated(g.gl_pathv[i], 3) != 0;
        globfree(&g);
        return found;
}

/* A Slurm job id as Slurm writes it: a uint32 in decimal, no leading zero
 * (a heterogeneous job's component and an array task have ids of their
 * own, which are their cgroups'). "0123" would name no cgroup ever: not
 * taken, rather than called gone. */
static bool slurm_job_id(const char *job) {
        size_t n = strlen(job);
        if (n == 0 || n > 10 || job[0] == '0')
                return false;
        for (const char *c = job; *c; c++)
                if (!isdigit((unsigned char) *c))
                        return false;
        return strtoull(job, NULL, 10) <= UINT32_MAX;
}

/* Where Slurm's job cgroups would be, as glob patterns: cgroup v2's scope
 * (slurmstepd.scope, or NODENAME_slurmstepd.scope with several slurmd on a
 * node), then each v1 controller's slurm (or slurm_NODENAME) directory. */
static int roots(const char *cgroup_root, char (*ret)[PATH_MAX], size_t n) {
        size_t k = 0;
        snprintf(ret[k++], PATH_MAX, "%s/system.slice/*slurmstepd.scope", cgroup_root);
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers) && k < n; i++)
                snprintf(ret[k++], PATH_MAX, "%s/%s/slurm*", cgroup_root, v1_controllers[i]);
        return (int) k;
}

#define N_ROOTS (1 + ELEMENTSOF(v1_controllers))

/* glob_dir(), with what it could not read said in `why`. */
static int glob_dir_why(const char *pattern, bool live, char *why, size_t size) {
        int r = glob_dir(pattern, live);
        if (r < 0)
                snprintf(why, size, "cannot read %s: %s", pattern, strerror(-r));
        return r;
}

static int blind(const char *cgroup_root, char *why, size_t size) {
        snprintf(why, size, "no Slurm job cgroups under %s (system.slice/*slurmstepd.scope, or CONTROLLER/slurm*): "
                 "they need ProctrackType=proctrack/cgroup and a running slurmd", cgroup_root);
        return -ENOENT;
}

int jobcheck_slurm_visible(const char *cgroup_root, char *why, size_t size) {
        char patterns[N_ROOTS][PATH_MAX];
        int n = roots(cgroup_root, patterns, N_ROOTS);
        for (int i = 0; i < n; i++) {
                int r = glob_dir_why(patterns[i], false, why, size);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return blind(cgroup_root, why, size);
}

int jobcheck_slurm(const char *cgroup_root, const char *job, int64_t uid, char *why, size_t size) {
        char patterns[N_ROOTS][PATH_MAX], path[PATH_MAX + 64], user[32];
        bool seen = false;

        if (!slurm_job_id(job)) {
                snprintf(why, size, "job %s: not a Slurm job id, so no cgroup of Slurm's can tell whether it runs", job);
                return -EINVAL;
        }
        /* v1 puts the job below its user's cgroup: that user's, when known. */
        if (uid >= 0)
                snprintf(user, sizeof(user), "uid_%" PRId64, uid);
        else
                snprintf(user, sizeof(user), "uid_*");

        int n = roots(cgroup_root, patterns, N_ROOTS);
        for (int i = 0; i < n; i++) {
                int r = glob_dir_why(patterns[i], false, why, size);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                seen = true;
                if (i == 0)
                        snprintf(path, sizeof(path), "%s/job_%s", patterns[i], job);
                else
                        snprintf(path, sizeof(path), "%s/%s/job_%s", patterns[i], user, job);
                r = glob_dir_why(path, true, why, size);
                if (r != 0)
                        return r;
        }
        if (!seen)
                return blind(cgroup_root, why, size);
        snprintf(why, size, "job %s has no cgroup with a process in it under %s: it no longer runs here", job,
                 cgroup_root);
        return 0;
}
