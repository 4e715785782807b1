#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: the disk-safety matrix. A disk for each of GPT, MBR, ext4, xfs,
# btrfs, swap, LVM PV, md member, LUKS, mounted, and holding the root of the
# running system: each refused with the disk and the reason named and not
# one byte changed (sha256); each accepted only where Expendable=yes allows
# it, never when mounted, holding root, active swap or an active md member.
# And a blank disk too small for FileSystem=xfs: refused as such before
# anything is written, and taken with the FileSystem=ext4 the error proposes.
set -u
kinds="ext4 gpt swap lvm mounted blank expendable mbr xfs btrfs md luks root small"
if [ -z "${RESULT:-}" ]; then   # on the host: make the disks, boot the guest
        here=$(dirname "$(realpath "$0")")
        dir=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-disks.XXXXXX")
        trap 'rm -rf "$dir"' EXIT
        for d in $kinds; do truncate -s 320M "$dir/$d.img"; done
        truncate -s 256M "$dir/small.img"   # below the 300 MiB mkfs.xfs wants
        mkfs.ext4 -q -F "$dir/ext4.img" >/dev/null
        sgdisk -o -n 1:0:0 "$dir/gpt.img" >/dev/null
        mkswap "$dir/swap.img" >/dev/null 2>&1
        mkfs.ext4 -q -F "$dir/mounted.img" >/dev/null
        mkfs.ext4 -q -F "$dir/expendable.img" >/dev/null
        echo ',,83' | sfdisk -q "$dir/mbr.img" >/dev/null
        mkfs.xfs -q -f "$dir/xfs.img" >/dev/null
        mkfs.btrfs -q -f "$dir/btrfs.img" >/dev/null
        # A root: the top-level directories (and merged-/usr links) of this
        # system, to bind the running system's into.
        mkdir -p "$dir/rootdirs"
        for d in /*; do
                if [ -L "$d" ]; then cp -P "$d" "$dir/rootdirs/"; elif [ -d "$d" ]; then mkdir "$dir/rootdirs/${d#/}"; fi
        done
        mkfs.ext4 -q -F -d "$dir/rootdirs" "$dir/root.img" >/dev/null
        args=()
        for d in $kinds; do args+=(--disk "$dir/$d.img"); done
        exec "$here/uml.sh" "${args[@]}" "$0"
fi
. "$GUEST_LIB"

# ubda ext4, ubdb GPT, ubdc swap, ubdd LVM PV (made here), ubde ext4 mounted
# here, ubdf blank, ubdg ext4, ubdh MBR, ubdi xfs, ubdj btrfs, ubdk md member
# (made here), ubdl LUKS (made here), ubdm ext4 that becomes a root, ubdn
# blank and 256 MiB.
dev() { local i=0; for k in $kinds; do [ "$k" = "$1" ] && { printf '/dev/ubd%b' "\\x$(printf %x $((97 + i)))"; return; }; i=$((i + 1)); done; }
for m in md-mod raid1; do modprobe -d "$WORK/modroot" $m 2>/dev/null; done
pvcreate -q -y -ff "$(dev lvm)" > /dev/null 2>&1 || bail "pvcreate failed"
head -c 32 /dev/urandom > "$WORK/luks.key"
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$(dev luks)" "$WORK/luks.key" \
        > /dev/null 2>&1 || bail "luksFormat failed"
mdadm --create /dev/md0 --run --quiet --level=1 --raid-devices=2 --metadata=1.2 "$(dev md)" missing \
        > /dev/null 2>&1 || bail "mdadm --create failed"
mkdir -p "$WORK/data" && mount "$(dev mounted)" "$WORK/data" && echo precious > "$WORK/data/file" && sync \
        || bail "cannot mount the decoy"

# The fixtures must be what they claim, or a refusal proves nothing.
for f in ext4:ext4 gpt:gpt swap:swap lvm:LVM2_member mounted:ext4 expendable:ext4 mbr:dos xfs:xfs btrfs:btrfs \
         md:linux_raid_member luks:crypto_LUKS root:ext4; do
        d=$(dev "${f%%:*}")
        found=$(blkid -p -o value -s TYPE "$d" 2>/dev/null)
        [ -n "$found" ] || found=$(blkid -p -o value -s PTTYPE "$d" 2>/dev/null)
        [ "$found" = "${f#*:}" ] || bail "fixture $d holds '$found', not ${f#*:}"
done
check "the blank control disk has no signature" bash -c "! blkid -p $(dev blank) >/dev/null 2>&1"
check "the small disk has no signature" bash -c "! blkid -p $(dev small) >/dev/null 2>&1"

# refuse NAME DEVICE EXPECTED-WORDS [Key=Value]...
refuse() {
        local name=$1 dev=$2 words=$3; shift 3
        local before after rc
        local cf="$WORK/$name.conf"
        conf "$cf" "$dev" "$WORK/mnt-$name" "$@"
        # A mounted disk's checksum is taken by the caller, around the mount.
        [ -n "${NO_SUM:-}" ] || before=$(sum "$dev")
        ${RUN_IN:-} "$SCRATCHD" --config "$cf" setup 2> "$WORK/stderr"; rc=$?
        [ -n "${NO_SUM:-}" ] || after=$(sum "$dev")
        [ -z "${NO_SUM:-}" ] || before=same after=same
        note "$name: $(head -n1 "$WORK/stderr")"
        check "$name: setup exits 1" test "$rc" -eq 1
        check "$name: the error names $dev and says '$words'" \
                bash -c "grep -q -F '$dev' '$WORK/stderr' && grep -q -F '$words' '$WORK/stderr'"
        check "$name: the error is one line" test "$(wc -l < "$WORK/stderr")" -eq 1
        check "$name: not one byte changed (sha256)" test "$before" = "$after"
        check "$name: no mapping was made" bash -c "! dmsetup info scratchd-scratch >/dev/null 2>&1 && ! dmsetup info scratchd-scratch-data >/dev/null 2>&1"
}

# accept NAME DEVICE: with Expendable=yes, setup takes it and the old
# signature is gone; then the volume is taken down again.
accept() {
        local name=$1 dev=$2
        local cf="$WORK/$name-exp.conf"
        conf "$cf" "$dev" "$WORK/mnt-$name" FileSystem=ext4 Expendable=yes
        check "$name, Expendable=yes: setup exits 0" scratchd --config "$cf" setup
        check "$name, Expendable=yes: the warning says what is destroyed" grep -q "Expendable=yes, so it will be destroyed" "$WORK/stderr"
        umount "$WORK/mnt-$name" 2>/dev/null; dmsetup remove scratchd-scratch scratchd-scratch-data 2>/dev/null
        check "$name, Expendable=yes: no foreign signature left on the raw disk" bash -c "! blkid -p $dev >/dev/null 2>&1"
}

refuse ext4 "$(dev ext4)" "an ext4 filesystem"
refuse gpt "$(dev gpt)" "a GPT partition table"
refuse mbr "$(dev mbr)" "an MBR partition table"
refuse xfs "$(dev xfs)" "an XFS filesystem"
refuse btrfs "$(dev btrfs)" "a btrfs filesystem"
refuse swap "$(dev swap)" "a swap signature"
refuse lvm "$(dev lvm)" "an LVM physical volume"
refuse luks "$(dev luks)" "a LUKS header"
refuse md-active "$(dev md)" "is in use by md0 (md RAID)"
refuse md-active-expendable "$(dev md)" "is in use by md0 (md RAID)" Expendable=yes
mdadm --stop /dev/md0 > /dev/null 2>&1
refuse md "$(dev md)" "an md RAID member superblock"
refuse small "$(dev small)" "1 MiB header, is 255.0 MiB, below the 300.0 MiB that FileSystem=xfs needs; use FileSystem=ext4 or a larger disk" \
        FileSystem=xfs
refuse mounted "$(dev mounted)" "is mounted at $WORK/data"
refuse mounted-expendable "$(dev mounted)" "is mounted at $WORK/data" Expendable=yes
check "the mounted decoy's data is intact" grep -qx precious "$WORK/data/file"
swapon "$(dev swap)" 2>/dev/null || bail "swapon failed"
refuse swap-active-expendable "$(dev swap)" "is in use as swap" Expendable=yes
swapoff "$(dev swap)"

# Holding the root of the running system: scratchd runs in a root made of
# that disk (what the system it runs in has as "/"), with the rest bound in.
R=$WORK/newroot
root_before=$(sum "$(dev root)")
mkdir -p "$R" && mount -o ro,noload "$(dev root)" "$R" || bail "cannot mount the root disk"
bound=()
for d in /*; do
        [ -L "$d" ] && continue   # merged /usr: /bin, /lib... are links, made with the disk
        [ -d "$d" ] && [ "$d" != /lost+found ] || continue
        [ -d "$R$d" ] || bail "the root disk lacks $d"
        mount --bind "$d" "$R$d" && bound=("$R$d" "${bound[@]}")
done
NO_SUM=1 RUN_IN="chroot $R" refuse root "$(dev root)" "holds the root filesystem"
NO_SUM=1 RUN_IN="chroot $R" refuse root-expendable "$(dev root)" "holds the root filesystem" Expendable=yes
for m in "${bound[@]}"; do umount "$m" 2>/dev/null; done
umount "$R"
check "root: not one byte of the root disk changed (sha256 before mount, after unmount)" \
        test "$(sum "$(dev root)")" = "$root_before"

# The controls: the same checks pass a blank disk; Expendable=yes takes every
# signature kind once nothing uses the disk.
conf "$WORK/blank.conf" "$(dev blank)" "$WORK/mnt-blank" FileSystem=ext4
check "blank: setup exits 0" scratchd --config "$WORK/blank.conf" setup
check "blank: mounted" grep -q " $WORK/mnt-blank " /proc/self/mountinfo
umount "$WORK/mnt-blank"; dmsetup remove scratchd-scratch scratchd-scratch-data
conf "$WORK/small-ext4.conf" "$(dev small)" "$WORK/mnt-small" FileSystem=ext4
check "small, FileSystem=ext4 (as the refusal proposes): setup exits 0" scratchd --config "$WORK/small-ext4.conf" setup
check "small, FileSystem=ext4: mounted" grep -q " $WORK/mnt-small " /proc/self/mountinfo
umount "$WORK/mnt-small"; dmsetup remove scratchd-scratch scratchd-scratch-data
for k in expendable gpt mbr xfs btrfs swap lvm luks md; do accept "$k" "$(dev $k)"; done
exit 0
