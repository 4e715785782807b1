#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark (not a test): GetStatus throughput and p50/p99 latency with 1, 16
# and 64 concurrent clients, with the daemon idle and while wipes run back to
# back, in one User-Mode Linux boot (one CPU, shared by clients and daemon).
#
#   bench/status-latency.sh [BUILD-DIR]      (default: build)
set -u
if [ -z "${RESULT:-}" ]; then
        root=$(dirname "$(realpath "$0")")/..
        build=$(realpath "${1:-$root/build}")
        [ -x "$build/bench/status-bench" ] || { echo "build first: meson setup $build && ninja -C $build" >&2; exit 2; }
        img=$(mktemp "${TMPDIR:-/tmp}/scratchd-bench.XXXXXX")
        trap 'rm -f "$img"' EXIT
        truncate -s 8G "$img"
        SCRATCHD=$build/src/scratchd/scratchd SCRATCHCTL=$build/src/scratchctl/scratchctl \
                STATUS_BENCH=$build/bench/status-bench "$root/tests/integration/uml.sh" --disk "$img" "$(realpath "$0")"
        exit $?
fi
. "$GUEST_LIB"
secs=${SECONDS_PER_RUN:-4}

# Discard=yes makes each wipe about 2 s long on this disk (UML discards 32 KiB
# at a time), so a status call always meets a wipe in progress.
conf "$WORK/scratchd.conf" /dev/ubda "$WORK/scratch" Discard=yes
printf '[Daemon]\nAuditLog=%s/audit.log\n' "$WORK" >> "$WORK/scratchd.conf"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start"
wait_state CLEAN || bail "no CLEAN volume"

note "GetStatus against scratchd in UML, ${secs} s per run; latency in microseconds"
note "$(printf '%-8s %7s %10s %10s %10s' load clients calls/s p50 p99)"
for c in 1 16 64; do
        "$STATUS_BENCH" "$SOCK" $c "$secs" idle > "$WORK/idle.$c" || bail "status-bench failed"
        note "$(cat "$WORK/idle.$c")"
done

( while :; do "$SCRATCHCTL" --socket "$SOCK" wipe > /dev/null 2>&1 || sleep 0.1; done ) &
wiper=$!
sleep 1
for c in 1 16 64; do
        "$STATUS_BENCH" "$SOCK" $c "$secs" wiping > "$WORK/wiping.$c" || bail "status-bench failed"
        note "$(cat "$WORK/wiping.$c")"
done
kill $wiper; wait $wiper 2>/dev/null
wipes=$(grep -c '"event":"wipe".*"to":"CLEAN"' "$WORK/audit.log")
note "wipes completed during the 'wiping' runs: $wipes"
check "wipes ran during the measurement" test "$wipes" -ge 1

note ""
for c in 1 16 64; do
        idle=$(awk '{ print $5 }' "$WORK/idle.$c") busy=$(awk '{ print $5 }' "$WORK/wiping.$c")
        ratio=$(echo "$busy / $idle" | bc -l)
        if [ "$(echo "$ratio <= 2" | bc)" = 1 ]; then
                ok "$(printf '%2d clients: p99 while wiping %s us vs idle %s us (%.2fx, target <= 2x)' $c "$busy" "$idle" "$ratio")"
        else
                not_ok "$(printf '%2d clients: p99 while wiping %s us vs idle %s us (%.2fx, target <= 2x)' $c "$busy" "$idle" "$ratio")"
        fi
done
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
exit 0
