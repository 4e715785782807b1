#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An initramfs built by mkinitramfs with the project's hook (from the .deb)
# boots the node image in User-Mode Linux; it leaves the scratch volume CLEAN
# and mounted before the root's services start, and the daemon adopts it.
set -u
here=$(dirname "$(realpath "$0")")
. "$here/image-lib.sh"
image_setup "$here/node-test-initramfs.sh"
work=$WORK
cat > "$ROOTFS/etc/scratchd/scratchd.conf" <<'CONF'
[Scratch]
Devices=/dev/ubda
MountPoint=/scratch
CONF

# What the real system sees first, before sysinit: the early-check unit.
cat > "$ROOTFS/usr/local/sbin/early-check" <<'SH'
#!/bin/sh
{
        echo "mount: $(findmnt -n -o SOURCE,OPTIONS /scratch)"
        grep -E '^(state|generation)=' /run/scratchd/scratch.state
        echo "table: $(dmsetup table scratchd-scratch)"
} > /results/early 2>&1
SH
chmod 0755 "$ROOTFS/usr/local/sbin/early-check"
cat > "$ROOTFS/etc/systemd/system/early-check.service" <<'UNIT'
[Unit]
Description=What the initramfs left, before any of the root's services
DefaultDependencies=no
Before=sysinit.target systemd-udevd.service local-fs-pre.target scratchd.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/early-check
[Install]
WantedBy=sysinit.target
UNIT
ln -sf /etc/systemd/system/early-check.service "$ROOTFS/etc/systemd/system/sysinit.target.wants/early-check.service"

# UML's root is a host directory (hostfs), which initramfs-tools cannot mount
# by itself: a test-only boot script does, running the local-* phases around
# it as initramfs-tools' "local" script would.
mkdir -p "$ROOTFS/etc/initramfs-tools/scripts"
cat > "$ROOTFS/etc/initramfs-tools/scripts/hostfs" <<'SH'
mountroot() {
        run_scripts /scripts/local-top
        run_scripts /scripts/local-premount
        mount -t hostfs -o "${ROOTFLAGS#-o }" none "${rootmnt}" || panic "cannot mount the hostfs root"
        run_scripts /scripts/local-bottom
}
SH

kver=$(basename "$UML_MODULES")
mkdir -p "$ROOTFS/boot"
linux.uml --showconfig > "$ROOTFS/boot/config-$kver" 2>/dev/null
chroot "$ROOTFS" mkinitramfs -o "/boot/initrd.img-$kver" "$kver" > "$work/mkinitramfs.log" 2>&1 \
        || { tail -n 20 "$work/mkinitramfs.log"; echo "not ok - mkinitramfs failed"; exit 1; }
if lsinitramfs "$ROOTFS/boot/initrd.img-$kver" 2>/dev/null | grep -q 'usr/sbin/scratchd$'; then
        echo "ok - mkinitramfs took scratchd into the initramfs (the project's hook)"
else
        echo "not ok - scratchd is not in the initramfs"; exit 1
fi

truncate -s 2G "$work/scratch.img"
IMAGE_CMDLINE="initrd=$ROOTFS/boot/initrd.img-$kver boot=hostfs rootflags=$ROOTFS" \
        image_boot "$work" "$work/scratch.img"
image_result "$work"
