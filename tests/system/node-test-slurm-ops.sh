#!/bin/bash
# Runs inside the booted node image (see test-slurm-ops.sh): a real Slurm
# runs jobs through scratchd's contrib hooks while the node is operated on.
#   node-test early    (first boot, before scratchd starts) waits for
#                      slurmctld, and queues job 1
#   node-test          (node-test.service, at each boot) the checks; the
#                      first boot ends in a reboot, the second one goes on
#                      from /results/phase and powers off
# Three batch jobs of alice's, one at a time (one volume, Mode=exclusive):
#   1. in Slurm's queue all through scratchd's setup of its volume after
#      boot; its prolog runs once scratchd is ready (slurmd is ordered after
#      it), and gets a volume set up, not one being adopted; then scratchd is
#      restarted under it: it keeps its data, its epilog succeeds;
#   2. runs through a package upgrade (a newer build of the .deb), during
#      which the prolog is called as slurmd calls it, and job 3 is queued:
#      job 2 keeps its data, its epilog succeeds, and job 3's prolog too;
#   3. runs when the node reboots; its epilog, after the reboot, succeeds;
#   4. is killed without its epilog (slurmd stopped, the job's processes
#      SIGKILLed, its empty cgroups left): scratchd finds its volume stale
#      (JobCheck=slurm, StaleAfterSec=30), shows it in status and metrics,
#      and once a reload sets ReleaseStale=yes, releases it; the epilog that
#      comes once slurmd is back succeeds.
# The node never drains, and is idle at the end.
R=/results/result
RESULT=$R
PHASE=/results/phase
. /usr/local/lib/scratchd-tests/lib.sh   # ok, not_ok, check, check_fails, note, field (tests/lib.sh)
wait_for() {  # wait_for SECONDS CONDITION
        local end=$((SECONDS + $1))
        while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.5; done
        return 1
}
# Every Slurm client call is bounded: a Slurm that is not up must fail the
# test, not hang it.
sinfo() { timeout 20 /usr/bin/sinfo "$@"; }
squeue() { timeout 20 /usr/bin/squeue "$@"; }
scontrol() { timeout 20 /usr/bin/scontrol "$@"; }
# Its output in two files: under hostfs every file is the host's root's,
# and fs.protected_regular keeps the job from opening one file twice in /tmp.
submit() {  # submit N: job N of alice's; prints its id
        su -s /bin/bash alice -c "cd /tmp && timeout 30 sbatch --parsable --no-requeue -t 60 -J ops-$1 \
                -o /tmp/ops-$1.out -e /tmp/ops-$1.err /usr/local/bin/slurm-ops-job $1"
}
uptime_usec() { awk '{ printf "%d\n", $1 * 1000000 }' /proc/uptime; }
prop() { systemctl show -p "$2" --value "$1"; }

case ${1:-} in
early)
        # Ordered before scratchd.service, after slurmctld (on this node here):
        # job 1 is queued before scratchd's setup starts. Bounded; the boot
        # goes on either way.
        wait_for 120 'scontrol ping 2>/dev/null | grep -q UP' || echo "# slurmctld did not answer in 120 s" >> /results/early.log
        id=$(submit 1 2>&1)
        {
                echo "J1='$id'"
                echo "SUBMITTED_USEC=$(uptime_usec)"
                echo "SCRATCHD_THEN=$(prop scratchd.service ActiveState)"
        } >> /results/early.log
        exit 0 ;;
esac

# TAP numbers go on after the reboot.
n=$(grep -cE '^(not )?ok ' $R 2>/dev/null)
finish() { echo done >> $R; exit 0; }
out() { cat "/tmp/ops-$1.out" 2>/dev/null; }
show_job() { echo "$2" | sed "s/^/#   job $1: /" >> $R; }
# job_started N ID: job N's prolog gave it $SCRATCH (or it failed).
job_started() {
        if ! wait_for 240 "grep -qE '^(JOB-STARTED|JOB-FAIL)' /tmp/ops-$1.out 2>/dev/null"; then
                not_ok "job $1 ($2) did not start in 240 s: $(squeue -h -j "$2" -o '%T %r' 2>&1)"
                return 1
        fi
        show_job "$1" "$(out "$1")"
        check "job $1 ($2) got its \$SCRATCH, its own, empty, on the encrypted volume" grep -q '^JOB-STARTED' "/tmp/ops-$1.out"
}
# job_ends N ID: root's go, then the job checks its data and ends.
job_ends() {
        sync; echo 3 > /proc/sys/vm/drop_caches   # its data is read from the volume, not the cache
        touch "/tmp/ops-go-$1"
        wait_for 120 "grep -qE '^(JOB-DATA-KEPT|JOB-FAIL)' /tmp/ops-$1.out 2>/dev/null" \
                || note "job $1 said nothing in 120 s after its go"
        show_job "$1" "$(out "$1" | tail -n +2)"
        check "job $1 ($2) kept its data and its directory on the volume" grep -q '^JOB-DATA-KEPT' "/tmp/ops-$1.out"
}
# epilog_ok ID: slurmd ran the job's epilog and it exited 0 (slurmd's log,
# SlurmdDebug=debug).
epilog_ran() { grep -q "JobId=$1: sent epilog complete msg" /var/log/slurm/slurmd.log; }
epilog_ok() {
        wait_for 240 "epilog_ran $1" || { not_ok "no epilog for job $1 in slurmd's log in 240 s"; return 1; }
        check "job $1's epilog succeeded ($(grep -o "JobId=$1: sent epilog complete msg.*" /var/log/slurm/slurmd.log | tail -n 1))" \
                grep -q "JobId=$1: sent epilog complete msg: rc = 0\$" /var/log/slurm/slurmd.log
}
node_state() { sinfo -h -n node1 -o '%T %E' 2>&1 | head -n 1; }
healthy() { local s; s=$(node_state); [ -n "$s" ] && ! grep -Eqi 'drain|down|fail|not_resp|\*' <<<"$s"; }
no_drain() { check "node1 is not drained nor down $1 ($(node_state))" healthy; }
# The node's state every 2 s, to the end of each boot: it must never drain.
monitor() {
        ( while :; do echo "$(date +%T) $(node_state) $(squeue -h -o '%i:%T' 2>&1 | tr '\n' ' ')"; sleep 2; done ) \
                >> /results/node-states.log 2>&1 &
}
settled() { [ "$(field adopting)" != True ] && [ -n "$(field state)" ]; }

if [ ! -e $PHASE ]; then
        # ---- First boot -------------------------------------------------------
        for u in munge slurmctld slurmd; do systemctl -q is-active $u || systemctl start $u; done
        check "munge, slurmctld and slurmd are active" systemctl -q is-active munge slurmctld slurmd
        monitor
        cat /results/early.log 2>/dev/null | sed 's/^/#   early: /' >> $R
        J1= SUBMITTED_USEC=0 SCRATCHD_THEN=
        . /results/early.log 2>/dev/null
        [[ $J1 =~ ^[0-9]+$ ]] || { not_ok "job 1 was not submitted at boot: $J1"; finish; }

        # 1. A job queued all through scratchd's setup of its volume after boot.
        started_usec=$(prop scratchd.service ExecMainStartTimestampMonotonic)
        ready_usec=$(prop scratchd.service ActiveEnterTimestampMonotonic)
        slurmd_usec=$(prop slurmd.service ExecMainStartTimestampMonotonic)
        note "after boot: job 1 queued at $((SUBMITTED_USEC / 1000)) ms; scratchd started at $((started_usec / 1000)) ms, ready at $((ready_usec / 1000)) ms; slurmd started at $((slurmd_usec / 1000)) ms"
        check "job 1 was in Slurm's queue before scratchd's setup began (scratchd then: $SCRATCHD_THEN)" \
                test "$SUBMITTED_USEC" -le "$started_usec" -a "$SCRATCHD_THEN" = inactive
        check "slurmd.service is ordered after scratchd.service" grep -qw scratchd.service <<<"$(prop slurmd.service After)"
        check "... and started once scratchd was ready (READY=1)" test "$slurmd_usec" -ge "$ready_usec"
        job_started 1 "$J1" || finish
        check "scratchd gave job 1 the volume" test "$(field state) $(field job)" = "IN_USE $J1"
        # proctrack/cgroup (cgroup v1): the job's freezer cgroup, its
        # processes in it.
        cg=$(find /sys/fs/cgroup/freezer -type d -name "job_$J1" 2>/dev/null | head -n 1)
        note "job 1's freezer cgroups: $(find /sys/fs/cgroup/freezer -type d -path "*job_$J1*" 2>&1 | tr '\n' ' ')"
        check "job 1 has its freezer cgroup, ${cg:-none} (ProctrackType=proctrack/cgroup)" test -n "$cg" -a -d "$cg"
        # (slurm_NODE/: Debian's Slurm is built for several slurmd a host.)
        in_cgroup() { local p; for p in $(cat "$cg"/step_batch/cgroup.procs 2>/dev/null); do
                [ "$(stat -c %u "/proc/$p" 2>/dev/null)" = 2001 ] && grep -q slurm_script "/proc/$p/cmdline" 2>/dev/null \
                        && return 0; done; return 1; }
        check "... with the job's batch script, alice's, in it (step_batch)" in_cgroup
        no_drain "after job 1's prolog"

        # 3. scratchd restarted under a running job.
        gen=$(field key_generation)
        before=$(prop scratchd.service MainPID)
        timeout 300 systemctl restart scratchd.service; rc=$?
        check "systemctl restart scratchd, job 1 running (exit $rc)" test $rc -eq 0
        after=$(prop scratchd.service MainPID)
        check "... a new daemon ($before, then $after)" test "$after" != "$before" -a "$after" != 0
        wait_for 60 settled
        check "... which adopted job 1's volume as it was" test "$(field state) $(field job) $(field key_generation)" = "IN_USE $J1 $gen"
        job_ends 1 "$J1"
        epilog_ok "$J1"
        wait_for 60 '[ "$(field state)" = CLEAN ]'
        check "job 1's epilog wiped the volume: CLEAN, key generation $gen -> $(field key_generation)" \
                test "$(field state)" = CLEAN -a "$(field key_generation)" -gt "$gen"
        no_drain "after the restart and job 1's epilog"

        # 4. A package upgrade (a newer build) under a running job.
        J2=$(submit 2 2>&1)
        job_started 2 "$J2" || finish
        gen=$(field key_generation)
        old=$(dpkg-query -W -f '${Version}' scratchd)
        new=$(dpkg-deb -f /root/scratchd-new.deb Version)
        before=$(prop scratchd.service MainPID)
        # The prolog as slurmd calls it (a retried prolog of job 2's: the only
        # other job's would find no CLEAN volume, as it should), over and over
        # until the upgrade is done; and job 3 queued during the upgrade.
        rm -f /tmp/upgrade-done /tmp/upgrade-calls
        ( while [ ! -e /tmp/upgrade-done ]; do
                o=$(env -i SLURM_JOB_ID="$J2" SLURM_JOB_UID=2001 SLURM_JOB_USER=alice SLURMD_NODENAME=node1 \
                        SLURM_CONF=/etc/slurm/slurm.conf PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                        /usr/libexec/scratchd/slurm/prolog 2>&1)
                rc=$?
                echo "$(date +%T.%N | cut -c1-12) rc $rc $o" >> /tmp/upgrade-calls
                sleep 0.2
          done ) &
        caller=$!
        sleep 1
        dpkg -i /root/scratchd-new.deb > /tmp/upgrade.log 2>&1 &
        dpkg=$!
        J3=$(submit 3 2>&1)
        kill -0 $dpkg 2>/dev/null; during=$?
        wait $dpkg; upgraded=$?
        touch /tmp/upgrade-done; wait $caller
        tail -n 4 /tmp/upgrade.log | sed 's/^/#   dpkg: /' >> $R
        check "the package upgrades ($old -> $new), job 2 running" test $upgraded -eq 0 -a "$(dpkg-query -W -f '${Version}' scratchd)" = "$new"
        after=$(prop scratchd.service MainPID)
        check "... and the daemon was restarted ($before, then $after)" test "$after" != "$before" -a "$after" != 0
        check "job 3 ($J3) was queued while dpkg ran" test "$during" -eq 0 -a -n "$J3"
        sed 's/^/#   prolog: /' /tmp/upgrade-calls | head -n 3 >> $R
        check "every prolog run during the upgrade succeeded ($(grep -c . /tmp/upgrade-calls) runs)" \
                bash -c "! grep -qv ' rc 0 ' /tmp/upgrade-calls && grep -q ' rc 0 ' /tmp/upgrade-calls"
        wait_for 60 settled
        check "the new daemon adopted job 2's volume as it was" test "$(field state) $(field job) $(field key_generation)" = "IN_USE $J2 $gen"
        check "job 3 waits in Slurm's queue meanwhile" test "$(squeue -h -j "$J3" -o %T 2>&1)" = PENDING
        no_drain "after the upgrade"
        job_ends 2 "$J2"
        epilog_ok "$J2"
        job_started 3 "$J3" || finish
        check "scratchd gave job 3 the volume, with a new key" \
                test "$(field state) $(field job)" = "IN_USE $J3" -a "$(field key_generation)" -gt "$gen"
        no_drain "after job 2's epilog and job 3's prolog"

        # 2. A reboot under job 3; this script goes on after it.
        echo "J3=$J3 BOOT_ID=$(cat /proc/sys/kernel/random/boot_id) GEN=$(field key_generation) REBOOT_USEC=$(date +%s%6N)" > $PHASE
        note "rebooting, job 3 running"
        sync
        touch /run/node-test-reboot   # node-test.service's end powers off otherwise
        systemctl reboot --no-block
        exit 0
fi

# ---- After the reboot ----------------------------------------------------
J3= BOOT_ID= GEN= REBOOT_USEC=0
. $PHASE
monitor
note "back $(( ($(date +%s%6N) - REBOOT_USEC) / 1000 )) ms after the reboot was asked for"
check "the node rebooted (a new boot id)" test "$(cat /proc/sys/kernel/random/boot_id)" != "$BOOT_ID"
for u in munge slurmctld slurmd; do systemctl -q is-active $u || systemctl start $u; done
check "munge, slurmctld and slurmd are active" systemctl -q is-active munge slurmctld slurmd
check "scratchd set the volume up anew: CLEAN" test "$(field state)" = CLEAN
note "failed units: $(systemctl --failed --plain --no-legend 2>&1 | tr '\n' ' ')"
# slurmctld (restarted too) recovers job 3 as RUNNING; slurmd no longer
# reports it, so slurmctld ends it once it is 20 s (BatchStartTimeout=10 and
# 10) overdue, at the node's next registration: one in about 400 s by
# itself, asked for here with scontrol reconfigure. Then slurmd runs its
# epilog. If Slurm has not ended it in 180 s, it is cancelled (noted): the
# epilog after the reboot is what is tested.
running() { [ "$(squeue -h -j "$1" -o %T 2>/dev/null)" = RUNNING ]; }
# end_in_slurm N ID: Slurm ends a job that no longer runs on the node.
end_in_slurm() {
        local end=$((SECONDS + 180))
        while running "$2" && [ $SECONDS -lt $end ]; do
                sleep 25; scontrol reconfigure > /dev/null 2>&1
                wait_for 15 "! running $2"
        done
        if running "$2"; then
                note "Slurm did not end job $1 in 180 s: cancelled"
                timeout 20 scancel "$2"
        fi
        note "job $1: $(scontrol -o show job "$2" 2>&1 | grep -o 'JobState=[^ ]* Reason=[^ ]*')"
}
end_in_slurm 3 "$J3"
epilog_ok "$J3"
check "... and left the volume CLEAN" test "$(field state)" = CLEAN
wait_for 120 'sinfo -h -n node1 -o %T 2>/dev/null | grep -qx idle'
no_drain "after job 3's epilog"

# 5. A job killed without its epilog: its volume is stale.
J4=$(submit 4 2>&1)
job_started 4 "$J4" || finish
gen=$(field key_generation)
check "job 4 running: its volume not stale" test "$(field state) $(field stale)" = "IN_USE False"
# scratchd looks every 30 s: it has seen job 4's cgroup with a process in
# it (a job never seen running is not called gone).
sleep 40
check "... still not, 40 s on" test "$(field stale)" = False
cg=$(find /sys/fs/cgroup/freezer -type d -name "job_$J4" 2>/dev/null | head -n 1)
timeout 60 systemctl stop slurmd.service
job_pids() { cat $(find "$cg" -name cgroup.procs 2>/dev/null) 2>/dev/null; pgrep -f "slurmstepd: \[$J4\." ; }
for _ in $(seq 1 40); do
        p=$(job_pids); [ -z "$p" ] && break
        kill -9 $p 2>/dev/null; sleep 0.5
done
check "job 4 killed on the node, slurmd stopped: no process left, its cgroup ${cg:-none} left empty" \
        test -n "$cg" -a -d "$cg" -a -z "$(job_pids)"
stale() { [ "$(field stale)" = True ]; }
wait_for 240 stale
check "scratchd finds its volume stale ($(scratchctl status 2>&1 | grep -o 'job [0-9]* is stale[^;]*'))" stale
check "... status says so, and how to release it" bash -c "scratchctl status | grep -q 'job $J4 is stale: gone from this node since .*scratchctl release --job $J4'"
check "... the metrics too" bash -c "scratchctl metrics | grep -qx 'scratchd_stale_volumes{volume=\"scratch\"} 1'"
check "... and, ReleaseStale=no, it is kept: IN_USE, key generation $gen" \
        test "$(field state) $(field key_generation)" = "IN_USE $gen"
mkdir -p /etc/scratchd/conf.d
printf '[Daemon]\nReleaseStale=yes\n' > /etc/scratchd/conf.d/50-release-stale.conf
check "systemctl reload with ReleaseStale=yes" timeout 60 systemctl reload scratchd.service
wait_for 120 '[ "$(field state)" = CLEAN ] && [ "$(field key_generation)" -gt '"$gen"' ]'
check "scratchd released the stale volume itself: CLEAN, key generation $gen -> $(field key_generation)" \
        test "$(field state)" = CLEAN -a "$(field key_generation)" -gt "$gen"
check "... the audit log has its stale event, then its release, by scratchd" \
        bash -c "grep '\"job\":\"$J4\"' /var/log/scratchd/audit.log | grep -q '\"event\":\"stale\"' &&
                 grep '\"job\":\"$J4\"' /var/log/scratchd/audit.log | grep '\"event\":\"release\"' | grep -vq caller_uid"
timeout 60 systemctl start slurmd.service
end_in_slurm 4 "$J4"
epilog_ok "$J4"
check "... the volume still CLEAN after it" test "$(field state)" = CLEAN
wait_for 120 'sinfo -h -n node1 -o %T 2>/dev/null | grep -qx idle'
no_drain "after job 4's epilog"
check "node1 is idle at the end" test "$(sinfo -h -n node1 -o %T 2>&1)" = idle
check_fails "node1 never drained (every 2 s, both boots: /results/node-states.log)" grep -Eqi 'drain' /results/node-states.log
finish
