#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Slurm prolog and epilog (contrib/slurm) with stand-ins for scratchctl
# and scontrol that record how they are called and answer as each case
# needs: the drain reason's code for each way scratchctl fails, the timeout
# given to scratchctl, scontrol found where PATH does not have it
# (SCRATCHD_SLURM_BIN=), and the hooks run with the bare environment slurmd
# gives them. The real hooks under a real slurmd: tests/system.
set -u
root=$(dirname "$(realpath "$0")")/../..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

# The hooks as installed: side by side with hook-common.
mkdir -p "$tmp/hooks" "$tmp/bin" "$tmp/slurm/bin" "$tmp/etc"
cp "$root"/contrib/slurm/{prolog,epilog,hook-common} "$tmp/hooks/"
# /etc/default/scratchd is read from the real path; the tests' own settings
# come through a copy of hook-common that reads theirs instead.
sed -i "s|/etc/default/scratchd|$tmp/etc/default|g" "$tmp/hooks/hook-common"
cat > "$tmp/bin/scratchctl" <<SH
#!/bin/sh
echo "\$*" >> "$tmp/scratchctl.args"
[ -s "$tmp/scratchctl.msg" ] && cat "$tmp/scratchctl.msg" >&2
[ -s "$tmp/scratchctl.out" ] && cat "$tmp/scratchctl.out"
exit \$(cat "$tmp/scratchctl.rc")
SH
cat > "$tmp/slurm/bin/scontrol" <<SH
#!/bin/sh
echo "\$*" >> "$tmp/scontrol.args"
SH
chmod +x "$tmp/bin/scratchctl" "$tmp/slurm/bin/scontrol"

# run HOOK RC MESSAGE: the hook as slurmd runs it: a bare environment. (The
# timeout scratchctl gets is what is left of the budget: a second may have
# passed.)
run() {
        echo "$2" > "$tmp/scratchctl.rc"; printf '%s\n' "$3" > "$tmp/scratchctl.msg"
        : > "$tmp/scratchctl.args"; : > "$tmp/scontrol.args"; : > "$tmp/scratchctl.out"
        [ "$2" = 0 ] && echo /scratch/77 > "$tmp/scratchctl.out"
        env -i PATH="$tmp/bin:/usr/bin:/bin" SLURM_JOB_ID=77 SLURM_JOB_UID=1000 SLURMD_NODENAME=node7 \
                SLURM_CONF=/nonexistent "$tmp/hooks/$1" > "$tmp/out" 2> "$tmp/err"
}
reason() { sed -n 's/.*reason=//p' "$tmp/scontrol.args"; }
printf 'SCRATCHD_SLURM_BIN=%s\n' "$tmp/slurm/bin" > "$tmp/etc/default"

run prolog 0 ""
check "prolog: success exits 0" test $? -eq 0
check "... asks for the job by uid, with the timeout below PrologEpilogTimeout" \
        grep -Eqx -- "--timeout (240|239) prepare --job 77 --uid 1000" "$tmp/scratchctl.args"
check "... and drains nothing" test ! -s "$tmp/scontrol.args"

cases=(
        "1|scratchctl: scratchd: volume scratch is FAILED (fenced): wipe failed at discard: Input/output error; fix the cause, then run 'scratchctl wipe'|scratchd:failed"
        "1|scratchctl: scratchd: no CLEAN volume: scratch is busy (WIPING, wiping); wait, or release a job first|scratchd:busy"
        "1|scratchctl: scratchd: no CLEAN volume: scratch is FAILED (fenced): x; fix the cause, then run 'scratchctl wipe'|scratchd:failed"
        "1|scratchctl: scratchd: no CLEAN volume: scratch is ABSENT (no usable disk): no such disk; fix the disk or Devices= (scratchd tries again by itself)|scratchd:failed"
        "1|scratchctl: scratchd: no space for 200 GiB on scratch: 100 GiB free; ask for less with --size, or wait|scratchd:nospace"
        "1|scratchctl: scratchd: volume scratch has MaxJobs=8 job volumes already; wait for a job to end|scratchd:nospace"
        "3|scratchctl: not authorized: uid 0 may not do this|scratchd:auth"
        "4|scratchctl: cannot reach scratchd at /run/scratchd/io.scratchd: No such file or directory; is scratchd.service running?|scratchd:nodaemon"
        "4|scratchctl: scratchd did not answer in time (--timeout)|scratchd:timeout"
        "5|scratchctl: scratchd: no such user 1000|scratchd:notfound"
        "1|scratchctl: scratchd answered io.scratchd.InternalError: oops|scratchd:error"
)
for c in "${cases[@]}"; do
        IFS='|' read -r rc msg code <<<"$c"
        for hook in prolog epilog; do
                what=$([ $hook = prolog ] && echo prepare || echo release)
                run $hook "$rc" "$msg"; r=$?
                want="$code $what: $(sed 's/^scratchctl: //; s/^scratchd: //' <<<"$msg")"
                got=$(reason)
                if [ $r -eq 1 ] && [ "$got" = "$want" ] && [ ${#code} -le 20 ] && grep -q "^$code" "$tmp/err"; then
                        ok "$hook, scratchctl exit $rc: drains with '$code $what: ...'"
                else
                        not_ok "$hook, scratchctl exit $rc: exit $r, reason '$got' (want '$want'), stderr '$(cat "$tmp/err")'"
                fi
        done
done
check "the epilog releases the job with the timeout" grep -Eqx -- "--timeout (240|239) release --job 77" "$tmp/scratchctl.args"
check "the node drained is slurmd's name for it" grep -q "nodename=node7 state=drain" "$tmp/scontrol.args"
check "the job is named on stderr (for slurmd's log), not in the reason" \
        bash -c "grep -q '(job 77)' '$tmp/err' && ! grep -q 77 <<<'$(reason)'"

# Without SCRATCHD_SLURM_BIN= and scontrol nowhere on the path: the hook
# still fails (exit 1) and says it could not drain, and what to set.
: > "$tmp/etc/default"
run epilog 1 "scratchctl: scratchd: volume scratch is FAILED (fenced): x"
check "no scontrol found: the epilog still fails" test $? -eq 1
check "... says it could not drain, and to set SCRATCHD_SLURM_BIN=" grep -q "cannot drain node7: .*SCRATCHD_SLURM_BIN=" "$tmp/err"
check "control: with it set, scontrol is found" bash -c "printf 'SCRATCHD_SLURM_BIN=%s\n' '$tmp/slurm/bin' > '$tmp/etc/default'"
run epilog 1 "scratchctl: scratchd: volume scratch is FAILED (fenced): x"
check "... and drains" grep -q "state=drain" "$tmp/scontrol.args"
printf 'SCRATCHD_SLURM_BIN=%s\nSCRATCHD_TIMEOUT=100\n' "$tmp/slurm/bin" > "$tmp/etc/default"
run epilog 0 ""
check "SCRATCHD_TIMEOUT= from /etc/default/scratchd is what scratchctl gets" \
        grep -Eqx -- "--timeout (100|99) release --job 77" "$tmp/scratchctl.args"
# slurm.conf's Prolog= may name a symlink elsewhere (a prolog.d directory):
# hook-common is found beside the file the link points to.
mkdir -p "$tmp/prolog.d" && ln -s "$tmp/hooks/epilog" "$tmp/prolog.d/50-scratchd"
echo 0 > "$tmp/scratchctl.rc"; : > "$tmp/scratchctl.args"
env -i PATH="$tmp/bin:/usr/bin:/bin" SLURM_JOB_ID=78 SLURMD_NODENAME=node7 "$tmp/prolog.d/50-scratchd" 2> "$tmp/err"
check "run through a symlink in another directory, the epilog finds hook-common and releases" \
        grep -Eqx -- "--timeout (100|99) release --job 78" "$tmp/scratchctl.args"
echo "1..$n"
exit $fail
