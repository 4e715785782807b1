#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: the live volume key, read from the kernel (dmsetup table --showkeys),
# is nowhere in the daemon's readable memory after setup and after each wipe,
# nor in the state file, the audit log or the daemon's log; the daemon is not
# dumpable (a crash leaves no core); the key's pages are locked and excluded
# from core dumps while it exists. Needs a test build (-Dtest_hooks=true).
set -u
if [ -z "${RESULT:-}" ]; then
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 512M "$0"
fi
. "$GUEST_LIB"

map=scratchd-scratch
conf "$WORK/scratchd.conf" /dev/ubda "$WORK/scratch"
printf '[Daemon]\nAuditLog=%s/audit.log\n' "$WORK" >> "$WORK/scratchd.conf"
scan() { python3 "$SOURCE_ROOT/tests/integration/memscan.py" "$@"; }

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start"
wait_state CLEAN || bail "no CLEAN volume"
for round in setup wipe-1 wipe-2 wipe-3; do
        if [ "$round" != setup ]; then ctl wipe > /dev/null || bail "wipe failed"; fi
        key=$(live_key $map)
        check "$round: the live key is a 512-bit key" test ${#key} -eq 128
        out=$(scan "$DAEMON_PID" "$key")
        note "$round: daemon memory scan: $out"
        check "$round: the key is nowhere in the daemon's memory" grep -q '^hits 0 ' <<<"$out"
        check "$round: ... which was scanned (more than 1 MiB)" test "$(awk '{ print $6 }' <<<"$out")" -gt 1048576
        check "$round: the key is not in the state file" bash -c "! grep -qi '$key' /run/scratchd/scratch.state"
        check "$round: the key is not in the audit log" bash -c "! grep -qi '$key' '$WORK/audit.log'"
        check "$round: the key is not in the daemon's log" bash -c "! grep -qi '$key' '$WORK/daemon.log'"
done

# The scanner can find a key: scan a process that holds one (the control).
python3 -c "import sys,time; k=bytes.fromhex(sys.argv[1]); print('ready', flush=True); time.sleep(30)" "$key" > "$WORK/ctl.out" &
control=$!
for _ in $(seq 1 50); do grep -q ready "$WORK/ctl.out" && break; sleep 0.1; done
out=$(scan "$control" "$key")
note "control: $out"
check "control: the scanner finds a key held by another process" bash -c "! grep -q '^hits 0 ' <<<'$out'"
kill $control

# While a key exists in our memory (paused right after it is made): its pages
# are locked (lo) and left out of core dumps (dd).
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
start_daemon "$WORK/scratchd.conf" SCRATCHD_FAULT=pause:key-made || bail "restart failed"
wait_state CLEAN
ctl wipe > /dev/null 2>&1 &
for _ in $(seq 1 100); do grep -q "fault point key-made" "$WORK/daemon.log" && break; sleep 0.1; done
check "paused with the new key in memory" grep -q "fault point key-made" "$WORK/daemon.log"
flags=$(awk '/^VmFlags:/ && / lo / && / dd / { n++ } END { print n + 0 }' /proc/$DAEMON_PID/smaps)
check "the key's pages are locked and excluded from core dumps (VmFlags lo dd)" test "$flags" -ge 1

# Not dumpable: a crash leaves no core, even with core dumps allowed. The
# control: an ordinary process crashing the same way does leave one.
echo "$WORK/core.%p" > /proc/sys/kernel/core_pattern
bash -c 'ulimit -c unlimited; exec sleep 30' &
dumpable=$!
sleep 0.2; kill -SEGV $dumpable; wait $dumpable 2>/dev/null; sleep 0.5
check "control: an ordinary crashing process leaves a core" test -e "$WORK/core.$dumpable"
rm -f "$WORK"/core.*
prlimit --pid "$DAEMON_PID" --core=unlimited
kill -SEGV "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
sleep 0.5
check "a crashed daemon leaves no core dump (PR_SET_DUMPABLE 0)" bash -c "! ls '$WORK'/core.* >/dev/null 2>&1"
exit 0
