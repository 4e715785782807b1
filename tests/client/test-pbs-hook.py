#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""contrib/pbs/scratchd.py against a stand-in for PBS's `pbs` module: there
is no PBS in Debian, so this `pbs` records what the hook calls, following
the hook API as OpenPBS documents it (pbs.event() with type, job.id,
job.euser, vnode_list, env for execjob_launch; accept() and reject(), which
ends the hook; pbs.logmsg; pbs.get_local_nodename; pbs.ND_OFFLINE), and a
stand-in scratchctl answers as each case needs. The hook's calls to the
real scratchctl and scratchd are those of the Slurm hooks, tested for real
in tests/system."""
import os
import stat
import sys
import tempfile
import types

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "pbs", "scratchd.py")
n = 0
failed = False


def report(ok, what):
    global n, failed
    n += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, what))
    failed = failed or not ok


class Ended(Exception):
    """What accept() and reject() do in PBS: the hook's run ends there."""


class Vnode:
    def __init__(self):
        self.state = None
        self.comment = None


class Job:
    def __init__(self, jid, euser):
        self.id = jid
        self.euser = euser


class Event:
    def __init__(self, type_, job):
        self.type = type_
        self.job = job
        self.vnode_list = {"node1": Vnode()}
        self.env = {"PATH": "/usr/bin"}
        self.accepted = self.rejected = None

    def accept(self, msg=""):
        self.accepted = True
        raise Ended()

    def reject(self, msg=""):
        self.rejected = msg
        raise Ended()


def stand_in_pbs(event, log):
    pbs = types.ModuleType("pbs")
    pbs.EXECJOB_PROLOGUE, pbs.EXECJOB_LAUNCH, pbs.EXECJOB_EPILOGUE, pbs.EXECJOB_END = 1, 2, 3, 4
    pbs.ND_OFFLINE = "offline"
    pbs.LOG_ERROR = 3
    pbs.event = lambda: event
    pbs.get_local_nodename = lambda: "node1"
    pbs.logmsg = lambda level, msg: log.append(msg)
    return pbs


def run_hook(tmp, event_type, jid, rc=0, stdout="", stderr="", sleep=0, timeout=None):
    """Runs the hook for one event; the stand-in scratchctl exits `rc`."""
    fake = os.path.join(tmp, "scratchctl")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\necho \"$*\" >> %s/args\nsleep %s\nprintf '%%s' '%s'\nprintf '%%s\\n' '%s' >&2\nexit %d\n"
                % (tmp, sleep, stdout.replace("'", "'\\''"), stderr.replace("'", "'\\''"), rc))
    os.chmod(fake, stat.S_IRWXU)
    open(os.path.join(tmp, "args"), "w").close()
    log = []
    event = Event(event_type, Job(jid, "alice"))
    sys.modules["pbs"] = stand_in_pbs(event, log)
    src = open(HOOK).read().replace('SCRATCHCTL = "/usr/bin/scratchctl"', 'SCRATCHCTL = %r' % fake)
    if timeout is not None:
        src = src.replace("SCRATCHCTL_TIMEOUT = 270", "SCRATCHCTL_TIMEOUT = %d" % timeout)
        src = src.replace("timeout=SCRATCHCTL_TIMEOUT + 15", "timeout=SCRATCHCTL_TIMEOUT + 1")
    try:
        exec(compile(src, HOOK, "exec"), {"__name__": "__main__"})
    except Ended:
        pass
    args = open(os.path.join(tmp, "args")).read().splitlines()
    return event, args, log


with tempfile.TemporaryDirectory() as tmp:
    PRO, LAUNCH, EPI, END = 1, 2, 3, 4
    ev, args, _ = run_hook(tmp, PRO, "1234[5].pbs-server.example.org", stdout="/scratch/1234_5")
    report(ev.accepted and not ev.rejected, "prologue: an array subjob (1234[5].server) is accepted")
    report(args == ["--timeout 270 prepare --job 1234_5.pbs-server.example.org --user alice"],
           "... scratchd gets 1234_5.pbs-server.example.org, the user, a timeout below the alarm (%s)" % args)
    ev, args, _ = run_hook(tmp, PRO, "1234.pbs-server", stdout="/scratch/1234.pbs-server")
    report(args and args[0].split()[4] == "1234.pbs-server", "a plain id is as PBS has it (as before)")

    long_id = "9" * 70 + ".server"
    ev, args, _ = run_hook(tmp, PRO, long_id, stdout="/scratch/x")
    got = args[0].split()[4] if args else ""
    ev2, args2, _ = run_hook(tmp, PRO, "9" * 70 + ".other", stdout="/scratch/x")
    got2 = args2[0].split()[4] if args2 else ""
    report(ev.accepted and len(got) == 64 and len(got2) == 64 and got != got2,
           "job ids past 64 characters: 64, and two that share their first 51 stay apart (%s, %s)" % (got, got2))
    ev, args, _ = run_hook(tmp, PRO, "77[].server")
    report(args and args[0].split()[4] == "77.server", "an array's parent id (77[].server) is 77.server")

    ev, args, log = run_hook(tmp, PRO, "1234.server", rc=1,
                             stderr="scratchctl: scratchd: volume scratch is FAILED (fenced): wipe failed; fix the "
                                    "cause, then run 'scratchctl wipe'")
    vn = ev.vnode_list["node1"]
    report(ev.rejected and vn.state == "offline", "prologue, volume FAILED: rejected, the vnode offline")
    report(vn.comment == "scratchd:failed prepare: volume scratch is FAILED (fenced): wipe failed; fix the cause, "
                         "then run 'scratchctl wipe'", "... its comment starts with scratchd:failed (%r)" % vn.comment)
    report(any("(job 1234.server)" in m for m in log), "... and the log names PBS's job id")

    ev, args, _ = run_hook(tmp, PRO, "1234.server", sleep=5, timeout=1)
    vn = ev.vnode_list["node1"]
    report(ev.rejected and vn.state == "offline" and vn.comment.startswith("scratchd:timeout prepare: "),
           "scratchctl hanging past the hook's own limit: rejected, offline, scratchd:timeout (%r)" % vn.comment)

    ev, args, _ = run_hook(tmp, PRO, "1234.server", rc=4,
                           stderr="scratchctl: cannot reach scratchd at /run/scratchd/io.scratchd: No such file or "
                                  "directory; is scratchd.service running?")
    report(ev.vnode_list["node1"].comment.startswith("scratchd:nodaemon prepare: cannot reach scratchd"),
           "no scratchd: scratchd:nodaemon")

    status = ('{"volumes":[{"name":"scratch","state":"IN_USE","job":"1234_5.server","mount_point":"/scratch"}]}')
    ev, args, _ = run_hook(tmp, LAUNCH, "1234[5].server", stdout=status)
    report(ev.accepted and ev.env.get("SCRATCH") == "/scratch/1234_5.server"
           and ev.env.get("TMPDIR") == "/scratch/1234_5.server",
           "launch (exclusive mode): SCRATCH and TMPDIR in the job's environment (%s)" % ev.env)
    report(args == ["--timeout 270 status --json"], "... from scratchd's status")
    status = ('{"volumes":[{"name":"scratch","state":"CLEAN","mount_point":"/scratch","jobs":['
              '{"job":"88.server","state":"IN_USE","directory":"/scratch/88.server"},{"job":"1234.server","state":"IN_USE","directory":"/scratch/1234"}]}]}')
    ev, args, _ = run_hook(tmp, LAUNCH, "1234.server", stdout=status)
    report(ev.env.get("SCRATCH") == "/scratch/1234", "launch (shared mode): the job's own volume's directory")
    ev, args, _ = run_hook(tmp, LAUNCH, "999.server", stdout=status)
    report(ev.accepted and "SCRATCH" not in ev.env, "launch of a job scratchd has no volume for: no SCRATCH, accepted")

    for t, name in ((EPI, "epilogue"), (END, "end")):
        ev, args, _ = run_hook(tmp, t, "1234[5].server")
        report(ev.accepted and args == ["--timeout 270 release --job 1234_5.server"], "%s: release, accepted" % name)
    ev, args, _ = run_hook(tmp, EPI, "1234.server", rc=1,
                           stderr="scratchctl: scratchd: volume scratch is FAILED (fenced): release failed at unmount")
    report(ev.rejected and ev.vnode_list["node1"].comment.startswith("scratchd:failed release: "),
           "epilogue, the release fenced: rejected, offline, scratchd:failed release")
print("1..%d" % n)
sys.exit(1 if failed else 0)
