#!/bin/bash
# A Slurm batch job, run as the job's user: slurm-ops-job NAME. It writes
# 1 MiB of random data to $SCRATCH, says JOB-STARTED, and waits for root's
# go (/tmp/ops-go-NAME, at most 20 minutes); then it checks that its data
# and its directory on the encrypted volume are still there, says
# JOB-DATA-KEPT and ends.
name=$1
fail() { echo "JOB-FAIL: $*"; exit 1; }
on_volume() { [ "$(findmnt -n -o SOURCE -T "$SCRATCH")" = /dev/mapper/scratchd-scratch ]; }
[ -n "${SCRATCH:-}" ] || fail "no SCRATCH in the environment"
[ -O "$SCRATCH" ] || fail "$SCRATCH is not mine"
on_volume || fail "$SCRATCH is not on the encrypted volume"
[ -z "$(ls -A "$SCRATCH")" ] || fail "$SCRATCH is not empty"
head -c 1M /dev/urandom > "$SCRATCH/data" || fail "cannot write"
sum=$(sha256sum < "$SCRATCH/data")
sync
echo "JOB-STARTED $SCRATCH"
for _ in $(seq 1 2400); do [ -e "/tmp/ops-go-$name" ] && break; sleep 0.5; done
[ -e "/tmp/ops-go-$name" ] || fail "no go from the test in 20 minutes"
[ -d "$SCRATCH" ] || fail "$SCRATCH is gone"
on_volume || fail "$SCRATCH is no longer on the encrypted volume"
[ "$(sha256sum < "$SCRATCH/data" 2>&1)" = "$sum" ] || fail "its data changed or is gone"
echo JOB-DATA-KEPT
