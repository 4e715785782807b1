#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark (not a test): wipe-to-ready time, step by step, of sparse scratch
# disks of 1 GiB, 64 GiB, 1 TiB and 4 TiB, in one User-Mode Linux boot, beside
# a full overwrite of the 1 GiB disk (what a wipe costs without crypto-erase).
#
#   bench/wipe-to-ready.sh [BUILD-DIR]      (default: build)
#
# Each disk is set up once, then wiped ROUNDS times (default 3); the table
# shows the median of each step. Figures from inside UML compare only with
# figures from the same run.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host
        root=$(dirname "$(realpath "$0")")/..
        build=$(realpath "${1:-$root/build}")
        [ -x "$build/src/scratchd/scratchd" ] || { echo "build scratchd first: meson setup $build && ninja -C $build" >&2; exit 2; }
        dir=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-bench.XXXXXX")
        trap 'rm -rf "$dir"' EXIT
        args=()
        for s in 1G 64G 1T 4T; do truncate -s $s "$dir/$s.img"; args+=(--disk "$dir/$s.img"); done
        SCRATCHD="$build/src/scratchd/scratchd" GUEST_TIMEOUT=1500 UML_TIMEOUT=1600 \
                "$root/tests/integration/uml.sh" --mem 2G "${args[@]}" "$(realpath "$0")"
        echo "# host disk usage of the sparse images after the run:"
        du -h --apparent-size "$dir"/*.img | sed 's/^/#   apparent /'
        du -h "$dir"/*.img | sed 's/^/#   allocated /'
        exit 0
fi
. "$GUEST_LIB"
rounds=${ROUNDS:-3}
steps="check-users unmount deactivate discard rekey zero-head mkfs mount"

. "$SOURCE_ROOT/bench/bench-lib.sh"

i=0
for size in 1G 64G 1T 4T; do
        dev=/dev/ubd$(printf "\\x$(printf %x $((97 + i)))")
        name=vol$i
        conf "$WORK/$name.conf" "$dev" "$WORK/mnt-$name" "Name=$name"
        scratchd --config "$WORK/$name.conf" setup || bail "setup of $size failed: $(cat "$WORK/stderr")"
        for r in $(seq 1 "$rounds"); do
                s=$(date +%s%N)
                scratchd --config "$WORK/$name.conf" wipe || bail "wipe of $size failed: $(cat "$WORK/stderr")"
                e=$(date +%s%N)
                cp "$WORK/stderr" "$WORK/$name.$r.log"
                echo $(((e - s) / 1000000)) >> "$WORK/$name.total"
        done
        ok "$size wiped $rounds times"
        i=$((i + 1))
done

# The reference: overwrite the whole 1 GiB raw disk once, as a wipe without
# crypto-erase must (dd with O_DIRECT, then fsync).
umount "$WORK/mnt-vol0" && dmsetup remove scratchd-vol0 || bail "cannot release the 1 GiB disk"
s=$(date +%s%N)
dd if=/dev/zero of=/dev/ubda bs=4M count=$(($(blockdev --getsize64 /dev/ubda) / 4194304)) oflag=direct conv=fsync status=none || bail "overwrite failed"
e=$(date +%s%N)
overwrite_ms=$(((e - s) / 1000000))

note ""
note "wipe-to-ready in User-Mode Linux (dm-crypt in the UML kernel, ubd disks on sparse files); median of $rounds wipes, ms"
header=$(printf '%-8s' disk; for st in $steps; do printf ' %11s' "$st"; done; printf ' %9s %10s' total "vs 1 GiB")
note "$header"
i=0
base=
for size in 1G 64G 1T 4T; do
        name=vol$i
        line=$(printf '%-8s' "$size")
        for st in $steps; do
                v=$(for r in $(seq 1 "$rounds"); do step_ms "$WORK/$name.$r.log" "$st"; done | median)
                if [ "$v" = skipped ]; then line+=$(printf ' %11s' skipped); else line+=$(printf ' %11.1f' "$v"); fi
        done
        total=$(median < "$WORK/$name.total")
        [ -n "$base" ] || base=$total
        line+=$(printf ' %9d %9.2fx' "$total" "$(echo "$total / $base" | bc -l)")
        note "$line"
        i=$((i + 1))
done
note ""
note "$(printf 'reference: full overwrite of the 1 GiB disk: %d ms (%.1f MiB/s); at that rate 4 TiB would take %.1f hours' \
        "$overwrite_ms" "$(echo "1024000 / $overwrite_ms" | bc -l)" "$(echo "$overwrite_ms * 4096 / 3600000" | bc -l)")"
four=$(median < "$WORK/vol3.total")
if [ "$four" -le $((2 * base)) ]; then ok "target: 4 TiB ready in ${four} ms <= 2 x 1 GiB (${base} ms)"
else not_ok "target missed: 4 TiB ready in ${four} ms > 2 x 1 GiB (${base} ms)"; fi
exit 0
