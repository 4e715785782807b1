#!/bin/bash
# Runs inside the booted node image as a systemd unit (see image-lib.sh):
# scratchd came up through systemd, the volume is CLEAN and mounted where
# jobs see it, the decoy is untouched.
R=/results/result
RESULT=$R
. /usr/local/lib/scratchd-tests/lib.sh   # ok, not_ok, check, note, field (tests/lib.sh)
state() { field state; }
for _ in $(seq 1 120); do [ "$(state)" = CLEAN ] && break; sleep 0.5; done

check "scratchd.socket is active" systemctl -q is-active scratchd.socket
check "scratchd.service is active" systemctl -q is-active scratchd.service
check "the volume is CLEAN" test "$(state)" = CLEAN
check "scratchctl status answers" scratchctl status
scratchctl status | sed 's/^/#   /' >> $R
check "/scratch is mounted where jobs see it (PID 1's namespace), nodev,nosuid" \
        bash -c "findmnt -n -o OPTIONS /scratch | grep -q nosuid,nodev"
check "... from the dm-crypt mapping" test "$(findmnt -n -o SOURCE /scratch)" = /dev/mapper/scratchd-scratch
check "... made by PID 1: a transient mount unit" test "$(systemctl show -p Transient --value scratch.mount)" = yes
check "... of scratchd's" test "$(systemctl show -p Description --value scratch.mount)" = "scratchd: /scratch"
check "... which unmounts lazily (what a job mounted below goes with it)" \
        test "$(systemctl show -p LazyUnmount --value scratch.mount)" = yes
check "the mapping is aes-xts-plain64 with 4096-byte sectors" \
        bash -c "dmsetup table scratchd-scratch | grep -q 'aes-xts-plain64.*sector_size:4096'"
check "the scratch disk is the by-id one" \
        test "$(readlink -f /dev/disk/by-id/ubd-SCRATCH0)" = "$(scratchctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["volumes"][0]["device"])')"
check "the decoy still carries its ext4 filesystem" test "$(blkid -p -o value -s TYPE /dev/ubdb)" = ext4
live_key() { dmsetup table --showkeys scratchd-scratch | awk '{ print $5 }'; }
keys=("$(live_key)")
dir=$(scratchctl prepare --job 1 --user nobody)
check "a job gets its directory" test "$(stat -c '%U %a' "$dir")" = "nobody 700"
check "... where the job's user writes, in PID 1's namespace" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "echo data > '$dir/file' && test -s '$dir/file'"
# A process the job left behind, its cwd in the job's directory: the release
# has it killed (BusyPolicy=kill) by scratchd-holders.service, the unit that
# holds CAP_KILL and ptrace rights, which scratchd's own unit does not.
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c "cd '$dir' && exec sleep 600" & holder=$!
for _ in $(seq 1 50); do [ "$(readlink /proc/$holder/cwd)" = "$dir" ] && break; sleep 0.1; done
check "control: the job's leftover process holds its directory" test "$(readlink /proc/$holder/cwd)" = "$dir"
check "and gives it back" scratchctl release --job 1
gone() { [ ! -e /proc/$holder ] || [ "$(awk '{ print $3 }' /proc/$holder/stat 2>/dev/null)" = Z ]; }
for _ in $(seq 1 100); do gone && break; sleep 0.1; done
check "... killing what the job left holding it" gone
check "... named in the journal" bash -c "journalctl -u scratchd --no-pager | grep -q 'killed what job.*$holder (sleep, uid 65534, cwd)'"
check "... by scratchd-holders.service, which its socket started" systemctl -q is-active scratchd-holders.service
hpid=$(systemctl show -p MainPID --value scratchd-holders.service)
check "... and which holds CAP_KILL and CAP_SYS_PTRACE (and CAP_DAC_READ_SEARCH), nothing else" \
        test "$(awk '/^CapBnd/ { print $2 }' /proc/$hpid/status)" = 0000000000080024
wait $holder 2> /dev/null

# A job's mount below its directory, then the directory on its path swapped
# for a symlink (the job's user owns it) that points at a mount of the
# host's. systemd keeps a unit for the job's mount, by the path it saw, and
# that unit requires scratchd's. The release stops only scratchd's own unit
# (ignore-dependencies), whose lazy unmount detaches the job's mount with
# it; the host's mount that the old path now leads to is left alone. (With
# a plain stop, which would stop the job's unit too, it was left alone as
# well in this image: umount -c finds no such path in the mount table.
# So this checks the outcome, not which of the two guards it.)
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
mkdir -p /victim/b && mount -t tmpfs -o size=1m victim /victim/b
dir=$(scratchctl prepare --job 2 --user nobody)
as_nobody mkdir -p "$dir/a/b" && mount -t tmpfs -o size=1m jobs-own "$dir/a/b"
unit=$(systemd-escape -p --suffix=mount "$dir/a/b")
for _ in $(seq 1 50); do [ "$(systemctl show -p ActiveState --value "$unit")" = active ] && break; sleep 0.1; done
check "control: systemd has a unit for the job's own mount ($unit)" \
        test "$(systemctl show -p ActiveState --value "$unit")" = active
as_nobody mv "$dir/a" "$dir/a2" && as_nobody ln -s /victim "$dir/a"
check "control: that unit's path now leads to the host's mount" test "$(findmnt -n -o SOURCE --target "$dir/a/b")" = victim
check "the release succeeds" scratchctl release --job 2
check "... and the host's mount is still there" test "$(findmnt -n -o SOURCE /victim/b)" = victim
umount /victim/b
keys+=("$(live_key)")
check "a wipe by hand" scratchctl wipe
keys+=("$(live_key)")

# Erase records under the shipped unit (StateDirectory=, ProtectSystem=strict).
check "the node key's directory is root's alone (0700), the key 0600" \
        test "$(stat -c '%a %U' /var/lib/scratchd) $(stat -c '%a %U' /var/lib/scratchd/node-key.pem)" = "700 root 600 root"
scratchctl pubkey > /tmp/node.pub
check "every erase record verifies with the exported key" \
        bash -c 'scratchctl verify --pubkey /tmp/node.pub /var/lib/scratchd/records/*.json > /tmp/verify.out'
note "records: $(ls /var/lib/scratchd/records | tr '\n' ' ')"
check "... three or more: the releases of jobs 1 and 2, and the wipe by hand" \
        test "$(grep -c ': OK' /tmp/verify.out)" -ge 3
check "scratchctl records --job 2 lists job 2's release" \
        test "$(scratchctl records --job 2 --json | python3 -c 'import json,sys; print(" ".join(r["trigger"] + ":" + r["user"] for r in json.load(sys.stdin)))')" = release:nobody
last=$(grep '"event":"wipe"' /var/log/scratchd/audit.log | tail -n 1 | sed -n 's/.*"record":"\([^"]*\)".*/\1/p')
check "the wipe's audit line names its record, which is there" test -n "$last" -a -f "/var/lib/scratchd/records/$last"
for i in "${!keys[@]}"; do
        check "key $((i + 1)) of ${#keys[@]} is in no record" bash -c "! grep -rqi '${keys[$i]}' /var/lib/scratchd/records"
done
check "control: a key in a file there is found" bash -c "echo '${keys[0]}' > /var/lib/scratchd/records/control && grep -rqi '${keys[0]}' /var/lib/scratchd/records; rc=\$?; rm -f /var/lib/scratchd/records/control; exit \$rc"

# Whether a key is in the journal: in_journal [FORM [WHERE]] < HEXKEY. FORM:
# any (default), raw (its bytes) or hex (either case); WHERE: any (default),
# export (every field of every entry this boot, journalctl -o export) or files
# (the journal files themselves). Exits 0 found, 1 not found, 2 the scan
# failed: only 1 proves absence. The key comes on stdin, not on a command line.
in_journal() {
        journalctl --sync 2>/dev/null
        python3 -c '
import glob, subprocess, sys
try:
    form, where = (sys.argv[1:] + ["any", "any"])[:2]
    hexkey = sys.stdin.read().strip().lower()
    raw = bytes.fromhex(hexkey)
    if len(raw) < 16:
        raise ValueError("no key on stdin")
    needles = {"raw": [raw], "hex": [hexkey.encode(), hexkey.upper().encode()]}
    needles["any"] = needles["raw"] + needles["hex"]
    blobs = []
    if where in ("any", "export"):
        blobs.append(subprocess.run(["journalctl", "-b", "-o", "export", "--no-pager"], capture_output=True,
                                    check=True).stdout)
    if where in ("any", "files"):
        files = glob.glob("/run/log/journal/**/*.journal", recursive=True) + \
                glob.glob("/var/log/journal/**/*.journal", recursive=True)
        if not files:
            raise FileNotFoundError("no journal files")
        for f in files:
            with open(f, "rb") as j:
                blobs.append(j.read())
    sys.exit(0 if any(n in b for b in blobs for n in needles[form]) else 1)
except Exception as e:
    print("in_journal:", e, file=sys.stderr)
    sys.exit(2)
' "$@"
}
not_in_journal() { in_journal <<<"$1"; test $? -eq 1; }
check "three 512-bit live keys read: setup, the release's wipe, the wipe by hand" \
        test "$(printf '%s\n' "${keys[@]}" | grep -c '^[0-9a-f]\{128\}$')" = 3
check "... all different" test "$(printf '%s\n' "${keys[@]}" | sort -u | wc -l)" = 3
for i in "${!keys[@]}"; do
        check "key $((i + 1)) of ${#keys[@]} is nowhere in the journal" not_in_journal "${keys[$i]}"
done
# The controls: a key-like string logged on purpose as hex, and one logged as
# raw bytes, are each found, both in the export and in the files. The raw
# bytes hold no NUL or newline (which split or end the line), no whitespace
# (journald strips it from a stdout line's ends, strstrip(): a control that failed
# once so, in about forty runs) and no '<' (a "<N>" priority prefix).
hexprobe=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$hexprobe" | systemd-cat -t scratchd-journal-probe
rawprobe=$(python3 -c 'import os; print(bytes(b for b in os.urandom(512) if b not in b"\0\t\n\v\f\r <")[:64].hex())')
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]) + b"\n")' "$rawprobe" \
        | systemd-cat -t scratchd-journal-probe
for where in export files; do
        check "control: the scan of the $where finds a key logged as hex" in_journal hex $where <<<"$hexprobe"
        check "control: the scan of the $where finds a key logged as raw bytes" in_journal raw $where <<<"$rawprobe"
done
scan_fails() { in_journal <<<"not-hex" 2>/dev/null; test $? -eq 2; }
check "control: a scan that cannot run proves nothing (exit 2, not 1)" scan_fails
pid=$(systemctl show -p MainPID --value scratchd.service)
check "the service runs confined (ProtectSystem=strict: / is read-only for it)" \
        bash -c "awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'"
check "the service cannot dump core (LimitCORE=0)" bash -c "grep -Eq '^Max core file size +0 +0' /proc/$pid/limits"
check "the service's capabilities are only what the unit grants (CAP_SYS_ADMIN, CAP_CHOWN)" \
        test "$(awk '/^CapBnd/ { print $2 }' /proc/$pid/status)" = 0000000000200001
# CAP_SYS_CHROOT is bit 18, CAP_SYS_PTRACE 19, CAP_KILL 5, CAP_SYS_ADMIN 21.
has_cap() { local eff; eff=$(awk '/^CapEff/ { print $2 }' /proc/$pid/status); (( (0x$eff >> $1 & 1) == 1 )); }
check_fails "... neither CAP_SYS_PTRACE" has_cap 19
check_fails "... nor CAP_SYS_CHROOT" has_cap 18
check_fails "... nor CAP_KILL" has_cap 5
check "control: it does hold CAP_SYS_ADMIN" has_cap 21

# A package upgrade while a job runs (the same .deb again, which dpkg
# configures as an upgrade): the daemon is restarted and adopts the job's
# volume as it is; the socket never stops listening, so calls made during
# the upgrade (a hook's) wait and are answered.
dir=$(scratchctl prepare --job 3 --user nobody)
as_nobody sh -c "echo kept > '$dir/data'"
before=$(systemctl show -p MainPID --value scratchd.service)
rm -f /tmp/upgrade-done /tmp/upgrade-calls
( while [ ! -e /tmp/upgrade-done ]; do
        if scratchctl --timeout 120 status > /dev/null 2>&1; then echo ok; else echo "failed $?"; fi >> /tmp/upgrade-calls
        sleep 0.2
  done ) &
caller=$!
dpkg -i /root/scratchd.deb > /tmp/upgrade.log 2>&1; upgraded=$?
touch /tmp/upgrade-done; wait $caller
sed 's/^/#   dpkg: /' /tmp/upgrade.log | tail -n 5 >> $R
check "the package upgrades on the running node" test $upgraded -eq 0
after=$(systemctl show -p MainPID --value scratchd.service)
check "... and the daemon was restarted ($before, then $after)" test "$after" != "$before" -a "$after" != 0
for _ in $(seq 1 60); do [ "$(field adopting)" != True ] && [ "$(field state)" = IN_USE ] && break; sleep 0.5; done
check "every call made during the upgrade was answered ($(grep -c . /tmp/upgrade-calls) calls)" \
        bash -c "! grep -q failed /tmp/upgrade-calls && [ \$(grep -c ok /tmp/upgrade-calls) -ge 1 ]"
check "the job's volume was adopted, still its" test "$(field state) $(field job)" = "IN_USE 3"
check "... with its data" test "$(cat "$dir/data" 2>/dev/null)" = kept
check "... and its release succeeds" scratchctl release --job 3
check "... CLEAN again" test "$(field state)" = CLEAN

# Cipher=auto under the hardened unit, which allows no AF_ALG: /proc/crypto
# shows only the C AES (UML), Adiantum is not listed before its first use, so
# auto keeps AES-XTS and says why. With the drop-in the README gives, the
# daemon asks the crypto API and takes Adiantum.
tuning() { field tuning; }
tuning_says() { tuning | grep -q -- "$1"; }
cipher() { dmsetup table scratchd-scratch | awk '{ print $4 }'; }
# CLEAN, and adopted: a volume being adopted is not to be had yet.
settled() { [ "$(state)" = CLEAN ] && [ "$(field adopting)" != True ]; }
restart_and_wipe() {  # the daemon reads its config when it starts
        systemctl restart scratchd.service
        for _ in $(seq 1 60); do settled && break; sleep 0.5; done
        local err
        err=$(scratchctl wipe 2>&1 > /dev/null) || { note "scratchctl wipe: $err"; return 1; }
}
mkdir -p /etc/scratchd/conf.d
printf '[Scratch]\nCipher=auto\n' > /etc/scratchd/conf.d/50-cipher.conf
check "the daemon restarted with Cipher=auto wipes" restart_and_wipe
note "Cipher=auto, no AF_ALG: $(tuning)"
check "Cipher=auto without AF_ALG: AES-XTS kept" test "$(cipher)" = aes-xts-plain64
check "... and status says why" tuning_says 'no AES instructions (.*aes-generic.*) but Adiantum unknown: AF_ALG not allowed'
mkdir -p /etc/systemd/system/scratchd.service.d
printf '[Service]\nRestrictAddressFamilies=AF_ALG\n' > /etc/systemd/system/scratchd.service.d/50-af-alg.conf
systemctl daemon-reload
check "the daemon restarted with the AF_ALG drop-in wipes" restart_and_wipe
note "Cipher=auto with AF_ALG: $(tuning)"
check "Cipher=auto with the AF_ALG drop-in: Adiantum" test "$(cipher)" = xchacha12,aes-adiantum-plain64
check "... and status says why" tuning_says '^cipher: Cipher=auto, no AES instructions (xts(ecb(aes-generic)));'
check "... CLEAN" test "$(state)" = CLEAN
rm /etc/scratchd/conf.d/50-cipher.conf /etc/systemd/system/scratchd.service.d/50-af-alg.conf
systemctl daemon-reload

# systemctl reload: a good file applies without a restart (the [Scratch]
# keys from the next wipe); a bad one fails the reload with its one-line
# error and the running config stays; so does one that changes what only a
# restart can. The daemon's PID is the same throughout.
pid=$(systemctl show -P MainPID scratchd.service)
fstype() { findmnt -n -o FSTYPE /scratch; }
journal_has() { journalctl -b -u scratchd.service --no-pager -o cat | grep -qF -- "$1"; }
printf '[Scratch]\nFileSystem=ext4\n[Daemon]\nWorkTimeoutSec=123\n' > /etc/scratchd/conf.d/60-reload.conf
check "systemctl reload with a good file succeeds" systemctl reload scratchd.service
# Cipher=: the case above left Cipher=auto running, and its drop-in is gone.
check "... the journal names what changed" \
        journal_has "reloaded /etc/scratchd/scratchd.conf: FileSystem=, Cipher=, WorkTimeoutSec="
check "... the mount is still xfs until the next wipe" test "$(fstype)" = xfs
check "... which makes ext4" bash -c 'scratchctl wipe > /dev/null && [ "$(findmnt -n -o FSTYPE /scratch)" = ext4 ]'
printf '[Scratch]\nFileSystem=btrfs\n' > /etc/scratchd/conf.d/60-reload.conf
check_fails "systemctl reload with a bad file fails" systemctl reload scratchd.service
check "... the journal says why, in one line naming the file, line and key" \
        journal_has "reload refused: /etc/scratchd/conf.d/60-reload.conf:2: FileSystem: 'btrfs' is not supported"
check "... and the running config stays (the next wipe makes ext4 again)" \
        bash -c 'scratchctl wipe > /dev/null && [ "$(findmnt -n -o FSTYPE /scratch)" = ext4 ]'
printf '[Scratch]\nMountPoint=/elsewhere\n' > /etc/scratchd/conf.d/60-reload.conf
check_fails "a reload that changes MountPoint= fails" systemctl reload scratchd.service
check "... saying that takes a restart" journal_has "MountPoint= changed; scratchd holds its volumes and socket by it"
rm /etc/scratchd/conf.d/60-reload.conf
reloads() { journalctl -b -u scratchd.service --no-pager -o cat | grep -c "^reloaded /etc/scratchd/scratchd.conf: FileSystem=, WorkTimeoutSec=$"; }
before=$(reloads)
systemctl kill --kill-who=main -s HUP scratchd.service
for _ in $(seq 1 20); do [ "$(reloads)" -gt "$before" ] && break; sleep 0.5; done
check "SIGHUP reloads too (back to the defaults: the journal's reloads $before -> $(reloads))" test "$(reloads)" -gt "$before"
check "the daemon was never restarted (MainPID $pid)" test "$(systemctl show -P MainPID scratchd.service)" = "$pid"
check "... is active" systemctl -q is-active scratchd.service
check "... CLEAN" test "$(state)" = CLEAN

systemd-analyze blame 2>/dev/null | head -n 5 | sed 's/^/#   blame: /' >> $R
journalctl -b -u scratchd.service --no-pager 2>/dev/null | tail -n 15 | sed 's/^/#   journal: /' >> $R
echo done >> $R
