#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: crash injection in shared mode. The daemon is killed dead (SIGKILL)
# at each fault point of the pool's build, a job volume's making (from
# nothing, and the spare given to a job) and a job volume's release; then
# restarted. Every time: the pool ends CLEAN, every job volume left is a
# proven one (IN_USE, mounted at its job's directory and nowhere else), no
# key generation is handed out twice, and the marker of a job whose release
# was cut short is readable by no later job. Needs a test build.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot a guest with two blank disks
        # Nine trials of 15 to 60 s each, by the machine's load.
        export GUEST_TIMEOUT=${GUEST_TIMEOUT:-1200} UML_TIMEOUT=${UML_TIMEOUT:-1260}
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 640M --new-disk 640M "$0"
fi
. "$GUEST_LIB"
modprobe -d "$WORK/modroot" dm-thin-pool || bail "modprobe dm-thin-pool failed"

mnt=$WORK/scratch
conf "$WORK/scratchd.conf" "/dev/ubda /dev/ubdb" "$mnt" Mode=shared JobSize=320M MaxJobs=3 FileSystem=ext4
printf '[Daemon]\nAuditLog=%s/audit.log\n' "$WORK" >> "$WORK/scratchd.conf"
fault=$WORK/fault
: > "$fault"

jobs_json() {
        ctl status --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["volumes"][0]
print(v["state"], v["key_generation"], v["pool"]["spare_ready"])
for j in v.get("jobs", []):
    print(j["job"], j["state"], j["key_generation"], j["thin_id"], j["directory"])'
}

# Waits until the daemon is gone (killed at its fault point), at most 120 s.
wait_dead() {
        local i
        for ((i = 0; i < 1200; i++)); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
}

# The spare is made in the background: a trial that needs it waits for it.
wait_spare() {
        local i
        for ((i = 0; i < 600; i++)); do [ "$(jobs_json | head -n1 | cut -d' ' -f3)" = True ] && return 0; sleep 0.1; done
        return 1
}

declare -A seen
n_job=300
restart() {
        : > "$fault"
        start_daemon "$WORK/scratchd.conf" SCRATCHD_FAULT_FILE="$fault" || bail "the daemon did not start again"
        wait_state CLEAN
}

check "the daemon builds the pool" start_daemon "$WORK/scratchd.conf" SCRATCHD_FAULT_FILE="$fault"
wait_state CLEAN || bail "no CLEAN pool: $(tail -n 5 "$WORK/daemon.log")"

for point in pool job-saved job-thin job-key job-mkfs job-mounted job-release-saved job-unmounted job-key-dropped; do
        marker=
        n_job=$((n_job + 1))
        case $point in
        pool)   # a wipe of the idle pool (the spare made first: a wipe waits for no one)
                wait_spare
                echo "crash:$point" > "$fault"
                ctl wipe > /dev/null 2>&1 ;;
        job-mounted)   # the spare given to the job: only mounted
                wait_spare
                echo "crash:$point" > "$fault"
                ctl prepare --job $n_job --user daemon > /dev/null 2>&1 ;;
        job-saved|job-thin|job-key|job-mkfs)   # a size of its own: made from nothing
                echo "crash:$point" > "$fault"
                ctl prepare --job $n_job --user daemon --size 400M > /dev/null 2>&1 ;;
        *)   # the release: the job wrote its marker first
                dir=$(ctl prepare --job $n_job --user daemon --size 400M)
                marker="SCRATCHD-CRASH-$point-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
                as_user daemon bash -c "yes '$marker' | head -c 256K > '$dir/m'; sync"
                map=$(jobs_json | awk -v j=$n_job '$1 == j { print "scratchd-scratch-vol-" $4 }')
                echo 3 > /proc/sys/vm/drop_caches
                [ "$(count_marker "/dev/mapper/$map" "$marker")" -gt 0 ] || not_ok "$point: positive control: the marker is found through the job's mapping before the release"
                echo "crash:$point" > "$fault"
                ctl release --job $n_job > /dev/null 2>&1 ;;
        esac
        wait_dead
        grep -q "fault point $point: crashing" "$WORK/daemon.log" || not_ok "$point: the daemon was not killed there"
        restart || { not_ok "$point: after the crash and a restart, the pool is not CLEAN: $(tail -n 3 "$WORK/daemon.log")"; continue; }

        # Every job volume left is proven: IN_USE, mounted at its directory
        # and nowhere else (no job ends up with a half-made one).
        jobs_json > "$WORK/status"
        bad=$(tail -n +2 "$WORK/status" | awk '$2 != "IN_USE"')
        [ -z "$bad" ] || not_ok "$point: unproven job volumes kept: $bad"
        mounts=$(awk -v m="$mnt/" 'index($5, m) == 1' /proc/self/mountinfo | wc -l)
        live=$(tail -n +2 "$WORK/status" | wc -l)
        [ "$mounts" = "$live" ] || not_ok "$point: $mounts mounts under $mnt for $live job volumes"
        # A new job: a generation never seen, and no earlier marker.
        dir=$(ctl prepare --job $((n_job + 1000)) --user nobody) || { not_ok "$point: no prepare after the restart"; continue; }
        jobs_json > "$WORK/status"
        gen=$(awk -v j=$((n_job + 1000)) '$1 == j { print $3 }' "$WORK/status")
        map=$(awk -v j=$((n_job + 1000)) '$1 == j { print "scratchd-scratch-vol-" $4 }' "$WORK/status")
        [ -n "$gen" ] && [ -z "${seen[$gen]:-}" ] || not_ok "$point: key generation $gen handed out twice"
        seen[$gen]=1
        if [ -n "$marker" ]; then
                echo 3 > /proc/sys/vm/drop_caches
                hits=$(count_marker "/dev/mapper/$map" "$marker")
                [ "$hits" = 0 ] || not_ok "$point: the crashed release's marker is readable by the next job ($hits)"
        fi
        ctl release --job $((n_job + 1000)) > /dev/null || not_ok "$point: the new job's release failed"
        # Whatever the crash left of job $n_job is gone (or it was released).
        ctl release --job $n_job > /dev/null 2>&1
        [ -z "$(jobs_json | tail -n +2)" ] || not_ok "$point: job volumes left: $(jobs_json | tail -n +2 | tr '\n' ';')"
        ok "$point: killed there; after a restart the pool is CLEAN, nothing unproven kept, generation $gen new"
done
# Job volumes a restart could not vouch for (a release cut short) were erased
# at the pool's adoption: each has its audit event, which names its record,
# and the record verifies with the node's key.
ctl pubkey > "$WORK/node.pub" || not_ok "scratchctl pubkey failed"
grep '"event":"job-erase"' "$WORK/audit.log" | sed -n 's/.*"record":"\([^"]*\)".*/\1/p' > "$WORK/erased"
note "job volumes erased at adoption: $(grep -c '"event":"job-erase"' "$WORK/audit.log"), records named: $(wc -l < "$WORK/erased")"
check "the releases cut short were erased at the restart, each with a job-erase audit event" \
        test "$(grep -c '"event":"job-erase"' "$WORK/audit.log")" -ge 1
check "... each naming its record" test "$(grep -c '"event":"job-erase"' "$WORK/audit.log")" = "$(wc -l < "$WORK/erased")"
check "... which verifies with the node's key, trigger startup, scope job-volume" bash -c "
        while read -r r; do
                '$SCRATCHCTL' verify --pubkey '$WORK/node.pub' '$STATE_DIRECTORY/records/'\$r > /dev/null &&
                grep -q '\"trigger\": \"startup\"' '$STATE_DIRECTORY/records/'\$r &&
                grep -q '\"kind\": \"job-volume\"' '$STATE_DIRECTORY/records/'\$r || exit 1
        done < '$WORK/erased'"
check "every erase record of the trials verifies" \
        bash -c "'$SCRATCHCTL' verify --pubkey '$WORK/node.pub' '$STATE_DIRECTORY'/records/*.json > /dev/null"
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
grep -q '^not ok' "$RESULT" && sed 's/^/# daemon: /' "$WORK/daemon.log" | tail -n 60 >> "$RESULT"
true
