#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: setup on a blank disk, the live dm-crypt settings, a marker written,
# setup again keeps it, wipe destroys it everywhere and changes the key.
# With "stripe": the same promises over two disks of unequal size, striped
# (dm-striped under dm-crypt), and the stripe's geometry.
set -u
if [ -z "${RESULT:-}" ]; then   # on the host: boot a guest with blank disks
        if [ "${1:-}" = stripe ]; then
                exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 512M --new-disk 600M "$0" stripe
        fi
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 512M "$0"
fi
. "$GUEST_LIB"

disks=(/dev/ubda)
[ "${1:-}" = stripe ] && disks=(/dev/ubda /dev/ubdb)
mnt=$WORK/mnt
map=scratchd-scratch
conf "$WORK/scratchd.conf" "${disks[*]}" "$mnt"
C=(--config "$WORK/scratchd.conf")

check "setup exits 0" scratchd "${C[@]}" setup
table=$(dmsetup table "$map")
note "dmsetup table: $table"
for want in "crypt aes-xts-plain64" "sector_size:4096" no_read_workqueue no_write_workqueue allow_discards; do
        check "dmsetup table has $want" grep -q -- "$want" <<<"$table"
done
check "plain dmsetup table shows the key as zeros" grep -q ' 0\{128\} ' <<<"$table"
opts=$(mount_options "$mnt")
note "mount options: $opts"
check "mounted nodev" grep -q -w nodev <<<"$opts"
check "mounted nosuid" grep -q -w nosuid <<<"$opts"
check "mounted xfs from the mapping" test "$(stat -f -c %T "$mnt")" = xfs
check "state file says CLEAN, generation 1" grep -qx 'state=CLEAN' /run/scratchd/scratch.state
check "state file has generation 1" grep -qx 'generation=1' /run/scratchd/scratch.state
key1=$(live_key "$map")
check "the state file holds no key" bash -c "! grep -q -i -F '$key1' /run/scratchd/scratch.state"
check "stderr holds no key" bash -c "! grep -q -i -F '$key1' '$WORK/scratchd.log'"

# A marker: 1 MiB of one random 32-character line, written and synced.
marker="SCRATCHD-MARKER-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
yes "$marker" | head -c 1M > "$mnt/marker"
sync
echo 3 > /proc/sys/vm/drop_caches
check "the marker reads back through the mapping" test "$(count_marker /dev/mapper/$map "$marker")" -gt 1000
for dev in "${disks[@]}"; do
        check "$dev holds only ciphertext (marker not found)" test "$(count_marker $dev "$marker")" -eq 0
done
if [ ${#disks[@]} -gt 1 ]; then
        # The positive control for the scans of the raw disks: the data
        # device under dm-crypt (the two disks, striped) holds the
        # ciphertext, which the disks hold too.
        data=$(dmsetup table $map-data)
        note "data device: $data"
        check "the data device stripes both disks in 256 KiB chunks (512 sectors)" \
                grep -q "^0 [0-9]* striped 2 512 " <<<"$data"
        # 512 MiB less the 1 MiB header area, in whole 256 KiB chunks, twice:
        # the larger disk gives only what the smaller has.
        check "the stripe uses the smaller disk's size on both" \
                test "$(blockdev --getsize64 /dev/mapper/$map-data)" = $(((512 - 1) * 1048576 * 2))
        ct=$(head -c 65536 /dev/mapper/$map-data | od -An -tx1 | tr -d ' \n' | head -c 64)
        check "ciphertext from the data device is on the first disk past its header" \
                bash -c "dd if=/dev/ubda bs=1M skip=1 count=1 status=none | od -An -tx1 | tr -d ' \n' | grep -q $ct"
        check "each disk carries scratchd's header" \
                bash -c "test \"\$(head -c 14 /dev/ubda)\" = SCRATCHD-LABEL && test \"\$(head -c 14 /dev/ubdb)\" = SCRATCHD-LABEL"
        "$SCRATCHD" --config "$WORK/scratchd.conf" status > "$WORK/status" 2>&1
        check "status shows the stripe" grep -q "devices: *${disks[*]}, striped in 256.0 KiB chunks" "$WORK/status"
fi

check "setup on a proven-CLEAN volume exits 0" scratchd "${C[@]}" setup
check "setup said it had nothing to do" grep -q "already CLEAN" "$WORK/stderr"
check "setup kept the key" test "$(live_key $map)" = "$key1"
check "setup kept the data" test -f "$mnt/marker"

# Something still using the mount: wipe refuses, naming the pid, and fences.
( cd "$mnt" && exec sleep 300 ) &
holder=$!
sleep 0.2
if scratchd "${C[@]}" wipe; then not_ok "wipe refuses while pid $holder uses the mount"; else ok "wipe refuses while a process uses the mount"; fi
check "the refusal names the pid, its uid and how it holds the mount" grep -q "$holder (sleep, uid 0, cwd)" "$WORK/stderr"
check "the volume is FAILED" grep -qx 'state=FAILED' /run/scratchd/scratch.state
check "the mount is gone from $mnt" bash -c "! grep -q ' $mnt ' /proc/self/mountinfo"
kill $holder; wait $holder 2>/dev/null
sleep 0.2

check "wipe after the holder is gone exits 0" scratchd "${C[@]}" wipe
cat "$WORK/stderr" | sed 's/^/# /' >> "$RESULT"
key2=$(live_key "$map")
check "the volume key changed" test -n "$key2" -a "$key2" != "$key1"
check "the volume is CLEAN again" grep -qx 'state=CLEAN' /run/scratchd/scratch.state
check "the key generation went up (the refused wipe made no key)" grep -qx 'generation=2' /run/scratchd/scratch.state
check "the wipe log names each step" grep -q "rekey /dev/mapper\|rekey scratchd-scratch" "$WORK/stderr"
check "the new volume is mounted" test "$(stat -f -c %T "$mnt")" = xfs
check "the new filesystem has no marker file" test ! -e "$mnt/marker"
sync; echo 3 > /proc/sys/vm/drop_caches
check "marker nowhere on the new volume (whole device scanned)" test "$(count_marker /dev/mapper/$map "$marker")" -eq 0
for dev in "${disks[@]}"; do
        check "marker nowhere on $dev (whole device scanned)" test "$(count_marker $dev "$marker")" -eq 0
done

# A mapping and mount with no trustworthy record: setup must wipe, not adopt.
echo "a hand-written record" > /run/scratchd/scratch.state
key=$(live_key "$map")
touch "$mnt/left-behind"
check "setup with a forged state file exits 0" scratchd "${C[@]}" setup
check "setup said it could not trust the record" grep -q "not one scratchd wrote; wiping" "$WORK/stderr"
check "setup with a forged state file re-keyed" test "$(live_key "$map")" != "$key"
check "setup with a forged state file left nothing behind" test ! -e "$mnt/left-behind"
rm /run/scratchd/scratch.state
key=$(live_key "$map")
check "setup with no state file exits 0" scratchd "${C[@]}" setup
check "setup said the active mapping could not be proven clean" grep -q "cannot be proven clean" "$WORK/stderr"
check "setup with no state file re-keyed" test "$(live_key "$map")" != "$key"

if [ ${#disks[@]} -gt 1 ]; then
        # Devices= changed under a live volume (a disk taken out of the
        # config, as a hot-added one would come in): the volume stays on the
        # disks its record names until its next wipe, which takes the disks
        # Devices= names then.
        key=$(live_key "$map")
        conf "$WORK/one.conf" /dev/ubda "$mnt"
        check "Devices= now one disk: setup keeps the live volume" scratchd --config "$WORK/one.conf" setup
        check "... said so" grep -q "already CLEAN on /dev/ubda /dev/ubdb" "$WORK/stderr"
        check "... under the same key" test "$(live_key "$map")" = "$key"
        check "... still striped" grep -q " striped 2 " <<<"$(dmsetup table $map-data)"
        check "the next wipe takes the one disk Devices= names" scratchd --config "$WORK/one.conf" wipe
        check "... now mapped with dm-linear over /dev/ubda alone" \
                grep -q "^0 [0-9]* linear 98:0 2048$" <<<"$(dmsetup table $map-data)"
        check "... under a new key" test "$(live_key "$map")" != "$key"
        check "... and the record names one disk" grep -qx "device=/dev/ubda" /run/scratchd/scratch.state
fi

check "status exits 0" scratchd "${C[@]}" status
"$SCRATCHD" "${C[@]}" status 2>&1 | sed 's/^/# /' >> "$RESULT"
exit 0
