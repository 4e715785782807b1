#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scratchctl records and pubkey against a stand-in for scratchd (a Unix
socket answering each call with the reply the case gives): the command line
(bad --since, --job, options of other commands: exit 2, nothing asked), what
--since is sent as, the pages followed with continue_before and printed oldest
first (table and --json), files scratchd could not read (exit 1), refusals;
pubkey's output, which scratchctl verify --pubkey must take, checked against
a record signed by an independent implementation (python3-cryptography).
What the daemon itself answers is tests/unit/test-records-api.c. TAP."""
import base64
import calendar
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

SCRATCHCTL = os.environ["SCRATCHCTL"]
n = 0
failed = False


def report(ok, what, detail=""):
    global n, failed
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}" + ("" if ok else f": {detail}"))
    failed = failed or not ok


def serve(sock, replies, seen):
    for reply in replies:
        conn, _ = sock.accept()
        buf = b""
        while not buf.endswith(b"\0"):
            d = conn.recv(65536)
            if not d:
                break
            buf += d
        seen.append(json.loads(buf.rstrip(b"\0")))
        conn.sendall(json.dumps(reply).encode() + b"\0")
        conn.close()


def run(replies, *args, timeout="10"):
    """scratchctl ARGS against a stand-in answering `replies` in turn (None: no
    scratchd at all). Returns exit status, stdout, stderr and the calls seen."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "io.scratchd")
        seen = []
        if replies is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(8)
            threading.Thread(target=serve, args=(sock, replies, seen), daemon=True).start()
        p = subprocess.run([SCRATCHCTL, "--socket", path, "--timeout", timeout, "--no-wait", *args],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr, seen


def record(job, end, volume="scratch", gen=7, user="alice"):
    return {"format": "scratchd-erasure-record/1", "volume": volume, "mode": "exclusive", "trigger": "release",
            "scope": {"kind": "volume", "volume": volume, "size_bytes": 1 << 40}, "job": job, "user": user,
            "key_generation": gen, "end": end, "result": "ok",
            "signature": {"algorithm": "ed25519", "public_key": "x", "value": "y"}}


def page(records, names, truncated=False, cont=None, unreadable=0):
    p = {"records": records, "names": names, "public_key": None, "truncated": truncated, "unreadable": unreadable}
    if cont:
        p["continue_before"] = cont
    return {"parameters": p}


# ---- the command line: refused before anything is asked ----
for what, args, err in [
        ("--since that is no time", ["records", "--since", "yesterday"], "--since 'yesterday' is not a time"),
        ("--since with a bad month", ["records", "--since", "2026-13-01"], "--since '2026-13-01'"),
        ("--since with a unit it does not know", ["records", "--since", "3y"], "--since '3y'"),
        ("--since empty", ["records", "--since", ""], "is not a time"),
        ("--job that is no job id", ["records", "--job", "../x"], "--job '../x' is not a job id"),
        ("--since for another command", ["status", "--since", "1h"], "--since is for records only"),
        ("--raw for another command", ["records", "--raw"], "--raw is for pubkey only"),
        ("an operand", ["records", "extra"], "unexpected argument 'extra'"),
        ("--pubkey (verify's) for pubkey", ["pubkey", "--pubkey", "f"], "--pubkey is for verify only"),
]:
    rc, out, err_text, seen = run([], *args)
    report(rc == 2 and err in err_text and not seen and err_text.count("\n") == 1,
           f"{what}: exit 2, one line, nothing asked", f"exit {rc}, {len(seen)} calls, stderr {err_text!r}")


# ---- what --since is sent as: RFC 3339, UTC ----
def since_sent(arg):
    rc, out, err, seen = run([page([], [])], "records", "--since", arg)
    return rc, (seen[0]["parameters"].get("since") if seen else None), err


for arg, want in [("2026-12-03", "2026-12-03T00:00:00Z"), ("2026-12-03 12:00", "2026-12-03T12:00:00Z"),
                  ("2026-12-03T12:00:30", "2026-12-03T12:00:30Z"),
                  ("2026-12-03T13:00:00.25+01:00", "2026-12-03T12:00:00.250000Z"),
                  ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00Z")]:
    rc, got, err = since_sent(arg)
    report(rc == 0 and got == want, f"--since {arg!r} is sent as {want}", f"exit {rc}, sent {got!r}, {err!r}")
rc, got, err = since_sent("24h")
try:
    age = time.time() - calendar.timegm(time.strptime(got, "%Y-%m-%dT%H:%M:%SZ"))
except (TypeError, ValueError):
    age = None
report(rc == 0 and age is not None and abs(age - 86400) < 120, "--since 24h is a day before now",
       f"exit {rc}, sent {got!r}")

# ---- pages, oldest first ----
r1, r2, r3, r4 = (record("101", "2026-12-03T10:00:00.5Z"), record(None, "2026-12-03T11:00:00.5Z", gen=8, user=None),
                  record("103", "2026-12-03T12:00:00.5Z", volume="scratch.3", gen=1),
                  record("104", "2026-12-03T13:00:00.123Z", gen=9))
n1, n2, n3, n4 = ("20261203T100000Z-scratch-7.json", "20261203T110000Z-scratch-8.json",
                  "20261203T120000Z-scratch.3-1.json", "20261203T130000Z-scratch-9.json")
pages = [page([r3, r4], [n3, n4], truncated=True, cont=n3), page([r1, r2], [n1, n2])]
rc, out, err, seen = run(pages, "records", "--job", "101")
lines = out.splitlines()
report(rc == 0 and len(seen) == 2 and "before" not in seen[0]["parameters"]
       and seen[1]["parameters"].get("before") == n3
       and all(s["parameters"].get("job") == "101" for s in seen),
       "records: the next page asked for before the last one's continue_before, the filter kept",
       f"exit {rc}, calls {seen}, {err!r}")
report(len(lines) == 5 and lines[0].split()[:3] == ["END", "(UTC)", "VOLUME"]
       and [line.split()[-1] for line in lines[1:]] == [n1, n2, n3, n4],
       "records: a table, oldest first, each with its file", f"stdout {out!r}")
report(lines[1].split()[:8] == ["2026-12-03T10:00:00Z", "scratch", "101", "alice", "release", "volume", "7", "ok"]
       and lines[2].split()[2:4] == ["-", "-"] and "scratch.3" in lines[3] and "2026-12-03T13:00:00Z" in lines[4],
       "records: end to the second, volume, job, user, trigger, scope, generation, result ('-': no job)",
       f"stdout {out!r}")
rc, out, err, seen = run(pages, "records", "--json")
try:
    got = json.loads(out)
except ValueError:
    got = None
report(rc == 0 and got == [r1, r2, r3, r4], "records --json: the records as sent, oldest first, in one array",
       f"exit {rc}, stdout {out[:200]!r}")

rc, out, err, seen = run([page([r3, r4], [n3, n4], truncated=True, cont=n3),
                          page([r1, r2], [n1, n2], truncated=True, cont=n3)], "records")
report(rc == 4 and "cut short" in err and len(seen) == 2, "a reply that does not move on: exit 4, not asked for ever",
       f"exit {rc}, {len(seen)} calls, {err!r}")
rc, out, err, seen = run([page([r1], [n1], truncated=True)], "records")
report(rc == 4 and "cut short" in err, "truncated without continue_before: exit 4", f"exit {rc}, {err!r}")

rc, out, err, seen = run([page([r3, r4], [n3, n4], truncated=True, cont=n3, unreadable=2),
                          page([r1, r2], [n1, n2], unreadable=1)], "records")
report(rc == 1 and len(out.splitlines()) == 5 and "3 files in scratchd's records directory could not be read" in err,
       "files scratchd could not read: the rest shown, the count of all pages said, exit 1",
       f"exit {rc}, stdout {out!r}, stderr {err!r}")
rc, out, err, seen = run([page([], [])], "records")
report(rc == 0 and out.strip() == "no erase records yet", "no records: said", f"exit {rc}, {out!r}")
rc, out, err, seen = run([page([], [])], "records", "--job", "5")
report(rc == 0 and out.strip() == "no erase records match", "no records of that job: said", f"exit {rc}, {out!r}")
rc, out, err, seen = run([page([], [])], "records", "--json")
report(rc == 0 and json.loads(out) == [], "no records, --json: []", f"exit {rc}, {out!r}")
rc, out, err, seen = run([{"error": "io.scratchd.RecordsUnavailable",
                           "parameters": {"reason": "this scratchd keeps no erase records"}}], "records")
report(rc == 1 and "keeps no erase records" in err and err.count("\n") == 1,
       "RecordsUnavailable: exit 1, the reason in one line", f"exit {rc}, {err!r}")
rc, out, err, seen = run([{"error": "io.scratchd.NotAuthorized", "parameters": {}}], "records")
report(rc == 3, "not authorized: exit 3", f"exit {rc}, {err!r}")
rc, out, err, seen = run([{"error": "org.varlink.service.InvalidParameter", "parameters": {"parameter": "since"}}],
                         "records", "--since", "1h")
report(rc == 2 and "--since" in err, "scratchd refusing since: exit 2, naming --since", f"exit {rc}, {err!r}")
rc, out, err, seen = run([{"parameters": {"names": []}}], "records")
report(rc == 4 and "no records list" in err, "a reply with no records: exit 4", f"exit {rc}, {err!r}")

# ---- pubkey, and verify taking what it prints ----
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
except ImportError:
    Ed25519PrivateKey = None

if Ed25519PrivateKey is None:
    report(True, "pubkey and verify # SKIP python3-cryptography is missing (tools/install-deps installs it)")
else:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    raw = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                         serialization.PublicFormat.Raw)).decode()
    node_key = {"parameters": {"public_key_pem": pem, "public_key": raw}}
    rc, out, err, seen = run([node_key], "pubkey")
    report(rc == 0 and out == pem and seen and seen[0]["method"] == "io.scratchd.GetNodeKey",
           "pubkey: the PEM as scratchd gave it", f"exit {rc}, {out!r}, {err!r}")
    rc, out_raw, err, seen = run([node_key], "pubkey", "--raw")
    report(rc == 0 and out_raw == raw + "\n", "pubkey --raw: base64 of the raw key, one line", f"{out_raw!r}")

    # A record signed as scratchd signs it (canonical form: sorted keys, no spaces).
    body = record("1234", "2026-12-03T12:00:00.5Z")
    del body["signature"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    signed = dict(body, signature={"algorithm": "ed25519", "public_key": raw,
                                   "value": base64.b64encode(key.sign(canonical)).decode()})
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with tempfile.TemporaryDirectory() as tmp:
        rec_path = os.path.join(tmp, "r.json")
        with open(rec_path, "w") as f:
            json.dump(signed, f, indent=2)
        for what, text in [("PEM", out), ("--raw", out_raw)]:
            kp = os.path.join(tmp, "node.pub")
            with open(kp, "w") as f:
                f.write(text)
            p = subprocess.run([SCRATCHCTL, "verify", "--pubkey", kp, rec_path], capture_output=True, text=True)
            report(p.returncode == 0 and "OK, signed by the given key" in p.stdout,
                   f"verify --pubkey takes pubkey's output ({what})", f"exit {p.returncode}, {p.stdout}{p.stderr}")
        # Control: another node's key, printed the same way, does not verify it.
        rc, out_other, err, seen = run([{"parameters": {"public_key_pem": other, "public_key": "x"}}], "pubkey")
        kp = os.path.join(tmp, "other.pub")
        with open(kp, "w") as f:
            f.write(out_other)
        p = subprocess.run([SCRATCHCTL, "verify", "--pubkey", kp, rec_path], capture_output=True, text=True)
        report(p.returncode == 1, "... and another node's key does not verify the record", p.stdout + p.stderr)

rc, out, err, seen = run([{"error": "io.scratchd.NoNodeKey",
                           "parameters": {"reason": "scratchd has no node key: erases are not recorded"}}], "pubkey")
report(rc == 1 and "no node key" in err and not out, "NoNodeKey: exit 1, the reason, nothing on stdout",
       f"exit {rc}, {out!r}, {err!r}")
rc, out, err, seen = run([{"parameters": {}}], "pubkey")
report(rc == 4 and "no public key" in err, "a reply with no key: exit 4", f"exit {rc}, {err!r}")

print(f"1..{n}")
sys.exit(1 if failed else 0)
