#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: positive disk identity. scratchd takes a disk that reads as zeros at
# both ends, and one that carries its own header for that very disk; it
# refuses random bytes without a header (unless Expendable=yes), zeros at the
# start but data at the end, a header copied from another disk (even with
# Expendable=yes) and a header from a newer scratchd; each refusal names the
# disk and what was found, and leaves every byte as it was (sha256). And the
# upgrade from scratchd before headers (dm-crypt right on the disk): a
# volume in use is kept, a CLEAN one is wiped once, which writes the header.
# And a disk swapped in between the check and the first write (same name and
# device number, another diskseq) is refused with nothing written.
set -u
kinds="zeros random copied newer tail old"
if [ -z "${RESULT:-}" ]; then   # on the host: make the disks, boot the guest
        here=$(dirname "$(realpath "$0")")
        dir=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-disks.XXXXXX")
        trap 'rm -rf "$dir"' EXIT
        for d in $kinds; do truncate -s 96M "$dir/$d.img"; done
        # Random bytes where signatures live, at both ends (a headerless
        # encrypted volume looks like this all through); the middle stays
        # sparse, which is no matter to the check.
        dd if=/dev/urandom of="$dir/random.img" bs=1M count=2 conv=notrunc status=none
        dd if=/dev/urandom of="$dir/random.img" bs=1M seek=94 count=2 conv=notrunc status=none
        dd if=/dev/urandom of="$dir/tail.img" bs=1M seek=95 count=1 conv=notrunc status=none
        args=()
        i=0
        for d in $kinds; do args+=(--disk "$dir/$d.img,,SCRATCH-SERIAL-$i"); i=$((i + 1)); done
        exec "$here/uml.sh" "${args[@]}" "$0"
fi
. "$GUEST_LIB"

dev() { local i=0; for k in $kinds; do [ "$k" = "$1" ] && { printf '/dev/ubd%b' "\\x$(printf %x $((97 + i)))"; return; }; i=$((i + 1)); done; }
mnt=$WORK/mnt
down() { umount "$mnt" 2>/dev/null; dmsetup remove scratchd-scratch scratchd-scratch-data 2>/dev/null; }

# The positive control for the refusals below: the fixtures are what they
# claim (no libblkid signature on any, so only scratchd's own check decides).
for k in $kinds; do
        check "$k: libblkid finds no signature" bash -c "! blkid -p $(dev $k) >/dev/null 2>&1"
done
check "the disks report their serials" grep -qx SCRATCH-SERIAL-0 /sys/class/block/ubda/serial

# Zeros: taken, and scratchd's header written at the start, naming the disk.
conf "$WORK/zeros.conf" "$(dev zeros)" "$mnt" FileSystem=ext4
check "zeros: setup exits 0" scratchd --config "$WORK/zeros.conf" setup
check "zeros: the disk starts with scratchd's header" test "$(head -c 14 "$(dev zeros)")" = SCRATCHD-LABEL
check "zeros: the header names the disk's serial" \
        bash -c "head -c 4096 $(dev zeros) | tr -d '\\0' | grep -a -q 'serial:SCRATCH-SERIAL-0'"
down
check "zeros: the disk no longer reads as zeros" bash -c "! cmp -s -n 1048576 $(dev zeros) /dev/zero"

# Its own header: taken again after the volume is gone (as after a reboot).
check "header: setup exits 0" scratchd --config "$WORK/zeros.conf" setup
check "header: mounted" grep -q " $mnt " /proc/self/mountinfo
down

# refuse NAME DEVICE EXPECTED-WORDS [Key=Value]...
refuse() {
        local name=$1 dev=$2 words=$3 before after rc; shift 3
        conf "$WORK/$name.conf" "$dev" "$mnt" FileSystem=ext4 "$@"
        before=$(sum "$dev")
        scratchd --config "$WORK/$name.conf" setup; rc=$?
        after=$(sum "$dev")
        note "$name: $(head -n1 "$WORK/stderr")"
        check "$name: setup exits 1" test "$rc" -eq 1
        check "$name: the error names $dev and says '$words'" \
                bash -c "grep -q -F '$dev' '$WORK/stderr' && grep -q -F -- '$words' '$WORK/stderr'"
        check "$name: the error is one line" test "$(wc -l < "$WORK/stderr")" -eq 1
        check "$name: not one byte changed (sha256)" test "$before" = "$after"
        check "$name: no mapping was made" \
                bash -c "! dmsetup info scratchd-scratch >/dev/null 2>&1 && ! dmsetup info scratchd-scratch-data >/dev/null 2>&1"
}

refuse random "$(dev random)" "holds data scratchd cannot identify"
refuse tail "$(dev tail)" "holds data scratchd cannot identify"

# A header copied from the first disk onto another: it names another serial.
dd if="$(dev zeros)" of="$(dev copied)" bs=1M count=1 conv=notrunc,fsync status=none
refuse copied "$(dev copied)" "SCRATCH-SERIAL-0"
refuse copied-expendable "$(dev copied)" "SCRATCH-SERIAL-0" Expendable=yes

# A header from a newer scratchd (version 2): never parsed, never overwritten.
dd if="$(dev zeros)" of="$(dev newer)" bs=1M count=1 conv=notrunc,fsync status=none
printf '\002' | dd of="$(dev newer)" bs=1 seek=16 conv=notrunc,fsync status=none
refuse newer "$(dev newer)" "version 2" Expendable=yes

# As scratchd before headers left a disk: plain dm-crypt at offset 0 of the
# disk itself, mounted, and its record.
old=$(dev old)
head -c 64 /dev/urandom > "$WORK/old.key"
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$WORK/old.key" "$old" \
        scratchd-scratch || bail "cannot map the old-layout disk"
mkfs.ext4 -q -F /dev/mapper/scratchd-scratch >/dev/null 2>&1 && mkdir -p "$mnt" && mount /dev/mapper/scratchd-scratch "$mnt" \
        || bail "cannot make the old-layout volume"
echo old-job-data > "$mnt/file"
old_record() {  # old_record STATE
        mkdir -p /run/scratchd
        printf 'scratchd-state-v1\nstate=%s\ngeneration=1\nmapping_dev=%s\ndevice=%s\nmount_point=%s\njob=%s\nuser=root\nuid=0\n' \
                "$1" "$(dmsetup info -c --noheadings -o major,minor scratchd-scratch | tr -d ' ')" \
                "$old" "$mnt" "$([ "$1" = IN_USE ] && echo 42)" > /run/scratchd/scratch.state
}
old_record IN_USE
key=$(live_key scratchd-scratch)
conf "$WORK/old.conf" "$old" "$mnt" FileSystem=ext4
check "old layout, in use: setup exits 0" scratchd --config "$WORK/old.conf" setup
check "... the job's volume is kept" grep -q "in use by job 42" "$WORK/stderr"
check "... under the same key" test "$(live_key scratchd-scratch)" = "$key"
check "... with the job's data" grep -qx old-job-data "$mnt/file"
old_record CLEAN
check "old layout, CLEAN: setup exits 0" scratchd --config "$WORK/old.conf" setup
check "... it was wiped" test "$(live_key scratchd-scratch)" != "$key"
check "... and now carries scratchd's header" test "$(head -c 14 "$old")" = SCRATCHD-LABEL
check "... under a data device" dmsetup info scratchd-scratch-data
down

# The control for the random disk's refusal: Expendable=yes takes it.
conf "$WORK/random-exp.conf" "$(dev random)" "$mnt" FileSystem=ext4 Expendable=yes
check "random, Expendable=yes: setup exits 0" scratchd --config "$WORK/random-exp.conf" setup
check "random, Expendable=yes: the warning says it will be destroyed" grep -q "will be destroyed" "$WORK/stderr"
check "random, Expendable=yes: the disk now carries scratchd's header" \
        test "$(head -c 14 "$(dev random)")" = SCRATCHD-LABEL
down

# A disk swapped between its check and the first write: a loop device
# attached anew to another file keeps its name and device number, not its
# sequence number (diskseq). Held before the header is written, the swap is
# seen, and nothing is written to either file.
modprobe -d "$WORK/modroot" loop 2> /dev/null
truncate -s 96M "$WORK/first.img" "$WORK/second.img"
loop=$(losetup -f --show "$WORK/first.img") || bail "losetup failed"
name=${loop#/dev/}
conf "$WORK/swap.conf" "$loop" "$mnt" FileSystem=ext4
echo hold:assemble > "$WORK/fault"
SCRATCHD_FAULT_FILE="$WORK/fault" "$SCRATCHD" --config "$WORK/swap.conf" setup 2> "$WORK/swap.err" &
pid=$!
for _ in $(seq 1 1200); do grep -q "fault point assemble: held" "$WORK/swap.err" && break; sleep 0.1; done
check "swap: setup is held before its first write" grep -q "fault point assemble: held" "$WORK/swap.err"
seq0=$(cat /sys/class/block/$name/diskseq) dev0=$(cat /sys/class/block/$name/dev)
losetup -d "$loop" && losetup "$loop" "$WORK/second.img" || bail "the loop device could not be attached anew"
check "control: the same name and device number ($dev0), another diskseq ($seq0 -> $(cat /sys/class/block/$name/diskseq))" \
        test "$(cat /sys/class/block/$name/dev)" = "$dev0" -a "$(cat /sys/class/block/$name/diskseq)" != "$seq0"
echo go > "$WORK/fault"
wait $pid; rc=$?
note "swap: $(grep -m1 'no longer the disk' "$WORK/swap.err")"
check "swap: setup fails (exit $rc)" test $rc -ne 0
check "... naming the disk and both sequence numbers" \
        grep -q "$loop is no longer the disk that was checked (device $dev0, diskseq [0-9]*, .*diskseq $seq0" "$WORK/swap.err"
check "... nothing was written to the disk swapped in" cmp -s -n $((96 << 20)) "$WORK/second.img" /dev/zero
check "... nor to the one checked" cmp -s -n $((96 << 20)) "$WORK/first.img" /dev/zero
down
losetup -d "$loop"
exit 0
