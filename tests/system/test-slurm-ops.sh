#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Slurm in the node image runs jobs through scratchd's contrib hooks
# while the node is operated on (node-test-slurm-ops.sh says how): a job
# queued while scratchd sets its volume up after boot, a restart of scratchd
# under a running job, a package upgrade (a newer build of the .deb) under
# one with the prolog called during it and the next job queued, and a
# reboot under one, whose epilog runs after it; then a job killed without
# its epilog, whose volume scratchd finds stale (JobCheck=slurm) and, once
# a reload sets ReleaseStale=yes, releases. Every prolog and epilog
# succeeds, running jobs keep their data, the node never drains.
set -u
start=$(date +%s)
here=$(dirname "$(realpath "$0")")
. "$here/image-lib.sh"
image_setup "$here/node-test-slurm-ops.sh"
work=$WORK
install -m 0755 "$here/slurm-ops-job.sh" "$ROOTFS/usr/local/bin/slurm-ops-job"
# JobCheck=slurm from the start: no job of the cases before the stale one
# may be found stale (each keeps its extern step's cgroup: PrologFlags=Contain).
cat > "$ROOTFS/etc/scratchd/scratchd.conf" <<'CONF'
[Scratch]
Devices=/dev/disk/by-id/ubd-SCRATCH*
MountPoint=/scratch
[Daemon]
JobCheck=slurm
StaleAfterSec=30
ReleaseStale=no
CONF

# The newer build the node upgrades to: the same package, its version bumped.
v=$(dpkg-deb -f "$ROOTFS/root/scratchd.deb" Version)
dpkg-deb -R "$ROOTFS/root/scratchd.deb" "$work/newdeb"
sed -i "s/^Version: .*/Version: $v+ops1/" "$work/newdeb/DEBIAN/control"
dpkg-deb -b "$work/newdeb" "$ROOTFS/root/scratchd-new.deb" > /dev/null \
        || { echo "not ok - cannot repack the .deb as $v+ops1"; exit 1; }
dpkg --compare-versions "$v+ops1" gt "$v" || { echo "not ok - $v+ops1 is not newer than $v"; exit 1; }

# Jobs' cgroups (cgroup v1, freezer): /sys/fs/cgroup/freezer/slurm/uid_UID/job_ID.
# slurmd logs each epilog's exit (debug) in a file that outlives the reboot.
# The scheduler runs every 5 s rather than 60. slurmd may be stopped for a
# few minutes (the stale case) without slurmctld calling the node down.
mkdir -p "$ROOTFS/var/log/slurm"
SLURMD_TIMEOUT=600 SLURM_PROCTRACK=proctrack/cgroup image_slurm "NodeName=node1 NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN" \
        SelectType=select/linear SlurmdDebug=debug SlurmdLogFile=/var/log/slurm/slurmd.log \
        SlurmctldLogFile=/var/log/slurm/slurmctld.log SchedulerParameters=sched_interval=5

# At the first boot job 1 is queued before scratchd starts setting its
# volume up, and waits all through it (node-test early: once slurmctld,
# on this node here, takes jobs).
unit() {  # unit NAME MODE [UNIT-LINE...]
        local name=$1 mode=$2; shift 2
        {
                echo "[Unit]"
                printf '%s\n' "$@"
                printf '[Service]\nType=oneshot\nExecStart=/usr/local/sbin/node-test %s\n' "$mode"
                printf 'StandardOutput=append:/results/guest.log\nStandardError=append:/results/guest.log\n'
                printf '[Install]\nWantedBy=multi-user.target\n'
        } > "$ROOTFS/etc/systemd/system/$name.service"
        ln -sf "/etc/systemd/system/$name.service" "$ROOTFS/etc/systemd/system/multi-user.target.wants/$name.service"
}
unit node-test-early early After=slurmctld.service Wants=slurmctld.service Before=scratchd.service \
        ConditionPathExists=!/results/phase

# Under hostfs every file the guest makes is the host's root's: munged,
# which wrote its log and seed as root's in the first boot, would refuse them
# in the second.
mkdir -p "$ROOTFS/etc/systemd/system/munge.service.d"
printf '[Service]\nExecStartPre=+/bin/chown -R munge:munge /var/log/munge /var/lib/munge\n' \
        > "$ROOTFS/etc/systemd/system/munge.service.d/50-hostfs.conf"
# The reboot: job 3's slurmstepd (slurmd's KillMode=process leaves it, as it
# should) ignores SIGTERM; systemd-shutdown kills it after 10 s, not 90.
mkdir -p "$ROOTFS/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=10s\n' > "$ROOTFS/etc/systemd/system.conf.d/50-test.conf"
# No udev-settle: scratchd may start before udev has made the disk's by-id
# link, and must wait for it (a volume "waiting for its disk", READY=1 held
# back) rather than have a prolog drain the node.

# 1 GiB: each job's epilog wipes it, and each boot.
truncate -s 1G "$work/scratch.img"
export IMAGE_TIMEOUT=900
IMAGE_CMDLINE="systemd.unified_cgroup_hierarchy=0 SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1" \
        image_boot "$work" "$work/scratch.img,,SCRATCH0"
image_result "$work"; rc=$?
if [ $rc -ne 0 ]; then
        for f in early.log node-states.log; do
                tail -n 20 "$ROOTFS/results/$f" 2>/dev/null | sed "s/^/# $f: /"
        done
        for f in slurmd.log slurmctld.log; do
                grep -v '^\[[^]]*\] debug' "$ROOTFS/var/log/slurm/$f" 2>/dev/null | tail -n 25 | sed "s/^/# $f: /"
        done
fi
echo "# wall time: $(($(date +%s) - start)) s"
exit $rc
