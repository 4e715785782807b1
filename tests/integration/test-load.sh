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
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
check "the daemon stops cleanly" test $? -eq 0
exit 0
