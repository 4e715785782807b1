#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: the daemon under valgrind memcheck through a whole job cycle, bad
# clients and a clean stop: no errors and no leaks.
set -u
if [ -z "${RESULT:-}" ]; then
        exec "$(dirname "$(realpath "$0")")/uml.sh" --mem 2G --new-disk 320M "$0"
fi
. "$GUEST_LIB"
command -v valgrind > /dev/null || { not_ok "valgrind is not installed (apt-get install valgrind)"; exit 0; }
conf "$WORK/scratchd.conf" /dev/ubda "$WORK/scratch" FileSystem=ext4
printf '[Daemon]\nAuditLog=%s/audit.log\nIdleTimeoutSec=2\n' "$WORK" >> "$WORK/scratchd.conf"
# --child-silent-after-fork: the daemon's forked children (a mount in the
# host's namespace) make only system calls, then _exit(); what valgrind would
# call their leaks is the parent's heap, which the parent's own check covers.
valgrind --quiet --child-silent-after-fork=yes --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 --log-file="$WORK/valgrind.log" \
        "$SCRATCHD" --config "$WORK/scratchd.conf" --socket "$SOCK" >> "$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
# A run that stalls (the guest is killed at GUEST_TIMEOUT) still says where:
# the daemon's log, valgrind's, and its threads' kernel stacks, before then.
(
        sleep $(( ${GUEST_TIMEOUT:-500} - 60 ))
        note "watchdog: still running after $(( ${GUEST_TIMEOUT:-500} - 60 )) s; the daemon's last lines:"
        tail -n 30 "$WORK/daemon.log" | sed 's/^/#   daemon: /' >> "$RESULT"
        tail -n 30 "$WORK/valgrind.log" | sed 's/^/#   valgrind: /' >> "$RESULT"
        for t in /proc/$DAEMON_PID/task/*; do
                note "thread $(basename "$t") $(cat "$t/comm" 2>/dev/null): $(tr '\n' ' ' < "$t/wchan" 2>/dev/null)"
        done
) &
watchdog=$!
start=$SECONDS
for _ in $(seq 1 300); do [ -S "$SOCK" ] && break; sleep 0.1; done
note "the socket is there after $((SECONDS - start)) s"
check "the daemon under valgrind makes the volume CLEAN" wait_state CLEAN
dir=$(ctl --timeout 120 prepare --job 1 --user daemon)
check "prepare works" test -d "$dir"
check "release works (a wipe in a worker thread)" ctl --timeout 300 release --job 1
check "status works" ctl status
check "metrics work" ctl metrics
python3 "$SOURCE_ROOT/tests/integration/varlink-abuse.py" "$SOCK" 2 > "$WORK/abuse.out" 2>&1
check "the bad clients got their errors" bash -c "! grep -q '^not ok' '$WORK/abuse.out'"
kill "$watchdog" 2>/dev/null
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?
sed 's/^/# valgrind: /' "$WORK/valgrind.log" | head -n 40 >> "$RESULT"
check "valgrind: no memory errors and no leaks (exit $rc)" test $rc -eq 0
# What may stand in the log: valgrind's notes on calls it does not model
# (BLKDISCARD, a CD-ROM ioctl from udev's probing, pidfd_open); nothing else.
check "valgrind reported nothing but its notes on unmodelled calls" bash -c "! grep -v -E \
        'noted but unhandled ioctl|could cause spurious|README_MISSING_SYSCALL|unhandled amd64-linux syscall|may be able to write|consider this a bug|valgrind.org/support' \
        '$WORK/valgrind.log' | grep -q ."
exit 0
