#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: the daemon and scratchctl on real dm-crypt: two jobs of two users in
# a row, authorization, bad clients, metrics.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot a guest with a blank disk
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 512M "$0"
fi
. "$GUEST_LIB"

mnt=$WORK/scratch
map=scratchd-scratch
# The group database as this guest alone sees it (a bind mount in the
# guest's kernel; the host's file is untouched): nobody in ReadGroup=users,
# and in OperatorGroup=operator as given, for the daemon's check at each call.
cp /etc/group "$WORK/group.orig"
set_operators() {  # set_operators MEMBERS: rewritten in place (the bind mount holds the inode)
        sed -e 's/^\(users:[^:]*:[^:]*:\).*/\1nobody/' -e "s/^\(operator:[^:]*:[^:]*:\).*/\1$1/" \
                "$WORK/group.orig" > "$WORK/group"
}
set_operators nobody
mount --bind "$WORK/group" /etc/group || bail "cannot bind a group database of the guest's own"
conf "$WORK/scratchd.conf" /dev/ubda "$mnt"
cat >> "$WORK/scratchd.conf" <<CONF
[Access]
ReadGroup=users
OperatorGroup=operator
[Daemon]
IdleTimeoutSec=2
AuditLog=$WORK/audit/audit.log
MetricsDirectory=$WORK
CONF

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
check "the daemon makes the blank disk CLEAN" wait_state CLEAN
check "the socket is 0666 (authorization is by peer credentials)" test "$(stat -c %a "$SOCK")" = 666
ctl status | sed 's/^/# /' >> "$RESULT"

# Job 1, user daemon.
dir1=$(ctl prepare --job 101 --user daemon)
check "prepare prints the job's directory" test "$dir1" = "$mnt/101"
check "job 1's directory is owned by daemon, mode 0700" test "$(stat -c '%U %a' "$dir1")" = "daemon 700"
check "status shows IN_USE by job 101" test "$(field state) $(field job) $(field user)" = "IN_USE 101 daemon"
check "a second prepare of the same job returns the same directory" test "$(ctl prepare --job 101 --user daemon)" = "$dir1"
ctl prepare --job 999 --user nobody 2> "$WORK/err"; rc=$?
check "prepare of another job while IN_USE fails with exit 1" test $rc -eq 1
check "... saying the volume is busy with job 101" grep -q "busy (IN_USE by job 101)" "$WORK/err"
gen1=$(field key_generation)
key1=$(live_key $map)
marker="SCRATCHD-JOB1-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
as_user daemon bash -c "yes '$marker' | head -c 1M > '$dir1/out'; sync"
check "job 1 (as daemon) wrote its marker" test -s "$dir1/out"
echo 3 > /proc/sys/vm/drop_caches
check "the marker is readable through the mapping" test "$(count_marker /dev/mapper/$map "$marker")" -gt 0

check "release of job 1 exits 0" ctl release --job 101
check "release returned with the volume CLEAN" test "$(field state)" = CLEAN
check "a repeated release of job 1 succeeds (retried epilog)" ctl release --job 101
gen2=$(field key_generation)
check "the key generation went up ($gen1 -> $gen2)" test "$gen2" -eq $((gen1 + 1))
check "the live key changed" test "$(live_key $map)" != "$key1"

# Job 2, user nobody.
dir2=$(ctl prepare --job 102 --user nobody)
check "job 2's directory is owned by nobody, mode 0700" test "$(stat -c '%U %a' "$dir2")" = "nobody 700"
check "job 2 runs under the new key generation" test "$(field key_generation)" -eq "$gen2"
check "job 1's directory is gone" test ! -e "$dir1"
check_fails "job 2 (as nobody) cannot write in the volume root" as_user nobody touch "$mnt/x" 2> /dev/null
check "the volume root is root's, 0711" test "$(stat -c '%U %a' "$mnt")" = "root 711"
check "... nobody can pass through it to job 2's directory" as_user nobody ls "$dir2"
check_fails "... but cannot list it" as_user nobody ls "$mnt" 2> /dev/null
sync; echo 3 > /proc/sys/vm/drop_caches
check "job 1's marker is nowhere on job 2's volume" test "$(count_marker /dev/mapper/$map "$marker")" -eq 0
check "job 1's marker is nowhere on the raw disk" test "$(count_marker /dev/ubda "$marker")" -eq 0
check "nothing in job 2's directory" test -z "$(ls -A "$dir2")"

# Authorization.
for cmd in "prepare --job 103 --user nobody" "release --job 102" "wipe"; do
        as_user nobody "$SCRATCHCTL" --socket "$SOCK" $cmd 2> "$WORK/err"; rc=$?
        check "nobody: $cmd is NotAuthorized (exit 3)" test $rc -eq 3
        [ $rc -eq 3 ] || note "exit $rc: $(cat "$WORK/err")"
        as_user nobody:users "$SCRATCHCTL" --socket "$SOCK" $cmd 2> "$WORK/err"; rc=$?
        check "nobody in ReadGroup: $cmd is NotAuthorized (exit 3)" test $rc -eq 3
        [ $rc -eq 3 ] || note "exit $rc: $(cat "$WORK/err")"
done
check "the refusal says what to do" grep -q "run as root or as a member of the OperatorGroup=" "$WORK/err"
for cmd in status metrics; do
        as_user nobody "$SCRATCHCTL" --socket "$SOCK" $cmd > /dev/null 2>&1; rc=$?
        check "nobody: $cmd is NotAuthorized (exit 3)" test $rc -eq 3
        check "nobody in ReadGroup: $cmd is allowed" as_user nobody:users "$SCRATCHCTL" --socket "$SOCK" $cmd
done
# A finished job's dirty page cache is dropped, not written out through
# dm-crypt: the file system is shut down before the unmount. Control first:
# the disk's write counter sees what a sync writes through the mapping.
written() { awk '{ print $7 * 512 }' /sys/block/ubda/stat; }
echo 700000000 > /proc/sys/vm/dirty_bytes; echo 600000000 > /proc/sys/vm/dirty_background_bytes
echo 0 > /proc/sys/vm/dirty_writeback_centisecs; echo 360000 > /proc/sys/vm/dirty_expire_centisecs
w0=$(written)
as_user nobody dd if=/dev/zero of="$dir2/synced" bs=1M count=48 status=none
sync
w1=$(written)
check "control: a sync of 48 MiB shows as at least 48 MiB written to the disk" test $((w1 - w0)) -ge $((48 << 20))
as_user nobody dd if=/dev/zero of="$dir2/dirty" bs=1M count=200 status=none
dirty_kib=$(awk '$1 == "Dirty:" { print $2 }' /proc/meminfo)
check "200 MiB are dirty in the page cache before the release ($dirty_kib KiB)" test "$dirty_kib" -ge $((190 << 10))
w2=$(written)
check "nobody in OperatorGroup: release is allowed" as_user nobody:operator "$SCRATCHCTL" --socket "$SOCK" release --job 102
w3=$(written)
note "written during the release, the new file system's 64 MiB log included: $(((w3 - w2) >> 20)) MiB (the sync: $(((w1 - w0) >> 20)) MiB)"
check "the release wrote less than half the dirty 200 MiB (the file system was shut down, not flushed)" \
        test $((w3 - w2)) -lt $((100 << 20))
dmesg > "$WORK/dmesg"
check "the kernel logged the file system's shutdown" grep -q "XFS (dm-[0-9]*): User initiated shutdown received" "$WORK/dmesg"
check "nobody in OperatorGroup: status is allowed" as_user nobody:operator "$SCRATCHCTL" --socket "$SOCK" status

# Removed from OperatorGroup= in the group database, a client loses access
# at its next call on the connection it holds (answers kept 5 s).
as_user nobody:operator python3 - "$SOCK" > "$WORK/revoke.out" 2>&1 <<'PY' &
import json, socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def call():
    s.sendall(json.dumps({"method": "io.scratchd.GetStatus"}).encode() + b"\0")
    data = b""
    while not data.endswith(b"\0"):
        data += s.recv(65536)
    return json.loads(data[:-1]).get("error", "ok")
# A call a second (IdleTimeoutSec=2 here) until one is refused; meanwhile
# the test removes nobody from the group.
first = call()
print(first, flush=True)
last = first
for _ in range(15):
    time.sleep(1)
    last = call()
    if last != "ok":
        break
print(last, flush=True)
PY
client=$!
sleep 3
set_operators ""
wait $client
read -r before after <<<"$(tr '\n' ' ' < "$WORK/revoke.out")"
check "a held connection of an operator: GetStatus answered" test "$before" = ok
check "... and refused once the group database no longer lists it" test "$after" = io.scratchd.NotAuthorized
set_operators nobody

# Bad clients, each followed by a good one.
python3 "$SOURCE_ROOT/tests/integration/varlink-abuse.py" "$SOCK" 2 >> "$RESULT" 2>> "$WORK/guest-err.log" \
        || not_ok "varlink-abuse.py reported failures or crashed: $(tail -n 3 "$WORK/guest-err.log")"
check "the daemon survived the bad clients" kill -0 "$DAEMON_PID"

# Metrics.
ctl metrics > "$WORK/metrics.txt"
check "metrics: state gauge" grep -q '^scratchd_volume_state{volume="scratch",state="CLEAN"} 1$' "$WORK/metrics.txt"
check "metrics: two releases counted" grep -q '^scratchd_releases_total{volume="scratch"} 2$' "$WORK/metrics.txt"
check "metrics: key generation" grep -q "^scratchd_key_generation{volume=\"scratch\"} $(field key_generation)\$" "$WORK/metrics.txt"
if command -v promtool > /dev/null; then
        check "promtool check metrics accepts the output" promtool check metrics < "$WORK/metrics.txt"
        check "promtool accepts the textfile too" promtool check metrics < "$WORK/scratchd.prom"
else
        not_ok "promtool is not installed (apt-get install prometheus)"
fi

# Audit.
check "the audit log has the prepare of job 101 by uid 0" \
        grep -q '"event":"prepare","volume":"scratch","job":"101","user":"daemon","caller_uid":0' "$WORK/audit/audit.log"
check "the audit log has the release of job 102" grep -q '"event":"release","volume":"scratch","job":"102".*"to":"DIRTY"' "$WORK/audit/audit.log"
check "the audit log has job 102's wipe to CLEAN" grep -q '"event":"wipe","volume":"scratch","job":"102".*"to":"CLEAN".*"result":"ok"' "$WORK/audit/audit.log"
check "the audit log holds no key" bash -c "! grep -q -i -F '$(live_key $map)' '$WORK/audit/audit.log'"
sed 's/^/# audit: /' "$WORK/audit/audit.log" | tail -n 4 >> "$RESULT"

kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?
check "SIGTERM stops the daemon cleanly (exit 0)" test $rc -eq 0
check "the socket is removed" test ! -e "$SOCK"

# Socket activation: systemd hands the listening socket over (sd_listen_fds).
systemd-socket-activate -l "$SOCK" "$SCRATCHD" --config "$WORK/scratchd.conf" --socket /nonexistent/unused \
        >> "$WORK/daemon.log" 2>&1 &
activator=$!
for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
check "socket activation: the first call starts scratchd and is answered" wait_state CLEAN
check "socket activation: scratchd serves the socket it was passed" grep -q "serving io.scratchd on the socket systemd passed" "$WORK/daemon.log"
kill -TERM $activator; wait $activator 2>/dev/null

# A release whose disk check fails (Devices= names a link that went away, as
# a by-id link may after a controller reset) fences the volume: the job's
# mapping, key and mount are removed, the state is FAILED with the reason,
# never ABSENT with the old key live. No step of the erase runs.
mkdir -p "$WORK/by-id"; ln -sf /dev/ubda "$WORK/by-id/scratch0"
conf "$WORK/link.conf" "$WORK/by-id/scratch0" "$mnt"
printf '[Daemon]\nAuditLog=%s\n' "$WORK/audit/audit.log" >> "$WORK/link.conf"
start_daemon "$WORK/link.conf" || bail "the daemon did not start on link.conf: $(tail -n 5 "$WORK/daemon.log")"
check "link.conf: the volume is CLEAN" wait_state CLEAN
dir3=$(ctl prepare --job 104 --user daemon)
key3=$(live_key $map)
check "job 104 has the volume, its key live" test -n "$key3" -a -d "$dir3"
rm "$WORK/by-id/scratch0"
gen3=$(field key_generation)
ctl release --job 104 2> "$WORK/err"; rc=$?
check "the release with the disk's link gone fails (exit 1)" test $rc -eq 1
note "release: $(cat "$WORK/err")"
check "... the volume is FAILED, not ABSENT" test "$(field state)" = FAILED
field reason > "$WORK/reason"
check "... its reason names the missing link" grep -q 'by-id/scratch0: no such disk.*mapping and key were removed' "$WORK/reason"
check "... the error says what to do" grep -q "fix Devices= or the disk; fix the cause, then run 'scratchctl wipe'" "$WORK/err"
check "... the job's mount is gone" bash -c "! grep -q ' $mnt ' /proc/self/mountinfo"
check "... the mapping, and its key, are gone" bash -c "! dmsetup info $map > /dev/null 2>&1"
check "... and no step of the erase ran (same key generation)" test "$(field key_generation)" = "$gen3"
check "... the record on file says FAILED" grep -q '^state=FAILED' /run/scratchd/scratch.state
ctl prepare --job 105 --user daemon > /dev/null 2>&1; rc=$?
check "... and no job gets the volume" test $rc -ne 0
ctl status --check 2> "$WORK/err"; rc=$?
check "... status --check exits 1 (FAILED: an admin must look)" test $rc -eq 1
check "... naming the volume and why" grep -q "volume scratch is FAILED: .*by-id/scratch0: no such disk" "$WORK/err"
ln -sf /dev/ubda "$WORK/by-id/scratch0"
check "with the link back, an admin's wipe makes it CLEAN" ctl wipe
check "... under a new key" test "$(live_key $map)" != "$key3"
check "... and status --check exits 0" ctl status --check
# A job's volume taken from under it: only with --force.
dir4=$(ctl prepare --job 106 --user daemon)
ctl wipe 2> "$WORK/err"; rc=$?
check "a wipe of the volume job 106 holds is refused (exit 1)" test $rc -eq 1
check "... naming the job, and --force" grep -q "job 106 (user daemon) uses it.*scratchctl wipe --force" "$WORK/err"
check "... the job keeps it" test "$(field state) $(field job)" = "IN_USE 106"
check "with --force, it is wiped" ctl wipe --force
check "... CLEAN, the job's key gone" test "$(field state)" = CLEAN
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
exit 0
