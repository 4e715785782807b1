#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: disk faults. Each scratch disk is a device-mapper device over a ubd
# disk (dm-linear while healthy); a fault swaps its table for dm-flakey that
# fails every I/O (or only writes) from that moment, and back. I/O errors
# during setup, during a job and during a release each end with the volume
# FAILED (fenced) and a reason that names the failure, within a bound (no
# hang), with status answering; a second daemon's volume on a healthy disk is
# untouched throughout; with the fault gone, a wipe brings the volume back to
# CLEAN. Then the same in shared mode, one of the pool's two disks faulty.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: a guest with four blank disks
        exec "$(dirname "$(realpath "$0")")/uml.sh" --mem 1536M --new-disk 512M --new-disk 512M \
                --new-disk 512M --new-disk 512M "$0"
fi
. "$GUEST_LIB"
for m in dm-flakey dm-thin-pool; do
        modprobe -d "$WORK/modroot" $m || bail "modprobe $m failed"
done

# Every call to a daemon is bounded: a generous limit (UML on a busy host is
# slow), well below the guest's own.
LIMIT=150
tctl() { timeout $LIMIT "$SCRATCHCTL" --socket "$SOCK" --no-wait "$@"; }
# Status must answer at once whatever the disks do: 30 s is a hang.
ctl() { timeout 30 "$SCRATCHCTL" --socket "$SOCK" --no-wait "$@"; }
field() { ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0].get(sys.argv[1], ""))' "$1"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_until SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS.
wait_until() {
        local end=$(($(date +%s) + $1)); shift
        until "$@"; do [ "$(date +%s)" -lt $end ] || return 1; sleep 0.2; done
}
# In STATE, and not being adopted (shown in its recorded state meanwhile).
state_is() { [ "$(field state)$(field adopting)" = "$1" ]; }

# Fault devices: fault_make NAME DISK; fault_on NAME [FEATURE]; fault_off NAME.
declare -A fault_table
fault_make() {
        local sz mm
        sz=$(blockdev --getsz "$2") && mm=$(stat -L -c '%t:%T' "$2") || return 1
        mm=$((16#${mm%:*})):$((16#${mm#*:}))
        fault_table[$1]="0 $sz linear $mm 0"
        dmsetup create "$1" --table "${fault_table[$1]}" && dmsetup mknodes "$1"
}
# Up 0 s, down 1 s: down all the time. No feature: every I/O fails (EIO);
# error_writes: reads pass, writes fail.
fault_on() {
        local t=${fault_table[$1]} feat=${2:-}
        t=${t/ linear / flakey }
        dmsetup load "$1" --table "$t 0 1${feat:+ 1 $feat}" && dmsetup resume "$1"
}
fault_off() { dmsetup load "$1" --table "${fault_table[$1]}" && dmsetup resume "$1"; }

# What a hang leaves: the daemon's threads' kernel stacks and its log.
dump_daemon() {
        local t
        note "daemon $DAEMON_PID: $(tr '\0' ' ' < /proc/$DAEMON_PID/cmdline 2> /dev/null)"
        for t in /proc/$DAEMON_PID/task/*; do
                note "  thread ${t##*/} ($(cat $t/comm 2> /dev/null)) $(cat $t/wchan 2> /dev/null):"
                sed 's/^/#     /' $t/stack >> "$RESULT" 2> /dev/null
        done
        tail -n 30 "$WORK/daemon.log" | sed 's/^/# daemon: /' >> "$RESULT"
}

# calls CTL-ARGS...: runs one bounded call; its exit status in $rc, its
# stderr in $WORK/err, its wall time in $took (ms). A call the limit ended
# is a hang: the daemon's stacks are noted.
calls() {
        local t0; t0=$(ms)
        tctl "$@" > "$WORK/out" 2> "$WORK/err"; rc=$?
        took=$(($(ms) - t0))
        if [ $rc -eq 124 ]; then note "HANG: scratchctl $* ran past ${LIMIT}s"; dump_daemon; fi
        return 0
}

# fenced WHAT: the volume is FAILED, its reason names an I/O error, status
# answers at once, nothing of it is left live (no mount, no mapping).
fenced() {
        local what=$1 reason
        check "$what: status answers" tctl status > /dev/null
        check "$what: the volume is FAILED" test "$(field state)" = FAILED
        reason=$(field reason)
        note "$what: reason: $reason"
        check "$what: the reason names the I/O error" grep -q -i -E 'input/output|I/O|EIO' <<< "$reason"
        check "$what: the reason names the step or the disk" grep -q -E "$map_re" <<< "$reason"
        check_fails "$what: nothing is mounted at $mnt" grep -q " $mnt " /proc/self/mountinfo
        check_fails "$what: the mapping is gone" test -e /dev/mapper/scratchd-scratch
}

# audited_failed JOB WHAT: the audit event of JOB's wipe says FAILED, why.
audited_failed() {
        check "$2: the audit event of job $1's wipe says FAILED with the I/O error" \
                grep -q -E '"event":"wipe".*"job":"'$1'".*"to":"FAILED".*Input/output error' "$WORK/audit.log"
}

# recovers WHAT: with the fault gone, a wipe makes the volume CLEAN, and a
# job can write to it.
recovers() {
        local what=$1
        fault_off fault-a || bail "fault_off fault-a"
        # A wipe asked while the daemon's own retry runs is answered busy
        # (by design): asked again until the worker takes it.
        wipe_taken() { calls wipe; [ $rc -eq 0 ] || ! grep -q 'wait, or' "$WORK/err"; }
        wait_until 90 wipe_taken
        check "$what: with the fault gone, a wipe succeeds (${took} ms)" test $rc -eq 0
        [ $rc -eq 0 ] || note "wipe: $(cat "$WORK/err")"
        check "$what: the volume is CLEAN again" test "$(field state)" = CLEAN
}

# The other volume: its own daemon, disk, name and socket, with a job that
# writes before, between and after the faults.
other_sock=/run/scratchd/other
other_mnt=$WORK/other
conf "$WORK/other.conf" /dev/ubdb "$other_mnt" Name=other FileSystem=ext4
SOCK=$other_sock start_daemon "$WORK/other.conf" || bail "the other daemon did not start"
other_pid=$DAEMON_PID
SOCK=$other_sock wait_until 90 state_is CLEAN || bail "the other volume is not CLEAN: $(tail -n 5 "$WORK/daemon.log")"
other_dir=$(SOCK=$other_sock tctl prepare --job 900 --user daemon) || bail "the other job's prepare failed"
other_key=$(live_key scratchd-other)
other_writes() {  # the other job writes and reads back a file of its own
        as_user daemon bash -c "head -c 4M /dev/urandom > '$other_dir/f.$1' && sync '$other_dir/f.$1' && test -s '$other_dir/f.$1'"
}
other_untouched() {
        check "$1: the other volume is still IN_USE by its job" test "$(SOCK=$other_sock field state) $(SOCK=$other_sock field job)" = "IN_USE 900"
        check "$1: under the same key" test "$(live_key scratchd-other)" = "$other_key"
        check "$1: its job still writes" other_writes "$2"
}
other_writes 0 || bail "the other job cannot write"

mnt=$WORK/scratch
map_re='fault-a|dm-[0-9]|ubda|scratchd-scratch|wipe|mkfs|zero|label|assemble|unmount|deactivate|discard|rekey|mount|write|read'
fault_make fault-a /dev/ubda || bail "dmsetup create fault-a failed"
conf "$WORK/scratchd.conf" /dev/mapper/fault-a "$mnt"
printf '[Daemon]\nAuditLog=%s\n' "$WORK/audit.log" >> "$WORK/scratchd.conf"

# 0. Positive control: over the healthy dm-linear device the volume is CLEAN.
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
check "control: a volume on a dm device over the disk becomes CLEAN" wait_until 90 state_is CLEAN
[ "$(field state)" = CLEAN ] || { dump_daemon; bail "no CLEAN volume on /dev/mapper/fault-a"; }
kill -TERM $DAEMON_PID; wait $DAEMON_PID

# A stopped daemon leaves its volume live, and the next one adopts it: the
# setup cases want a start from nothing.
from_nothing() {
        umount "$mnt" 2> /dev/null
        dmsetup remove scratchd-scratch 2> /dev/null; dmsetup remove scratchd-scratch-data 2> /dev/null
        rm -f /run/scratchd/scratch.state
        check "setup: nothing of the volume is left live" test ! -e /dev/mapper/scratchd-scratch -a ! -e /dev/mapper/scratchd-scratch-data
}

# 1. Setup: the daemon starts with the disk failing. (a) Every I/O fails: the
# disk cannot even be examined, so nothing is written and there is nothing
# to fence; the volume stays ABSENT (no job gets it), named, and the daemon
# tries again by itself.
what="setup (unreadable)"
from_nothing
fault_on fault-a || bail "fault_on fault-a failed"
t0=$(ms)
start_daemon "$WORK/scratchd.conf" || bail "$what: the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
check "$what: the daemon logs that it cannot examine the disk ($(($(ms) - t0)) ms)" \
        wait_until 90 grep -q 'cannot examine /dev/mapper/fault-a: Input/output error' "$WORK/daemon.log"
check "$what: status answers" ctl status > /dev/null
check "$what: the volume is ABSENT" test "$(field state)" = ABSENT
reason=$(field reason); note "$what: reason: $reason"
check "$what: status names the I/O error and the disk" grep -q 'fault-a.*Input/output error' <<< "$reason"
calls prepare --job 101 --user daemon
check "$what: a prepare is refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
note "$what: prepare: $(cat "$WORK/err")"
check "$what: ... naming the I/O error" grep -q 'Input/output error' "$WORK/err"
check_fails "$what: nothing was mapped" test -e /dev/mapper/scratchd-scratch-data
recovers "$what"
kill -TERM $DAEMON_PID; wait $DAEMON_PID
check "$what: the daemon stopped cleanly" test $? -eq 0
other_untouched "$what" 1a

# (b) Reads pass, writes fail: the disk reads as blank and is taken; the
# wipe's first write fails, and the volume is fenced, named.
what="setup (writes fail)"
from_nothing
fault_on fault-a error_writes || bail "fault_on fault-a failed"
t0=$(ms)
start_daemon "$WORK/scratchd.conf" || bail "$what: the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
wait_until 90 state_is FAILED; ws=$?
check "$what: the volume ends FAILED within 90 s ($(($(ms) - t0)) ms)" test $ws -eq 0
[ $ws -eq 0 ] || { note "$what: state $(field state), reason $(field reason)"; dump_daemon; }
fenced "$what"
calls prepare --job 102 --user daemon
check "$what: a prepare is refused (exit $rc)" test $rc -ne 0 -a $rc -ne 124
note "$what: prepare: $(cat "$WORK/err")"
recovers "$what"
kill -TERM $DAEMON_PID; wait $DAEMON_PID
check "$what: the daemon stopped cleanly" test $? -eq 0
other_untouched "$what" 1b

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start again"
wait_until 90 state_is CLEAN || bail "no CLEAN volume for the job cases"

# 2. During a job: the disk fails under a running job; its writes get EIO;
# the release fences, named.
dir=$(tctl prepare --job 201 --user daemon) || bail "prepare of job 201 failed"
as_user daemon bash -c "head -c 8M /dev/urandom > '$dir/before' && sync '$dir/before'" || bail "job 201 cannot write"
fault_on fault-a || bail "fault_on fault-a failed"
t0=$(ms)
timeout $LIMIT setpriv --reuid=daemon --regid=daemon --clear-groups \
        dd if=/dev/zero of="$dir/during" bs=1M count=8 conv=fsync status=none 2> "$WORK/dd.err"; rc=$?
check "job: a write with fsync on the failing disk fails (exit $rc, $(($(ms) - t0)) ms)" test $rc -ne 0 -a $rc -ne 124
note "job: dd: $(head -n 2 "$WORK/dd.err" | tr '\n' ' ')"
check "job: ... with an I/O error" grep -q -i 'input/output' "$WORK/dd.err"
check "job: status answers while the job's disk fails" tctl status > /dev/null
check "job: the volume still reads IN_USE (nothing has told the daemon)" test "$(field state)" = IN_USE
calls release --job 201
check "job: the release ends within ${LIMIT}s (${took} ms)" test $rc -ne 124
check "job: the release fails (exit $rc)" test $rc -ne 0
note "job: release: $(cat "$WORK/err")"
check "job: the release's error names the I/O error" grep -q -i -E 'input/output|I/O|EIO' "$WORK/err"
fenced "job"
audited_failed 201 job
recovers "job"
other_untouched "job" 2

# 3. During a release: the fault comes on right before the release, with
# the job's data still in the page cache.
dir=$(tctl prepare --job 301 --user daemon) || bail "prepare of job 301 failed"
as_user daemon bash -c "head -c 16M /dev/urandom > '$dir/dirty'" || bail "job 301 cannot write"
fault_on fault-a || bail "fault_on fault-a failed"
calls release --job 301
check "release: the release ends within ${LIMIT}s (${took} ms)" test $rc -ne 124
check "release: the release fails (exit $rc)" test $rc -ne 0
note "release: release: $(cat "$WORK/err")"
fenced "release"
audited_failed 301 release
# The fence wrote nothing to the disks but removed the mapping, and the key
# in it: an erase, failed, with its record.
rec301=$(grep -E '"event":"wipe".*"job":"301"' "$WORK/audit.log" | tail -n 1 | sed -n 's/.*"record":"\([^"]*\)".*/\1/p')
check "release: the fence's audit line names its erase record ($rec301)" \
        test -n "$rec301" -a -f "$STATE_DIRECTORY/records/$rec301"
python3 - "$STATE_DIRECTORY/records/$rec301" > "$WORK/rec301" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = {c["check"]: c["passed"] for c in r["verification"]}
m = r["media"][0] if r["media"] else {}
print(r["job"], r["trigger"], v.get("mapping-removed"), v.get("key-generation-changed"), r["next_key_generation"],
      r["discard"]["done"], m.get("path"), m.get("model"), m.get("serial"), m.get("wwn"),
      "removed, so the kernel dropped and wiped the key" in r["method"]["key_destruction"], r["result"])
PY
note "release: record: $(cat "$WORK/rec301")"
check "release: ... job 301's release; the mapping checked gone; no new key; no discard" \
        test "$(cut -d' ' -f1-6 "$WORK/rec301")" = "301 release True False None False"
check "release: ... its disk by the state's path, unverified: no model, serial or WWN read" \
        test "$(cut -d' ' -f7-10 "$WORK/rec301")" = "/dev/mapper/fault-a None None None"
check "release: ... the key's end as seen: the mapping removed" test "$(cut -d' ' -f11 "$WORK/rec301")" = True
check "release: ... its result is the fence's reason" grep -q "could not be checked before the erase" "$WORK/rec301"
"$SCRATCHCTL" --socket "$SOCK" pubkey > "$WORK/node.pub" 2> "$WORK/err" || note "pubkey: $(cat "$WORK/err")"
check "release: ... and it verifies with the node's key" \
        "$SCRATCHCTL" verify --pubkey "$WORK/node.pub" "$STATE_DIRECTORY/records/$rec301"
recovers "release"
calls prepare --job 302 --user daemon
check "release: after the wipe, a job gets the volume" test $rc -eq 0
calls release --job 302
check "release: and its release succeeds" test $rc -eq 0
other_untouched "release" 3
kill -TERM $DAEMON_PID; wait $DAEMON_PID

# 4. Shared mode: a pool striped over two dm devices, one of which fails
# under two running jobs.
mnt=$WORK/shared
map_re='fault-c|dm-[0-9]|ubdc|scratchd-pool|wipe|mkfs|zero|label|unmount|deactivate|discard|thin|pool|write|read'
fault_make fault-c /dev/ubdc && fault_make fault-d /dev/ubdd || bail "dmsetup create fault-c/d failed"
conf "$WORK/shared.conf" "/dev/mapper/fault-c /dev/mapper/fault-d" "$mnt" Name=pool Mode=shared JobSize=300M MaxJobs=2 FileSystem=ext4
start_daemon "$WORK/shared.conf" || bail "the shared daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
wait_until 90 state_is CLEAN || { dump_daemon; bail "no CLEAN pool over fault-c and fault-d"; }
job_field() {
        tctl status --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["volumes"][0]
j = [j for j in v.get("jobs", []) if j["job"] == sys.argv[1]]
print(j[0].get(sys.argv[2], "") if j else "")' "$1" "$2"
}
dirA=$(tctl prepare --job 401 --user daemon 2> "$WORK/err") || bail "prepare of job 401 failed: $(cat "$WORK/err")"
dirB=$(tctl prepare --job 402 --user nobody 2> "$WORK/err") || bail "prepare of job 402 failed: $(cat "$WORK/err")"
as_user daemon bash -c "head -c 8M /dev/urandom > '$dirA/a' && sync '$dirA/a'" || bail "job 401 cannot write"
thinA=$(job_field 401 thin_id)
fault_on fault-c || bail "fault_on fault-c failed"
calls release --job 401
check "shared: the release of job 401 ends within ${LIMIT}s (${took} ms)" test $rc -ne 124
note "shared: release: exit $rc $(cat "$WORK/err")"
check "shared: status answers" tctl status > /dev/null
if [ $rc -eq 0 ]; then
        # The erase needed no I/O of the failing disk (the file system is
        # shut down, not flushed; the pool had not yet committed to it): the
        # key is gone all the same, which is the erase.
        check "shared: job 401's release succeeded without the disk: its mapping and key are gone" \
                test ! -e /dev/mapper/scratchd-pool-vol-$thinA
        check "shared: ... and its volume is gone from status" test -z "$(job_field 401 state)"
else
        check "shared: its error names the I/O error" grep -q -i -E 'input/output|I/O|EIO' "$WORK/err"
        check "shared: job 401's volume is FAILED" test "$(job_field 401 state)" = FAILED
        check "shared: ... its reason names the pool's failure" grep -q 'I/O error' <<< "$(job_field 401 reason)"
fi
thinB=$(job_field 402 thin_id)
calls release --job 402
check "shared: the release of job 402 ends within ${LIMIT}s (${took} ms)" test $rc -ne 124
note "shared: release of 402: exit $rc $(cat "$WORK/err")"
if [ $rc -eq 0 ]; then
        check "shared: job 402's release succeeded without the disk: its mapping and key are gone" \
                test ! -e /dev/mapper/scratchd-pool-vol-$thinB
else
        check "shared: job 402's release fails named" grep -q -i -E 'input/output|I/O|EIO' "$WORK/err"
        check "shared: ... its volume is FAILED" test "$(job_field 402 state)" = FAILED
fi
check "shared: status answers" tctl status > /dev/null
fault_off fault-c || bail "fault_off fault-c"
calls wipe
check "shared: with the fault gone, a wipe of the pool succeeds (${took} ms)" test $rc -eq 0
[ $rc -eq 0 ] || note "shared: wipe: $(cat "$WORK/err")"
check "shared: the pool is CLEAN again" test "$(field state)" = CLEAN
calls prepare --job 403 --user daemon
check "shared: and takes a job again" test $rc -eq 0
calls release --job 403
check "shared: whose release succeeds" test $rc -eq 0
other_untouched "shared" 4
kill -TERM $DAEMON_PID; wait $DAEMON_PID

DAEMON_PID=$other_pid
SOCK=$other_sock calls release --job 900
check "the other job's release succeeds" test $rc -eq 0
kill -TERM $other_pid; wait $other_pid
grep -q '^not ok' "$RESULT" && sed 's/^/# daemon: /' "$WORK/daemon.log" | tail -n 80 >> "$RESULT"
true
