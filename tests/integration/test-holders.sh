#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: a finished job cannot hold its erase hostage. What the job's user
# leaves behind (a shell whose cwd is in the volume, an open file, a process
# in a mount namespace of its own, a bind mount or the user's own FUSE mount
# below the job's directory, gigabytes of dirty page cache) is cleared by the
# release: with BusyPolicy=kill (the default) each release succeeds, the
# audit names the pids killed, the next job gets a new key and the marker is
# gone; with BusyPolicy=refuse the same holders fence the volume, named.
# A dead FUSE file system (its daemon stopped, files held open on it),
# outside the scratch or below the job's directory, neither hangs a release
# nor the daemon: each release ends, status answers, SIGTERM stops it.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: a guest with room for 2 GiB of dirty pages
        . "$(dirname "$(realpath "$0")")/../lib.sh"   # skip
        for tool in squashfuse fusermount3 mksquashfs; do
                command -v $tool > /dev/null || skip "$tool not found (tools/install-deps installs fuse3, squashfuse and squashfs-tools)"
        done
        # 512 MiB for the holders (their markers are looked for on the whole
        # raw disk), 3 GiB for the dirty pages.
        # 6.5 to 8.5 min seen with other guests on both cores: the guest's,
        # the kernel's and meson's limits (900 s in meson.build) leave room.
        GUEST_TIMEOUT=${GUEST_TIMEOUT:-780} UML_TIMEOUT=${UML_TIMEOUT:-840} \
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

# FUSE: the module (no on-demand loading in this guest), and a small
# squashfs image for squashfuse, readable by the job's user.
modprobe -d "$WORK/modroot" fuse || bail "modprobe fuse failed"
[ -c /dev/fuse ] || bail "no /dev/fuse after loading the fuse module"
# devtmpfs makes it 0600; udev's default rules make it 0666, for users'
# fusermount3. Only the guest's own /dev (never the host's, through hostfs).
if [ "$(stat -f -c %T /dev)" = tmpfs ]; then chmod 0666 /dev/fuse
else note "/dev is not the guest's devtmpfs ($(stat -f -c %T /dev)): /dev/fuse left as it is"; fi
mkdir -p "$WORK/sq-src"
yes squash | head -c 64K > "$WORK/sq-src/file"; cp "$WORK/sq-src/file" "$WORK/sq-src/file2"
mksquashfs "$WORK/sq-src" "$WORK/img.sqfs" -quiet -noappend -no-progress > /dev/null || bail "mksquashfs failed"
chmod 644 "$WORK/img.sqfs"
# mounted DIR: something is mounted on DIR; wait_mounted DIR: within 20 s.
mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }
wait_mounted() { for _ in $(seq 1 200); do mounted "$1" && return 0; sleep 0.1; done; return 1; }
# gone PID: the process has ended (no longer in /proc, or a zombie).
gone() { local st; st=$(cat /proc/$1/stat 2> /dev/null) || return 0; st=${st##*) }; [ "${st:0:1}" = Z ]; }
# stacks PID: where each thread of PID and of its children is, as notes.
stacks() {
        local t p
        for p in $1 $(cat /proc/$1/task/*/children 2> /dev/null); do
                for t in /proc/$p/task/*; do
                        note "  pid $p thread ${t##*/} ($(cat $t/comm 2> /dev/null)): wchan $(cat $t/wchan 2> /dev/null), syscall $(cut -d' ' -f1 $t/syscall 2> /dev/null)"
                        sed 's/^/#     /' $t/stack 2> /dev/null >> "$RESULT"
                done
        done
}

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
        holder= others=
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
        fuse)
                # The user's own FUSE mount below the directory, through the
                # setuid fusermount3: squashfuse of an image the job copied
                # there, in the foreground, so that its pid is the holder
                # (its open image holds the volume), and a reader with a
                # file open on the FUSE mount (which holds only that).
                as_user daemon mkdir "$dir/sq"
                as_user daemon cp "$WORK/img.sqfs" "$dir/img.sqfs"
                "${as_daemon[@]}" squashfuse -f "$dir/img.sqfs" "$dir/sq" 2>> "$WORK/fuse.log" & holder=$!
                if ! wait_mounted "$dir/sq"; then
                        kill -KILL $holder 2> /dev/null; wait $holder 2> /dev/null
                        note "fuse: the user's squashfuse did not mount ($(tail -n 1 "$WORK/fuse.log")): mounted by root with allow_other, for the user"
                        squashfuse -o allow_other "$WORK/img.sqfs" "$dir/sq" || bail "fuse: squashfuse did not mount, even as root"
                        holder=
                else
                        ok "fuse: the job's user mounted squashfuse on $dir/sq through fusermount3"
                fi
                check "fuse: the FUSE mount is the user's" grep -q " $dir/sq .* fuse.squashfuse .*user_id=$(id -u daemon)" /proc/self/mountinfo
                "${as_daemon[@]}" bash -c "exec 3< '$dir/sq/file'; exec sleep 1000" & others=$!
                ;;
        esac
        # Until the holder has done its part and exec'd what stays (a cd on
        # a busy host takes a while).
        local p
        for p in $holder $others; do
                for _ in $(seq 1 300); do
                        case $(cat /proc/$p/comm 2> /dev/null) in sleep|squashfuse|'') break ;; esac
                        sleep 0.1
                done
        done
        [ -z "$holder" ] || check "$1: the holder (pid $holder) runs" kill -0 $holder
}

finish_job() {  # finish_job HOW: releases, checks the promises
        local how=$1 gen s
        gen=$(field key_generation)
        s=$(date +%s%N)
        ctl release --job $job 2> "$WORK/err"; rc=$?
        note "$how: the release took $((($(date +%s%N) - s) / 1000000)) ms"
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
        for p in $others; do kill -KILL $p 2> /dev/null; wait $p 2> /dev/null; done
        sync; echo 3 > /proc/sys/vm/drop_caches
        check "$how: the marker is on no raw disk" test "$(count_marker /dev/ubda "$marker")" -eq 0
        check "$how: nor on the new volume" test "$(count_marker /dev/mapper/$map "$marker")" -eq 0
}

for how in cwd file namespace bind fuse; do
        start_job
        leave $how
        finish_job $how
done
note "the kill cases took ${SECONDS} s since boot"
check "no mount below $mnt is left (the bind and FUSE mounts are gone)" awk -v m="$mnt/" 'index($5, m) == 1 { exit 1 }' /proc/self/mountinfo

# A dead FUSE file system: its daemon stopped (SIGSTOP), files held open on
# it and a read blocked in it. Whatever the release does must not touch it,
# or must not wait on it for good.
# release_bounded WHAT: the release, under `timeout 120`, with status asked
# while it runs and after; its exit status into $rc.
released_or_named() {  # the release succeeded, or failed with one line that names why
        [ $rc -eq 0 ] || { [ $rc -eq 1 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q '[a-z]' "$WORK/err"; }
}
release_bounded() {
        local what=$1 s st gen rp
        gen=$(field key_generation)
        s=$(date +%s%N)
        timeout 120 "$SCRATCHCTL" --socket "$SOCK" --no-wait release --job $job 2> "$WORK/err" & rp=$!
        timeout 30 "$SCRATCHCTL" --socket "$SOCK" status > /dev/null 2>&1; st=$?
        kill -0 $rp 2> /dev/null && note "$what: status answered, the release still running"
        check "$what: status answers while the release runs (exit $st)" test $st -eq 0
        wait $rp; rc=$?
        note "$what: the release took $((($(date +%s%N) - s) / 1000000)) ms, exit $rc $(head -c 400 "$WORK/err")"
        check "$what: the release ends within 120 s" test $rc -ne 124
        if [ $rc -eq 124 ]; then
                note "$what: where the daemon is, its release still running:"
                stacks $DAEMON_PID
        fi
        check "$what: the release succeeds, or fails with one line that names why" released_or_named
        check "$what: status answers after it" timeout 30 "$SCRATCHCTL" --socket "$SOCK" status > /dev/null
        if [ $rc -eq 0 ]; then
                check "$what: the volume is CLEAN under a new key generation" test "$(field state) $(field key_generation)" = "CLEAN $((gen + 1))"
                check "$what: the live key changed" test "$(live_key $map)" != "$key"
                echo 3 > /proc/sys/vm/drop_caches
                check "$what: the marker is on no raw disk" test "$(count_marker /dev/ubda "$marker")" -eq 0
        else
                note "$what: state $(field state): $(field reason)"
        fi
}
deadfuse=$WORK/deadfuse
mkdir -p "$deadfuse"
squashfuse -f -o allow_other "$WORK/img.sqfs" "$deadfuse" 2>> "$WORK/fuse.log" & fuse_out=$!
wait_mounted "$deadfuse" || bail "squashfuse did not mount $deadfuse: $(tail -n 1 "$WORK/fuse.log")"
start_job
# The job's user with its cwd on it (holds nothing of the volume: left
# alone), root with a file open on it, and, once the daemon is stopped, a
# read of the job's user blocked in it.
"${as_daemon[@]}" bash -c "cd '$deadfuse' && exec sleep 1000" & out_cwd=$!
bash -c "exec 3< '$deadfuse/file'; exec sleep 1000" & out_file=$!
# In place before the FUSE daemon stops (on a busy host a cd takes a while).
in_place() { [ "$(readlink /proc/$1/cwd)" = "$2" ] && [ "$(cat /proc/$1/comm)" = sleep ]; }
for _ in $(seq 1 300); do in_place $out_cwd "$deadfuse" && [ "$(cat /proc/$out_file/comm)" = sleep ] && break; sleep 0.1; done
check "dead FUSE outside: control: the user's shell is in it, root's file open" in_place $out_cwd "$deadfuse"
kill -STOP $fuse_out
"${as_daemon[@]}" cat "$deadfuse/file2" > /dev/null 2>&1 & out_read=$!
sleep 0.5
check_fails "dead FUSE outside: the read on it is blocked (has not ended)" gone $out_read
release_bounded "dead FUSE outside"
check "dead FUSE outside: the job's user's process on it, which holds nothing of the volume, still runs" kill -0 $out_cwd

# The same, below the job's directory: the user's squashfuse of an image
# outside the volume (so it holds nothing of it and is not killed), stopped;
# the user's shell with its cwd there and a read blocked in it.
[ $rc -eq 0 ] || { ctl wipe > /dev/null || bail "dead FUSE: the wipe after the failed release failed"; }
start_job
as_user daemon mkdir "$dir/dead"
fuse_sub_owner=daemon
"${as_daemon[@]}" squashfuse -f "$WORK/img.sqfs" "$dir/dead" 2>> "$WORK/fuse.log" & fuse_sub=$!
if ! wait_mounted "$dir/dead"; then
        kill -KILL $fuse_sub 2> /dev/null; wait $fuse_sub 2> /dev/null
        note "dead FUSE below: the user's squashfuse did not mount ($(tail -n 1 "$WORK/fuse.log")): mounted by root, allow_other"
        fuse_sub_owner=root
        squashfuse -f -o allow_other "$WORK/img.sqfs" "$dir/dead" 2>> "$WORK/fuse.log" & fuse_sub=$!
        wait_mounted "$dir/dead" || bail "squashfuse did not mount $dir/dead"
fi
"${as_daemon[@]}" bash -c "cd '$dir/dead' && exec sleep 1000" & sub_cwd=$!
for _ in $(seq 1 300); do in_place $sub_cwd "$dir/dead" && break; sleep 0.1; done
check "dead FUSE below: control: the user's shell is in it" in_place $sub_cwd "$dir/dead"
kill -STOP $fuse_sub
"${as_daemon[@]}" cat "$dir/dead/file2" > /dev/null 2>&1 & sub_read=$!
sleep 0.5
check_fails "dead FUSE below ($fuse_sub_owner's): the read on it is blocked (has not ended)" gone $sub_read
release_bounded "dead FUSE below"
if [ $rc -eq 0 ]; then
        check "dead FUSE below: it is no longer mounted there" awk -v m="$mnt/" 'index($5, m) == 1 { exit 1 }' /proc/self/mountinfo
        grep "\"job\":\"$job\"" "$WORK/audit.log" | grep '"event":"wipe"' > "$WORK/audit.job"
        check "dead FUSE below: the audit names the shell killed in it" grep -q -E "\"killed\":\"([^\"]*, )?$sub_cwd \\(" "$WORK/audit.job"
fi

# SIGTERM ends the daemon, both FUSE daemons still stopped.
s=$(date +%s%N)
kill -TERM "$DAEMON_PID"
for _ in $(seq 1 300); do gone "$DAEMON_PID" && break; sleep 0.1; done
stop_ms=$((($(date +%s%N) - s) / 1000000))
note "dead FUSE: SIGTERM ended the daemon in $stop_ms ms"
check "dead FUSE: SIGTERM ends the daemon within 30 s" gone "$DAEMON_PID"
if ! gone "$DAEMON_PID"; then
        note "where the daemon is, 30 s after SIGTERM:"
        stacks $DAEMON_PID
        kill -CONT $fuse_out $fuse_sub
        for _ in $(seq 1 100); do gone "$DAEMON_PID" && break; sleep 0.1; done
        gone "$DAEMON_PID" && note "it ended once the FUSE daemons ran again" || kill -KILL "$DAEMON_PID"
fi
wait "$DAEMON_PID"
# Both FUSE daemons run again; what held them goes; both are unmounted.
kill -CONT $fuse_out $fuse_sub
kill -KILL $out_cwd $out_file $sub_cwd 2> /dev/null
for p in $out_read $sub_read $out_cwd $out_file $sub_cwd; do wait $p 2> /dev/null; done
umount "$deadfuse" || umount -l "$deadfuse"
mounted "$dir/dead" && { umount "$dir/dead" || umount -l "$dir/dead"; }
for p in $fuse_out $fuse_sub; do
        for _ in $(seq 1 300); do gone $p && break; sleep 0.1; done
        gone $p || { note "squashfuse $p did not end once unmounted: killed"; kill -KILL $p; }
        wait $p 2> /dev/null
done

note "the dead FUSE cases done at ${SECONDS} s"

# Dirty page cache: 2 GiB written, not synced, by a job that then ends, on
# the larger disk.
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

note "the dirty case done at ${SECONDS} s"

# BusyPolicy=refuse: nothing is killed; the release fences, naming the holder.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
sed -i 's|^Devices=.*|Devices=/dev/ubda|; s/^MountPoint=.*/&\nBusyPolicy=refuse/' "$WORK/scratchd.conf"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start with BusyPolicy=refuse"
wait_state CLEAN || bail "no CLEAN volume with BusyPolicy=refuse"
ctl wipe > /dev/null || bail "the wipe back onto /dev/ubda failed"
for how in cwd namespace fuse; do
        start_job
        leave $how
        ctl release --job $job 2> "$WORK/err"; rc=$?
        check "refuse, $how: the release fails" test $rc -ne 0
        check "refuse, $how: the volume is FAILED" test "$(field state)" = FAILED
        field reason > "$WORK/reason"
        check "refuse, $how: the reason names the holder" grep -q -E "(^|[^0-9])$holder \\(" "$WORK/reason"
        note "refuse, $how: $(cat "$WORK/reason")"
        check "refuse, $how: the holder still runs" kill -0 $holder
        kill -KILL $holder $others; wait $holder $others 2> /dev/null
        sleep 0.2
        check "refuse, $how: with it gone, a wipe makes the volume CLEAN" ctl wipe
done
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"
exit 0
