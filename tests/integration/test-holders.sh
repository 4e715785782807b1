#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: a finished job cannot hold its erase hostage. What the job's user
# leaves behind (a shell whose cwd is in the volume, an open file, a process
# in a mount namespace of its own, a bind mount below the job's directory,
# gigabytes of dirty page cache) is cleared by the release: with
# BusyPolicy=kill (the default) each release succeeds, the audit names the
# pids killed, the next job gets a new key and the marker is gone; with
# BusyPolicy=refuse the same holders fence the volume, named.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: a guest with room for 2 GiB of dirty pages
        # 512 MiB for the holders (their markers are looked for on the whole
        # raw disk), 3 GiB for the dirty pages.
        exec "$(dirname "$(realpath "$0")")/uml.sh" --mem 3G --new-disk 512M --new-disk 3G "$0"
fi
. "$GUEST_LIB"

mnt=$WORK/scratch
map=scratchd-scratch
conf "$WORK/scratchd.conf" /dev/ubda "$mnt"
printf '[Daemon]\nAuditLog=%s\n' "$WORK/audit.log" >> "$WORK/scratchd.conf"
# Dirty pages stay dirty until the release (no background writeback).
echo $((2600 << 20)) > /proc/sys/vm/dirty_bytes; echo $((2500 << 20)) > /proc/sys/vm/dirty_background_bytes
echo 0 > /proc/sys/vm/dirty_writeback_centisecs; echo 360000 > /proc/sys/vm/dirty_expire_centisecs

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
wait_state CLEAN || bail "no CLEAN volume: $(tail -n 5 "$WORK/daemon.log")"
job=300

# A job of user daemon that leaves HOW behind: its directory, marker written
# and found through the mapping (the positive control for the scan after).
start_job() {
        job=$((job + 1))
        dir=$(ctl prepare --job $job --user daemon) || bail "prepare of job $job failed"
        key=$(live_key $map)
        marker="SCRATCHD-HOLDER-$job-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        as_user daemon bash -c "yes '$marker' | head -c 1M > '$dir/marker'; sync"
        echo 3 > /proc/sys/vm/drop_caches
        check "job $job: its marker is readable through the mapping (control)" \
                test "$(count_marker /dev/mapper/$map "$marker")" -gt 0
}

# A holder, left behind by the job's user: its pid into $holder (the
# process itself: setpriv, unshare and bash exec what follows).
as_daemon=(setpriv --reuid=daemon --regid=daemon --clear-groups)
leave() {  # leave HOW
        holder=
        case $1 in
        cwd) "${as_daemon[@]}" bash -c "cd '$dir' && exec sleep 1000" & holder=$! ;;
        file) "${as_daemon[@]}" bash -c "exec 3< '$dir/marker'; exec sleep 1000" & holder=$! ;;
        namespace)
                # The user's own namespace where the kernel lets users make
                # one; else one made for it, entered as the user.
                if "${as_daemon[@]}" unshare -Urm true 2> /dev/null; then
                        "${as_daemon[@]}" unshare -Urm sleep 1000 & holder=$!
                else
                        note "unprivileged user namespaces are off here: the namespace is made by root, the process is the user's"
                        unshare -m --propagation private "${as_daemon[@]}" sleep 1000 & holder=$!
                fi ;;
        bind)
                # Users mount below their directory with FUSE (fusermount3);
                # a bind mount stands in for it: the mount itself keeps the
                # volume's unmount busy.
                mkdir -p "$WORK/bind-src" "$dir/sub"
                mount --bind "$WORK/bind-src" "$dir/sub" ;;
        esac
        sleep 0.5
        [ -z "$holder" ] || check "$1: the holder (pid $holder) runs" kill -0 $holder
}

finish_job() {  # finish_job HOW: releases, checks the promises
        local how=$1 gen
        gen=$(field key_generation)
        ctl release --job $job 2> "$WORK/err"; rc=$?
        check "$how: the release succeeds" test $rc -eq 0
        [ $rc -eq 0 ] || note "release: $(cat "$WORK/err")"
        check "$how: the volume is CLEAN under a new key generation" test "$(field state) $(field key_generation)" = "CLEAN $((gen + 1))"
        check "$how: the live key changed" test "$(live_key $map)" != "$key"
        if [ -n "$holder" ]; then
                sleep 0.2
                check_fails "$how: the holder is gone" kill -0 $holder 2> /dev/null
                wait $holder 2> /dev/null
                grep "\"job\":\"$job\"" "$WORK/audit.log" | grep '"event":"wipe"' > "$WORK/audit.job"
                check "$how: the audit event of the wipe names the pid killed" grep -q -E "\"killed\":\"([^\"]*, )?$holder \\(" "$WORK/audit.job"
        fi
        sync; echo 3 > /proc/sys/vm/drop_caches
        check "$how: the marker is on no raw disk" test "$(count_marker /dev/ubda "$marker")" -eq 0
        check "$how: nor on the new volume" test "$(count_marker /dev/mapper/$map "$marker")" -eq 0
}

for how in cwd file namespace bind; do
        start_job
        leave $how
        finish_job $how
done
check "the bind mount below the job's directory is gone" bash -c "! grep -q ' $mnt/$job/sub ' /proc/self/mountinfo"

# Dirty page cache: 2 GiB written, not synced, by a job that then ends, on
# the larger disk.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
sed -i 's|^Devices=.*|Devices=/dev/ubdb|' "$WORK/scratchd.conf"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start on /dev/ubdb"
wait_state CLEAN || bail "no CLEAN volume on /dev/ubdb"
ctl wipe > /dev/null || bail "the wipe onto /dev/ubdb failed"   # a live volume is kept where it is until a wipe
check "the volume moved to /dev/ubdb" test "$(field device)" = /dev/ubdb
job=$((job + 1))
dir=$(ctl prepare --job $job --user daemon) || bail "prepare of job $job failed"
as_user daemon dd if=/dev/zero of="$dir/dirty" bs=1M count=2048 status=none
dirty_kib=$(awk '$1 == "Dirty:" { print $2 }' /proc/meminfo)
check "2 GiB are dirty before the release ($dirty_kib KiB)" test "$dirty_kib" -ge $((2000 << 10))
written() { awk '{ print $7 * 512 }' /sys/block/ubdb/stat; }
w0=$(written) s=$(date +%s%N)
check "dirty: the release succeeds" ctl release --job $job
note "dirty: the release took $((($(date +%s%N) - s) / 1000000)) ms and wrote $((($(written) - w0) >> 20)) MiB (the new file system included)"
check "dirty: less than 256 MiB of the 2 GiB reached the disk" test $(($(written) - w0)) -lt $((256 << 20))

# BusyPolicy=refuse: nothing is killed; the release fences, naming the holder.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
sed -i 's|^Devices=.*|Devices=/dev/ubda|; s/^MountPoint=.*/&\nBusyPolicy=refuse/' "$WORK/scratchd.conf"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start with BusyPolicy=refuse"
wait_state CLEAN || bail "no CLEAN volume with BusyPolicy=refuse"
ctl wipe > /dev/null || bail "the wipe back onto /dev/ubda failed"
for how in cwd namespace; do
        start_job
        leave $how
        ctl release --job $job 2> "$WORK/err"; rc=$?
        check "refuse, $how: the release fails" test $rc -ne 0
        check "refuse, $how: the volume is FAILED" test "$(field state)" = FAILED
        field reason > "$WORK/reason"
        check "refuse, $how: the reason names the holder" grep -q -E "(^|[^0-9])$holder \\(" "$WORK/reason"
        note "refuse, $how: $(cat "$WORK/reason")"
        check "refuse, $how: the holder still runs" kill -0 $holder
        kill -KILL $holder; wait $holder 2> /dev/null
        sleep 0.2
        check "refuse, $how: with it gone, a wipe makes the volume CLEAN" ctl wipe
done
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
exit 0
