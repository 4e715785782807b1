#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: the dm-crypt settings scratchd chooses reach the live kernel table
# (`dmsetup table`), for the defaults, Cipher=auto, every override, and a disk
# that says it is rotational; and `scratchctl status` shows what the table
# holds and why. The UML kernel has only the C AES (no AES instructions) and
# Adiantum, so Cipher=auto must pick Adiantum here.
set -u
if [ -z "${RESULT:-}" ]; then
        # The second disk is 64 MiB and 512 bytes: no whole number of 4 KiB.
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 256M --new-disk $((64 * 1048576 + 512)) "$0"
fi
. "$GUEST_LIB"

map=scratchd-scratch
mnt=$WORK/scratch
rotational=/sys/block/ubda/queue/rotational

# The table without the key: "0 <len> crypt <cipher> <key> <iv_offset> <dev> <offset> [<n> <flags>...]"
table() { dmsetup table $map | awk '{ $5 = "-"; print }'; }
flags() { dmsetup table $map | awk '{ for (i = 10; i <= NF; i++) printf "%s ", $i }'; }
# apply [Key=Value]...: this config, then a wipe (a wipe sets a volume up anew,
# with the settings of the config it runs with).
apply() {
        conf "$WORK/scratchd.conf" /dev/ubda "$mnt" FileSystem=ext4 "$@"
        if dmsetup info $map > /dev/null 2>&1; then
                scratchd --config "$WORK/scratchd.conf" wipe
        else
                scratchd --config "$WORK/scratchd.conf" setup
        fi || bail "scratchd with $* failed: $(cat "$WORK/stderr")"
        note "$*: $(table)"
}
has_flag() { flags | grep -qw -- "$1"; }
# The driver /proc/crypto lists for xts(aes) with the highest priority: read
# here on its own, not by scratchd's parser, to check what scratchd says.
xts_driver() {
        awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ && n == "xts(aes)" && $3 > best { best = $3; b = d }
             END { print b }' /proc/crypto
}

# The disk as UML presents it: non-rotational, discards 32 KiB at a time,
# 512-byte logical and physical blocks.
check "the disk says it is non-rotational" test "$(cat $rotational)" = 0
check "the disk can discard" test "$(cat /sys/block/ubda/queue/discard_max_hw_bytes)" -gt 0

apply
key=$(live_key $map)
check "default: cipher aes-xts-plain64" test "$(table | awk '{ print $4 }')" = aes-xts-plain64
check "default: a 512-bit key" test ${#key} -eq 128
check "default: 4096-byte sectors" has_flag sector_size:4096
both_bypassed() { has_flag no_read_workqueue && has_flag no_write_workqueue; }
check "default: workqueues bypassed on a non-rotational disk" both_bypassed
check "default: discards passed to a disk that discards" has_flag allow_discards
check "default: the mapping's logical block is 4096" test "$(blockdev --getss /dev/mapper/$map)" = 4096

apply Cipher=auto
key=$(live_key $map)
# What the rest expects holds only where AES has no hardware help, as in UML.
driver=$(xts_driver)
grep -q generic <<<"$driver" || bail "this kernel serves xts(aes) with '$driver', not the C code UML has"
check "Cipher=auto without AES instructions: Adiantum" test "$(table | awk '{ print $4 }')" = xchacha12,aes-adiantum-plain64
check "Cipher=auto: a 256-bit key" test ${#key} -eq 64

# The daemon reports what the table holds, and why.
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start"
wait_state CLEAN || bail "the daemon did not adopt the volume"
read_vol || bail "scratchctl status --json failed"
check "status: cipher" test "${VOL[cipher]:-}" = xchacha12,aes-adiantum-plain64
check "status: key bits" test "${VOL[key_bits]:-}" = 256
check "status: sector size" test "${VOL[sector_size]:-}" = 4096
check "status: workqueues" test "${VOL[bypass_workqueues]:-}" = true
check "status: discards" test "${VOL[allow_discards]:-}" = true
tuning=${VOL[tuning]:-}
note "status tuning: $tuning"
check "status says why: Cipher=auto and the driver" grep -qF "cipher: Cipher=auto, no AES instructions ($driver)" <<<"$tuning"
check "status says why: the sectors" grep -qF "sectors: the largest (physical block 512)" <<<"$tuning"
check "status says why: the disk" grep -qF "workqueues: non-rotational disk; discards: the disk discards" <<<"$tuning"
ctl status > "$WORK/status.txt"
sed 's/^/  /' "$WORK/status.txt" | while IFS= read -r l; do note "$l"; done
check "scratchctl status shows the settings and why" \
        grep -qF "scratch: 256-bit key, workqueues bypassed, discards passed (cipher: Cipher=auto" "$WORK/status.txt"
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null

# Every choice overridden.
apply Cipher=xchacha20,aes-adiantum-plain64 SectorSize=512 BypassWorkqueues=no AllowDiscards=no
check "overrides: cipher" test "$(table | awk '{ print $4 }')" = xchacha20,aes-adiantum-plain64
check "overrides: 512-byte sectors, no workqueue bypass, no discards (no optional arguments)" test -z "$(flags)"
check "overrides: the mapping's logical block is 512" test "$(blockdev --getss /dev/mapper/$map)" = 512
check "overrides: the record says so" grep -qF "tuning=cipher: configured; sectors: configured; workqueues: configured; discards: configured" /run/scratchd/scratch.state

apply Cipher=aes-xts-plain64 SectorSize=4096 BypassWorkqueues=yes AllowDiscards=yes
check "overrides on: every flag" test "$(flags)" = "allow_discards no_read_workqueue no_write_workqueue sector_size:4096 "

# A disk that says it spins: auto keeps dm-crypt's workqueues.
echo 1 > $rotational
apply
check "rotational disk: a mapping" test -n "$(table)"
check "rotational disk: workqueues kept" bash -c "! dmsetup table $map | grep -q workqueue"
check "rotational disk: the record says why" grep -qF "workqueues: rotational disk" /run/scratchd/scratch.state
echo 0 > $rotational

# A disk whose size is no whole number of 4096-byte sectors (libcryptsetup's
# plain format checks the whole disk) gets its physical block, 512, whole.
odd_bytes=$(blockdev --getsize64 /dev/ubdb)
check "the odd disk is 64 MiB and 512 bytes" test "$odd_bytes" = $((64 * 1048576 + 512))
mkdir -p "$WORK/odd"
conf "$WORK/odd.conf" /dev/ubdb "$WORK/odd" Name=odd FileSystem=ext4
scratchd --config "$WORK/odd.conf" setup || bail "setup of the odd-sized disk failed: $(cat "$WORK/stderr")"
check "odd size: a mapping" test -n "$(dmsetup table scratchd-odd)"
check "odd size: 512-byte sectors (no sector_size argument)" bash -c "! dmsetup table scratchd-odd | grep -q sector_size"
check "odd size: the disk's data area mapped (131073 sectors of 512 bytes, less 2048 for scratchd's header)" \
        test "$(dmsetup table scratchd-odd | awk '{ print $2 }')" = 129025
check "odd size: the record says why" grep -qF "sectors: physical block (size not a multiple of 4096);" \
        /run/scratchd/odd.state
check "odd size: mounted" findmnt -n "$WORK/odd"
umount "$WORK/odd" && dmsetup remove scratchd-odd scratchd-odd-data

# A Cipher= name typed wrong is a config error.
conf "$WORK/bad.conf" /dev/ubda "$mnt" Cipher=aes-cbc-essiv:sha256
scratchd --config "$WORK/bad.conf" setup
check "an unsupported Cipher= is refused" test $? -ne 0
check "... naming the key and the choices" grep -q "Cipher: 'aes-cbc-essiv:sha256' is not supported; use 'aes-xts-plain64', 'auto'" "$WORK/stderr"

# Adiantum configured on a kernel that lacks it (unloaded, and the kernel
# kept from loading it again) is refused before the volume is touched: the
# same key, still mounted.
echo /bin/false > /proc/sys/kernel/modprobe
check "adiantum unloaded" rmmod adiantum
grep -q '^name *: adiantum' /proc/crypto && note "/proc/crypto still lists adiantum"
key=$(live_key $map)
conf "$WORK/noadiantum.conf" /dev/ubda "$mnt" FileSystem=ext4 Cipher=xchacha12,aes-adiantum-plain64
scratchd --config "$WORK/noadiantum.conf" wipe
check "Cipher=xchacha12,... without Adiantum in the kernel is refused" test $? -ne 0
check "... saying what to do" grep -q "Cipher=xchacha12,aes-adiantum-plain64, but the kernel has no Adiantum; load the adiantum module or use Cipher=aes-xts-plain64" "$WORK/stderr"
check "... and the volume is untouched: the same key" test "$(live_key $map)" = "$key"
check "... still mounted" findmnt -n "$mnt"
exit 0
