#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The shipped logrotate file (conf/logrotate/scratchd): logrotate reads it
# without an error, and a forced rotation of a log at a path of ours (the
# same directives) leaves the old lines in audit.log.1 and a new, empty
# audit.log of mode 0640 root:adm, which scratchd then writes to (audit.c
# notices the rename: tests/unit/test-audit.c).
set -u
root=$(dirname "$(realpath "$0")")/../..
conf=$root/conf/logrotate/scratchd
if ! command -v logrotate > /dev/null; then
        [ -n "${CI:-}" ] && { echo "not ok 1 - logrotate not found (tools/install-deps installs it)"; exit 1; }
        echo "1..0 # SKIP logrotate not found (tools/install-deps installs it)"; exit 0
fi
fail=0
if out=$(logrotate -d -s /dev/null "$conf" 2>&1) && ! grep -qi "error" <<<"$out"; then
        echo "ok 1 - logrotate -d reads it without an error"
else
        echo "not ok 1 - logrotate -d:"; sed 's/^/#   /' <<<"$out"; fail=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/log"
echo '{"event":"old"}' > "$tmp/log/audit.log"
sed "s|/var/log/scratchd/audit.log|$tmp/log/audit.log|" "$conf" > "$tmp/conf"
if [ "$(id -u)" = 0 ] && getent group adm > /dev/null; then
        logrotate -f -s "$tmp/state" "$tmp/conf" 2> "$tmp/err"
        if [ -s "$tmp/log/audit.log.1" ] && grep -q old "$tmp/log/audit.log.1"; then
                echo "ok 2 - a forced rotation keeps the old lines in audit.log.1"
        else
                echo "not ok 2 - after the rotation: $(ls -l "$tmp/log") $(cat "$tmp/err")"; fail=1
        fi
        if [ "$(stat -c '%a %U %G %s' "$tmp/log/audit.log" 2>/dev/null)" = "640 root adm 0" ]; then
                echo "ok 3 - ... and makes a new, empty audit.log, 0640 root:adm"
        else
                echo "not ok 3 - the new audit.log: $(stat -c '%a %U %G %s' "$tmp/log/audit.log" 2>&1)"; fail=1
        fi
else
        echo "ok 2 # SKIP the forced rotation needs root and the adm group"
        echo "ok 3 # SKIP the forced rotation needs root and the adm group"
fi
echo "1..3"
exit $fail
