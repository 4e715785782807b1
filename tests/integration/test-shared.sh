#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: shared mode on three disks, striped, with the real dm-stripe, dm-thin
# and dm-crypt. Two jobs of two users at once, each on its own volume under
# its own key; one job keeps writing while the other is released; the
# released job's marker is nowhere after; reservations (NoSpace, MaxJobs=);
# kill -9 with two live jobs and a restart keeps both; the pool's wipe.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot a guest with three blank disks
        exec "$(dirname "$(realpath "$0")")/uml.sh" --mem 1536M --new-disk 512M --new-disk 512M --new-disk 512M "$0"
fi
. "$GUEST_LIB"
# The guest kernel cannot load modules on demand (a real one loads dm-thin-pool itself).
modprobe -d "$WORK/modroot" dm-thin-pool || bail "modprobe dm-thin-pool failed"

mnt=$WORK/scratch
conf "$WORK/scratchd.conf" "/dev/ubda /dev/ubdb /dev/ubdc" "$mnt" Mode=shared JobSize=400M MaxJobs=3
cat >> "$WORK/scratchd.conf" <<CONF
[Daemon]
AuditLog=$WORK/audit.log
MetricsDirectory=$WORK
CONF

# Each field of job JOB in `scratchctl status --json`: job_field JOB NAME.
job_field() {
        ctl status --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["volumes"][0]
j = [j for j in v.get("jobs", []) if j["job"] == sys.argv[1]]
print(j[0].get(sys.argv[2], "") if j else "")' "$1" "$2"
}
pool_field() {
        ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["pool"][sys.argv[1]])' "$1"
}
mapping_of() { echo "scratchd-scratch-vol-$(job_field "$1" thin_id)"; }

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
check "the daemon builds the pool over three disks (CLEAN)" wait_state CLEAN
ctl status | sed 's/^/# /' >> "$RESULT"
check "status says shared mode" test "$(field mode)" = shared
check "the thin pool is live over the stripe" dmsetup status scratchd-scratch-pool
check "the stripe under it has three legs" test "$(dmsetup table scratchd-scratch-data | awk '{ print $4 }')" = 3
pool_size=$(pool_field size_bytes)
check "the pool has room for job volumes ($pool_size bytes)" test "$pool_size" -gt $((1024 * 1024 * 1024))

# Two jobs of two users at once.
dirA=$(ctl prepare --job 201 --user daemon)
check "job A's prepare prints its own mount ($dirA)" test "$dirA" = "$mnt/201"
dirB=$(ctl prepare --job 202 --user nobody --size 500M)
check "job B's prepare, 500M asked, prints its own mount" test "$dirB" = "$mnt/202"
check "job A's root is daemon's, 0700" test "$(stat -c '%U %a' "$dirA")" = "daemon 700"
check "job B's root is nobody's, 0700" test "$(stat -c '%U %a' "$dirB")" = "nobody 700"
check "each is a mount of its own" test "$(stat -c %d "$dirA")" != "$(stat -c %d "$dirB")"
mapA=$(mapping_of 201); mapB=$(mapping_of 202)
check "two dm-crypt mappings ($mapA, $mapB)" test "$mapA" != "$mapB" -a -b "/dev/mapper/$mapA" -a -b "/dev/mapper/$mapB"
keyA=$(live_key "$mapA"); keyB=$(live_key "$mapB")
check "two different keys" test -n "$keyA" -a -n "$keyB" -a "$keyA" != "$keyB"
check "job A's volume is 400M (JobSize=)" test "$(job_field 201 size_bytes)" -eq $((400 << 20))
check "job B's volume is 500M (--size)" test "$(job_field 202 size_bytes)" -eq $((500 << 20))
check "job B's key generation differs from A's" test "$(job_field 201 key_generation)" != "$(job_field 202 key_generation)"
check_fails "B's user cannot list A's root" as_user nobody ls "$dirA" 2> /dev/null
as_user nobody bash -c "echo private > '$dirB/secret'"
check_fails "A's user cannot read B's files" as_user daemon cat "$dirB/secret" 2> /dev/null
check "B's user can read its own" test "$(as_user nobody cat "$dirB/secret")" = private

markerA="SCRATCHD-JOBA-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
as_user daemon bash -c "yes '$markerA' | head -c 2M > '$dirA/out'; sync"
sync; echo 3 > /proc/sys/vm/drop_caches
check "positive control: A's marker is found through A's mapping" test "$(count_marker "/dev/mapper/$mapA" "$markerA")" -gt 0

# B keeps writing while A is released.
head -c 48M /dev/urandom > "$WORK/src"
as_user nobody bash -c "for i in \$(seq 0 47); do dd if='$WORK/src' of='$dirB/data' bs=1M count=1 skip=\$i seek=\$i conv=notrunc,fsync status=none; done" &
writer=$!
sleep 0.5
check "release of job A exits 0 while B writes" ctl release --job 201
check "B was still writing during the release" bash -c "kill -0 $writer 2>/dev/null || ! wait $writer"
wait $writer; wrc=$?
check "B's writes all succeeded" test $wrc -eq 0
sync; echo 3 > /proc/sys/vm/drop_caches
check "B's file's checksum holds" test "$(sum "$dirB/data")" = "$(sum "$WORK/src")"
check "A's mapping is gone" test ! -e "/dev/mapper/$mapA"
check "A's thin volume is gone" bash -c "! dmsetup info scratchd-scratch-thin-${mapA##*-} >/dev/null 2>&1"
check "A's mount point is gone" test ! -e "$dirA"
check "status lists B alone" test "$(pool_field jobs)" = 1
check "a repeated release of A succeeds (retried epilog)" ctl release --job 201
for d in /dev/ubda /dev/ubdb /dev/ubdc "/dev/mapper/$mapB"; do
        check "A's marker is not on $d" test "$(count_marker "$d" "$markerA")" = 0
done
dirC=$(ctl prepare --job 203 --user daemon)
mapC=$(mapping_of 203)
check "a new job C gets a new key" test "$(live_key "$mapC")" != "$keyA"
check "A's marker is not on C's volume" test "$(count_marker "/dev/mapper/$mapC" "$markerA")" = 0

# Reservations: 400M (A's space is free again) + 500M taken of the pool.
ctl prepare --job 204 --user daemon --size 8G 2> "$WORK/err"; rc=$?
check "a prepare beyond the pool fails (exit $rc)" test $rc -ne 0
check "... naming no space, with what is free" grep -qi "space" "$WORK/err"
note "$(cat "$WORK/err")"
check "... and makes nothing" test ! -e "$mnt/204"
check "a third job fits (204, 400M)" ctl prepare --job 204 --user daemon
ctl prepare --job 205 --user daemon --size 300M 2> "$WORK/err"; rc=$?
check "a fourth job gets the MaxJobs= error (exit $rc)" test $rc -ne 0
check "... naming MaxJobs" grep -qi "maxjobs\|max_jobs\|too many" "$WORK/err"
note "$(cat "$WORK/err")"
check "the running jobs are untouched: B's checksum holds" test "$(sum "$dirB/data")" = "$(sum "$WORK/src")"
check_fails "a wipe of the pool with running jobs is refused" ctl wipe 2> /dev/null
check "... and B's file is still there" test -s "$dirB/secret"

# kill -9 with live jobs, then a restart: all kept, same keys, same data.
genB=$(job_field 202 key_generation)
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start again"
check "after kill -9 and a restart the pool is CLEAN again" wait_state CLEAN
check "job B is kept, IN_USE" test "$(job_field 202 state)" = IN_USE
check "job C is kept, IN_USE" test "$(job_field 203 state)" = IN_USE
check "B's key is the same" test "$(live_key "$mapB")" = "$keyB"
check "B's key generation is the same" test "$(job_field 202 key_generation)" = "$genB"
check "B's data is the same" test "$(sum "$dirB/data")" = "$(sum "$WORK/src")"
check "three jobs still listed" test "$(pool_field jobs)" = 3
for j in 202 203 204; do check "release of job $j" ctl release --job $j; done
check "no job volume is left" test "$(pool_field jobs)" = 0
for m in "$mapB" "$mapC"; do check "$m is gone" test ! -e "/dev/mapper/$m"; done
check "the only job mapping left is the spare's" test "$(ls /dev/mapper | grep -c -- -vol-)" -le 1
check "the whole pool is free again" test "$(pool_field free_bytes)" = "$pool_size"

check "the audit log has job A's prepare" grep -q '"event":"job-prepare".*"job":"201"' "$WORK/audit.log"
check "the audit log has job A's release" grep -q '"event":"job-release".*"job":"201"' "$WORK/audit.log"
check "the audit log has the adoption of job B" grep -q '"event":"job-adopt".*"job":"202"' "$WORK/audit.log"
check "metrics show the pool" grep -q '^scratchd_pool_size_bytes{volume="scratch"} '"$pool_size" "$WORK/scratchd.prom"

# Erase records: each job volume's release has its own, of its scope, that
# verifies against the node's key and matches its audit line.
ctl pubkey > "$WORK/node.pub" || bail "scratchctl pubkey failed"
recA=$(grep '"event":"job-release".*"job":"201"' "$WORK/audit.log" | head -n 1 | sed -n 's/.*"record":"\([^"]*\)".*/\1/p')
check "job A's release names its erase record ($recA)" test -n "$recA" -a -f "$STATE_DIRECTORY/records/$recA"
python3 - "$STATE_DIRECTORY/records/$recA" "$mapA" > "$WORK/recA" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = {c["check"]: c["passed"] for c in r["verification"]}
print(r["job"], r["user"], r["trigger"], r["scope"]["kind"], r["volume"], r["next_key_generation"],
      v.get("mapping-removed"), v.get("thin-device-removed"), len(r["media"]), r["mode"])
PY
check "... job 201's, user daemon, a release of its job volume only" \
        test "$(cut -d' ' -f1-4 "$WORK/recA")" = "201 daemon release job-volume"
check "... the volume named after its thin id; no key made after it" \
        test "$(cut -d' ' -f5,6 "$WORK/recA")" = "scratch.${mapA##*-} None"
check "... its mapping and thin device checked gone, on the pool's three disks, shared" \
        test "$(cut -d' ' -f7- "$WORK/recA")" = "True True 3 shared"
check "... and it verifies with the node's key" "$SCRATCHCTL" verify --pubkey "$WORK/node.pub" "$STATE_DIRECTORY/records/$recA"
check "every job volume's release and the spare's re-keys have records that verify" \
        bash -c "'$SCRATCHCTL' verify --pubkey '$WORK/node.pub' '$STATE_DIRECTORY'/records/*.json > '$WORK/verify.out'"
note "records: $(wc -l < "$WORK/verify.out"), of job volumes: $(grep -l '"kind": "job-volume"' "$STATE_DIRECTORY"/records/*.json | wc -l)"

genP=$(field key_generation)
check "a wipe of the idle pool succeeds" ctl wipe
check "the pool is built anew" test "$(field key_generation)" -gt "$genP"
recP=$STATE_DIRECTORY/records/$(field last_erase_record)
check "the pool's wipe has a record, trigger wipe" grep -q '"trigger": "wipe"' "$recP"
check "... of scope volume, shared" python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(not (r["scope"]["kind"] == "volume" and r["mode"] == "shared" and r["result"] == "ok"))' "$recP"
check "and takes jobs again" ctl prepare --job 206 --user nobody
check "release" ctl release --job 206
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
# On a failure, the daemon's log says why.
grep -q '^not ok' "$RESULT" && sed 's/^/# daemon: /' "$WORK/daemon.log" | tail -n 80 >> "$RESULT"
true
