#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest: signed erase records (issue 14) with the real dm-crypt. After the
# erase at start-up, a release and a wipe, each has a record that is valid
# against the schema and verifies with scratchctl verify and with
# python3-cryptography against the exported public key; one byte changed in
# any field fails both; each matches its audit line (job, key generations);
# no record holds a key that was live (scan, with a control that finds one);
# a record that cannot be written (full file system) leaves the erase done and
# shows in status, metrics and the log; retention keeps RecordsKeepCount=.
set -u
if [ -z "${RESULT:-}" ]; then
        exec "$(dirname "$(realpath "$0")")/uml.sh" --new-disk 256M "$0"
fi
. "$GUEST_LIB"

map=scratchd-scratch
mnt=$WORK/scratch
records=$STATE_DIRECTORY/records
conf "$WORK/scratchd.conf" /dev/ubda "$mnt" FileSystem=ext4
printf '[Daemon]\nAuditLog=%s/audit.log\nMetricsDirectory=%s\n' "$WORK" "$WORK" >> "$WORK/scratchd.conf"
count() { find "$records" -maxdepth 1 -name '*.json' | wc -l; }
newest() { ls "$records" | grep '\.json$' | sort | tail -n 1; }
# Every key that was live: none may be in any record.
keys=()

start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start: $(tail -n 5 "$WORK/daemon.log")"
wait_state CLEAN || bail "no CLEAN volume: $(tail -n 5 "$WORK/daemon.log")"
check "the node key was made 0600 in StateDirectory" test "$(stat -c %a "$STATE_DIRECTORY/node-key.pem")" = 600
check "the erase at start-up wrote a record" test "$(count)" -eq 1
rec=$records/$(newest)
check "... whose trigger is startup" grep -q '"trigger": "startup"' "$rec"
check "... which claims no key it did not see: generation and cipher null, no key was in the kernel" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
v = {c["check"]: c["passed"] for c in r["verification"]}
sys.exit(not (r["key_generation"] is None and r["method"]["cipher"] is None and v.get("no-key-in-kernel") is True
              and "earlier kernel" in r["method"]["key_destruction"] and "mapping-removed" not in v))' "$rec"
keys+=("$(live_key $map)")

# A job's release.
dir=$(ctl prepare --job 7 --user daemon) || bail "prepare failed"
echo "job 7's data" > "$dir/data"
gen=$(field key_generation)
ctl release --job 7 || bail "release failed"
keys+=("$(live_key $map)")
check "the release wrote a record" test "$(count)" -eq 2
rec=$records/$(newest)
python3 - "$rec" > "$WORK/fields" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = {c["check"]: c["passed"] for c in r["verification"]}
print(r["job"], r["user"], r["trigger"], r["key_generation"], r["next_key_generation"], r["scope"]["kind"],
      r["scope"]["size_bytes"], r["media"][0]["path"], r["media"][0]["size_bytes"], v.get("mapping-removed"),
      v.get("key-generation-changed"), r["discard"]["done"])
PY
read -r job user trigger kgen next scope size media_path media_size gone changed discard < "$WORK/fields"
check "the release's record names job 7, user daemon, trigger release" test "$job $user $trigger" = "7 daemon release"
check "... the key generation destroyed ($kgen) is the job's ($gen), the next one follows ($next)" \
        test "$kgen" = "$gen" -a "$next" = "$((gen + 1))"
check "... scope: the whole volume, its data size ($size)" test "$scope" = volume -a "$size" -gt 0
check "... media: /dev/ubda, its size ($media_size)" test "$media_path $media_size" = "/dev/ubda $(blockdev --getsize64 /dev/ubda)"
check "... verification: the mapping was gone, the key generation changed" test "$gone $changed" = "True True"
note "discard done: $discard; the release's record, as written:"
sed 's/^/#   /' "$rec" >> "$RESULT"

# A wipe by hand.
ctl wipe > /dev/null || bail "wipe failed"
keys+=("$(live_key $map)")
check "the wipe wrote a record" test "$(count)" -eq 3
check "... whose trigger is wipe" grep -q '"trigger": "wipe"' "$records/$(newest)"
check "the audit line of the wipe names its record" grep -q "\"record\":\"$(newest)\"" "$WORK/audit.log"
check "the journal line names it" grep -q "erase record .*$(newest) written" "$WORK/daemon.log"
check "status names the last record" test "$(field last_erase_record)" = "$(newest)"

# The weakening conditions are the node's.
python3 - "$records/$(newest)" > "$WORK/cond" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))["weakening_conditions"]
present = sorted(c["condition"] for c in r["present"])
hib = "disk" in open("/sys/power/state").read().split() if os.path.exists("/sys/power/state") else False
crash = os.path.exists("/sys/kernel/kexec_crash_loaded") and open("/sys/kernel/kexec_crash_loaded").read().strip() == "1"
want = sorted(([ "crash-kernel-armed"] if crash else []) + (["hibernation-available"] if hib else []))
print(" ".join(sorted(r["checked"])), "|", " ".join(present), "|", " ".join(want))
PY
read -r cond < "$WORK/cond"
note "conditions checked | present | the node has: $cond"
check "the record checked both conditions and lists those this node has" \
        test "${cond%% |*}" = "crash-kernel-armed hibernation-available" -a "$(cut -d'|' -f2 <<<"$cond" | xargs)" = "$(cut -d'|' -f3 <<<"$cond" | xargs)"

# The exported public key, and both verifiers over every record.
ctl pubkey > "$WORK/node.pub" || bail "scratchctl pubkey failed"
check "scratchctl pubkey prints a PEM public key" grep -q "BEGIN PUBLIC KEY" "$WORK/node.pub"
python3 "$SOURCE_ROOT/tests/integration/records-check.py" "$records" "$WORK/node.pub" \
        "$SOURCE_ROOT/docs/erasure-record.schema.json" "$WORK/audit.log" > "$WORK/check.out" 2>&1
grep '^#' "$WORK/check.out" >> "$RESULT"
while read -r verdict what; do
        case $verdict in
        PASS) ok "$what" ;;
        FAIL) not_ok "$what" ;;
        esac
done < "$WORK/check.out"
check "the checker ran every check (no traceback)" bash -c "! grep -q Traceback '$WORK/check.out' && test \$(grep -c '^PASS\|^FAIL' '$WORK/check.out') -ge 15"
check "an audit line matched each record" test "$(grep -c '^PASS .*as the audit line' "$WORK/check.out")" -ge 3

# scratchctl records: all, by job.
check "scratchctl records lists the three" test "$(ctl records --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -eq 3
check "scratchctl records --job 7 lists the release's alone" \
        test "$(ctl records --job 7 --json | python3 -c 'import json,sys; print(" ".join(r["trigger"] for r in json.load(sys.stdin)))')" = release

# No live key in any record: the hex of each, and its raw bytes in base64.
b64() { python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; }
scan() {  # scan KEY FILE...: how many files hold the key (hex, any case, or base64 of its bytes)
        local b64; b64=$(b64 "$1")
        grep -lai -e "$1" -e "$b64" "${@:2}" 2>/dev/null | wc -l
}
hits=0
for k in "${keys[@]}"; do
        [ ${#k} -eq 128 ] || bail "no live key read (${#k} hex digits)"
        hits=$((hits + $(scan "$k" "$records"/*.json)))
done
check "no record holds any of the ${#keys[@]} live keys (hex or base64)" test "$hits" -eq 0
printf 'a record that holds %s\n' "$(b64 "${keys[0]}")" > "$WORK/control.json"
check "control: the scan finds a key written into a file" test "$(scan "${keys[0]}" "$WORK/control.json")" -eq 1

# A record that cannot be written: the erase stands, and says so.
mount -t tmpfs -o size=4k tmpfs "$records" || bail "cannot mount a small tmpfs over the records"
head -c 4096 /dev/zero > "$records/filler" 2>/dev/null
ctl wipe > /dev/null
check "a wipe whose record cannot be written still ends CLEAN" test "$(field state)" = CLEAN
ctl status > "$WORK/status.txt"
check "status says the record could not be written" grep -q 'could not be written' "$WORK/status.txt"
check "the metric counts it" grep -q '^scratchd_erase_record_failures_total{volume="scratch"} 1$' "$WORK/scratchd.prom"
check "the log says why and what to do" grep -q "cannot write the record of its erase.*free space there" "$WORK/daemon.log"
check "the wipe's audit line says its record could not be written" \
        grep -q '"event":"wipe".*"record_error":"No space left on device"' "$WORK/audit.log"
rm -f "$records/filler"
ctl wipe > /dev/null
check "with space again, the next wipe is recorded and status clears" \
        test "$(count)" -eq 1 -a -z "$(field erase_record_error)"
umount "$records"

# Retention: RecordsKeepCount=2 keeps the newest two.
printf 'RecordsKeepCount=2\n' >> "$WORK/scratchd.conf"
ctl reload > /dev/null || bail "reload failed"
ctl wipe > /dev/null
check "RecordsKeepCount=2: two records are left after the next wipe" test "$(count)" -eq 2
check "... the newest: this wipe's" grep -q "\"record\":\"$(newest)\"" "$WORK/audit.log"

# A node key carried to another machine (a golden image): the machine id it
# was made on is kept beside it, and a start on another says so.
origin=$STATE_DIRECTORY/node-key.machine-id
check "the machine id the key was first used on is kept beside it, with its public half" \
        test "$(cut -d' ' -f1 "$origin") $(cut -d' ' -f2 "$origin")" = "$(cat /etc/machine-id) $(ctl pubkey --raw)"
check "control: this start did not warn of another machine" bash -c "! grep -q 'made on another machine' '$WORK/daemon.log'"
kill -TERM $DAEMON_PID; wait $DAEMON_PID
echo "0123456789abcdef0123456789abcdef $(cut -d' ' -f2 "$origin")" > "$origin"
start_daemon "$WORK/scratchd.conf" || bail "the daemon did not start again: $(tail -n 5 "$WORK/daemon.log")"
wait_state CLEAN || bail "no CLEAN volume after the restart: $(tail -n 5 "$WORK/daemon.log")"
check "a start with a key made on another machine warns, naming it and what to do" \
        grep -q "made on another machine (machine id 0123456789abcdef0123456789abcdef; this is $(cat /etc/machine-id)).*remove node-key.pem" "$WORK/daemon.log"
kill -TERM $DAEMON_PID; wait $DAEMON_PID
exit 0
