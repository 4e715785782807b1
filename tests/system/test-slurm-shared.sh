#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Slurm (cons_tres) shares one node between jobs of two users, each
# with a scratch volume of its own from scratchd's shared pool, sized by the
# job's tmpdisk GRES (README, "Slurm: sharing a node"): two jobs run side by
# side, each sees only its own $SCRATCH; a third that the GRES left no room
# for waits in Slurm's queue (Resources), never refused by scratchd, and runs
# once one of the two ends; every prolog and epilog succeeds, the node never
# drains, and no job volume is left.
set -u
here=$(dirname "$(realpath "$0")")
. "$here/image-lib.sh"
image_setup "$here/node-test-slurm-shared.sh"
work=$WORK
install -m 0755 "$here/slurm-shared-job.sh" "$ROOTFS/usr/local/bin/slurm-shared-job"
# MaxJobs=4, JobSize= unset: a job without the GRES would get a quarter of
# the pool; the prolog passes the GRES's count instead.
cat > "$ROOTFS/etc/scratchd/scratchd.conf" <<'CONF'
[Scratch]
Devices=/dev/disk/by-id/ubd-SCRATCH*
MountPoint=/scratch
Mode=shared
MaxJobs=4
CONF
# Three CPUs, so that what holds the third job is the GRES, not a CPU (UML
# has one CPU: config_overrides makes slurmd take the configured three).
# tmpdisk in GiB: 2, the pool's size rounded down (the guest checks it).
# The scheduler runs every 5 s rather than 60; ended jobs stay listed for
# an hour, so that the guest can read their state at the end.
image_slurm "NodeName=node1 NodeAddr=127.0.0.1 CPUs=3 Gres=tmpdisk:2 State=UNKNOWN" \
        SelectType=select/cons_tres SelectTypeParameters=CR_CPU GresTypes=tmpdisk \
        SlurmdParameters=config_overrides SchedulerParameters=sched_interval=5 MinJobAge=3600
echo 'NodeName=node1 Name=tmpdisk Count=2 Flags=CountOnly' > "$ROOTFS/etc/slurm/gres.conf"

# 2.5 GiB, sparse: a pool of a little under that, room for two 1 GiB jobs
# and not for a third.
truncate -s 2560M "$work/scratch.img"
export IMAGE_TIMEOUT=700
IMAGE_CMDLINE="systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" \
        image_boot "$work" "$work/scratch.img,,SCRATCH0"
image_result "$work"
