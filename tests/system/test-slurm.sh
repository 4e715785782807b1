#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Slurm in the node image (slurmctld, slurmd and munge, on loopback)
# runs three jobs of two users in a row through scratchd's contrib hooks:
# each job finds $SCRATCH on an encrypted, empty, mounted volume that it
# owns; each epilog bumps the key generation; no job finds the marker of the
# job before it. A wipe made to fail fails the epilog and drains the node
# with a reason naming scratchd.
set -u
here=$(dirname "$(realpath "$0")")
. "$here/image-lib.sh"
image_setup "$here/node-test-slurm.sh"
work=$WORK
install -m 0755 "$here/slurm-job.sh" "$ROOTFS/usr/local/bin/slurm-job"
cat > "$ROOTFS/etc/scratchd/scratchd.conf" <<'CONF'
[Scratch]
Devices=/dev/disk/by-id/ubd-SCRATCH*
MountPoint=/scratch
CONF
image_slurm "NodeName=node1 NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN" SelectType=select/linear

# 1 GiB: every job scans the whole raw disk and the whole volume, twice the
# time on 2 GiB; and half the node's time limit, with room to spare.
truncate -s 1G "$work/scratch.img"
export IMAGE_TIMEOUT=600
IMAGE_CMDLINE="systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" \
        image_boot "$work" "$work/scratch.img,,SCRATCH0"
image_result "$work"
