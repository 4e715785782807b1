#!/bin/bash
# Runs inside the booted node image as a systemd unit (see image-lib.sh): a
# real Slurm with cons_tres shares the node between jobs of two users, each
# sized by its tmpdisk GRES (in GiB) through the contrib prolog, each on a
# volume of its own from scratchd's shared pool; a third job that does not
# fit waits in Slurm's queue. test-slurm-shared.sh sets the node up.
R=/results/result
RESULT=$R
. /usr/local/lib/scratchd-tests/lib.sh   # ok, not_ok, check, note, field (tests/lib.sh)
wait_for() {  # wait_for SECONDS CONDITION
        local end=$((SECONDS + $1))
        while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.5; done
        return 1
}
finish() { echo done >> $R; exit 0; }
GIB=$((1 << 30))
# Every Slurm client call is bounded: a Slurm that is not up must fail the
# test, not hang it.
sinfo() { timeout 10 /usr/bin/sinfo "$@"; }
squeue() { timeout 10 /usr/bin/squeue "$@"; }
scontrol() { timeout 10 /usr/bin/scontrol "$@"; }
pool() { scratchctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["pool"][sys.argv[1]])' "$1"; }
# job_field JOB NAME: a field of job JOB's volume in scratchctl status.
job_field() {
        scratchctl status --json | python3 -c '
import json, sys
j = [j for j in json.load(sys.stdin)["volumes"][0].get("jobs", []) if j["job"] == sys.argv[1]]
print(j[0].get(sys.argv[2], "") if j else "")' "$1" "$2"
}
# The Slurm state of the job named NAME (%T %r: RUNNING None, PENDING Resources).
state_of() { squeue -h -n "$1" -o '%T %r' 2>/dev/null | head -n 1; }
id_of() { squeue -h -n "$1" -o %i 2>/dev/null | head -n 1; }

wait_for 120 '[ "$(field state)" = CLEAN ]' || { not_ok "scratchd never made the pool CLEAN"; finish; }
check "scratchd runs in shared mode" test "$(field mode)" = shared
size=$(pool size_bytes)
note "pool: $size bytes, $(pool max_jobs) jobs at most, $(pool job_size_bytes) bytes a job by default"
# slurm.conf: Gres=tmpdisk:2, the pool in GiB rounded down; a third GiB
# would not fit.
check "the node's tmpdisk count, 2, is the pool in GiB rounded down" test $((size / GIB)) -eq 2

for u in munge slurmctld slurmd; do systemctl -q is-active $u || systemctl start $u; done
check "munge, slurmctld and slurmd are active" systemctl -q is-active munge slurmctld slurmd
wait_for 60 'sinfo -h -o %T 2>/dev/null | grep -qx idle'
if ! sinfo -h -o %T | grep -qx idle; then
        not_ok "node1 is not idle in Slurm: $(sinfo -h -o '%T %E' 2>&1)"
        journalctl -b -u slurmctld -u slurmd -u munge --no-pager | tail -n 30 | sed 's/^/#   /' >> $R
        finish
fi
ok "node1 is idle in Slurm"
node=$(scontrol show node -d node1)
echo "$node" | sed 's/^/#   /' >> $R
check "slurmd took CPUs=3 (config_overrides)" grep -q 'CPUTot=3' <<<"$node"
check "the node has Gres=tmpdisk:2" grep -q 'Gres=tmpdisk:2\b' <<<"$node"

# The node's state, every 2 s, to the end: it must never drain.
# Each line: the time, the state, CPUs allocated/idle/other/total, the jobs.
( while :; do
        echo "$(date +%T) $(sinfo -h -n node1 -o '%T %C' 2>&1) $(squeue -h -o '%j:%i:%T' 2>&1 | tr '\n' ' ')"
        sleep 2
done ) > /results/node-states &
monitor=$!

# Two one-CPU jobs of two users, 1 GiB of tmpdisk each, submitted at once;
# each waits for the other to run.
# Where the jobs meet: a tmpfs (the image's root is hostfs, where every file
# is root's, whoever made it).
mkdir -p /shared && mount -t tmpfs -o mode=1777 shared /shared && install -d -m 1777 /shared/hs
HS=/shared/hs
submit() {  # submit USER NAME PEER: srun in the background, as USER
        su -s /bin/bash "$1" -c "cd /tmp && exec timeout 1500 srun -J $2 -n1 -c1 --gres=tmpdisk:1 /usr/local/bin/slurm-shared-job $2 $3" \
                > "$HS/$2.out" 2>&1 &
}
submit alice A B; pidA=$!
submit bob B A; pidB=$!
# Bounded by progress: each job's prolog makes a 1 GiB volume (mkfs); UML
# on a busy host is slow, so the limit is generous.
if wait_for 600 '[ -e $HS/A ] && [ -e $HS/B ]'; then
        ok "jobs A (alice) and B (bob) both started"
else
        not_ok "jobs A and B did not both start: A: $(state_of A), B: $(state_of B)"
        squeue | sed 's/^/#   /' >> $R
        cat $HS/A.out $HS/B.out 2>/dev/null | sed 's/^/#   /' >> $R
        journalctl -b -u slurmctld -u slurmd -u scratchd --no-pager | tail -n 40 | sed 's/^/#   /' >> $R
        journalctl -b _PID=1 --no-pager | grep -i 'scratch\|mount\|dev-mapper' | tail -n 30 | sed 's/^/#   pid1: /' >> $R
        finish
fi
jobA=$(id_of A); jobB=$(id_of B)
check "A and B are RUNNING at the same time (jobs $jobA, $jobB)" \
        test "$(state_of A | cut -d' ' -f1) $(state_of B | cut -d' ' -f1)" = "RUNNING RUNNING"
squeue | sed 's/^/#   /' >> $R
check "their SCRATCH differ: $(cat $HS/A), $(cat $HS/B)" test "$(cat $HS/A)" != "$(cat $HS/B)"
scratchctl status | sed 's/^/#   /' >> $R
check "scratchd has two job volumes" test "$(pool jobs)" = 2
check "job $jobA's volume is alice's, 1 GiB (the prolog passed its tmpdisk)" \
        test "$(job_field "$jobA" user) $(job_field "$jobA" size_bytes)" = "alice $GIB"
check "job $jobB's volume is bob's, 1 GiB" test "$(job_field "$jobB" user) $(job_field "$jobB" size_bytes)" = "bob $GIB"
check "... each on a mapping of its own" \
        test "$(findmnt -n -o SOURCE "/scratch/$jobA")" != "$(findmnt -n -o SOURCE "/scratch/$jobB")"
check "... each mounted by PID 1 (a transient mount unit)" \
        test "$(systemctl show -p Transient --value "$(systemd-escape -p --suffix=mount "/scratch/$jobA")")" = yes
check "... on mount points in a tmpfs at /scratch that PID 1 mounted too" \
        test "$(findmnt -n -o FSTYPE /scratch) $(systemctl show -p Transient --value scratch.mount)" = "tmpfs yes"
check "... which others may pass through, not list" test "$(stat -c %a /scratch)" = 711
wait_for 60 'grep -q PEER-SEEN $HS/A.out && grep -q PEER-SEEN $HS/B.out'
check "A saw B running and could not read B's SCRATCH" grep -q '^PEER-SEEN: B' $HS/A.out
check "B saw A running and could not read A's SCRATCH" grep -q '^PEER-SEEN: A' $HS/B.out

# A third job: 1 GiB more than the GRES has left. Slurm holds it; one CPU
# of three is free, so the GRES is what holds it.
submit alice C B; pidC=$!
wait_for 60 '[ "$(state_of C)" = "PENDING Resources" ]'
check "job C pends with reason Resources while A and B run ($(state_of C))" test "$(state_of C)" = "PENDING Resources"
jobC=$(id_of C)
node=$(scontrol show node -d node1)
check "... with a CPU free (CPUAlloc=2 of 3)" grep -q 'CPUAlloc=2 .*CPUTot=3' <<<"$node"
check "... and the node's tmpdisk all taken (GresUsed=tmpdisk:2)" grep -q 'GresUsed=tmpdisk:2\b' <<<"$node"
sleep 10
check "job C still pends 10 s later ($(state_of C))" test "$(state_of C)" = "PENDING Resources"
check "... and scratchd was never asked for it" bash -c "! journalctl -b -u scratchd --no-pager | grep -q 'job $jobC '"
check "A and B still run" test "$(state_of A | cut -d' ' -f1) $(state_of B | cut -d' ' -f1)" = "RUNNING RUNNING"

# A ends; C takes its place beside B.
touch $HS/go-A
wait_for 300 '! kill -0 $pidA 2>/dev/null'
check "job A ended, and its srun exited 0" wait $pidA
# (Its volume gone from status, not a count of job volumes: C's prolog may
# have made C's before a look sees one.)
check "A's epilog released its volume (/scratch/$jobA is no mount now, no volume of job $jobA)" \
        wait_for 60 '! findmnt -n /scratch/$jobA > /dev/null && [ -z "$(job_field $jobA user)" ]'
# Under the shipped unit (ProtectSystem=strict) the mount point is removed in
# PID 1's mount namespace, where it was made: none is left behind.
check "A's empty mount point is gone too" test ! -e /scratch/$jobA
if wait_for 600 '[ -e $HS/C ]'; then ok "job C ($jobC) started once A ended"; else not_ok "job C never started: $(state_of C)"; fi
wait_for 60 'grep -q PEER-SEEN $HS/C.out'
check "C ran beside B and could not read B's SCRATCH" grep -q '^PEER-SEEN: B' $HS/C.out
check "C's volume is alice's, 1 GiB" test "$(job_field "$jobC" user) $(job_field "$jobC" size_bytes)" = "alice $GIB"
check "scratchd has two job volumes (B, C)" test "$(pool jobs)" = 2

touch $HS/go-B $HS/go-C
wait_for 300 '! kill -0 $pidB 2>/dev/null && ! kill -0 $pidC 2>/dev/null'
check "job B's srun exited 0" wait $pidB
check "job C's srun exited 0" wait $pidC
for j in A B C; do
        sed "s/^/#   $j: /" $HS/$j.out >> $R
        check "job $j found its own SCRATCH and kept its data (JOB-OK)" grep -q '^JOB-OK$' $HS/$j.out
done
# COMPLETING until its epilog (the release) is done: waited for.
for id in $jobA $jobB $jobC; do
        check "job $id COMPLETED, exit 0:0" \
                wait_for 120 "scontrol -o show job $id | grep -q 'JobState=COMPLETED .*ExitCode=0:0'"
done
wait_for 60 '[ "$(pool jobs)" = 0 ]'

# Every prolog and epilog succeeded; the node never drained; no volume left.
kill $monitor
slurmlog=$(journalctl -b -u slurmd -u slurmctld --no-pager)
check "no prolog or epilog failed (slurmd's log)" \
        bash -c "! grep -Eiq '(prolog|epilog).*(failed|killed|did ?n.t run)' <<<\"\$1\"" - "$slurmlog"
# line EVENT JOB: the line of JOB's EVENT in scratchd's audit log (JSON lines).
line() { grep -n "\"event\":\"$1\".*\"job\":\"$2\"" /var/log/scratchd/audit.log | head -n 1 | cut -d: -f1; }
for id in $jobA $jobB $jobC; do
        check "scratchd's audit log has job $id's prepare and release" test -n "$(line job-prepare $id)" -a -n "$(line job-release $id)"
done
# Slurm starts nothing on a node whose epilog still runs (COMPLETING): A's
# space was free before C's prolog asked for it.
check "A's release (audit line $(line job-release $jobA)) came before C's prepare (line $(line job-prepare $jobC))" \
        test "$(line job-release $jobA)" -lt "$(line job-prepare $jobC)"
check "scratchd refused nothing (no NoSpace, no TooManyJobs)" \
        bash -c "! journalctl -b -u scratchd --no-pager | grep -Eiq 'no space|NoSpace|TooManyJobs|MaxJobs='"
note "node states seen: $(awk '{ print $2 }' /results/node-states | sort | uniq -c | tr -s ' \n' ' ')"
check "the node never drained ($(wc -l < /results/node-states) samples)" \
        bash -c "! awk '{ print \$2 }' /results/node-states | grep -Eiq 'drain|down|fail'"
node=$(scontrol show node node1)
check "scontrol show node: State=IDLE" grep -q 'State=IDLE ' <<<"$node"
check "... and no Reason" bash -c "! grep -q 'Reason=' <<<\"\$1\"" - "$node"
scratchctl status | sed 's/^/#   /' >> $R
check "scratchd has no job volume left" test "$(pool jobs)" = 0
check "the whole pool is free" test "$(pool free_bytes)" = "$size"
check "no job mount is left under /scratch" bash -c "! findmnt -rn -o TARGET | grep -q '^/scratch/'"
if grep -q '^not ok' $R; then
        journalctl -b -u slurmctld -u slurmd -u scratchd --no-pager | tail -n 60 | sed 's/^/#   /' >> $R
        journalctl -b _PID=1 --no-pager | grep -i 'scratch\|mount\|dev-mapper' | tail -n 30 | sed 's/^/#   pid1: /' >> $R
fi
finish
