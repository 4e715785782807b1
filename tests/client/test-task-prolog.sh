#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Slurm task prolog (contrib/slurm/task-prolog) with a stand-in
# scratchctl that answers job-dir for the jobs it knows: the job's own
# directory from scratchd; a heterogeneous job's component asks for its own
# id (the leader's plus its offset), not the leader's; a directory not the
# user's, or no answer, exports nothing. With the real scratchd and slurmd:
# tests/system (node-test-slurm*.sh).
set -u
root=$(dirname "$(realpath "$0")")/../..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
mkdir -p "$tmp/bin" "$tmp/scratch/100" "$tmp/scratch/103" "$tmp/scratch/104"
cat > "$tmp/bin/scratchctl" <<SH
#!/bin/sh
echo "\$*" >> "$tmp/args"
case "\$*" in
*"job-dir --job 100") echo $tmp/scratch/100 ;;
*"job-dir --job 103") echo $tmp/scratch/103 ;;
*"job-dir --job 104") echo /nonexistent/104 ;;
*) echo "scratchctl: scratchd: no volume is held by job" >&2; exit 5 ;;
esac
SH
chmod +x "$tmp/bin/scratchctl"
run() {  # run ENV...: the task prolog's output
        : > "$tmp/args"
        env -i PATH="$tmp/bin:/usr/bin:/bin" "$@" sh "$root/contrib/slurm/task-prolog" 2> "$tmp/err"
}
check() {  # check WHAT WANT GOT
        n=$((n + 1))
        if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1: got '$3', want '$2'"; fail=1; fi
}
check "a job: its directory, from scratchd" "export SCRATCH=$tmp/scratch/100
export TMPDIR=$tmp/scratch/100" "$(run SLURM_JOB_ID=100)"
check "... asked for by its id" "--timeout 20 job-dir --job 100" "$(cat "$tmp/args")"
check "a heterogeneous job's component 3 (leader 100): job 103's directory" "export SCRATCH=$tmp/scratch/103
export TMPDIR=$tmp/scratch/103" "$(run SLURM_JOB_ID=100 SLURM_HET_JOB_ID=100 SLURM_HET_JOB_OFFSET=3)"
check "... asked for as 103" "--timeout 20 job-dir --job 103" "$(cat "$tmp/args")"
check "the leader's component (offset 0): the leader's own" "export SCRATCH=$tmp/scratch/100
export TMPDIR=$tmp/scratch/100" "$(run SLURM_JOB_ID=100 SLURM_HET_JOB_ID=100 SLURM_HET_JOB_OFFSET=0)"
check "a job scratchd holds no volume for: nothing exported, the task told why" \
        "print scratchd: job 101 has no scratch directory on this node, SCRATCH and TMPDIR not set: scratchctl: scratchd: no volume is held by job" \
        "$(run SLURM_JOB_ID=101)"
check "a directory that is not there: nothing exported, said" \
        "print scratchd: job 104 has no scratch directory on this node, SCRATCH and TMPDIR not set" "$(run SLURM_JOB_ID=104)"
if [ "$(id -u)" = 0 ]; then
        chown 65534 "$tmp/scratch/100"
        check "a directory that is not the user's: nothing exported, said" \
                "print scratchd: job 100 has no scratch directory on this node, SCRATCH and TMPDIR not set" \
                "$(run SLURM_JOB_ID=100)"
fi
check "offsets that are not numbers are not used" "--timeout 20 job-dir --job 100" \
        "$(run SLURM_JOB_ID=100 SLURM_HET_JOB_ID=100 'SLURM_HET_JOB_OFFSET=3;x' > /dev/null; cat "$tmp/args")"
echo "1..$n"
exit $fail
