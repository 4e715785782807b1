#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The units' hardening, scored by systemd itself (`systemd-analyze security
# --offline=true`): scratchd.service at most 1.6 (mounts made by PID 1, the
# holder scan and kills in scratchd-holders.service), scratchd-holders.service
# and scratchd-metrics.service at most 1.6 too; and `systemd-analyze verify`
# clean for every unit.
set -u
root=$(dirname "$(realpath "$0")")/../..
scratchd=${SCRATCHD:?SCRATCHD must name the built scratchd}
if ! systemd-analyze --help 2>/dev/null | grep -q -- --offline; then
        [ -n "${CI:-}" ] && { echo "not ok - systemd-analyze lacks --offline (systemd 252 or later needed)"; exit 1; }
        echo "SKIP: systemd-analyze lacks --offline (systemd 252 or later)"; exit 77
fi
fail=0
n=0
score() {  # score UNIT-FILE NAME-IN-OUTPUT
        local out exposure
        out=$(systemd-analyze security --offline=true "$1" 2>&1)
        exposure=$(sed -n "s/.*Overall exposure level for $2: \([0-9.]*\).*/\1/p" <<<"$out")
        echo "# $2: systemd-analyze security --offline=true: exposure $exposure (target: at most 1.6)"
        grep '✗' <<<"$out" | sed 's/  */ /g; s/^/#   /'
        n=$((n + 1))
        if [ -n "$exposure" ] && [ "$(echo "$exposure <= 1.6" | bc)" = 1 ]; then
                echo "ok $n - $2 exposure $exposure <= 1.6"
        else
                echo "not ok $n - $2 exposure '${exposure:-none}' is above 1.6"; fail=1
        fi
}
score "$root/systemd/scratchd.service" scratchd.service
score "$root/systemd/scratchd-holders.service" 'scratchd-holders.service'
score "$root/systemd/scratchd-metrics.service" 'scratchd-metrics.service'

# verify wants the Exec*= binaries to exist: point them at the build.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|^ExecStart=/usr/sbin/scratchd|ExecStart=$scratchd|" \
    -e "s|^ExecReload=/usr/bin/scratchctl|ExecReload=${SCRATCHCTL:?SCRATCHCTL must name the built scratchctl}|" \
        "$root/systemd/scratchd.service" > "$tmp/scratchd.service"
sed "s|^ExecStart=/usr/libexec/scratchd/scratchd-holders|ExecStart=${SCRATCHD_HOLDERS:?SCRATCHD_HOLDERS must name the built scratchd-holders}|" \
        "$root/systemd/scratchd-holders.service" > "$tmp/scratchd-holders.service"
sed "s|/usr/bin/scratchctl|${SCRATCHCTL:?SCRATCHCTL must name the built scratchctl}|" \
        "$root/systemd/scratchd-metrics.service" > "$tmp/scratchd-metrics.service"
cp "$root/systemd/scratchd.socket" "$root/systemd/scratchd-holders.socket" "$root/systemd/scratchd-metrics.timer" "$tmp/"
units=("$tmp/scratchd.service" "$tmp/scratchd.socket" "$tmp/scratchd-holders.socket" "$tmp/scratchd-holders.service"
       "$tmp/scratchd-metrics.service" "$tmp/scratchd-metrics.timer")
n=$((n + 1))
if out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) && [ -z "$out" ]; then
        echo "ok $n - systemd-analyze verify is clean for every unit: ${units[*]##*/}"
else
        echo "not ok $n - systemd-analyze verify:"; sed 's/^/#   /' <<<"$out"; fail=1
fi
exit $fail
