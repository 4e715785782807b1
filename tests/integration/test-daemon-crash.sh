#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: kill -9 of the daemon in the middle of a job and in the middle of a
# wipe (before and after the new key), then a restart: the job keeps its
# volume and data; the interrupted wipe ends CLEAN under a new key generation
# with the job's marker gone. A release stuck past WorkTimeoutSec= is answered
# with a named error, and SIGTERM still stops the daemon. Needs a test build
# (-Dtest_hooks=true).
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot a guest with a blank disk
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 512M "$0"
fi
. "$GUEST_LIB"

mnt=$WORK/scratch
map=scratchd-scratch
conf "$WORK/scratchd.conf" /dev/ubda "$mnt"

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start"
wait_state CLEAN || bail "no CLEAN volume to start from"

# In the middle of a job.
dir=$(ctl prepare --job 201 --user daemon)
marker="SCRATCHD-CRASH-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
as_user daemon bash -c "yes '$marker' | head -c 1M > '$dir/out'; sync"
gen=$(field key_generation) key=$(live_key $map) sum=$(sha256sum < "$dir/out")
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not restart"
check "after kill -9 mid-job, the job keeps its volume (IN_USE by 201)" wait_state IN_USE
check "... under the same key generation" test "$(field key_generation)" = "$gen"
check "... and the same key" test "$(live_key $map)" = "$key"
check "... with its data intact" test "$(sha256sum < "$dir/out")" = "$sum"
check "... and its directory still owned by daemon, 0700" test "$(stat -c '%U %a' "$dir")" = "daemon 700"

# In the middle of a wipe: paused at POINT, killed, restarted.
crash_wipe() {  # crash_wipe POINT JOB
        local point=$1 job=$2 before
        kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
        start_daemon "$WORK/scratchd.conf" SCRATCHD_FAULT=pause:$point || bail "restart with a fault failed"
        wait_state IN_USE || bail "job $job lost its volume before the test"
        before=$(field key_generation)
        ctl release --job "$job" > /dev/null 2> "$WORK/release.err" &
        local client=$!
        for _ in $(seq 1 100); do grep -q "fault point $point" "$WORK/daemon.log" && break; sleep 0.1; done
        check "$point: the wipe is paused at $point" grep -q "fault point $point" "$WORK/daemon.log"
        check "$point: status answers while the wipe runs, saying WIPING" test "$(field state)" = WIPING
        kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
        wait $client; local rc=$?
        check "$point: the release in flight fails (exit 4) when the daemon dies" test $rc -eq 4
        sed -i "s/fault point $point/(seen) fault point/" "$WORK/daemon.log"
        start_daemon "$WORK/scratchd.conf" || bail "the daemon did not restart"
        check "$point: after the restart the volume ends CLEAN" wait_state CLEAN
        check "$point: under a new key generation ($before -> $(field key_generation))" test "$(field key_generation)" -gt "$before"
        sync; echo 3 > /proc/sys/vm/drop_caches
        check "$point: the marker is nowhere on the new volume" test "$(count_marker /dev/mapper/$map "$marker")" -eq 0
        check "$point: the marker is nowhere on the raw disk" test "$(count_marker /dev/ubda "$marker")" -eq 0
}

crash_wipe discard 201      # old key gone, new one not made yet

dir=$(ctl prepare --job 202 --user nobody)
marker="SCRATCHD-CRASH-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
as_user nobody bash -c "yes '$marker' | head -c 1M > '$dir/out'; sync"
crash_wipe mkfs 202         # new key active, filesystem not made yet

# A release stuck past WorkTimeoutSec= (held 60 s at mkfs, the deadline
# 5 s): the epilog's Release is answered VolumeFailed naming the step, not
# left hanging; status answers FAILED meanwhile and no job gets the volume;
# SIGTERM ends the daemon within seconds, leaving the stuck work; the next
# start erases what it left.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
conf "$WORK/deadline.conf" /dev/ubda "$mnt"
printf '[Daemon]\nWorkTimeoutSec=5\n' >> "$WORK/deadline.conf"
start_daemon "$WORK/deadline.conf" SCRATCHD_FAULT=pause:mkfs || bail "restart with a deadline failed"
wait_state CLEAN || bail "no CLEAN volume before the stuck release"
ctl prepare --job 203 --user daemon > /dev/null || bail "prepare of job 203 failed"
before=$(field key_generation)
s=$(date +%s)
timeout 120 "$SCRATCHCTL" --socket "$SOCK" --no-wait release --job 203 2> "$WORK/release.err"; rc=$?
took=$(($(date +%s) - s))
note "stuck release: answered after $took s, exit $rc: $(cat "$WORK/release.err")"
check "stuck release: answered, failed (exit 1), not hanging" test $rc -eq 1
check "... the error names WorkTimeoutSec= and the step (mkfs)" \
        grep -q "has not finished in WorkTimeoutSec=5 s (at step mkfs" "$WORK/release.err"
check "... and is one line" test "$(wc -l < "$WORK/release.err")" -eq 1
check "... status answers meanwhile, FAILED" test "$(field state)" = FAILED
check_fails "... and no job gets the volume" ctl prepare --job 204 --user daemon
kill -TERM "$DAEMON_PID"
s=$(date +%s)
for _ in $(seq 1 600); do kill -0 "$DAEMON_PID" 2> /dev/null || break; sleep 0.1; done
stop=$(($(date +%s) - s))
note "SIGTERM with the stuck release: the daemon ended after $stop s"
check "SIGTERM ends the daemon with its release stuck (within 60 s: $stop s)" bash -c "! kill -0 $DAEMON_PID 2> /dev/null"
wait "$DAEMON_PID" 2> /dev/null
check "... the journal names the work it left" grep -q "leaving its release running (at step mkfs)" "$WORK/daemon.log"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not restart after the stuck release"
check "the next start ends CLEAN" wait_state CLEAN
check "... under a new key generation ($before -> $(field key_generation))" test "$(field key_generation)" -gt "$before"

kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
check "the daemon stops cleanly at the end" test $? -eq 0
grep -E "adopt|in use by|cannot be proven" "$WORK/daemon.log" | sed 's/^/# /' >> "$RESULT"
exit 0
