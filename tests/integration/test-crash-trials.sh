#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: crash injection. CRASH_TRIALS (default 34, two per fault point;
# about 7 s each in UML) job cycles, each with the
# daemon (or `scratchd setup`) killed dead (SIGKILL) at one fault point,
# spread over every step of setup, prepare, release and wipe; then a restart.
# In every trial the volume ends CLEAN under a new key generation or FAILED
# and fenced; no job is ever handed a key generation, or a live key, that an
# earlier job saw; the marker written before the crash is never readable by
# a new job. Generations are unique while the record lives; a lost record
# (a reboot: the setup trials remove it) starts them again, while keys are
# new every time. Prints the counts per step. Needs a test build.
set -u
if [ -z "${RESULT:-}" ]; then
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 128M "$0"
fi
. "$GUEST_LIB"
trials=${CRASH_TRIALS:-34}
map=scratchd-scratch
mnt=$WORK/scratch
conf "$WORK/scratchd.conf" /dev/ubda "$mnt" FileSystem=ext4 Discard=no
printf '[Daemon]\nAuditLog=\n' >> "$WORK/scratchd.conf"

# Where each operation can be stopped dead: the wipe's steps (a release's
# wipe, and `scratchd setup` run by hand with the daemon down), prepare's and
# release's own.
points=(check-users unmount deactivate discard rekey key-made zero-head mkfs mount
        prepare-dir-made prepare-saved release-saved setup:deactivate setup:rekey setup:key-made setup:mkfs setup:mount)
declare -A crashed ended seen_gen seen_key
dir=
failures=0
fail() { not_ok "trial $trial ($point): $*"; failures=$((failures + 1)); }

restart() {  # restart [VAR=VALUE]: (re)start the daemon, wait until it settles
        kill -9 "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null
        start_daemon "$WORK/scratchd.conf" "$@" || bail "the daemon did not start"
        local st
        for _ in $(seq 1 200); do
                st=$(vol state 2>/dev/null)$(vol adopting 2>/dev/null)
                case "$st" in CLEAN|FAILED|IN_USE) return 0 ;; esac
                sleep 0.05
        done
        return 1
}

DAEMON_PID=
restart
for trial in $(seq 1 "$trials"); do
        point=${points[$(((trial - 1) % ${#points[@]}))]}
        gen_before=$(vol key_generation)
        marker="CRASH-$trial-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        job=j$trial
        died=0

        if [[ $point == setup:* ]]; then
                # The initramfs path: scratchd setup by hand, daemon down,
                # on a volume a job wrote to and left without a release.
                dir=$(ctl prepare --job "$job" --user daemon) || { fail "prepare failed"; restart; continue; }
                as_user daemon bash -c "yes '$marker' | head -c 256K > '$dir/m'; sync"
                kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
                rm -f /run/scratchd/scratch.state   # a reboot's /run has no record
                seen_gen=() gen_before=0
                SCRATCHD_FAULT=crash:${point#setup:} "$SCRATCHD" --config "$WORK/scratchd.conf" setup 2>> "$WORK/setup.log"
                [ $? -eq 137 ] && died=1
                restart
        else
                restart SCRATCHD_FAULT=crash:$point
                kills=$(grep -c "fault point $point: crashing" "$WORK/daemon.log")
                dir=$(ctl prepare --job "$job" --user daemon 2>/dev/null)
                if [ -n "$dir" ]; then
                        as_user daemon bash -c "yes '$marker' | head -c 256K > '$dir/m'; sync"
                        ctl release --job "$job" > /dev/null 2>&1
                fi
                # The daemon says where it is killed, just before it is.
                [ "$(grep -c "fault point $point: crashing" "$WORK/daemon.log")" -gt "$kills" ] && died=1
                restart
        fi
        [ $died = 1 ] && crashed[$point]=$((${crashed[$point]:-0} + 1))

        # A job's volume that survived the crash (prepare completed) goes back.
        if [ "$(vol state)" = IN_USE ]; then
                [ "$(vol job)" = "$job" ] || fail "IN_USE by '$(vol job)', not by $job"
                ctl release --job "$job" > /dev/null 2>&1
        fi
        state=$(vol state)
        ended[$state]=$((${ended[$state]:-0} + 1))
        case "$state" in
        CLEAN)
                [ "$(vol key_generation)" -gt "$gen_before" ] || [ -z "$dir" ] \
                        || fail "CLEAN under generation $(vol key_generation), not past $gen_before"
                ;;
        FAILED)
                findmnt -n "$mnt" > /dev/null && fail "FAILED but still mounted"
                ctl wipe > /dev/null 2>&1 || fail "wipe after FAILED failed"
                ;;
        *) fail "ended $state" ;;
        esac

        # The next job: a generation and a key no job has seen, and no marker.
        next=$(ctl prepare --job "n$trial" --user nobody) || { fail "the next prepare failed"; continue; }
        gen=$(vol key_generation) key=$(live_key $map)
        [ -z "${seen_gen[$gen]:-}" ] || fail "generation $gen handed out twice"
        [ -z "${seen_key[$key]:-}" ] || fail "a live key handed out twice"
        seen_gen[$gen]=1 seen_key[$key]=1
        if [ -n "$dir" ]; then
                as_user nobody grep -r -q -F "$marker" "$next" 2>/dev/null && fail "the next job can read the marker"
                sync; echo 3 > /proc/sys/vm/drop_caches
                grep -a -q -F "$marker" /dev/mapper/$map && fail "the marker is on the new volume"
                grep -a -q -F "$marker" /dev/ubda && fail "the marker is on the raw disk"
        fi
        ctl release --job "n$trial" > /dev/null || fail "release of the next job failed"
done

note "crash injection: $trials trials"
for p in "${points[@]}"; do note "$(printf '  %-18s killed %3d times' "$p" "${crashed[$p]:-0}")"; done
for s in "${!ended[@]}"; do note "  ended $s: ${ended[$s]}"; done
check "every trial ended CLEAN under a new generation or FAILED and fenced, no key seen twice, no marker readable" \
        test "$failures" -eq 0
total=0; for p in "${points[@]}"; do total=$((total + ${crashed[$p]:-0})); done
check "the daemon or setup was killed at a fault point in $total of $trials trials" test "$total" -ge $((trials * 9 / 10))
for p in "${points[@]}"; do
        check "fault point $p was hit" test "${crashed[$p]:-0}" -ge 1
done
exit 0
