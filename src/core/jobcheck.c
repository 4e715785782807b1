/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether a job still runs on this node: Slurm's job cgroups. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
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

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

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
 * not be read (which proves nothing). */
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
                found = populated(g.gl_pathv[i], 3);
        globfree(&g);
        return found;
}

/* A Slurm job id: digits (a heterogeneous job's component and an array
 * task have ids of their own, which are their cgroups'). */
static bool slurm_job_id(const char *job) {
        if (!*job || strlen(job) > 20)
                return false;
        for (const char *c = job; *c; c++)
                if (!isdigit((unsigned char) *c))
                        return false;
        return true;
}

int jobcheck_slurm(const char *cgroup_root, const char *job, char *why, size_t size) {
        char path[PATH_MAX];
        bool seen = false;

        if (!slurm_job_id(job)) {
                snprintf(why, size, "job %s: not a Slurm job id, so no cgroup of Slurm's can tell whether it runs", job);
                return -EINVAL;
        }

        /* cgroup v2: the scope slurmd makes at its start holds every job. */
        snprintf(path, sizeof(path), "%s/system.slice/slurmstepd.scope", cgroup_root);
        if (is_dir(path)) {
                seen = true;
                snprintf(path, sizeof(path), "%s/system.slice/slurmstepd.scope/job_%s", cgroup_root, job);
                int r = is_dir(path) ? populated(path, 3) : 0;
                if (r < 0) {
                        snprintf(why, size, "cannot read %s: %s", path, strerror(-r));
                        return r;
                }
                if (r > 0)
                        return 1;
        }

        /* cgroup v1: each controller's slurm (or slurm_NODENAME) directory. */
        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                snprintf(path, sizeof(path), "%s/%s/slurm*", cgroup_root, v1_controllers[i]);
                int r = glob_dir(path, false);
                if (r < 0) {
                        snprintf(why, size, "cannot read %s: %s", path, strerror(-r));
                        return r;
                }
                if (r == 0)
                        continue;
                seen = true;
                snprintf(path, sizeof(path), "%s/%s/slurm*/uid_*/job_%s", cgroup_root, v1_controllers[i], job);
                r = glob_dir(path, true);
                if (r < 0) {
                        snprintf(why, size, "cannot read %s: %s", path, strerror(-r));
                        return r;
                }
                if (r > 0)
                        return 1;
        }

        if (!seen) {
                snprintf(why, size, "no Slurm job cgroups under %s (system.slice/slurmstepd.scope, or "
                         "CONTROLLER/slurm*): is ProctrackType=proctrack/cgroup set?", cgroup_root);
                return -ENOENT;
        }
        snprintf(why, size, "job %s has no cgroup with a process in it under %s: it no longer runs here", job,
                 cgroup_root);
        return 0;
}
