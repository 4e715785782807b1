/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Whether a job still runs on this node, read locally (JobCheck=slurm): no
 * call to the scheduler, which may be slow or down, and whose view of the
 * node may lag the node's own.
 *
 * Slurm: slurmstepd keeps a cgroup per job while any of its steps runs (with
 * PrologFlags=Contain, the extern step, for the job's whole life on the
 * node), and removes it when the job ends:
 *   cgroup v2: ROOT/system.slice/[NODENAME_]slurmstepd.scope/job_ID
 *   cgroup v1: ROOT/CONTROLLER/slurm[_NODENAME]/uid_UID/job_ID
 * (`uid` the job's user, or -1 for any). Only with PrologFlags=Contain does
 * a job keep a cgroup between its steps (and on the nodes where no step
 * runs yet): the stale check needs it.
 * A job counts as running while its cgroup holds a process (a slurmstepd
 * killed with SIGKILL leaves the empty cgroup behind, with cgroup v1).
 * A job's cgroup can only be "not there" where the place it would be is:
 * the scope (v2) or a controller's slurm directory (v1). Where neither is,
 * this check cannot see (proctrack/cgroup off, another cgroup root) and says
 * so rather than call every job gone.
 *
 * Returns 1 (the job's cgroup is there, with a process), 0 (it is not, or is
 * empty, where it would be),
 * or a negative errno with `why` saying what could not be seen. */
int jobcheck_slurm(const char *cgroup_root, const char *job, int64_t uid, char *why, size_t size);

/* Whether Slurm's job cgroups can be seen at all (the positive control,
 * with no job to look for): 0, or a negative errno with `why`. */
int jobcheck_slurm_visible(const char *cgroup_root, char *why, size_t size);

#define CGROUP_ROOT "/sys/fs/cgroup"
