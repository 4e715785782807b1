#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: load and abuse. 1,000 concurrent connections and 100,000 requests
# against the daemon: no crash, every well-formed request answered, resident
# memory bounded (printed), open descriptors back to baseline afterwards.
set -u
if [ -z "${RESULT:-}" ]; then
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 320M "$0"
fi
. "$GUEST_LIB"
conf "$WORK/scratchd.conf" /dev/ubda "$WORK/scratch" FileSystem=ext4
printf '[Daemon]\nMaxConnections=1100\nAuditLog=\n' >> "$WORK/scratchd.conf"
ulimit -n 4096
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start"
wait_state CLEAN || bail "no CLEAN volume"
fds() { ls /proc/$DAEMON_PID/fd | wc -l; }
rss() { awk '/^VmRSS/ { print $2 }' /proc/$DAEMON_PID/status; }
fd0=$(fds) rss0=$(rss)
out=$(python3 "$SOURCE_ROOT/tests/integration/load.py" "$SOCK" 1000 100000)
note "load: $out"
read -r _ answered _ errors _ refused _ secs <<<"$out"
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$DAEMON_PID/status)
check "the daemon survived" kill -0 "$DAEMON_PID"
check "all 100000 requests over 1000 connections were answered" test "$answered" -eq 100000
check "no errors and no refusals" test "$errors" -eq 0 -a "$refused" -eq 0
for _ in $(seq 1 50); do [ "$(fds)" -le "$fd0" ] && break; sleep 0.1; done
note "resident memory: $rss0 KiB idle, peak $hwm KiB under load, $(rss) KiB after; descriptors $fd0 before, $(fds) after"
check "peak resident memory under load stays under 64 MiB" test "$hwm" -lt 65536
check "open descriptors are back to the baseline ($fd0)" test "$(fds)" -le "$fd0"
check "a status call is served right after" ctl status

# Nine unprivileged uids hold every connection they can (the five in
# ReadGroup= also send calls whose replies they never read); root's calls
# find the slots kept for root and OperatorGroup=, and are answered within
# 1 s (or three quiet Prepares' time, on a host that slow): 95 in 100 within
# it, every one within twice it.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
conf "$WORK/hog.conf" /dev/ubda "$WORK/scratch" FileSystem=ext4
printf '[Access]\nReadGroup=users\n[Daemon]\nAuditLog=\n' >> "$WORK/hog.conf"
start_daemon "$WORK/hog.conf" || bail "the daemon did not start on hog.conf"
wait_state CLEAN || bail "no CLEAN volume (hog.conf)"
rss0=$(rss)
# Root's Prepare, timed the same way with nobody hogging: the bound below is
# 1 s or three times the slowest of these, whichever is larger, because UML
# on a busy host runs two to six times slower from one run to the next.
timed_prepares() {
        for job in "$@"; do
                s=$(date +%s%N)
                ctl prepare --job $job --user daemon > /dev/null 2>> "$WORK/hog.err" || echo failed
                echo $((($(date +%s%N) - s) / 1000000))
                ctl release --job $job 2>> "$WORK/hog.err" || echo failed
        done
}
timed_prepares 101 102 103 > "$WORK/quiet.ms"
quiet=$(grep -v failed "$WORK/quiet.ms" | sort -n | tail -n 1)
bound=$(( ${quiet:-0} * 3 > 1000 ? ${quiet:-0} * 3 : 1000 ))
python3 "$SOURCE_ROOT/tests/integration/hog.py" "$SOCK" 40 "$(getent group users | cut -d: -f3)" > "$WORK/hog.out" 2> "$WORK/hog.err" &
hog=$!
sleep 4
timed_prepares 201 202 203 > "$WORK/prepare.ms"
wait $hog
out=$(cat "$WORK/hog.out")
note "hogs: $out; root's Prepares took $(tr '\n' ' ' < "$WORK/prepare.ms")ms under the hogs, $(tr '\n' ' ' < "$WORK/quiet.ms")ms without"
read -r _ calls _ failed _ worst _ held _ refused _ p95 <<<"$out"
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$DAEMON_PID/status)
note "resident memory: $rss0 KiB before the hogs, peak $hwm KiB"
check "the hogs held connections and were refused more ($held held, $refused refused)" test "${held:-0}" -gt 100 -a "${refused:-0}" -gt 0
check "every root GetStatus during the hogging was answered ($calls calls)" test "${calls:-0}" -gt 50 -a "${failed:-1}" -eq 0
# 95 in 100 within the bound, and every one within twice it: a host busy
# with other guests stalls this one now and then (a GetStatus took 1,027 ms
# once in 159, the rest under 300, on 2026-12-03), which no daemon can help.
check "... 95 in 100 within $bound ms (the 95th percentile: $p95 ms)" test "${p95:-99999}" -lt "$bound"
check "... each within $((2 * bound)) ms (the slowest $worst ms)" test "${worst:-99999}" -lt $((2 * bound))
check "root's Prepares and releases all succeeded" bash -c "! grep -q failed '$WORK/prepare.ms'"
check "root's Prepares without the hogs all succeeded" bash -c "! grep -q failed '$WORK/quiet.ms'"
check "... each Prepare under the hogs within $bound ms" test "$(sort -n "$WORK/prepare.ms" | tail -n 1)" -lt "$bound"
check "peak resident memory with clients that never read stays under 64 MiB" test "$hwm" -lt 65536
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
check "the daemon stops cleanly" test $? -eq 0
exit 0
