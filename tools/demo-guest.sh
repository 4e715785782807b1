#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside the demo's UML guest (see tools/demo).
set -u
. "$GUEST_LIB"

say() { note "$*"; }
timed() {  # timed LABEL COMMAND...: runs it, says how long it took
        local label=$1; shift
        local s e
        s=$(date +%s%N); "$@"; local rc=$?; e=$(date +%s%N)
        say "$(printf '%-44s %8.3f s' "$label" "$(echo "($e - $s) / 1000000000" | bc -l)")"
        return $rc
}

mnt=$WORK/scratch
conf "$WORK/scratchd.conf" /dev/ubda "$mnt"
C=(--config "$WORK/scratchd.conf")
say "scratch disk: /dev/ubda, serial $(cat /sys/block/ubda/serial), $(($(cat /sys/block/ubda/size) / 2048)) MiB"
say "config:"; sed 's/^/#     /' "$WORK/scratchd.conf" >> "$RESULT"

say ""; say "1. scratchd setup"
timed "setup (key, dm-crypt, mkfs, mount)" scratchd "${C[@]}" setup || bail "setup failed: $(cat "$WORK/stderr")"
sed 's/^/#     /' "$WORK/stderr" >> "$RESULT"
say "   dmsetup table (key hidden): $(dmsetup table scratchd-scratch | sed 's/ [0-9a-f]\{128\} / <key> /')"
key1=$(live_key scratchd-scratch)

say ""; say "2. a job writes a secret"
secret="job-42-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
timed "write 64 MiB of '$secret'" bash -c "yes '$secret' | head -c 64M > '$mnt/results.dat'; sync"
echo 3 > /proc/sys/vm/drop_caches
check "the secret is readable on the volume" test "$(count_marker /dev/mapper/scratchd-scratch "$secret")" -gt 0
check "the raw disk holds only ciphertext" test "$(count_marker /dev/ubda "$secret")" -eq 0

say ""; say "3. scratchd wipe (between jobs)"
timed "wipe (unmount, drop key, new key, mkfs, mount)" scratchd "${C[@]}" wipe || bail "wipe failed: $(cat "$WORK/stderr")"
sed 's/^/#     /' "$WORK/stderr" >> "$RESULT"

say ""; say "4. the secret is gone"
sync; echo 3 > /proc/sys/vm/drop_caches
check "the volume key changed" test "$(live_key scratchd-scratch)" != "$key1"
check "the file is gone" test ! -e "$mnt/results.dat"
size="$(($(cat /sys/block/ubda/size) / 2048)) MiB"
no_trace() { test "$(count_marker "$1" "$2")" -eq 0; }   # the scan runs inside the timing
timed "scan the whole new volume ($size)" check "no trace on the new volume" \
        no_trace /dev/mapper/scratchd-scratch "$secret"
timed "scan the whole raw disk ($size)" check "no trace on the raw disk" no_trace /dev/ubda "$secret"

say ""; say "5. scratchd status"
"$SCRATCHD" "${C[@]}" status 2>&1 | sed 's/^/#     /' >> "$RESULT"

say ""; say "6. the wipe's signed erase record (README, \"Erase records\")"
rec=$(ls "$STATE_DIRECTORY"/records/*.json | tail -n 1)
python3 - "$rec" <<'PY' | sed 's/^/#     /' >> "$RESULT"
import json, os, sys
r = json.load(open(sys.argv[1]))
print(os.path.basename(sys.argv[1]) + ":")
print("  %s of volume %s (%s), %s, %s: %s" % (r["trigger"], r["volume"], r["scope"]["kind"], r["method"]["category"],
                                             r["method"]["technique"], r["result"]))
print("  key generation %s destroyed (%s, %s bits), %s made" % (r["key_generation"], r["method"]["cipher"],
                                                              r["method"]["key_bits"], r["next_key_generation"]))
print("  disk %s, serial %s, %s bytes" % (r["media"][0]["path"], r["media"][0]["serial"], r["media"][0]["size_bytes"]))
for c in r["verification"]:
    print("  check %s: %s" % (c["check"], "passed" if c["passed"] else "FAILED"))
print("  weakening conditions found: %s" % (", ".join(c["condition"] for c in r["weakening_conditions"]["present"]) or "none"))
PY
openssl pkey -in "$STATE_DIRECTORY/node-key.pem" -pubout > "$WORK/node.pub" 2>/dev/null
check "the record verifies with the node's public key (scratchctl verify --pubkey)" \
        "$SCRATCHCTL" verify --pubkey "$WORK/node.pub" "$rec"
exit 0
