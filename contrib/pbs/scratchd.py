# SPDX-License-Identifier: GPL-2.0-or-later
# PBS Professional / OpenPBS hook for scratchd: an encrypted, crypto-wiped
# scratch directory for every job.
#
#   qmgr -c "create hook scratchd event='execjob_prologue,execjob_epilogue'"
#   qmgr -c "import hook scratchd application/x-python default /usr/libexec/scratchd/pbs/scratchd.py"
#
# execjob_prologue: scratchctl prepare; the job gets SCRATCH and TMPDIR.
# execjob_epilogue: scratchctl release; returns once the volume is CLEAN.
# A failure rejects the event and takes this vnode offline with a comment
# naming scratchd, so that no other job lands on it.
import subprocess

import pbs

SCRATCHCTL = "/usr/bin/scratchctl"


def run(*args):
    p = subprocess.run([SCRATCHCTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600)
    return p.returncode, p.stdout.strip(), p.stderr.strip().splitlines()[-1:] or [""]


def fail(event, what, err):
    reason = "scratchd: %s failed: %s" % (what, err[0].replace("scratchctl: ", "").replace("scratchd: ", "", 1))
    try:
        vnode = event.vnode_list[pbs.get_local_nodename()]
        vnode.state = pbs.ND_OFFLINE
        vnode.comment = reason
    except Exception:
        pass
    event.reject(reason)


e = pbs.event()
job = e.job
if e.type == pbs.EXECJOB_PROLOGUE:
    rc, out, err = run("prepare", "--job", job.id, "--user", job.euser)
    if rc != 0:
        fail(e, "prepare of job %s" % job.id, err)
    job.Variable_List["SCRATCH"] = out
    job.Variable_List["TMPDIR"] = out
    e.accept()
elif e.type == pbs.EXECJOB_EPILOGUE:
    rc, out, err = run("release", "--job", job.id)
    if rc != 0:
        fail(e, "release of job %s" % job.id, err)
    e.accept()
else:
    e.accept()
