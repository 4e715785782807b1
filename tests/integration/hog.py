#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""hog.py SOCKET SECONDS READER_GID: nine unprivileged uids (2001 to 2009;
the first five also in READER_GID, the group the daemon's ReadGroup= names)
each open every connection the daemon lets them have, and keep them for
SECONDS: every 3 s each connection calls GetInfo, and the readers' send
GetStatus calls whose replies they never read. Meanwhile, as root, this
process calls GetStatus every 0.2 s, on a new connection each time, and
prints one line: "root_calls N root_failed F root_max_ms M held H refused R root_p95_ms P"
(H: the most connections the hogs held at once; R: connections refused)."""
import json
import os
import signal
import socket
import sys
import time

path, seconds, reader_gid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
UIDS = range(2001, 2010)
INFO = json.dumps({"method": "org.varlink.service.GetInfo"}).encode() + b"\0"
STATUS = json.dumps({"method": "io.scratchd.GetStatus"}).encode() + b"\0"


def hog(uid, reader, report):
    os.setgroups([reader_gid] if reader else [])
    os.setgid(65534)
    os.setuid(uid)
    conns, refused, held = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # Take every connection the daemon gives (a refused one is answered
        # TooManyConnections and closed at once: recv sees it).
        for _ in range(64):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                s.settimeout(0.05)
                try:
                    if s.recv(4096):   # refused: an error, then EOF
                        refused += 1
                        s.close()
                        break
                    s.close()          # EOF without a word: closed
                    break
                except socket.timeout:
                    pass               # kept: nothing said
                s.setblocking(False)
                conns.append(s)
            except OSError:
                refused += 1
                s.close()
                break
        held = max(held, len(conns))
        alive = []
        for s in conns:
            try:
                s.send(INFO)
                if reader:
                    for _ in range(8):
                        s.send(STATUS)   # replies never read
                alive.append(s)
            except OSError:
                s.close()
        conns = alive
        time.sleep(3)
    os.write(report, ("%d %d\n" % (held, refused)).encode())
    os._exit(0)


def root_call():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    start = time.monotonic()
    try:
        s.connect(path)
        s.sendall(STATUS)
        data = b""
        while not data.endswith(b"\0"):
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        reply = json.loads(data[:-1])
        return None if "error" in reply else (time.monotonic() - start) * 1000
    except OSError:
        return None
    finally:
        s.close()


r, w = os.pipe()
pids = []
for i, uid in enumerate(UIDS):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        hog(uid, i < 5, w)
    pids.append(pid)
os.close(w)
time.sleep(2)   # the hogs take what they can first
calls = failed = 0
worst = 0.0
times = []
end = time.monotonic() + seconds - 3
while time.monotonic() < end:
    ms = root_call()
    calls += 1
    if ms is None:
        failed += 1
    else:
        worst = max(worst, ms)
        times.append(ms)
    time.sleep(0.2)
held = refused = 0
with os.fdopen(r) as f:
    for line in f:
        h, n = line.split()
        held += int(h)
        refused += int(n)
for pid in pids:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
times.sort()
p95 = times[int(len(times) * 0.95) - 1] if times else 0.0
print("root_calls %d root_failed %d root_max_ms %.0f held %d refused %d root_p95_ms %.0f"
      % (calls, failed, worst, held, refused, p95))
