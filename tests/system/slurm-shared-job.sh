#!/bin/bash
# A job step of the shared-node test, run as the job's user:
# slurm-shared-job SELF [PEER]. Checks its own $SCRATCH, writes a marker
# there, and tells the others where its $SCRATCH is (a file under $HS); with
# a PEER, waits until that job runs too (the two overlap) and checks that it
# can neither list nor read the peer's $SCRATCH. Then waits for the driver's
# go-SELF, and checks its marker is still there. Every wait is bounded.
self=$1 peer=${2:-}
HS=/shared/hs
fail() { echo "JOB-FAIL: $self: $*"; exit 1; }
wait_file() {  # wait_file PATH SECONDS
        local end=$((SECONDS + $2))
        while [ ! -e "$1" ]; do [ $SECONDS -lt $end ] || return 1; sleep 0.5; done
}
[ -n "${SCRATCH:-}" ] || fail "no SCRATCH in the environment"
[ "${TMPDIR:-}" = "$SCRATCH" ] || fail "TMPDIR ($TMPDIR) is not SCRATCH ($SCRATCH)"
[ "$SCRATCH" = "/scratch/$SLURM_JOB_ID" ] || fail "SCRATCH is $SCRATCH, not /scratch/$SLURM_JOB_ID"
[ -O "$SCRATCH" ] || fail "$SCRATCH is not mine"
[ "$(stat -c %a "$SCRATCH")" = 700 ] || fail "$SCRATCH is not 0700"
[ -z "$(ls -A "$SCRATCH")" ] || fail "$SCRATCH is not empty"
read -r src target < <(findmnt -n -o SOURCE,TARGET -T "$SCRATCH")
[ "$target" = "$SCRATCH" ] || fail "$SCRATCH is not a mount of its own (it is under $target)"
case $src in /dev/mapper/scratchd-scratch-vol-*) ;; *) fail "$SCRATCH is on $src, not a job volume" ;; esac
marker="$self-$SLURM_JOB_ID-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$marker" > "$SCRATCH/data" || fail "cannot write"
echo "SCRATCH=$SCRATCH SOURCE=$src SIZE=$(df -B1 --output=size "$SCRATCH" | tail -n 1 | tr -d ' ')"
echo "$SCRATCH" > "$HS/.$self" && mv "$HS/.$self" "$HS/$self" || fail "cannot write to $HS"
if [ -n "$peer" ]; then
        wait_file "$HS/$peer" 900 || fail "job $peer never ran beside me"
        other=$(cat "$HS/$peer")
        [ "$other" != "$SCRATCH" ] || fail "$peer has the same SCRATCH"
        ls "$other" > /dev/null 2>&1 && fail "I can list $peer's $other"
        cat "$other/data" > /dev/null 2>&1 && fail "I can read $peer's $other/data"
        echo "PEER-SEEN: $peer at $other, not readable"
fi
wait_file "$HS/go-$self" 1200 || fail "no go from the driver"
[ "$(cat "$SCRATCH/data")" = "$marker" ] || fail "my data changed"
echo JOB-OK
