#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: every disk scratchd was not told it may destroy is refused, with the
# disk and what was found named, and not one byte of it changes. In use
# (mounted, active swap) is refused even with Expendable=yes.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: make the disks, boot the guest
        here=$(dirname "$(realpath "$0")")
        dir=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-disks.XXXXXX")
        trap 'rm -rf "$dir"' EXIT
        for d in ext4 gpt swap lvm mounted blank expendable; do truncate -s 320M "$dir/$d.img"; done
        mkfs.ext4 -q -F "$dir/ext4.img" >/dev/null
        sgdisk -o -n 1:0:0 "$dir/gpt.img" >/dev/null
        mkswap "$dir/swap.img" >/dev/null 2>&1
        mkfs.ext4 -q -F "$dir/mounted.img" >/dev/null
        mkfs.ext4 -q -F "$dir/expendable.img" >/dev/null
        args=()
        for d in ext4 gpt swap lvm mounted blank expendable; do args+=(--disk "$dir/$d.img"); done
        "$here/uml.sh" "${args[@]}" "$0"
        exit $?
fi
. "$GUEST_LIB"

# ubda ext4, ubdb GPT, ubdc swap, ubdd LVM PV (made here), ubde ext4 mounted
# here, ubdf blank (the control: accepted), ubdg ext4 (accepted: Expendable=yes)
pvcreate -q -y -ff /dev/ubdd > /dev/null 2>&1 || bail "pvcreate failed"
mkdir -p "$WORK/data" && mount /dev/ubde "$WORK/data" && echo precious > "$WORK/data/file" && sync \
        || bail "cannot mount the decoy"

# The fixtures must be what they claim, or a refusal test proves nothing.
for f in ubda:ext4 ubdb:gpt ubdc:swap ubdd:LVM2_member ubde:ext4 ubdg:ext4; do
        found=$(blkid -p -o value -s TYPE /dev/${f%%:*} 2>/dev/null || blkid -p -o value -s PTTYPE /dev/${f%%:*})
        [ -z "$found" ] && found=$(blkid -p -o value -s PTTYPE /dev/${f%%:*})
        [ "$found" = "${f#*:}" ] || bail "fixture /dev/${f%%:*} holds '$found', not ${f#*:}"
done
check "the blank control disk has no signature" bash -c "! blkid -p /dev/ubdf >/dev/null 2>&1"

# refuse NAME DEVICE EXPECTED-WORDS [Key=Value]...
refuse() {
        local name=$1 dev=$2 words=$3; shift 3
        local before after cf="$WORK/$name.conf"
        conf "$cf" "$dev" "$WORK/mnt-$name" "$@"
        before=$(sum "$dev")
        scratchd --config "$cf" setup
        local rc=$?
        after=$(sum "$dev")
        note "$name: $(head -n1 "$WORK/stderr")"
        check "$name: setup exits 1" test "$rc" -eq 1
        check "$name: the error names $dev" grep -q -F "$dev" "$WORK/stderr"
        check "$name: the error says '$words'" grep -q -F "$words" "$WORK/stderr"
        check "$name: the error is one line" test "$(wc -l < "$WORK/stderr")" -eq 1
        check "$name: not one byte changed (sha256)" test "$before" = "$after"
        check "$name: no mapping was made" bash -c "! dmsetup info scratchd-scratch >/dev/null 2>&1"
        check "$name: nothing was mounted" bash -c "! grep -q ' $WORK/mnt-$name ' /proc/self/mountinfo"
}

refuse ext4 /dev/ubda "an ext4 filesystem"
refuse gpt /dev/ubdb "a GPT partition table"
refuse swap /dev/ubdc "a swap signature"
refuse lvm /dev/ubdd "an LVM physical volume"
refuse mounted /dev/ubde "is mounted at $WORK/data"
refuse mounted-expendable /dev/ubde "is mounted at $WORK/data" Expendable=yes
check "the mounted decoy's data is intact" grep -qx precious "$WORK/data/file"
swapon /dev/ubdc 2>/dev/null || bail "swapon failed"
refuse swap-active-expendable /dev/ubdc "is in use as swap" Expendable=yes
swapoff /dev/ubdc

# The controls: the same checks pass a blank disk, and an ext4 disk when it is
# declared expendable; otherwise the refusals above would prove nothing.
conf "$WORK/blank.conf" /dev/ubdf "$WORK/mnt-blank" FileSystem=ext4
check "blank: setup exits 0" scratchd --config "$WORK/blank.conf" setup
check "blank: mounted" grep -q " $WORK/mnt-blank " /proc/self/mountinfo
umount "$WORK/mnt-blank"; dmsetup remove scratchd-scratch

conf "$WORK/exp.conf" /dev/ubdg "$WORK/mnt-exp" FileSystem=ext4 Expendable=yes
before=$(sum /dev/ubdg)
check "expendable ext4: setup exits 0" scratchd --config "$WORK/exp.conf" setup
check "expendable ext4: the warning names what is destroyed" grep -q "carries an ext4 filesystem; Expendable=yes" "$WORK/stderr"
umount "$WORK/mnt-exp"; dmsetup remove scratchd-scratch
check "expendable ext4: the disk changed" test "$(sum /dev/ubdg)" != "$before"
check "expendable ext4: no ext4 signature left on the raw disk" bash -c "! blkid -p /dev/ubdg >/dev/null 2>&1"
exit 0
