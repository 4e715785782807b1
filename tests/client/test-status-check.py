#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scratchctl status --check (node health checks), metrics --output-dir, and the waiting for what clears by
itself (adoption, a wipe, a restart), against a stand-in
for scratchd: a Unix socket that answers GetStatus with the volumes each
case gives (varlink: one JSON object, NUL-terminated, each way). What the
daemon itself reports in each state is tested with the real daemon in UML
(tests/integration); here, only what the client makes of it: the exit
code and the line on stderr."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

SCRATCHCTL = os.environ["SCRATCHCTL"]
n = 0
failed = False


def serve_seq(sock, replies, seen):
    for reply in replies:
        conn, _ = sock.accept()
        buf = b""
        while not buf.endswith(b"\0"):
            d = conn.recv(65536)
            if not d:
                break
            buf += d
        seen.append(json.loads(buf.rstrip(b"\0")))
        if reply is not None:   # None: closed without an answer (a restart)
            conn.sendall(json.dumps(reply).encode() + b"\0")
        conn.close()


def serve_once(sock, reply, seen):
    serve_seq(sock, [reply], seen)


def run(reply, *args, timeout="15"):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "io.scratchd")
        seen = []
        if reply is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(1)
            t = threading.Thread(target=serve_once, args=(sock, reply, seen), daemon=True)
            t.start()
        p = subprocess.run([SCRATCHCTL, "--socket", path, "--timeout", timeout, *args], capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stderr, seen


def check(what, reply, args, code, stderr_has=None, timeout="15"):
    global n, failed
    n += 1
    rc, err, seen = run(reply, *args, timeout=timeout)
    ok = rc == code and (stderr_has is None or stderr_has in err)
    if reply is not None and not seen:
        ok = False
        err += " (scratchctl never called)"
    elif seen and seen[0].get("method") != "io.scratchd.GetStatus" and args[0] == "status":
        ok = False
        err += f" (called {seen[0].get('method')})"
    print(f"{'ok' if ok else 'not ok'} {n} - {what}: exit {rc}" + ("" if ok else f" (want {code}); stderr: {err.strip()}"))
    failed = failed or not ok


def status(*volumes):
    return {"parameters": {"volumes": list(volumes)}}


def vol(state, reason=None, jobs=None, name="scratch"):
    v = {"name": name, "state": state}
    if reason:
        v["reason"] = reason
    if jobs is not None:
        v["jobs"] = jobs
    return v


check("CLEAN", status(vol("CLEAN")), ["status", "--check"], 0)
check("IN_USE", status(vol("IN_USE")), ["status", "--check"], 0)
check("FAILED: 1, the reason on stderr", status(vol("FAILED", "wipe failed at discard: Input/output error")),
      ["status", "--check"], 1, "volume scratch is FAILED: wipe failed at discard: Input/output error")
check("control: the same FAILED volume without --check: exit 0 (a table)", status(vol("FAILED", "x")),
      ["status"], 0)
check("WIPING: 6, look again", status(vol("WIPING")), ["status", "--check"], 6, "volume scratch is WIPING")
check("ABSENT: 6", status(vol("ABSENT")), ["status", "--check"], 6)
check("DIRTY: 6", status(vol("DIRTY")), ["status", "--check"], 6)
check("a FAILED job volume in a CLEAN pool: 1, named",
      status(vol("CLEAN", jobs=[{"job": "41", "state": "IN_USE"},
                                {"job": "42", "state": "FAILED", "reason": "mkfs failed"}])),
      ["status", "--check"], 1, "volume scratch: job 42 is FAILED: mkfs failed")
check("a job volume being released in a CLEAN pool: 0",
      status(vol("CLEAN", jobs=[{"job": "41", "state": "DIRTY"}, {"job": "43", "state": "WIPING"}])),
      ["status", "--check"], 0)
check("one volume WIPING, another FAILED: 1 (FAILED counts)",
      status(vol("WIPING", name="a"), vol("FAILED", "gone", name="b")), ["status", "--check"], 1,
      "volume b is FAILED")
check("one volume FAILED, the next WIPING: still 1",
      status(vol("FAILED", "gone", name="a"), vol("WIPING", name="b")), ["status", "--check"], 1)
check("no volume at all: 6", status(), ["status", "--check"], 6, "no volume")
check("not authorized: 3", {"error": "io.scratchd.NotAuthorized", "parameters": {}}, ["status", "--check"], 3)
check("no scratchd (no socket, for longer than --timeout): 4", None, ["status", "--check"], 4, timeout="3")
check("--check with another command: 2", None, ["wipe", "--check"], 2, "--check is for status only")

# metrics --output-dir: the text, written whole as DIR/scratchd.prom.
def check_metrics():
    global n, failed
    text = "# HELP scratchd_build_info x\n# TYPE scratchd_build_info gauge\nscratchd_build_info{version=\"1\"} 1\n"
    with tempfile.TemporaryDirectory() as out:
        rc, err, seen = run({"parameters": {"text": text}}, "metrics", "--output-dir", out)
        got = open(os.path.join(out, "scratchd.prom")).read() if os.path.exists(os.path.join(out, "scratchd.prom")) else None
        n += 1
        ok = rc == 0 and got == text and seen and seen[0].get("method") == "io.scratchd.GetMetrics"
        print(f"{'ok' if ok else 'not ok'} {n} - metrics --output-dir writes DIR/scratchd.prom, as scratchd gave it"
              + ("" if ok else f": exit {rc}, {err.strip()}, file {got!r}"))
        failed = failed or not ok
        leftovers = [f for f in os.listdir(out) if f != "scratchd.prom"]
        n += 1
        print(f"{'ok' if not leftovers else 'not ok'} {n} - ... and leaves no temporary file ({leftovers})")
        failed = failed or bool(leftovers)
    rc, err, _ = run({"parameters": {"text": text}}, "metrics", "--output-dir", "/nonexistent/dir")
    n += 1
    ok = rc == 1 and "cannot write /nonexistent/dir/scratchd.prom" in err
    print(f"{'ok' if ok else 'not ok'} {n} - a directory that is not there: exit 1, said: exit {rc}, {err.strip()}")
    failed = failed or not ok


check_metrics()


# What clears by itself is waited for, within the timeout: a volume being
# adopted, wiped or set up; a daemon restarting (no socket yet). What does
# not (held by a job, FAILED) fails at once.
def run_seq(replies, args, delay_listen=0.0, timeout="20"):
    import time
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "io.scratchd")
        seen = []

        def start():
            time.sleep(delay_listen)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(8)
            serve_seq(sock, replies, seen)
        threading.Thread(target=start, daemon=True).start()
        t0 = time.monotonic()
        p = subprocess.run([SCRATCHCTL, "--socket", path, "--timeout", timeout, *args], capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr, seen, time.monotonic() - t0


def check_seq(what, replies, args, code, calls, out_has=None, err_has=None, **kw):
    global n, failed
    rc, out, err, seen, took = run_seq(replies, args, **kw)
    ok = rc == code and (calls is None or len(seen) == calls) and (out_has is None or out_has in out) \
        and (err_has is None or err_has in err)
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}: exit {rc}, {len(seen)} call(s), {took:.1f} s"
          + ("" if ok else f" (want exit {code}, {calls} calls); stdout {out.strip()!r}, stderr {err.strip()!r}"))
    failed = failed or not ok
    return took


adopting = {"error": "io.scratchd.VolumeBusy", "parameters": {"volume": "scratch", "state": "IN_USE",
                                                              "activity": "adopting"}}
released = {"parameters": {"volume": "scratch", "key_generation": 4}}
check_seq("release while the volume is being adopted: asked again, then released", [adopting, released],
          ["release", "--job", "5"], 0, 2)
wiping = {"error": "io.scratchd.NoCleanVolume",
          "parameters": {"volumes": [{"volume": "scratch", "state": "WIPING", "activity": "wiping"}]}}
prepared = {"parameters": {"volume": "scratch", "directory": "/scratch/6", "key_generation": 5}}
check_seq("prepare while the volume is being wiped: asked again, then prepared", [wiping, wiping, prepared],
          ["prepare", "--job", "6", "--user", "nobody"], 0, 3, out_has="/scratch/6")
held = {"error": "io.scratchd.NoCleanVolume",
        "parameters": {"volumes": [{"volume": "scratch", "state": "IN_USE", "job": "4"}]}}
check_seq("prepare with the volume held by another job: fails at once", [held, prepared],
          ["prepare", "--job", "6", "--user", "nobody"], 1, 1, err_has="job 4")
fenced = {"error": "io.scratchd.NoCleanVolume",
          "parameters": {"volumes": [{"volume": "scratch", "state": "FAILED", "reason": "x", "activity": "wiping"}]}}
check_seq("prepare with the volume FAILED: fails at once", [fenced, prepared],
          ["prepare", "--job", "6", "--user", "nobody"], 1, 1, err_has="FAILED")
took = check_seq("adopting for longer than --timeout 3: fails, saying busy", [adopting] * 10,
                 ["release", "--job", "5"], 1, None, err_has="adopting", timeout="3")
n += 1
# Bound by progress, not speed: it gives up (3 s, a last pause past it),
# rather than ask for ever; a busy host may make it slower.
ok = took < 15
print(f"{'ok' if ok else 'not ok'} {n} - ... and gives up, in {took:.1f} s")
failed = failed or not ok
check_seq("no daemon yet (restarting, no socket): waited for, then answered", [released],
          ["release", "--job", "5"], 0, 1, delay_listen=2.5)
too_many = {"error": "io.scratchd.TooManyConnections", "parameters": {}}
getjob = {"parameters": {"volume": "scratch", "directory": "/scratch/9", "user": "alice"}}
check_seq("job-dir with every connection slot taken (128 task prologs at once): asked again",
          [too_many, too_many, getjob], ["job-dir", "--job", "9"], 0, 3, out_has="/scratch/9")
check_seq("release whose connection closes before the answer (a restart): asked again", [None, released],
          ["release", "--job", "5"], 0, 2)
check_seq("a wipe whose connection closes: not asked again (it would run twice)", [None, released],
          ["wipe"], 4, 1, err_has="closed the connection")
unknown = {"parameters": {"volume": "", "key_generation": 0, "unknown": True}}
check_seq("release of a job no volume holds: success, saying so", [unknown], ["release", "--job", "7"], 0, 1,
          out_has="job 7 holds no volume here")
check("--output-dir with another command: 2", None, ["status", "--output-dir", "/tmp"], 2, "--output-dir is for metrics only")
print(f"1..{n}")
sys.exit(1 if failed else 0)
