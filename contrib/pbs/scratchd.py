# SPDX-License-Identifier: GPL-2.0-or-later
# PBS Professional / OpenPBS hook for scratchd: an encrypted, crypto-wiped
# scratch directory for every job.
#
#   qmgr -c "create hook scratchd event='execjob_prologue,execjob_launch,execjob_epilogue,execjob_end'"
#   qmgr -c "set hook scratchd alarm = 330"
#   qmgr -c "set hook scratchd fail_action = offline_vnodes"
#   qmgr -c "import hook scratchd application/x-python default /usr/libexec/scratchd/pbs/scratchd.py"
#
# execjob_prologue: scratchctl prepare (the job's user, by name), under the
#   job's id as PBS has it, an array subjob's 1234[5].server as 1234_5.server.
# execjob_launch: the job's environment gets SCRATCH and TMPDIR (PBS builds
#   it after the prologue; e.env here is what the job's processes get).
# execjob_epilogue: scratchctl release; returns once the volume is CLEAN.
# execjob_end: the same, as a fallback where the epilogue did not run
#   (a release of a job already released, or never prepared, succeeds).
# A failure rejects the event and takes this vnode offline with a comment
# that starts with a short code (scratchd:failed, :busy, :nospace,
# :nodaemon, :timeout, ...), as the Slurm hooks' reasons do.
#
# scratchctl gets SCRATCHCTL_TIMEOUT s, below the hook's alarm (330 above),
# so that a call that gives up still leaves time to offline the vnode with
# its reason.
import hashlib
import json
import re
import subprocess

import pbs

SCRATCHCTL = "/usr/bin/scratchctl"
SCRATCHCTL_TIMEOUT = 270


def scratch_job_id(pbs_id):
    """The job's id as scratchd has it: PBS's, server and all (ids of two
    servers, or of one that wrapped, stay apart), an array subjob's index
    after an underscore ("1234[5].server" is 1234_5.server), nothing but
    [A-Za-z0-9._-]; past scratchd's 64 characters, its first 51 and a hash
    of the whole. A plain id ("1234.server") is as PBS has it, as the
    hook before this one gave it."""
    sid = re.sub(r"\[(\d*)\]", lambda m: "_" + m.group(1) if m.group(1) else "", pbs_id)
    sid = re.sub(r"[^A-Za-z0-9._-]", "_", sid)
    if len(sid) > 64:
        sid = sid[:51] + "-" + hashlib.sha256(pbs_id.encode()).hexdigest()[:12]
    return sid


def run(*args):
    """scratchctl's exit code, stdout, and its last line on stderr."""
    try:
        p = subprocess.run([SCRATCHCTL, "--timeout", str(SCRATCHCTL_TIMEOUT)] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=SCRATCHCTL_TIMEOUT + 15)
    except subprocess.TimeoutExpired:
        return 4, "", "scratchd did not answer in time (hook timeout)"
    except OSError as e:
        return 4, "", "cannot run %s: %s" % (SCRATCHCTL, e)
    lines = p.stderr.strip().splitlines()
    return p.returncode, p.stdout.strip(), lines[-1] if lines else ""


def reason_code(rc, msg):
    if rc == 3:
        return "scratchd:auth"
    if rc == 4:
        return "scratchd:timeout" if "did not answer in time" in msg else "scratchd:nodaemon"
    if rc == 5:
        return "scratchd:notfound"
    if rc == 1:
        if "FAILED" in msg or "ABSENT" in msg:
            return "scratchd:failed"
        if "no space for" in msg or "no room for" in msg or "MaxJobs=" in msg:
            return "scratchd:nospace"
        if "busy" in msg or "no CLEAN volume" in msg:
            return "scratchd:busy"
    return "scratchd:error"


def fail(event, what, rc, msg):
    msg = re.sub(r"^scratchctl: ", "", msg)
    msg = re.sub(r"^scratchd: ", "", msg)
    reason = "%s %s: %s" % (reason_code(rc, msg), what, msg)
    pbs.logmsg(pbs.LOG_ERROR, "%s (job %s)" % (reason, event.job.id))
    try:
        vnode = event.vnode_list[pbs.get_local_nodename()]
        vnode.state = pbs.ND_OFFLINE
        vnode.comment = reason
    except Exception as e:   # the vnode cannot be had: the reject still fails the job
        pbs.logmsg(pbs.LOG_ERROR, "scratchd: cannot offline this vnode: %s" % e)
    event.reject(reason)


def job_directory(job_id):
    """The job's directory, from scratchd's status (a job's own volume in
    shared mode; MountPoint/JOB in exclusive mode); None if none."""
    rc, out, _ = run("status", "--json")
    if rc != 0:
        return None
    try:
        for v in json.loads(out).get("volumes", []):
            for j in v.get("jobs", []):
                if j.get("job") == job_id and j.get("state") == "IN_USE" and j.get("directory"):
                    return j["directory"]
            if v.get("job") == job_id and v.get("mount_point"):
                return v["mount_point"].rstrip("/") + "/" + job_id
    except (ValueError, AttributeError):
        return None
    return None


def main():
    e = pbs.event()
    job = e.job
    jid = scratch_job_id(job.id)
    if e.type == pbs.EXECJOB_PROLOGUE:
        rc, out, err = run("prepare", "--job", jid, "--user", job.euser)
        if rc != 0:
            fail(e, "prepare", rc, err)
            return
        e.accept()
    elif e.type == pbs.EXECJOB_LAUNCH:
        d = job_directory(jid)
        if d:
            e.env["SCRATCH"] = d
            e.env["TMPDIR"] = d
        e.accept()
    elif e.type in (pbs.EXECJOB_EPILOGUE, pbs.EXECJOB_END):
        rc, _, err = run("release", "--job", jid)
        if rc != 0:
            fail(e, "release", rc, err)
            return
        e.accept()
    else:
        e.accept()


main()
