#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The shipped Prometheus alerts: `promtool check rules`, `promtool test
# rules` against scratchd-alerts.test.yml, and the control that those tests
# can fail: the same tests against the rules with one threshold changed.
set -u
here=$(dirname "$(realpath "$0")")
rules=$here/../../contrib/prometheus/scratchd-alerts.yml
if ! command -v promtool > /dev/null; then
        [ -n "${CI:-}" ] && { echo "not ok 1 - promtool not found (apt-get install prometheus; tools/install-deps)"; exit 1; }
        echo "1..0 # SKIP promtool not found (tools/install-deps installs it)"; exit 0
fi
fail=0
if out=$(promtool check rules "$rules" 2>&1); then echo "ok 1 - promtool check rules"; else
        echo "not ok 1 - promtool check rules:"; sed 's/^/#   /' <<<"$out"; fail=1; fi
if out=$(cd "$here" && promtool test rules scratchd-alerts.test.yml 2>&1); then echo "ok 2 - promtool test rules"; else
        echo "not ok 2 - promtool test rules:"; sed 's/^/#   /' <<<"$out"; fail=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/contrib/prometheus" "$tmp/tests/client"
sed 's/scratchd_pool_reserved_bytes \/ scratchd_pool_size_bytes > 0.9/scratchd_pool_reserved_bytes \/ scratchd_pool_size_bytes > 0.96/' \
        "$rules" > "$tmp/contrib/prometheus/scratchd-alerts.yml"
cp "$here/scratchd-alerts.test.yml" "$tmp/tests/client/"
if ! cmp -s "$rules" "$tmp/contrib/prometheus/scratchd-alerts.yml" && \
   ! (cd "$tmp/tests/client" && promtool test rules scratchd-alerts.test.yml > /dev/null 2>&1); then
        echo "ok 3 - control: with the pool's threshold at 96%, the tests fail"
else
        echo "not ok 3 - control: the tests passed with the pool's threshold changed"; fail=1
fi
echo "1..3"
exit $fail
