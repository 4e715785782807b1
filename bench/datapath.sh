#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark (not a test): the data path of a scratch volume beside the raw
# disk and a stock dm-crypt mapping, in one run so the figures compare.
#
#   bench/datapath.sh [--build DIR]
#       In User-Mode Linux: one file-backed disk for the data path, and sparse
#       1 GiB and 4 TiB disks for the wipe timings.
#   bench/datapath.sh [--build DIR] --destroy-data /dev/DISK
#       On this host (root, device-mapper), against DISK: everything on it is
#       destroyed. scratchd's own checks run first, so a disk that is mounted,
#       holds /, swap or anything stacked on it is refused before a byte is
#       written.
#
# Loads (fio, libaio, O_DIRECT): sequential 1 MiB read and write at queue
# depth 8, random 4 KiB read and write at queue depth 32, against
#   (a) the raw disk,
#   (b) `cryptsetup open --type plain` with cryptsetup's defaults,
#   (c) scratchd's volume with its default settings,
#   (d) scratchd's volume with Cipher=auto.
# Each load runs RUNTIME seconds (default 5) per target, all four targets in
# turn, ROUNDS times (default 5: one round varies by up to 10% in UML); the
# table shows the median of the rounds.
# Then wipe-to-ready, step by step, with xfs and with ext4; and the daemon's
# idle cost: CPU time and wake-ups over 10 s, and private dirty memory.
set -u
self=$(realpath "$0")
root=$(dirname "$self")/..

if [ -z "${RESULT:-}" ]; then   # not yet inside the run: set it up
        build=$root/build
        disk=
        while [ $# -gt 0 ]; do
                case "$1" in
                --build) build=$2; shift 2 ;;
                --destroy-data) disk=$2; shift 2 ;;
                -h|--help) sed -n '3,25p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
                *) echo "datapath.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
                esac
        done
        build=$(realpath "$build")
        [ -x "$build/src/scratchd/scratchd" ] || { echo "datapath.sh: build scratchd first: meson setup $build && ninja -C $build" >&2; exit 2; }
        command -v fio > /dev/null || { echo "datapath.sh: fio not found; apt-get install fio" >&2; exit 2; }
        export SCRATCHD=$build/src/scratchd/scratchd SCRATCHCTL=$build/src/scratchctl/scratchctl
        export SOURCE_ROOT=$(realpath "$root")
        if [ -n "$disk" ]; then
                [ "$(id -u)" = 0 ] || { echo "datapath.sh: run as root" >&2; exit 2; }
                [ -b "$disk" ] || { echo "datapath.sh: $disk is not a block device" >&2; exit 2; }
                export WORK=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-bench.XXXXXX") RESULT=/dev/stdout
                export GUEST_LIB=$root/tests/integration/guest-lib.sh WHERE="this host ($(uname -r))"
                trap 'rm -rf --one-file-system "$WORK"' EXIT
                "$self" "$disk" "$disk"
                exit $?
        fi
        dir=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-bench.XXXXXX")
        trap 'rm -rf "$dir"' EXIT
        # The data-path disk is written in full first (below), so reads read
        # data, not holes.
        truncate -s 1G "$dir/data.img"; truncate -s 1G "$dir/1G.img"; truncate -s 4T "$dir/4T.img"
        WHERE="User-Mode Linux $(basename /usr/lib/uml/modules/*/) on $(nproc) host cores, disks on files in $(df --output=fstype "$dir" | tail -n1)" \
        GUEST_TIMEOUT=1800 UML_TIMEOUT=1900 "$root/tests/integration/uml.sh" --mem 2G \
                --disk "$dir/data.img" --disk "$dir/1G.img" --disk "$dir/4T.img" "$self" /dev/ubda /dev/ubdb /dev/ubdc
        exit $?
fi

# ---- the run itself: in the UML guest, or on the host with --destroy-data ----
. "$GUEST_LIB"
. "$SOURCE_ROOT/bench/bench-lib.sh"
data=$1; shift
wipe_disks=("$@")
runtime=${RUNTIME:-5}
rounds=${ROUNDS:-5}
state=$WORK/state
mnt=$WORK/mnt
# Names of this run's own, so that it never tears down a mapping it did not
# make (another run's on another disk, say).
name=bench$$
map=scratchd-$name
stock=bench-stock-$$
mkdir -p "$state" "$mnt"

# scratchd with this benchmark's own state directory, never the node's.
bench_scratchd() { scratchd --state-dir "$state" "$@"; }

bench_conf() {  # bench_conf FILE DISK [Key=Value]...
        local file=$1 disk=$2; shift 2
        conf "$file" "$disk" "$mnt" Name=$name Expendable=yes "$@"
        printf '[Daemon]\nAuditLog=\n' >> "$file"
}

# Tears down whatever a target left: our mapping and the data device under
# it (dm-linear over the one disk), the stock one, the mount.
teardown() {
        umount "$mnt" 2> /dev/null
        dmsetup remove $map 2> /dev/null
        dmsetup remove $map-data 2> /dev/null
        dmsetup remove $stock 2> /dev/null
        rm -f "$state/$name.state"
}
# Also when the run stops half-way (a bail, ^C): no mapping, mount or daemon
# of ours outlives it.
pid=
trap '[ -z "$pid" ] || { kill "$pid"; wait "$pid"; } 2> /dev/null; teardown' EXIT

# scratchd's checks on the disk before anything writes to it: it refuses a disk
# that is mounted, holds / or swap, or has anything stacked on it.
bench_conf "$WORK/check.conf" "$data"
bench_scratchd --config "$WORK/check.conf" setup || bail "scratchd refuses $data: $(cat "$WORK/stderr")"
# What it found there and is destroying (Expendable=yes), if anything.
while IFS= read -r line; do note "scratchd: $line"; done < "$WORK/stderr"
teardown

size=$(blockdev --getsize64 "$data")
region=$((size < 4 * 1024 * 1024 * 1024 ? size : 4 * 1024 * 1024 * 1024))
region=$((region / 1048576 * 1048576))
# Fill the region once, so no load reads a hole of a sparse file or an
# unmapped block of a thin device.
dd if=/dev/urandom of="$data" bs=1M count=$((region / 1048576)) oflag=direct status=none || bail "cannot write $data"

loads=("seqwrite:write:1M:8" "seqread:read:1M:8" "randwrite:randwrite:4k:32" "randread:randread:4k:32")
load_label() {
        case "$1" in seqread) echo "seq read 1M MB/s" ;; seqwrite) echo "seq write 1M MB/s" ;;
        randread) echo "rand read 4k IOPS" ;; randwrite) echo "rand write 4k IOPS" ;; esac
}

# fio_load TARGET DEVICE NAME:RW:BS:QD: one load; the figure (MB/s for 1 MiB
# loads, IOPS for 4 KiB ones) goes to $WORK/fig.TARGET.NAME, one per round.
fio_load() {
        local target=$1 dev=$2 name rw bs qd
        IFS=: read -r name rw bs qd <<<"$3"
        fio --name="$name" --filename="$dev" --rw="$rw" --bs="$bs" --iodepth="$qd" --ioengine=libaio --direct=1 \
                --size="$region" --runtime="$runtime" --ramp_time=1 --time_based --randrepeat=0 \
                --output-format=json > "$WORK/fio.json" 2> "$WORK/fio.err" || bail "fio $name on $dev failed: $(head -c 300 "$WORK/fio.err")"
        python3 - "$WORK/fio.json" "$bs" >> "$WORK/fig.$target.$name" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
side = job["read"] if job["read"]["io_bytes"] else job["write"]
print("%.0f" % (side["bw_bytes"] / 1e6 if sys.argv[2] == "1M" else side["iops"]))
PY
}

run_loads() {  # run_loads TARGET DEVICE
        for l in "${loads[@]}"; do fio_load "$1" "$2" "$l"; done
}

# What the kernel table says, key blanked.
describe() { dmsetup table "$1" | awk '{ $5 = "<key>"; $1 = $2 = ""; print }' | sed 's/^ *//'; }

scratchd_target() {  # scratchd_target NAME [Key=Value]...
        local target=$1; shift
        bench_conf "$WORK/$target.conf" "$data" "$@"
        bench_scratchd --config "$WORK/$target.conf" setup || bail "scratchd setup ($target) failed: $(cat "$WORK/stderr")"
        umount "$mnt" || bail "cannot unmount $mnt"
        echo "$(describe $map)" > "$WORK/table.$target"
        sed -n 's/^tuning=//p' "$state/$name.state" > "$WORK/tuning.$target"
        run_loads "$target" /dev/mapper/$map
        teardown
}

for r in $(seq 1 "$rounds"); do
        run_loads raw "$data"
        cryptsetup open --type plain --key-file /dev/urandom "$data" $stock 2> "$WORK/cs.err" \
                || bail "cryptsetup open --type plain failed: $(cat "$WORK/cs.err")"
        echo "$(describe $stock)" > "$WORK/table.stock"
        run_loads stock /dev/mapper/$stock
        teardown
        scratchd_target scratchd
        scratchd_target auto Cipher=auto
        ok "round $r of $rounds"
done

fig() { median < "$WORK/fig.$1.$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# What scratchd's Cipher=auto found: "cipher: Cipher=auto, no AES instructions (DRIVER); ...".
auto_why=$(cat "$WORK/tuning.auto")
driver=${auto_why#*instructions (}
driver=${driver%%) but *}
driver=${driver%%); sectors:*}
note ""
note "data path on $WHERE"
note "disk $data, $(numfmt --to=iec-i --suffix=B "$size"), loads over the first $(numfmt --to=iec-i --suffix=B "$region")"
note "fio $(fio --version | sed 's/^fio-//'), libaio, O_DIRECT; $runtime s per load, median of $rounds rounds; kernel xts(aes) driver: ${driver:-?}"
note "$(printf '%-18s %10s %10s %12s %12s %6s %6s %6s %6s' load '(a) raw' '(b) stock' '(c) scratchd' '(d) auto' c/a c/b d/a d/b)"
c_ok=1 d_ok=1
for l in "${loads[@]}"; do
        load=${l%%:*}   # (not $n: guest-lib.sh counts its TAP lines in n)
        a=$(fig raw "$load") b=$(fig stock "$load") c=$(fig scratchd "$load") d=$(fig auto "$load")
        note "$(printf '%-18s %10s %10s %12s %12s %6s %6s %6s %6s' "$(load_label "$load")" "$a" "$b" "$c" "$d" \
                "$(ratio "$c" "$a")" "$(ratio "$c" "$b")" "$(ratio "$d" "$a")" "$(ratio "$d" "$b")")"
        awk -v c="$c" -v b="$b" 'BEGIN { exit !(c >= 0.95 * b) }' || c_ok=0
        case "$load" in seq*) awk -v d="$d" -v b="$b" 'BEGIN { exit !(d >= 1.7 * b) }' || d_ok=0 ;; esac
done
for t in stock scratchd auto; do note "  table ($t): $(cat "$WORK/table.$t")"; done
note "  scratchd's choice with Cipher=auto: $auto_why"
if [ "$c_ok" = 1 ]; then ok "target: (c) within 5% of (b) or faster on all four loads"
else not_ok "target missed: (c) more than 5% slower than (b) on some load"; fi
if grep -q "^cipher: Cipher=auto, no AES instructions" <<<"$auto_why"; then
        if [ "$d_ok" = 1 ]; then ok "target: (d) at least 1.7x (b) on sequential read and write (AES not accelerated here)"
        else not_ok "target missed: (d) below 1.7x (b) on sequential read or write (AES not accelerated here)"; fi
else
        note "AES is accelerated here ($driver): Cipher=auto keeps AES-XTS, so (d) is (c)"
fi

# ---- wipe-to-ready, xfs against ext4 ----
steps="check-users unmount deactivate discard rekey zero-head mkfs mount"
note ""
note "wipe-to-ready, median of $rounds wipes, ms"
note "$(printf '%-6s %-8s' fs disk; for st in $steps; do printf ' %11s' "$st"; done; printf ' %9s' total)"
for fs in xfs ext4; do
        for disk in "${wipe_disks[@]}"; do
                teardown
                bench_conf "$WORK/wipe.conf" "$disk" FileSystem=$fs
                bench_scratchd --config "$WORK/wipe.conf" setup || bail "setup ($fs on $disk) failed: $(cat "$WORK/stderr")"
                : > "$WORK/total"
                for r in $(seq 1 "$rounds"); do
                        s=$(date +%s%N)
                        bench_scratchd --config "$WORK/wipe.conf" wipe || bail "wipe ($fs on $disk) failed: $(cat "$WORK/stderr")"
                        e=$(date +%s%N)
                        cp "$WORK/stderr" "$WORK/wipe.$r.log"
                        echo $(((e - s) / 1000000)) >> "$WORK/total"
                done
                line=$(printf '%-6s %-8s' "$fs" "$(numfmt --to=iec "$(blockdev --getsize64 "$disk")")")
                for st in $steps; do
                        v=$(for r in $(seq 1 "$rounds"); do step_ms "$WORK/wipe.$r.log" "$st"; done | median)
                        if [ "$v" = skipped ]; then line+=$(printf ' %11s' skipped); else line+=$(printf ' %11.1f' "$v"); fi
                done
                note "$line$(printf ' %9d' "$(median < "$WORK/total")")"
        done
done
teardown

# ---- idle cost of the daemon with one volume ----
bench_conf "$WORK/daemon.conf" "$data"
sock=$WORK/daemon.sock
"$SCRATCHD" --config "$WORK/daemon.conf" --state-dir "$state" --socket "$sock" > "$WORK/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
        "$SCRATCHCTL" --socket "$sock" status --json 2> /dev/null | grep -q '"state": "CLEAN"' && break
        sleep 0.1
done
"$SCRATCHCTL" --socket "$sock" status --json 2> /dev/null | grep -q '"state": "CLEAN"' || bail "the daemon's volume did not become CLEAN: $(tail -n 3 "$WORK/daemon.log")"
sleep 1   # let the last answer's work settle
# CPU time of every thread in ns (schedstat), and wake-ups (context switches).
cpu_ns() { cat /proc/$pid/task/*/schedstat 2> /dev/null | awk '{ s += $1 } END { print NR ? s : "n/a" }'; }
switches() { cat /proc/$pid/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }'; }
ticks() { awk '{ print $14 + $15 }' /proc/$pid/stat; }
c0=$(cpu_ns) w0=$(switches) t0=$(ticks)
sleep 10
c1=$(cpu_ns) w1=$(switches) t1=$(ticks)
dirty=$(awk '/^Private_Dirty/ { print $2 }' /proc/$pid/smaps_rollup)
rss=$(awk '/^Rss/ { print $2 }' /proc/$pid/smaps_rollup)
threads=$(ls /proc/$pid/task | wc -l)
kill "$pid"; wait "$pid" 2> /dev/null
pid=
teardown
note ""
cpu="n/a (no schedstat)"; [ "$c0" = n/a ] || cpu="$((c1 - c0)) ns"
note "idle daemon, one CLEAN volume, 10 s: $cpu CPU time, $((t1 - t0)) clock ticks (utime+stime), $((w1 - w0)) wake-ups, $threads threads"
note "  (the counters work: since its start, setting the volume up, it used $c1 ns, $t1 ticks, $w1 wake-ups)"
note "memory: Private_Dirty $dirty KiB, Rss $rss KiB (smaps_rollup)"
if [ $((t1 - t0)) -eq 0 ] && [ $((w1 - w0)) -eq 0 ]; then ok "target: no CPU time measurable in /proc while idle (no wake-ups)"
else not_ok "target missed: the idle daemon used CPU or woke up"; fi
if [ "$dirty" -lt 2048 ]; then ok "target: Private_Dirty under 2 MiB ($dirty KiB)"
else not_ok "target missed: Private_Dirty $dirty KiB >= 2 MiB"; fi
exit 0
