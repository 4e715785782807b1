#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# contrib/nhc/scratchd.nhc under NHC's conventions (die and log are NHC's;
# here they record what they are given), with a stand-in scratchctl that
# exits as status --check would in each state.
set -u
root=$(dirname "$(realpath "$0")")/../..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
died="" logged=""
die() { died="$2"; }
log() { logged="$1"; }
. "$root/contrib/nhc/scratchd.nhc"
# A stand-in scratchctl: exits with $tmp/rc's first line, says $tmp/msg; each
# run drops a line of $tmp/rc, so a second run may answer otherwise.
cat > "$tmp/scratchctl" <<'SH'
#!/bin/bash
dir=$(dirname "$0")
rc=$(head -n 1 "$dir/rc"); [ "$(wc -l < "$dir/rc")" -gt 1 ] && sed -i 1d "$dir/rc"
echo "$*" >> "$dir/args"
[ -s "$dir/msg" ] && cat "$dir/msg" >&2
exit "$rc"
SH
chmod +x "$tmp/scratchctl"
PATH=$tmp:$PATH
case_() {  # case_ WHAT "RC..." MSG WANT-RESULT WANT-DIED-PATTERN
        local what=$1 rcs=$2 msg=$3 want=$4 pattern=$5 r
        printf '%s\n' $rcs > "$tmp/rc"; printf '%s' "$msg" > "$tmp/msg"; : > "$tmp/args"
        died="" logged=""
        check_scratchd; r=$?
        n=$((n + 1))
        if [ "$r" = "$want" ] && { [ -z "$pattern" ] && [ -z "$died" ] || [ -n "$pattern" ] && [[ $died == *$pattern* ]]; }; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what: returned $r (want $want), died '${died}', logged '${logged}'"; fail=1
        fi
}
case_ "every volume CLEAN or IN_USE: passes" 0 "" 0 ""
case_ "a volume FAILED: the node fails, with scratchctl's line" 1 \
        "scratchctl: volume scratch is FAILED: wipe failed at discard" 1 "volume scratch is FAILED: wipe failed"
case_ "a volume being wiped: passes, logged" 6 "scratchctl: volume scratch is WIPING" 0 ""
n=$((n + 1)); if [[ $logged == *"not settled yet"*WIPING* ]]; then echo "ok $n - ... and the log says so"; else echo "not ok $n - log: '$logged'"; fail=1; fi
case_ "scratchd not answering (within scratchctl's own waiting): the node fails" 4 "scratchctl: cannot reach scratchd" 1 "cannot reach scratchd"
n=$((n + 1)); if [ "$(wc -l < "$tmp/args")" = 1 ] && grep -q -- "--timeout 10 " "$tmp/args"; then echo "ok $n - ... asked once, with 10 s (scratchctl asks again within them; NHC's limit is 30 s)"; else echo "not ok $n - asked: $(cat "$tmp/args")"; fail=1; fi
case_ "not authorized (NHC not run as root): the node fails" 3 "scratchctl: not authorized" 1 "not authorized"
n=$((n + 1)); if grep -q -- "status --check" "$tmp/args"; then echo "ok $n - it runs status --check"; else echo "not ok $n - args: $(cat "$tmp/args")"; fail=1; fi
echo "1..$n"
exit $fail
