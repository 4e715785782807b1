#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The service unit's hardening, scored by systemd itself: exposure at most 2.1
# (2.0 before CAP_KILL, which BusyPolicy=kill needs to stop a finished job's
# processes of another uid; the way down to 1.6 is mounting through PID 1 and
# a separate, smaller unit for the holder scan and kills)
# (`systemd-analyze security --offline=true`), and `systemd-analyze verify`
# clean for both units.
set -u
root=$(dirname "$(realpath "$0")")/../..
scratchd=${SCRATCHD:?SCRATCHD must name the built scratchd}
if ! systemd-analyze --help 2>/dev/null | grep -q -- --offline; then
        [ -n "${CI:-}" ] && { echo "not ok - systemd-analyze lacks --offline (systemd 252 or later needed)"; exit 1; }
        echo "SKIP: systemd-analyze lacks --offline (systemd 252 or later)"; exit 77
fi
fail=0
out=$(systemd-analyze security --offline=true "$root/systemd/scratchd.service" 2>&1)
exposure=$(sed -n 's/.*Overall exposure level for scratchd.service: \([0-9.]*\).*/\1/p' <<<"$out")
echo "# systemd-analyze security --offline=true: exposure $exposure (target: at most 2.1)"
grep '✗' <<<"$out" | sed 's/  */ /g; s/^/#   /'
if [ -n "$exposure" ] && [ "$(echo "$exposure <= 2.1" | bc)" = 1 ]; then
        echo "ok 1 - scratchd.service exposure $exposure <= 2.1"
else
        echo "not ok 1 - scratchd.service exposure '${exposure:-none}' is above 2.1"; fail=1
fi

# verify wants the ExecStart binary to exist: point it at the build.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=/usr/sbin/scratchd|ExecStart=$scratchd|" "$root/systemd/scratchd.service" > "$tmp/scratchd.service"
cp "$root/systemd/scratchd.socket" "$tmp/"
if out=$(systemd-analyze verify --man=no "$tmp/scratchd.service" "$tmp/scratchd.socket" 2>&1) && [ -z "$out" ]; then
        echo "ok 2 - systemd-analyze verify is clean for scratchd.service and scratchd.socket"
else
        echo "not ok 2 - systemd-analyze verify:"; sed 's/^/#   /' <<<"$out"; fail=1
fi
exit $fail
