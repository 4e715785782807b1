#!/bin/bash
# Runs inside the booted node image as a systemd unit (see image-lib.sh): a
# real Slurm (slurmctld, slurmd, munge) runs jobs of two users through
# scratchd's contrib hooks; then a wipe is made to fail and the node drains.
R=/results/result
RESULT=$R
. /usr/local/lib/scratchd-tests/lib.sh   # ok, not_ok, check, note, field (tests/lib.sh)
# Whether STRING is nowhere on DEVICE: grep exits 1. It exits 2 when the scan
# fails, which proves nothing. -z: records end at NUL, so that a stretch of
# zeros (a discarded disk) is not one line of gigabytes to hold in memory.
absent() { LC_ALL=C grep -a -z -q -F "$1" "$2"; test $? -eq 1; }
wait_for() {  # wait_for SECONDS CONDITION
        local end=$((SECONDS + $1))
        while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.5; done
        return 1
}

wait_for 60 '[ "$(field state)" = CLEAN ]' || { not_ok "scratchd never made the volume CLEAN"; echo done >> $R; exit 0; }
# Every Slurm client call is bounded: a Slurm that is not up must fail the
# test, not hang it.
sinfo() { timeout 5 /usr/bin/sinfo "$@"; }
srun() { timeout 120 /usr/bin/srun "$@"; }
export -f srun
for u in munge slurmctld slurmd; do systemctl -q is-active $u || systemctl start $u; done
check "munge, slurmctld and slurmd are active" systemctl -q is-active munge slurmctld slurmd
wait_for 40 'sinfo -h -o %T 2>/dev/null | grep -q idle'
if ! sinfo -h -o %T | grep -q idle; then
        not_ok "node1 is not idle in Slurm: $(sinfo -h -o '%T %E' 2>&1)"
        journalctl -b -u slurmctld -u slurmd -u munge --no-pager | tail -n 30 | sed 's/^/#   /' >> $R
        echo done >> $R
        exit 0
fi
ok "node1 is idle in Slurm"
sinfo | sed 's/^/#   /' >> $R

# Three jobs of two users in a row. Each checks its own $SCRATCH and writes
# a marker; between jobs, the driver (root) looks for the last marker on the
# raw disk and on the volume.
prev=""
gen=$(field key_generation)
i=0
for user in alice bob alice; do
        i=$((i + 1))
        marker="SLURMJOB-$i-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        out=$(su -s /bin/bash "$user" -c "cd /tmp && timeout 120 srun -N1 -n1 /usr/local/bin/slurm-job '$prev' '$marker'" 2>&1)
        echo "$out" | sed "s/^/#   job $i ($user): /" >> $R
        check "job $i ($user) ran and found \$SCRATCH=\$TMPDIR, its own, 0700, empty, on the encrypted mount" \
                grep -q '^JOB-OK$' <<<"$out"
        check "job $i ($user) found no trace of the job before it" bash -c "! grep -q 'PREVIOUS-MARKER-FOUND' <<<'$out'"
        wait_for 30 '[ "$(field state)" = CLEAN ] && [ "$(field key_generation)" -gt '"$gen"' ]'
        new=$(field key_generation)
        check "job $i's epilog wiped the volume: CLEAN, key generation $gen -> $new" test "$new" -gt "$gen"
        gen=$new
        sync; echo 3 > /proc/sys/vm/drop_caches
        check "job $i's marker is nowhere on the raw disk" absent "$marker" /dev/ubda
        check "job $i's marker is nowhere on the new volume" absent "$marker" /dev/mapper/scratchd-scratch
        prev=$marker
done

# A wipe that fails: something of root's holds the job's volume when the job
# ends, so the release is refused, the volume fenced, and the epilog drains
# the node with a reason naming scratchd.
su -s /bin/bash alice -c "cd /tmp && timeout 120 srun -N1 -n1 /usr/local/bin/slurm-job '' HOLD-ME 'touch \$SCRATCH/.held; sleep 3'" > /dev/null 2>&1 &
job=$!
wait_for 30 'ls /scratch/*/.held >/dev/null 2>&1'
held=$(ls /scratch/*/.held 2>/dev/null | head -n1)
sleep 600 < "$held" &
holder=$!
wait $job
wait_for 60 'sinfo -h -o %T | grep -q drain'
reason=$(sinfo -h -o %E | head -n1)
note "sinfo: $(sinfo -h -o '%T: %E' | head -n1)"
check "the node drained after the failed wipe" bash -c "sinfo -h -o %T | grep -Eq 'drain'"
check "the drain reason starts with a code of scratchd's: scratchd:failed release: ..." \
        grep -q '^scratchd:failed release: volume scratch is FAILED' <<<"$reason"
code=$(cut -d' ' -f1 <<<"$reason")
check "... a code that fits sinfo -R's 20 columns ($code)" test ${#code} -le 20
check "the volume is FAILED (fenced)" test "$(field state)" = FAILED
check "the fenced volume is unmounted" bash -c "! findmnt -n /scratch >/dev/null"
kill $holder
echo done >> $R
