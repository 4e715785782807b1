#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A Debian 12 node image with scratchd's .deb installed, booted in User-Mode
# Linux with systemd as PID 1 and two disks: a blank scratch disk and a decoy
# holding an ext4 filesystem with data. scratchd comes up through systemd and
# makes the scratch disk CLEAN; the decoy is untouched.
set -u
here=$(dirname "$(realpath "$0")")
. "$here/image-lib.sh"
image_setup "$here/node-test-boot.sh"
work=$WORK
cat > "$ROOTFS/etc/scratchd/scratchd.conf" <<'CONF'
[Scratch]
Devices=/dev/disk/by-id/ubd-SCRATCH*
MountPoint=/scratch
CONF

truncate -s 2G "$work/scratch.img"
truncate -s 256M "$work/decoy.img"
mkfs.ext4 -q -F "$work/decoy.img"
debugfs -w -R "write /etc/os-release precious" "$work/decoy.img" > /dev/null 2>&1
decoy_before=$(sha256sum < "$work/decoy.img")

image_boot "$work" "$work/scratch.img,,SCRATCH0" "$work/decoy.img,,DECOY0"
image_result "$work"; rc=$?
if [ "$(sha256sum < "$work/decoy.img")" = "$decoy_before" ]; then
        echo "ok - the decoy disk is byte for byte unchanged (sha256)"
else
        echo "not ok - the decoy disk changed"; rc=1
fi
exit $rc
