#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash injection. CRASH_TRIALS (default 72, four per fault point) job
# cycles, each with the daemon (or `scratchd setup`) killed dead (SIGKILL) at
# one fault point, spread over every step of setup, prepare, release and
# wipe; then a restart. The trials are shared out over CRASH_GUESTS guests
# side by side (default: one per host core, at most 4), each with a disk and
# a kernel of its own; a trial takes 1.5 to 6 s in UML, by the machine.
# In every trial the volume ends CLEAN under a new key generation or FAILED
# and fenced; no job is ever handed a key generation, or a live key, that an
# earlier job saw; the marker written before the crash is never readable by
# a new job. Generations are unique while the record lives; a lost record
# (a reboot: the setup trials remove it) starts them again, while keys are
# new every time. Prints the counts per step. Needs a test build.
#
# Limits bound progress: a trial that finishes nothing in TRIAL_LIMIT s
# (default 300; trials take 2 to 25 s by the machine's load) stops the guest.
set -u
# A small disk (mkfs.ext4 makes it as it makes any under 512 MiB, with 1 KiB
# blocks), so that the two whole-device scans a trial and each mkfs are
# quick; the marker is 256 KiB. Whole devices, not only the marker's extents
# (FIEMAP): in UML a process costs 40 to 200 ms by the host's load, and
# filefrag, dmsetup and a dd per extent cost more than grep reading 8 MiB
# (tried: 17 trials took 430 s against 389 s, side by side).
if [ -z "${RESULT:-}" ]; then
        total=${CRASH_TRIALS:-72}
        guests=${CRASH_GUESTS:-$(nproc)}
        [ "$guests" -gt 4 ] && guests=4
        [ "$guests" -ge 1 ] || guests=1
        per=$(((total + guests - 1) / guests))
        # Time for a guest's trials: 30 s each, above the slowest seen (25 s,
        # two guests on a machine whose load was 6); a hung trial is stopped
        # sooner by the guest's own watchdog (TRIAL_LIMIT). Under meson's
        # 3600 s.
        export GUEST_TIMEOUT=${GUEST_TIMEOUT:-$((60 + 30 * per))}
        [ "$GUEST_TIMEOUT" -gt 3400 ] && GUEST_TIMEOUT=3400
        export UML_TIMEOUT=${UML_TIMEOUT:-$((GUEST_TIMEOUT + 60))}
        out=$(mktemp -d "${TMPDIR:-/tmp}/scratchd-crash.XXXXXX")
        trap 'rm -rf "$out"' EXIT
        pids=()
        for g in $(seq 1 "$guests"); do
                first=$(((g - 1) * per + 1)) last=$((g * per > total ? total : g * per))
                [ "$first" -le "$last" ] || break
                CRASH_FIRST=$first CRASH_LAST=$last "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 8M "$0" \
                        > "$out/guest.$g" 2>&1 &
                pids+=($!)
        done
        rc=0 skipped=0
        for i in "${!pids[@]}"; do
                wait "${pids[$i]}"; r=$?
                echo "# ---- guest $((i + 1)) of ${#pids[@]}"
                cat "$out/guest.$((i + 1))"
                if [ $r = 77 ]; then skipped=$((skipped + 1)); elif [ $r != 0 ]; then rc=1; fi
        done
        [ "$skipped" = "${#pids[@]}" ] && exit 77
        # The counts per step over all guests.
        echo "# crash injection, all guests: $total trials"
        cat "$out"/guest.* | awk '
                $1 == "#" && $3 == "killed" && $5 == "times" { if (!($2 in k)) order[n++] = $2; k[$2] += $4 }
                $1 == "#" && $2 == "ended" { e[$3] += $4 }
                END { for (i = 0; i < n; i++) printf "#   %-18s killed %3d times\n", order[i], k[order[i]]
                      for (s in e) printf "#   ended %s %d\n", s, e[s] }'
        exit $rc
fi
. "$GUEST_LIB"
first=${CRASH_FIRST:-1} last=${CRASH_LAST:-72}
trials=$((last - first + 1))
map=scratchd-scratch
mnt=$WORK/scratch
conf "$WORK/scratchd.conf" /dev/ubda "$mnt" FileSystem=ext4 Discard=no
printf '[Daemon]\nAuditLog=\n' >> "$WORK/scratchd.conf"

# Where each operation can be stopped dead: the wipe's steps (a release's
# wipe, and `scratchd setup` run by hand with the daemon down), prepare's and
# release's own.
points=(check-users unmount deactivate assemble discard rekey key-made zero-head mkfs mount
        prepare-dir-made prepare-saved release-saved setup:deactivate setup:rekey setup:key-made setup:mkfs setup:mount)
declare -A crashed ended seen_gen seen_key
dir=
failures=0
fail() { not_ok "trial $trial ($point): $*"; failures=$((failures + 1)); }

# restart [VAR=VALUE]: (re)start the daemon, wait until it settles; returns 0
# with the settled status in VOL. The daemon takes some 0.1 s to answer.
# Each daemon reads its fault from $faults at each point: a trial arms it in
# the daemon that runs, and one restart (the recovery) a trial is enough.
faults=/run/crash-trials.fault
: > "$faults"
restart() {
        kill -9 "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null
        start_daemon "$WORK/scratchd.conf" SCRATCHD_FAULT_FILE="$faults" "$@" || bail "the daemon did not start"
        local until=$((SECONDS + 120)) pause=0.1
        nap 0.1
        # Each look is a scratchctl (a fork and an exec, 40 to 170 ms of the
        # guest's one CPU), taken from the wipe it waits for: every 0.1 s at
        # first, then every 0.4 s (a recovery's wipe takes seconds).
        while [ $SECONDS -lt $until ]; do
                if read_vol 2>/dev/null && [ -z "${VOL[adopting]:-}" ]; then
                        case "${VOL[state]:-}" in CLEAN|FAILED|IN_USE) return 0 ;; esac
                fi
                nap $pause
                case $pause in 0.1) pause=0.2 ;; 0.2) pause=0.4 ;; esac
        done
        return 1
}

# Forks are what a trial costs in UML (some 40 ms each), so the loop below
# keeps to builtins where it can: sleeping on a FIFO no one writes,
# SRANDOM, the daemon's log read as it grows.
mkfifo /run/crash-trials.nap && exec {nap_fd}<> /run/crash-trials.nap || bail "no FIFO to sleep on"
nap() { read -r -t "$1" -u "$nap_fd" _; :; }
# write_marker DIR: the job (user daemon) writes 256 KiB of "$marker\n" lines
# to DIR/m, as `yes | head -c 256K` would, and syncs them to the disk.
write_marker() {
        local s=$marker$'\n'
        while [ ${#s} -lt 262144 ]; do s+=$s; done
        printf '%s' "${s:0:262144}" > /run/crash-trials.marker
        as_user daemon dd of="$1/m" bs=256K iflag=fullblock conv=fsync status=none < /run/crash-trials.marker
}
# Whether the daemon's log, since the last look, says that it was killed at
# POINT; it says so just before it is.
logged_kill() {  # logged_kill POINT
        local line said=1
        while IFS= read -r line <&"$log_fd" || [ -n "$line" ]; do
                [[ $line == *"fault point $1: crashing"* ]] && said=0
                line=
        done
        return $said
}

# Whether the marker is anywhere on a device: 0 yes, 1 no, 2 it could not be
# read. -z splits records at NUL, not newline: the same matches (the marker
# has neither), but a never-written stretch of zeros is not one huge line.
scan() { LC_ALL=C grep -a -z -q -F "$1" "$2"; }

# The scan finds a marker that is there: one written on the raw disk (then
# zeroed again, before the daemon first starts).
probe="PROBE-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
yes "$probe" | head -c 256K | dd of=/dev/ubda bs=64K seek=80 conv=fsync status=none
echo 3 > /proc/sys/vm/drop_caches
scan "$probe" /dev/ubda
check "the scan finds a marker on the raw disk" test $? -eq 0
dd if=/dev/zero of=/dev/ubda bs=64K seek=80 count=4 conv=fsync status=none

# The watchdog: no trial done in TRIAL_LIMIT s stops this guest, with the
# reason, however long its share would take on a slow machine.
limit=${TRIAL_LIMIT:-300}
: > "$WORK/progress"
(
        while sleep 30; do
                [ $(($(date +%s) - $(stat -c %Y "$WORK/progress"))) -lt "$limit" ] && continue
                echo "Bail out! no trial finished in $limit s (trial after: $(cat "$WORK/progress"))" >> "$RESULT"
                kill -9 $$; exit
        done
) &
watchdog=$!

DAEMON_PID=
restart
exec {log_fd}< "$WORK/daemon.log" || bail "cannot read the daemon's log"
for trial in $(seq "$first" "$last"); do
        point=${points[$(((trial - 1) % ${#points[@]}))]}
        read_vol; gen_before=${VOL[key_generation]:-}
        printf -v marker 'CRASH-%d-%08x%08x' "$trial" "$SRANDOM" "$SRANDOM"
        job=j$trial
        died=0

        if [[ $point == setup:* ]]; then
                # The initramfs path: scratchd setup by hand, daemon down,
                # on a volume a job wrote to and left without a release.
                dir=$(ctl prepare --job "$job" --user daemon) || { fail "prepare failed"; restart; continue; }
                write_marker "$dir" || fail "the job could not write the marker"
                kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
                rm -f /run/scratchd/scratch.state   # a reboot's /run has no record
                seen_gen=() gen_before=0
                SCRATCHD_FAULT=crash:${point#setup:} "$SCRATCHD" --config "$WORK/scratchd.conf" setup 2>> "$WORK/setup.log"
                [ $? -eq 137 ] && died=1
                restart; settled=$?
        else
                logged_kill "$point"   # skips what the log said before
                echo "crash:$point" > "$faults"
                dir=$(ctl prepare --job "$job" --user daemon 2>/dev/null)
                if [ -n "$dir" ]; then
                        write_marker "$dir" || fail "the job could not write the marker"
                        ctl release --job "$job" > /dev/null 2>&1
                fi
                logged_kill "$point" && died=1
                : > "$faults"   # the recovery runs unarmed
                restart; settled=$?
        fi
        [ $died = 1 ] && crashed[$point]=$((${crashed[$point]:-0} + 1))

        # A job's volume that survived the crash (prepare completed) goes back.
        [ $settled = 0 ] || read_vol
        if [ "${VOL[state]:-}" = IN_USE ]; then
                [ "${VOL[job]:-}" = "$job" ] || fail "IN_USE by '${VOL[job]:-}', not by $job"
                ctl release --job "$job" > /dev/null 2>&1
                read_vol
        fi
        state=${VOL[state]:-}
        ended[${state:-none}]=$((${ended[${state:-none}]:-0} + 1))
        case "$state" in
        CLEAN)
                [ "${VOL[key_generation]:-}" -gt "$gen_before" ] 2>/dev/null || [ -z "$dir" ] \
                        || fail "CLEAN under generation ${VOL[key_generation]:-}, not past $gen_before"
                ;;
        FAILED)
                findmnt -n "$mnt" > /dev/null && fail "FAILED but still mounted"
                ctl wipe > /dev/null 2>&1 || fail "wipe after FAILED failed"
                ;;
        *) fail "ended $state" ;;
        esac

        # The next job: a generation and a key no job has seen, and no marker.
        next=$(ctl prepare --job "n$trial" --user nobody) || { fail "the next prepare failed"; continue; }
        read_vol; gen=${VOL[key_generation]:-}
        read -r _ _ _ _ key _ <<< "$(dmsetup table --showkeys $map)"   # live_key, one fork less
        if [ -z "$gen" ] || [ -z "$key" ]; then
                fail "no key generation ('$gen') or no live key after the next prepare"
        else
                [ -z "${seen_gen[$gen]:-}" ] || fail "generation $gen handed out twice"
                [ -z "${seen_key[$key]:-}" ] || fail "a live key handed out twice"
                seen_gen[$gen]=1 seen_key[$key]=1
        fi
        if [ -n "$dir" ]; then
                as_user nobody grep -r -q -F "$marker" "$next" 2>/dev/null && fail "the next job can read the marker"
                sync; echo 3 > /proc/sys/vm/drop_caches
                scan "$marker" /dev/mapper/$map
                case $? in 0) fail "the marker is on the new volume" ;; 1) ;; *) fail "cannot read /dev/mapper/$map" ;; esac
                scan "$marker" /dev/ubda
                case $? in 0) fail "the marker is on the raw disk" ;; 1) ;; *) fail "cannot read /dev/ubda" ;; esac
        fi
        ctl release --job "n$trial" > /dev/null || fail "release of the next job failed"
        # Progress, so that a run stopped by its time limit shows how far it got.
        echo "$trial" > "$WORK/progress"
        [ $(((trial - first + 1) % ${#points[@]})) = 0 ] && note "$((trial - first + 1)) of $trials trials done, ${SECONDS} s in"
done

kill "$watchdog" 2>/dev/null
note "crash injection: $trials trials ($first to $last)"
for p in "${points[@]}"; do note "$(printf '  %-18s killed %3d times' "$p" "${crashed[$p]:-0}")"; done
for s in "${!ended[@]}"; do note "  ended $s: ${ended[$s]}"; done
check "every trial ended CLEAN under a new generation or FAILED and fenced, no key seen twice, no marker readable" \
        test "$failures" -eq 0
total=0; for p in "${points[@]}"; do total=$((total + ${crashed[$p]:-0})); done
check "the daemon or setup was killed at a fault point in $total of $trials trials" test "$total" -ge $((trials * 9 / 10))
# Where this guest's trials cover every point (a share of at least 17).
if [ "$trials" -ge "${#points[@]}" ]; then
        for p in "${points[@]}"; do
                check "fault point $p was hit" test "${crashed[$p]:-0}" -ge 1
        done
fi
exit 0
