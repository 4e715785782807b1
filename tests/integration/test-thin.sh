#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: shared mode's pool (thin.h) against the real dm-thin, over a data
# device striped over two disks (stripe.h), through thin-tool. The pool's
# three devices and their tables exactly as planned (low water mark 0
# taken); its usage; two thin volumes, one written (its blocks counted
# used), the other still reading zeros; what is in use answers EBUSY; a
# removed thin volume's blocks go back to the pool; taken ids and names
# answer EEXIST, a device of ours by name but not by uuid is left alone
# (EPERM); a pool that fails to come up leaves nothing; a new pool starts
# from empty metadata; threads side by side on the one libdevmapper lock;
# and at the end nothing of ours is left.
#   test-thin.sh THIN-TOOL
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot the guest
        here=$(dirname "$(realpath "$0")")
        if [ $# -lt 1 ] || [ ! -x "$1" ]; then echo "usage: test-thin.sh THIN-TOOL" >&2; exit 2; fi
        exec "$here/uml.sh" --new-disk 160M --new-disk 160M --new-disk 16M "$0" "$(realpath "$1")"
fi
. "$GUEST_LIB"
tool=$1
started=$(date +%s.%N)

# The tool's exit status is the errno of what failed.
T() { "$tool" "$@" 2>> "$WORK/tool.log"; }
# rc EXPECTED DESCRIPTION COMMAND...: ok if COMMAND exits EXPECTED.
rc() {
        local want=$1 what=$2 got; shift 2
        "$@" > /dev/null; got=$?
        if [ "$got" -eq "$want" ]; then ok "$what"; else not_ok "$what (exit $got, not $want)"; fi
}
exists() { dmsetup info "$1" > /dev/null 2>&1; }
majmin() { dmsetup info -c --noheadings -o major,minor "$1" | tr -d ' '; }
uuid() { dmsetup info -c --noheadings -o uuid "$1" | tr -d ' '; }
field_of() { echo "$1" | cut -d' ' -f"$2"; }
MiB=$((1 << 20))

out=$(T stripe-up t /dev/ubda /dev/ubdb) || bail "stripe-up failed: $(tail -n1 "$WORK/tool.log")"
data=/dev/mapper/scratchd-t-data
stripe=$(field_of "$out" 1)
check "the data device is striped over both disks" bash -c "dmsetup table scratchd-t-data | grep -q ' striped 2 512 '"

# Before dm-thin-pool is loaded the pool cannot be made (unknown target):
# the two parts made before it are removed again.
# (libdevmapper loses the kernel's EINVAL when it takes the half-made device
# down again: EIO.)
check "without dm-thin-pool: the pool is refused" bash -c "! $(printf %q "$tool") pool-up t $data 2>> $WORK/tool.log"
check "... and neither part is left behind" bash -c "! dmsetup info scratchd-t-tmeta >/dev/null 2>&1 && ! dmsetup info scratchd-t-tdata >/dev/null 2>&1"

modprobe -d "$WORK/modroot" dm-thin-pool || bail "modprobe dm-thin-pool failed"

# The pool, its parts and their tables, exactly as planned.
out=$(T pool-up t "$data") || bail "pool-up failed: $(tail -n1 "$WORK/tool.log")"
note "pool-up: $out"
read -r pool meta size block <<< "$out"
check "the pool is 256 KiB blocks, 4 MiB of metadata" test "$block $meta" = "262144 4194304"
check "the pool's number is the device's" test "$pool" = "$(majmin scratchd-t-pool)"
check "tmeta: linear over the data device at 0" \
        test "$(dmsetup table scratchd-t-tmeta)" = "0 $((meta / 512)) linear $stripe 0"
check "tdata: linear over the data device after the metadata" \
        test "$(dmsetup table scratchd-t-tdata)" = "0 $((size / 512)) linear $stripe $((meta / 512))"
pool_table=$(dmsetup table scratchd-t-pool | sed 's/ *$//')   # the kernel ends its feature list with a space
note "pool table: $pool_table"
check "pool: thin-pool over both, low water mark 0, skip_block_zeroing" \
        test "$pool_table" = "0 $((size / 512)) thin-pool $(majmin scratchd-t-tmeta) $(majmin scratchd-t-tdata) 512 0 1 skip_block_zeroing"
check "the uuids are ours" test "$(uuid scratchd-t-tmeta) $(uuid scratchd-t-tdata) $(uuid scratchd-t-pool)" \
        = "SCRATCHD-TMETA-t SCRATCHD-TDATA-t SCRATCHD-POOL-t"
check "pool-live names the pool" test "$(T pool-live t)" = "$pool"
note "pool status: $(dmsetup status scratchd-t-pool)"
usage=$(T usage t)
note "usage, new: $usage"
check "usage: nothing used, all the data, all the metadata, rw" \
        test "$(field_of "$usage" 1) $(field_of "$usage" 2) $(field_of "$usage" 4) $(field_of "$usage" 5)" = "0 $size $meta rw"
rc 17 "a second pool-up: EEXIST" T pool-up t "$data"

# Two thin volumes.
rc 0 "thin 1 made" T create t 1 $((128 * MiB))
rc 0 "thin 2 made" T create t 2 $((128 * MiB))
check "thin 1: table over the pool, its uuid ours" \
        test "$(dmsetup table scratchd-t-thin-1) $(uuid scratchd-t-thin-1)" = "0 262144 thin $pool 1 SCRATCHD-THIN-t-1"
check "thin-live: the device and its size" test "$(T live t 1)" = "$(majmin scratchd-t-thin-1) $((128 * MiB))"
check "thin-live of a thin never made: no" test "$(T live t 7)" = no
rc 17 "thin 1 again: EEXIST" T create t 1 $((128 * MiB))
# An id the pool has, without a device: EEXIST from the kernel, no device made.
dmsetup message scratchd-t-pool 0 "create_thin 5"
rc 17 "an id the pool has already: EEXIST" T create t 5 $((128 * MiB))
check "... and no device for it" bash -c "! dmsetup info scratchd-t-thin-5 >/dev/null 2>&1"
rc 0 "thin-remove of an id with no device: deleted" T remove t 5
rc 0 "thin-remove of an id never made: fine" T remove t 9
rc 0 "thin 5 can be made now" T create t 5 $((1 * MiB))
rc 0 "... and removed" T remove t 5

dd if=/dev/zero of=/dev/mapper/scratchd-t-thin-1 bs=1M count=32 oflag=direct status=none
usage=$(T usage t)
note "usage, 32 MiB written to thin 1: $usage"
check "32 MiB written: 32 MiB of blocks used" test "$(field_of "$usage" 1)" = $((32 * MiB))
check "metadata used grew" test "$(field_of "$usage" 3)" -gt 0
check "thin 2 still reads zeros" cmp -s -n $((4 * MiB)) /dev/mapper/scratchd-t-thin-2 /dev/zero

# In use: EBUSY, nothing removed.
exec 3< /dev/mapper/scratchd-t-thin-1
rc 16 "thin-remove of an open thin: EBUSY" T remove t 1
exec 3<&-
rc 16 "pool-down with thin volumes: EBUSY" T pool-down t
check "... the pool and its parts are all there" bash -c "dmsetup info scratchd-t-pool >/dev/null && dmsetup info scratchd-t-tmeta >/dev/null && dmsetup info scratchd-t-tdata >/dev/null"

# Removed: its blocks go back.
rc 0 "thin 1 removed" T remove t 1
check "... its device is gone" bash -c "! dmsetup info scratchd-t-thin-1 >/dev/null 2>&1"
usage=$(T usage t)
note "usage, thin 1 removed: $usage"
check "... and its blocks went back to the pool" test "$(field_of "$usage" 1)" = 0
rc 0 "thin-remove again: fine" T remove t 1

# Ours by name, not by uuid: left alone.
dmsetup create scratchd-t-thin-3 --table "0 8 error"
check "a foreign device under a thin's name: not live" test "$(T live t 3)" = no
rc 1 "... thin-remove refuses it (EPERM)" T remove t 3
rc 17 "... thin-create refuses its name (EEXIST)" T create t 3 $((1 * MiB))
check "... still there" exists scratchd-t-thin-3
dmsetup remove scratchd-t-thin-3

rc 36 "a volume name too long: ENAMETOOLONG" T create "$(printf 'v%.0s' {1..105})" 1 $((1 * MiB))

# Side by side: four threads making and removing thin volumes, a fifth the
# data device of another volume, over the one lock.
rc 0 "4 threads x 5 thin volumes, and a data device, side by side" T parallel t 4 5 u /dev/ubdc
check "... none left" bash -c "! dmsetup ls | grep -q -e 'scratchd-t-thin-10[0-3]' -e scratchd-u-data"
check "... nothing used" test "$(field_of "$(T usage t)" 1)" = 0

# Down, as at a crash: thin 2's device goes, its id and its 8 MiB stay in
# the pool's metadata. A new pool over the same device starts from empty
# metadata all the same.
dd if=/dev/zero of=/dev/mapper/scratchd-t-thin-2 bs=1M count=8 oflag=direct status=none
check "thin 2: 8 MiB used" test "$(field_of "$(T usage t)" 1)" = $((8 * MiB))
dmsetup remove scratchd-t-thin-2
rc 0 "pool-down" T pool-down t
check "... the pool and both parts are gone" bash -c "! dmsetup ls | grep -q -e scratchd-t-pool -e scratchd-t-tmeta -e scratchd-t-tdata"
rc 0 "pool-down again: fine" T pool-down t
rc 19 "usage without a pool: ENODEV" T usage t
rc 19 "thin-create without a pool: ENODEV" T create t 1 $((1 * MiB))
rc 0 "a new pool over the same device" T pool-up t "$data"
check "... empty (the old metadata is gone)" test "$(field_of "$(T usage t)" 1)" = 0
rc 0 "... thin 2 is free again" T create t 2 $((128 * MiB))
rc 0 "... removed" T remove t 2
rc 0 "... pool-down" T pool-down t

# Ours by name, not by uuid: a foreign pool.
dmsetup create scratchd-t-pool --table "0 8 error"
check "a foreign device under the pool's name: not live" test "$(T pool-live t)" = no
rc 17 "... pool-up refuses (EEXIST)" T pool-up t "$data"
check "... and makes neither part" bash -c "! dmsetup info scratchd-t-tmeta >/dev/null 2>&1"
rc 1 "... pool-down refuses (EPERM)" T pool-down t
rc 19 "... usage: not ours, ENODEV" T usage t
dmsetup remove scratchd-t-pool

rc 0 "stripe-down" T stripe-down t
check "dmsetup ls: nothing left" bash -c "dmsetup ls | grep -q 'No devices found'"
check "no dm device in /sys/block" bash -c "! ls /sys/block | grep -q '^dm-'"
note "kernel: $(dmesg | grep -i -e thin -e 'device-mapper' | grep -v -i 'ioctl\|uevent' | tail -n 8 | tr '\n' '|')"
note "guest time: $(echo "$(date +%s.%N) - $started" | bc) s"
sed 's/^/thin-tool: /' "$WORK/tool.log"   # into the guest log, shown on failure
