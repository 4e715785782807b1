#!/bin/bash
# A Slurm job step, run as the job's user: slurm-job PREVIOUS-MARKER MARKER [EXTRA]
prev=$1 marker=$2
fail() { echo "JOB-FAIL: $*"; exit 1; }
[ -n "${SCRATCH:-}" ] || fail "no SCRATCH in the environment"
[ "${TMPDIR:-}" = "$SCRATCH" ] || fail "TMPDIR ($TMPDIR) is not SCRATCH ($SCRATCH)"
[ -O "$SCRATCH" ] || fail "$SCRATCH is not mine"
[ "$(stat -c %a "$SCRATCH")" = 700 ] || fail "$SCRATCH is not 0700"
[ -z "$(ls -A "$SCRATCH")" ] || fail "$SCRATCH is not empty"
[ "$(findmnt -n -o SOURCE -T "$SCRATCH")" = /dev/mapper/scratchd-scratch ] || fail "$SCRATCH is not on the encrypted volume"
if [ -n "$prev" ] && grep -r -q -F "$prev" "$SCRATCH" /scratch /tmp 2>/dev/null; then echo PREVIOUS-MARKER-FOUND; fi
yes "$marker" | head -c 1M > "$SCRATCH/data" || fail "cannot write"
sync
[ -n "${3:-}" ] && eval "$3"
echo JOB-OK
