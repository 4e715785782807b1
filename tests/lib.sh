# SPDX-License-Identifier: GPL-2.0-or-later
# The test helpers every shell test shares, written once (docs/testing.md,
# "Shared helpers"): sourced on the host by uml.sh and image-lib.sh, in UML
# guests through guest-lib.sh, and inside the node image, which carries a
# copy at /usr/local/lib/scratchd-tests/lib.sh. TAP lines go to $RESULT where
# it is set (a guest's result file, read by the host), to stdout otherwise.

n=0
_tap() { if [ -n "${RESULT:-}" ]; then echo "$*" >> "$RESULT"; else echo "$*"; fi; }
ok() { n=$((n + 1)); _tap "ok $n - $*"; }
not_ok() { n=$((n + 1)); _tap "not ok $n - $*"; }
note() { _tap "# $*"; }
check() {  # check DESCRIPTION COMMAND...: ok if COMMAND succeeds
        local what=$1; shift
        if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# check_fails DESCRIPTION COMMAND...: ok if COMMAND fails. In this shell, so
# that COMMAND may be one of these functions (as_user, ctl, field), which a
# `bash -c "! ..."` would not find, and so would pass whatever happened.
check_fails() {
        local what=$1; shift
        if "$@"; then not_ok "$what"; else ok "$what"; fi
}
bail() { _tap "Bail out! $*"; exit 1; }

# skip REASON: this machine lacks what the test needs (exit 77, which meson
# counts as skipped). In CI nothing may skip: what is missing there is a
# broken install step, so it fails.
skip() {
        if [ -n "${CI:-}" ]; then echo "not ok - CI lacks what this test needs: $*"; exit 1; fi
        echo "SKIP: $*"; exit 77
}

# field NAME: a field of the first volume in `scratchctl status --json` ("" if
# absent or if status fails). Through $SCRATCHCTL and $SOCK where they are set
# (UML guests), the installed scratchctl and its default socket otherwise.
# In UML guests (SOCK set) the daemon is killed on purpose, with nothing to
# start it again: --no-wait, an answer at once.
field() {
        "${SCRATCHCTL:-scratchctl}" ${SOCK:+--socket "$SOCK" --no-wait} status --json 2>/dev/null \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0].get(sys.argv[1], ""))' "$1" 2>/dev/null
}
