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
# Each load runs RUNTIME seconds (default 5) per target (a round's four loads
# one after the other in one fio process), all four targets in turn, ROUNDS times (default 5: one round varies by up to 10% in UML); the
# table shows the median of the rounds.
# Then wipe-to-ready, step by step, with xfs and with ext4; and the daemon's
# idle cost: CPU time and wake-ups over 10 s, and private dirty memory.
#
# Then, in UML only (the guest gets two more file-backed disks of MODE_DISK
# each, default 4G), the daemon on those two disks:
#   A. the four loads on a file (the same size as above, written in full
#      first) in a job's directory, on (e) Mode=exclusive striped over both
#      disks and (f) a Mode=shared job volume on a thin pool over the same
#      stripe; f/e (target: at least 0.9 on each load). Two more rows show
#      what first writes cost (XFS's unwritten extents in both; thin
#      provisioning in f): the writing of the new fio file in full
#      (sequential 1 MiB), and random 4 KiB writes into a second new file.
#      Each target (e, f and e1 below) runs in two sessions, in the order
#      e f e1 e1 f e, so that a drift in the machine's speed falls on all
#      three alike: the daemon started from nothing, a job prepared, the
#      file written, half the ROUNDS rounds (the first session the odd
#      one), the new-file load; the new-file figures are the sessions' mean.
#   A0. the same without a file system or the daemon: scratchd's dm-crypt
#      table over a slice of the stripe (g) and over a thin volume of a pool
#      on it (h), each written in full first; h/g is what dm-thin costs.
#   B. Prepare latency, wall time of `scratchctl prepare`: PREPARES (default
#      20) of the default size (the spare is mounted) and as many of another
#      size (made on demand), in turn, each followed by a release not timed;
#      the spare is re-made in the background after each default Prepare,
#      and every Prepare waits until status shows it ready (at most 60 s).
#   C. release time, wall time of `scratchctl release`, after a job wrote
#      each of RELEASE_SIZES GiB (default "0.25 1 4"; fio, then sync), each
#      RELEASE_ROUNDS times (default 1; median); the largest over the smallest
#      (target: at most 2).
#   D. exclusive mode over one of the disks (e1) against both (e): figures.
# With --destroy-data these are skipped (they need two disks of their own).
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
                -h|--help) sed -n '3,/^set -u$/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
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
        # The two disks of the mode tables: allocated on the host, so that
        # no first write waits for the host's file system; the fio file is
        # written in full in the guest before any load reads it.
        fallocate -l "${MODE_DISK:-4G}" "$dir/m1.img" && fallocate -l "${MODE_DISK:-4G}" "$dir/m2.img" \
                || { echo "datapath.sh: cannot allocate the mode disks in $dir" >&2; exit 2; }
        load0=$(cut -d' ' -f1-3 /proc/loadavg) start=$(date +%s)
        WHERE="User-Mode Linux $(basename /usr/lib/uml/modules/*/) on $(nproc) host cores, disks on files in $(df --output=fstype "$dir" | tail -n1)" \
        GUEST_TIMEOUT=3600 UML_TIMEOUT=3700 "$root/tests/integration/uml.sh" --mem 2G \
                --disk "$dir/data.img" --disk "$dir/1G.img" --disk "$dir/4T.img" --disk "$dir/m1.img" --disk "$dir/m2.img" \
                "$self" --mode-disks /dev/ubdd,/dev/ubde /dev/ubda /dev/ubdb /dev/ubdc
        rc=$?
        echo "# the whole run took $(($(date +%s) - start)) s; host load average (1, 5, 15 min) before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
        exit $rc
fi

# ---- the run itself: in the UML guest, or on the host with --destroy-data ----
. "$GUEST_LIB"
. "$SOURCE_ROOT/bench/bench-lib.sh"
mode_disks=
if [ "$1" = --mode-disks ]; then mode_disks=${2//,/ }; shift 2; fi
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
        randread) echo "rand read 4k IOPS" ;; randwrite) echo "rand write 4k IOPS" ;;
        randwrite-new) echo "rand write 4k IOPS, new file" ;; fill) echo "seq write 1M MB/s, new file" ;; esac
}

# run_loads TARGET DEVICE [NAME:RW:BS:QD]...: the four loads (or those named)
# one after the other in one fio process (stonewall: each starts when the
# last ended; starting fio takes seconds in UML); each figure (MB/s for 1 MiB
# loads, IOPS for 4 KiB ones) goes to $WORK/fig.TARGET.NAME, one per round.
run_loads() {
        local target=$1 dev=$2 l name rw bs qd mb=" " args=()
        shift 2
        [ $# -gt 0 ] || set -- "${loads[@]}"
        for l in "$@"; do
                IFS=: read -r name rw bs qd <<<"$l"
                args+=(--name="$name" --rw="$rw" --bs="$bs" --iodepth="$qd" --stonewall)
                [ "$bs" = 1M ] && mb+="$name "
        done
        fio --filename="$dev" --ioengine=libaio --direct=1 --size="$region" --runtime="$runtime" --ramp_time=1 \
                --time_based --randrepeat=0 "${args[@]}" --output-format=terse > "$WORK/fio.out" 2> "$WORK/fio.err" \
                || bail "fio on $dev failed: $(head -c 300 "$WORK/fio.err")"
        # Terse format 3, a line a job: 3 its name; 6, 7, 8 KiB read, KiB/s, IOPS; 47, 48, 49 the same written.
        awk -F';' -v out="$WORK/fig.$target." -v mb="$mb" 'NF > 49 {
                if ($6 > 0) { bw = $7; iops = $8 } else { bw = $48; iops = $49 }
                if (index(mb, " " $3 " ")) printf "%.0f\n", bw * 1024 / 1e6 >> (out $3); else printf "%.0f\n", iops >> (out $3)
                n++ } END { exit n != '$#' }' "$WORK/fio.out" || bail "fio on $dev: not $# figures: $(head -c 300 "$WORK/fio.out")"
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
# The new-file figures: one a session, two sessions a target; their mean.
fig_of() {  # fig_of TARGET LOAD
        case $2 in
        randwrite-new|fill) awk '{ s += $1 } END { if (NR) printf "%.0f", s / NR }' "$WORK/fig.$1.$2" ;;
        *) fig "$1" "$2" ;;
        esac
}
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

# ---- shared mode against exclusive, on two disks of their own ----
if [ -z "$mode_disks" ]; then
        note ""
        note "shared mode against exclusive (tables A to D): skipped here; they run in UML, on two disks of their own"
        exit 0
fi
# The guest kernel cannot load modules on demand (a real one loads dm-thin-pool itself).
modprobe -d "$WORK/modroot" dm-thin-pool || bail "modprobe dm-thin-pool failed"
prepares=${PREPARES:-20}
release_sizes=${RELEASE_SIZES:-0.25 1 4}
release_rounds=${RELEASE_ROUNDS:-1}
mname=${name}m
mmnt=$WORK/modes
mstate=$WORK/mode-state
SOCK=$WORK/mode.sock   # guest-lib.sh's ctl and wait_state talk to it
# A job volume holds the fio file, the new file and its file system; a
# Prepare of another size (table B) is 256 MiB less.
job_mib=$((2 * region / 1048576 + 256))
other_mib=$((job_mib - 256))
job=1000

# Everything of the daemon's on the mode disks goes: mounts, then every
# device-mapper device of this run's name, top down (job volumes' dm-crypt,
# thin volumes, the pool, its metadata and data, exclusive mode's dm-crypt,
# the stripe), in one dmsetup call (each process start is dear in UML).
mode_teardown() {
        local m names pass
        for m in $(awk -v p="$mmnt" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
                umount "$m" || umount -l "$m"
        done
        for pass in 1 2 3 4 5; do
                names=$(dmsetup ls 2> /dev/null | awk -v p="scratchd-$mname" '$1 == p || index($1, p "-") == 1 {
                        n = $1; print (n ~ /-vol-/ ? 1 : n ~ /-thin-/ ? 2 : n ~ /-pool$/ ? 3 : n ~ /-t(meta|data)$/ ? 4 : n == p ? 5 : 6), n
                        }' | sort -n | cut -d' ' -f2)
                [ -n "$names" ] || return 0
                [ $pass = 1 ] || sleep 0.5
                dmsetup remove $names 2> /dev/null
        done
        note "left on the mode disks: $(dmsetup ls 2> /dev/null | grep "scratchd-$mname" | tr '\n' ' ')"
}
trap '[ -z "$pid" ] || { kill "$pid"; wait "$pid"; } 2> /dev/null; teardown; mode_teardown' EXIT

spare_ready() { ctl status --json 2> /dev/null | grep -q '"spare_ready": *true'; }
wait_spare() {  # at most 60 s
        local i
        for i in $(seq 1 600); do spare_ready && return 0; sleep 0.1; done
        return 1
}
pool_field() {
        ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["pool"][sys.argv[1]])' "$1"
}

mode_start() {  # mode_start MODE DISKS [Key=Value]...: the daemon, from nothing, CLEAN (shared: its spare ready)
        local mode=$1 disks=$2 i; shift 2
        mode_teardown
        rm -rf "$mstate" "$SOCK"
        mkdir -p "$mstate" "$mmnt"
        conf "$WORK/mode.conf" "$disks" "$mmnt" Name=$mname Expendable=yes Mode=$mode "$@"
        printf '[Daemon]\nAuditLog=\n' >> "$WORK/mode.conf"
        "$SCRATCHD" --config "$WORK/mode.conf" --state-dir "$mstate" --socket "$SOCK" >> "$WORK/mode-daemon.log" 2>&1 &
        pid=$!
        for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
        wait_state CLEAN || bail "Mode=$mode on $disks: not CLEAN: $(tail -n 5 "$WORK/mode-daemon.log")"
        if [ "$mode" = shared ]; then wait_spare || bail "Mode=shared: no spare after 60 s: $(tail -n 5 "$WORK/mode-daemon.log")"; fi
}
mode_stop() {
        [ "$(sed -n 's/^Mode=//p' "$WORK/mode.conf")" = shared ] && { wait_spare || note "the spare was not ready at the stop"; }
        kill "$pid"; wait "$pid" 2> /dev/null
        pid=
        mode_teardown
}
prepare() {  # prepare [--size SIZE]: a new job's directory
        job=$((job + 1))
        ctl prepare --job $job --user daemon "$@" 2> "$WORK/ctl.err" || bail "prepare of job $job $*: $(cat "$WORK/ctl.err")"
}
# Writes FILE in full, once (sequential 1 MiB, QD 8, O_DIRECT): fill FILE BYTES.
fill() {
        fio --name=fill --filename="$1" --rw=write --bs=1M --iodepth=8 --ioengine=libaio --direct=1 --size="$2" \
                --output-format=terse > /dev/null 2> "$WORK/fio.err" || bail "fio filling $1 failed: $(head -c 300 "$WORK/fio.err")"
}

first="randwrite-new:randwrite:4k:32"
# One session of a target of tables A and D: the daemon started from nothing,
# a job prepared, the fio file written in full (its first writes, timed),
# N rounds of the four loads on it, then random writes into a second, new
# file (first writes again).
mode_session() {  # mode_session TARGET N MODE DISKS [Key=Value]...
        local target=$1 nr=$2 dir r
        shift 2
        [ "$nr" -gt 0 ] || return 0
        t0=$(date +%s%N)
        mode_start "$@"
        t1=$(date +%s%N)
        dir=$(prepare) || exit 1
        t2=$(date +%s%N)
        fill "$dir/fio.dat" "$region"
        t3=$(date +%s%N)
        for r in $(seq 1 "$nr"); do run_loads "$target" "$dir/fio.dat"; done
        run_loads "$target" "$dir/new.dat" "$first"
        t4=$(date +%s%N)
        if [ ! -e "$WORK/stack.$target" ]; then
                dmsetup table | grep "^scratchd-$mname" | awk '{ if ($4 == "crypt") $6 = "<key>"; print }' > "$WORK/stack.$target"
        fi
        mode_stop
        t5=$(date +%s%N)
        # The fill is sequential 1 MiB writes into a new file: first writes too.
        awk -v b="$region" -v s="$t2" -v e="$t3" 'BEGIN { printf "%.0f\n", b / ((e - s) / 1e9) / 1e6 }' >> "$WORK/fig.$target.fill"
        ok "$target: $nr round(s); $(awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" 'BEGIN {
                printf "start to CLEAN %.1f s, prepare %.1f s, fill %.1f s, loads and new-file load %.1f s, stop %.1f s",
                        (b - a) / 1e9, (c - b) / 1e9, (d - c) / 1e9, (e - d) / 1e9, (f - e) / 1e9 }')"
}

# Each target in two sessions, in the order e f e1, e1 f e: a drift of the
# machine's speed over the run falls on all three alike. ROUNDS rounds in
# all; the new-file figure is one a session (their mean).
both=$mode_disks one=${mode_disks%% *}
n1=$(((rounds + 1) / 2)) n2=$((rounds / 2))
s0=$(date +%s)
mode_session excl2 $n1 exclusive "$both"
mode_session shared $n1 shared "$both" JobSize=${job_mib}M MaxJobs=4
mode_session excl1 $n1 exclusive "$one"
mode_session excl1 $n2 exclusive "$one"
mode_session shared $n2 shared "$both" JobSize=${job_mib}M MaxJobs=4
mode_session excl2 $n2 exclusive "$both"
s1=$(date +%s)

# ---- B: Prepare latency, C: release time (Mode=shared, the same disks) ----
mode_start shared "$both" JobSize=${job_mib}M MaxJobs=4
pool_bytes=$(pool_field size_bytes)
ms() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.1f\n", (e - s) / 1e6 }'; }
: > "$WORK/prep.spare"; : > "$WORK/prep.demand"; : > "$WORK/prep.status"
# What any scratchctl call costs here: status, answered from the daemon's memory.
for i in $(seq 1 5); do
        s=$(date +%s%N); ctl status > /dev/null; e=$(date +%s%N)
        ms "$s" "$e" >> "$WORK/prep.status"
done
for i in $(seq 1 "$prepares"); do
        for kind in spare demand; do
                wait_spare || bail "the spare was not made again within 60 s: $(tail -n 5 "$WORK/mode-daemon.log")"
                size=(); [ $kind = demand ] && size=(--size ${other_mib}M)
                s=$(date +%s%N)
                prepare "${size[@]}" > /dev/null || exit 1
                e=$(date +%s%N)
                ms "$s" "$e" >> "$WORK/prep.$kind"
                ctl release --job $job > /dev/null 2> "$WORK/ctl.err" || bail "release of job $job: $(cat "$WORK/ctl.err")"
        done
done
s2=$(date +%s)

# A job's size that holds the largest amount written, with room for XFS's own.
largest=$(tr ' ' '\n' <<<"$release_sizes" | sort -g | tail -n1)
rel_mib=$(awk -v g="$largest" 'BEGIN { printf "%d", g * 1024 * 1.04 + 128 }')
[ $((rel_mib * 1048576)) -le "$pool_bytes" ] \
        || bail "RELEASE_SIZES: a job of ${rel_mib} MiB for $largest GiB does not fit the pool of $((pool_bytes / 1048576)) MiB; give larger MODE_DISK"
for r in $(seq 1 "$release_rounds"); do
        for gib in $release_sizes; do
                wait_spare || note "the spare was not ready before job $((job + 1))"
                dir=$(prepare --size ${rel_mib}M) || exit 1
                fill "$dir/data" "$(awk -v g="$gib" 'BEGIN { printf "%.0f", g * 1073741824 }')"   # (mawk's %d stops at 2^31 - 1)
                sync
                echo "$(pool_field written_bytes)" >> "$WORK/written.$gib"
                wait_spare || note "the spare was not ready before the release of job $job"
                s=$(date +%s%N)
                ctl release --job $job > /dev/null 2> "$WORK/ctl.err" || bail "release of job $job: $(cat "$WORK/ctl.err")"
                e=$(date +%s%N)
                ms "$s" "$e" >> "$WORK/release.$gib"
        done
done
mode_stop
s3=$(date +%s)

# ---- A0: the same layers without a file system or scratchd ----
# dm-crypt (scratchd's table) over a slice of the stripe (g), and over a thin
# volume of a pool on the same stripe (h): what dm-thin itself costs per
# load, apart from where a file system puts a file. Each written in full
# first (the thin volume's blocks provisioned); rounds alternate g and h.
bl=bench-layers
stripe_sectors=$(($(blockdev --getsz "$one") / 512 * 512 * 2))
g_sectors=$((region / 512))
key=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
crypt_table() { echo "0 $g_sectors crypt aes-xts-plain64 $key 0 $1 0 4 allow_discards no_read_workqueue no_write_workqueue sector_size:4096"; }
layers_teardown() { dmsetup remove $bl-cthin $bl-cslice $bl-thin $bl-pool $bl-tdata $bl-tmeta $bl-slice $bl-stripe 2> /dev/null; }
layers_teardown
read -r d1 d2 <<<"$both"
dmsetup create $bl-stripe --table "0 $stripe_sectors striped 2 512 $d1 0 $d2 0" \
        && dmsetup create $bl-tmeta --table "0 8192 linear /dev/mapper/$bl-stripe 0" \
        && dd if=/dev/zero of=/dev/mapper/$bl-tmeta bs=4096 count=1 oflag=direct status=none \
        && dmsetup create $bl-tdata --table "0 $g_sectors linear /dev/mapper/$bl-stripe 8192" \
        && dmsetup create $bl-pool --table "0 $g_sectors thin-pool /dev/mapper/$bl-tmeta /dev/mapper/$bl-tdata 512 0 1 skip_block_zeroing" \
        && dmsetup message $bl-pool 0 "create_thin 1" \
        && dmsetup create $bl-thin --table "0 $g_sectors thin /dev/mapper/$bl-pool 1" \
        && dmsetup create $bl-slice --table "0 $g_sectors linear /dev/mapper/$bl-stripe $((8192 + g_sectors))" \
        && crypt_table /dev/mapper/$bl-slice | dmsetup create $bl-cslice \
        && crypt_table /dev/mapper/$bl-thin | dmsetup create $bl-cthin \
        || bail "cannot build the layers of table A0"
fill /dev/mapper/$bl-cslice "$region"; fill /dev/mapper/$bl-cthin "$region"
for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then run_loads lslice /dev/mapper/$bl-cslice; run_loads lthin /dev/mapper/$bl-cthin
        else run_loads lthin /dev/mapper/$bl-cthin; run_loads lslice /dev/mapper/$bl-cslice; fi
done
layers_teardown
s4=$(date +%s)

# nearest-rank percentile of numbers on stdin: pct P
pct() { sort -g | awk -v p="$1" '{ a[NR] = $1 } END { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print a[i] }'; }

note ""
note "shared mode against exclusive on two more disks ($(echo $both)), each $(numfmt --to=iec-i --suffix=B "$(blockdev --getsize64 "$one")"), striped in 256 KiB chunks"
note "fio on a $(numfmt --to=iec-i --suffix=B "$region") file in a job's directory (XFS), written in full first; $runtime s per load, median of $rounds rounds"
note "(e) Mode=exclusive over both disks; (f) Mode=shared: a job volume of ${job_mib} MiB (JobSize=) on the thin pool over both; (e1) Mode=exclusive over $one alone"
note "  modes took $((s1 - s0)) s, Prepares $((s2 - s1)) s, releases $((s3 - s2)) s"
for t in excl2 shared; do sed "s/^/  stack ($t): /" "$WORK/stack.$t" | while IFS= read -r l; do note "$l"; done; done
note ""
note "A. shared against exclusive, same disks"
note "$(printf '%-30s %12s %12s %6s' load '(e) excl' '(f) shared' f/e)"
a_ok=1
for l in "${loads[@]}" "$first" fill; do
        load=${l%%:*}
        e=$(fig_of excl2 "$load") f=$(fig_of shared "$load")
        note "$(printf '%-30s %12s %12s %6s' "$(load_label "$load")" "$e" "$f" "$(ratio "$f" "$e")")"
        case $load in randwrite-new|fill) continue ;; esac
        awk -v f="$f" -v e="$e" 'BEGIN { exit !(f >= 0.9 * e) }' || a_ok=0
done
if [ "$a_ok" = 1 ]; then ok "target: (f) shared at least 0.9x (e) exclusive on all four loads"
else not_ok "target missed: (f) shared below 0.9x (e) exclusive on some load"; fi

note ""
note "A0. the layers alone: block devices, no file system ($rounds rounds, g and h in turn; took $((s4 - s3)) s)"
note "(g) dm-crypt over a $(numfmt --to=iec-i --suffix=B "$region") slice of the stripe; (h) dm-crypt over a thin volume of a pool on the stripe; both scratchd's dm-crypt table"
note "$(printf '%-30s %12s %12s %6s' load '(g) slice' '(h) thin' h/g)"
for l in "${loads[@]}"; do
        load=${l%%:*}
        g=$(fig lslice "$load") h=$(fig lthin "$load")
        note "$(printf '%-30s %12s %12s %6s' "$(load_label "$load")" "$g" "$h" "$(ratio "$h" "$g")")"
done

note ""
note "B. Prepare latency, ms (wall time of scratchctl prepare; $prepares each, in turn; the spare re-made in the background between them, each Prepare waiting until it is ready)"
note "$(printf '%-44s %8s %8s %8s %8s' '' p50 p99 min max)"
for kind in spare demand status; do
        case $kind in spare) label="default size ($job_mib MiB): the spare mounted" ;;
        demand) label="--size ${other_mib}M: made on demand" ;;
        status) label="for scale: scratchctl status (5 calls)" ;; esac
        note "$(printf '%-44s %8s %8s %8s %8s' "$label" "$(pct 50 < "$WORK/prep.$kind")" "$(pct 99 < "$WORK/prep.$kind")" \
                "$(pct 0 < "$WORK/prep.$kind")" "$(pct 100 < "$WORK/prep.$kind")")"
done
rank=$(((99 * prepares + 99) / 100))
note "  (p99 by nearest rank: of $prepares, the ${rank}th fastest$([ "$rank" = "$prepares" ] && echo ", the slowest"))"

note ""
note "C. release time after the job wrote N GiB (a job of ${rel_mib} MiB; fio write, sync; median of $release_rounds), s"
note "$(printf '%-10s %10s %10s %18s' written release '(all)' 'pool written')"
small= big=
for gib in $release_sizes; do
        v=$(median < "$WORK/release.$gib")
        [ -n "$small" ] || small=$v
        big=$v
        note "$(printf '%-10s %10s %10s %18s' "$gib GiB" "$(awk -v v="$v" 'BEGIN { printf "%.2f", v / 1000 }')" \
                "$(awk '{ printf "%s%.2f", (NR > 1 ? "," : ""), $1 / 1000 }' "$WORK/release.$gib")" \
                "$(numfmt --to=iec-i --suffix=B "$(median < "$WORK/written.$gib")")")"
done
note "  largest over smallest: $(ratio "$big" "$small")"
if awk -v b="$big" -v s="$small" 'BEGIN { exit !(b <= 2 * s) }'; then ok "target: the release after the most written at most 2x the one after the least"
else not_ok "target missed: the release after the most written takes more than 2x the one after the least"; fi

note ""
note "D. exclusive mode, one disk against two (figures only)"
note "$(printf '%-30s %12s %12s %6s' load '(e1) 1 disk' '(e) 2 disks' e/e1)"
for l in "${loads[@]}" "$first" fill; do
        load=${l%%:*}
        e1=$(fig_of excl1 "$load") e=$(fig_of excl2 "$load")
        note "$(printf '%-30s %12s %12s %6s' "$(load_label "$load")" "$e1" "$e" "$(ratio "$e" "$e1")")"
done
note "  UML runs the guest on one CPU: dm-crypt's encryption and dm-stripe's splitting all run on that one"
note "  host thread, so a second disk cannot add throughput the way two NVMe queues, each with its own"
note "  CPUs and interrupts, do on a real node: these figures say what striping costs here, not what it gains."
exit 0
