#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark (not a test): how long a release takes when the finished job left
# its writes in the page cache, dirty, against a release after a job that
# wrote nothing.
#
#   bench/release-dirty.sh [--build DIR]
#       In User-Mode Linux: one guest with MEM of memory (default 6G) and one
#       sparse file-backed disk of DISK (default 6G), the daemon on it with
#       the tests' config (Mode=exclusive, FileSystem=xfs, the defaults).
#
# For each of ROUNDS rounds (default 5), for each size of DIRTY_SIZES GiB in
# turn (default "0 1 4"; 0 is the clean release: the job wrote nothing): a
# job of user daemon is prepared, the user writes SIZE into the job's
# directory (dd from /dev/zero, no sync), and `scratchctl release` is timed
# (wall time, ms). Background writeback is off (vm.dirty_bytes and
# dirty_background_bytes above the largest size, dirty_writeback_centisecs
# 0), so the data is still dirty when the release starts: the Dirty: figure
# of /proc/meminfo just before it is printed. What the release wrote to the
# disk comes from /sys/block/DISK/stat (sectors written), before and after;
# the clean release's figure is the wipe's own (mkfs and mount). The
# daemon's own time for each wipe step (its log) is printed below it.
# The table: the median over the rounds of each figure, and each size's
# release time over the clean release's (target: at most 1.5 at every size).
# A size that does not fit in the guest's memory with room to spare (the
# data, plus 768 MiB for the kernel, the daemon and the wipe, within
# MemAvailable) is replaced by the largest whole GiB that does, and labeled.
set -u
self=$(realpath "$0")
root=$(dirname "$self")/..

if [ -z "${RESULT:-}" ]; then   # not yet inside the guest: boot it
        build=$root/build
        while [ $# -gt 0 ]; do
                case "$1" in
                --build) build=$2; shift 2 ;;
                -h|--help) sed -n '3,/^set -u$/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
                *) echo "release-dirty.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
                esac
        done
        build=$(realpath "$build")
        [ -x "$build/src/scratchd/scratchd" ] || { echo "release-dirty.sh: build scratchd first: meson setup $build && ninja -C $build" >&2; exit 2; }
        export SCRATCHD=$build/src/scratchd/scratchd SCRATCHCTL=$build/src/scratchctl/scratchctl
        export SOURCE_ROOT=$(realpath "$root")
        mem=${MEM:-6G} disk=${DISK:-6G}
        load0=$(cut -d' ' -f1-3 /proc/loadavg) start=$(date +%s)
        WHERE="User-Mode Linux $(basename /usr/lib/uml/modules/*/) on $(nproc) host cores, mem=$mem, a sparse $disk disk on a file in $(df --output=fstype "${TMPDIR:-/tmp}" | tail -n1)" \
        GUEST_TIMEOUT=${GUEST_TIMEOUT:-1500} UML_TIMEOUT=${UML_TIMEOUT:-1560} "$root/tests/integration/uml.sh" --mem "$mem" \
                --new-disk "$disk" "$self" /dev/ubda
        rc=$?
        echo "# the whole run took $(($(date +%s) - start)) s; host load average (1, 5, 15 min) before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
        exit $rc
fi

# ---- in the guest ----
. "$GUEST_LIB"
. "$SOURCE_ROOT/bench/bench-lib.sh"
disk=$1
dev=${disk##*/}
rounds=${ROUNDS:-5}
sizes=${DIRTY_SIZES:-0 1 4}
mnt=$WORK/scratch
mib_of() { awk -v g="$1" 'BEGIN { printf "%d", g * 1024 }'; }
kib() { awk -v k="$1" '$1 == k ":" { print $2 }' /proc/meminfo; }

conf "$WORK/scratchd.conf" "$disk" "$mnt"
printf '[Daemon]\nAuditLog=%s\n' "$WORK/audit.log" >> "$WORK/scratchd.conf"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
wait_state CLEAN || bail "no CLEAN volume: $(tail -n 5 "$WORK/daemon.log")"
trap 'kill -TERM "$DAEMON_PID" 2> /dev/null; wait "$DAEMON_PID" 2> /dev/null' EXIT

# What fits: each size's data, plus 768 MiB, within what is available now.
sync; echo 3 > /proc/sys/vm/drop_caches
avail_mib=$(($(kib MemAvailable) / 1024))
fit_gib=$(((avail_mib - 768) / 1024))
disk_mib=$(($(blockdev --getsize64 "$disk") >> 20))
list= labels=()
for g in $sizes; do
        label="$g GiB"
        if [ "$(mib_of "$g")" -gt $((fit_gib * 1024)) ]; then
                note "$g GiB does not fit in this guest's memory (MemAvailable $avail_mib MiB, 768 MiB kept free): $fit_gib GiB instead"
                label="$fit_gib GiB (asked $g: the largest that fits)"
                g=$fit_gib
        fi
        [ "$(mib_of "$g")" -le $((disk_mib - 512)) ] || bail "$g GiB does not fit on the $disk_mib MiB disk; give a larger DISK"
        list+="$g "; labels+=("$label")
done
max_mib=$(for g in $list; do mib_of "$g"; echo; done | sort -n | tail -n1)

# Dirty pages stay dirty until the release (no background writeback), as in
# tests/integration/test-holders.sh, with the limits above the largest size.
echo $(((max_mib + 512) << 20)) > /proc/sys/vm/dirty_bytes
echo $(((max_mib + 412) << 20)) > /proc/sys/vm/dirty_background_bytes
echo 0 > /proc/sys/vm/dirty_writeback_centisecs; echo 360000 > /proc/sys/vm/dirty_expire_centisecs

steps="check-users unmount deactivate discard rekey zero-head mkfs mount"
written() { awk '{ print $7 * 512 }' "/sys/block/$dev/stat"; }
job=0
for r in $(seq 1 "$rounds"); do
        for g in $list; do
                job=$((job + 1)) mib=$(mib_of "$g")
                wait_state CLEAN || bail "no CLEAN volume before job $job"
                sync; echo 3 > /proc/sys/vm/drop_caches
                dir=$(ctl prepare --job $job --user daemon) || bail "prepare of job $job failed"
                if [ "$mib" -gt 0 ]; then
                        s=$(date +%s%N)
                        as_user daemon dd if=/dev/zero of="$dir/data" bs=1M count="$mib" status=none || bail "job $job: the write of $g GiB failed"
                        echo $((($(date +%s%N) - s) / 1000000)) >> "$WORK/dd.$g"
                fi
                dirty=$(($(kib Dirty) / 1024))
                echo "$dirty" >> "$WORK/dirty.$g"
                lines=$(wc -l < "$WORK/daemon.log")
                w0=$(written) s=$(date +%s%N)
                ctl release --job $job > /dev/null 2> "$WORK/ctl.err" || bail "release of job $job ($g GiB): $(cat "$WORK/ctl.err")"
                e=$(date +%s%N) w1=$(written)
                ms=$(((e - s) / 1000000)) wr=$(((w1 - w0) >> 20))
                echo "$ms" >> "$WORK/ms.$g"; echo "$wr" >> "$WORK/written.$g"
                tail -n +$((lines + 1)) "$WORK/daemon.log" > "$WORK/release.log"
                for st in $steps; do step_ms "$WORK/release.log" "$st" >> "$WORK/step.$st.$g"; done
                awk '/ready in/ { d = $(NF-1); if ($NF == "s") d *= 1000; v = d } END { print v + 0 }' "$WORK/release.log" >> "$WORK/step.total.$g"
                note "round $r, $g GiB: Dirty: $dirty MiB before; release $ms ms, $wr MiB written to $disk"
        done
        ok "round $r of $rounds"
done

clean=$(median < "$WORK/ms.$(echo $list | cut -d' ' -f1)")
clean_written=$(median < "$WORK/written.$(echo $list | cut -d' ' -f1)")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
note ""
note "release with dirty data on $WHERE"
note "the guest: MemTotal $(($(kib MemTotal) / 1024)) MiB, MemAvailable $avail_mib MiB at the start; $disk of $disk_mib MiB, the daemon's defaults (Mode=exclusive, FileSystem=xfs)"
note "vm.dirty_bytes $(((max_mib + 512))) MiB, dirty_background_bytes $(((max_mib + 412))) MiB, dirty_writeback_centisecs 0: no writeback before the release"
note "median of $rounds rounds, sizes in turn within each round ($(echo $list)); the first size is the reference"
note "$(printf '%-40s %12s %11s %22s %14s %9s' size 'dirty MiB' 'release ms' '(all rounds)' 'written MiB' ratio)"
i=0 all_ok=1
for g in $list; do
        v=$(median < "$WORK/ms.$g")
        rt=$(ratio "$v" "$clean")
        note "$(printf '%-40s %12s %11s %22s %14s %9s' "${labels[$i]}" "$(median < "$WORK/dirty.$g")" "$v" \
                "$(paste -sd, "$WORK/ms.$g")" "$(median < "$WORK/written.$g")" "$rt")"
        i=$((i + 1))
done
note "  where the time goes: the daemon's wipe steps, median ms (its log), the wipe's total, and the rest of the release"
note "$(printf '  %-10s' size; for st in $steps; do printf ' %11s' "$st"; done; printf ' %9s %9s' wipe rest)"
for g in $list; do
        w=$(median < "$WORK/step.total.$g")
        note "$(printf '  %-10s' "$g GiB"; for st in $steps; do printf ' %11s' "$(median < "$WORK/step.$st.$g")"; done
                printf ' %9s %9s' "$w" "$(awk -v a="$(median < "$WORK/ms.$g")" -v w="$w" 'BEGIN { printf "%.0f", a - w }')")"
done
note "  dirty MiB: Dirty: of /proc/meminfo just before the release; written MiB: sectors written to $disk during the release"
note "  (the wipe's own writes, mkfs and mount, are the clean release's $clean_written MiB)"
dd_ms=$(for g in $list; do [ -f "$WORK/dd.$g" ] && printf '%s GiB %s ms, ' "$g" "$(median < "$WORK/dd.$g")"; done)
[ -z "$dd_ms" ] || note "  the writes themselves (dd, no sync), median: ${dd_ms%, }"
for g in $list; do
        [ "$(mib_of "$g")" -gt 0 ] || continue
        v=$(median < "$WORK/ms.$g") rt=$(ratio "$(median < "$WORK/ms.$g")" "$clean")
        if awk -v r="$rt" 'BEGIN { exit !(r <= 1.5) }'; then ok "target: $g GiB dirty: the release at most 1.5x the clean release ($rt)"
        else not_ok "target missed: $g GiB dirty: the release $rt x the clean release (target: at most 1.5)"; all_ok=0; fi
        # The dirty data was dropped, not written: the release wrote at most
        # 64 MiB (or 5% of the data) more than the clean one.
        extra=$(($(median < "$WORK/written.$g") - clean_written)) allow=$(($(mib_of "$g") / 20 > 64 ? $(mib_of "$g") / 20 : 64))
        check "$g GiB dirty: the release wrote $extra MiB more than the clean one (at most $allow: the data was dropped)" test "$extra" -le "$allow"
        dmin=$(sort -n "$WORK/dirty.$g" | head -n1)
        check "$g GiB dirty: at least 95% of it was still dirty before each release (least: $dmin MiB)" test "$dmin" -ge $(($(mib_of "$g") * 95 / 100))
done
[ "$all_ok" = 1 ] && note "the 1.5x target is met at every size"
exit 0
