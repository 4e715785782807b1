/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

#include "scratchd/api.h"
#include "scratchd/engine.h"
#include "scratchd/fault.h"
#include "scratchd/util.h"
#include "scratchd/worker.h"

/* Makes MountPoint/JOB, 0700, owned by the user, without following links. */
static int make_job_dir(const char *mount_point, const char *job, uid_t uid, gid_t gid) {
        _cleanup_close_ int dfd = open(mount_point, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (mkdirat(dfd, job, 0700) < 0) {
                int e = -errno;
                /* Made by a Prepare whose state could not be recorded: the
                 * same job's, if it is that user's and private. */
                struct stat st;
                if (e == -EEXIST && fstatat(dfd, job, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
                    st.st_uid == uid && (st.st_mode & 07777) == 0700)
                        return 0;
                return e;
        }
        _cleanup_close_ int fd = openat(dfd, job, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* Mode first: once the directory is the user's, changing it would
         * need CAP_FOWNER, which the unit does not grant. */
        if (fd < 0 || fchmod(fd, 0700) < 0 || fchown(fd, uid, gid) < 0) {
                int e = -errno;
                (void) unlinkat(dfd, job, AT_REMOVEDIR);
                return e;
        }
        return 0;
}

void worker_prepare(const WorkOrder *o, WorkResult *ret) {
        struct passwd pw, *found = NULL;
        char buf[4096];
        int e;

        /* NSS may be LDAP or SSSD, and may take its time: this is why it runs here. */
        if (o->user[0])
                e = getpwnam_r(o->user, &pw, buf, sizeof(buf), &found);
        else
                e = getpwuid_r(o->uid, &pw, buf, sizeof(buf), &found);
        if (e != 0 || !found) {
                ret->r = -ENOENT;
                ret->error = API_ERROR_NO_SUCH_USER;
                if (o->user[0])
                        snprintf(ret->reason, sizeof(ret->reason), "%s", o->user);
                else
                        snprintf(ret->reason, sizeof(ret->reason), "%u", (unsigned) o->uid);
                return;
        }
        snprintf(ret->user, sizeof(ret->user), "%s", found->pw_name);
        ret->uid = found->pw_uid;
        ret->gid = found->pw_gid;

        e = make_job_dir(o->sc->mount_point, o->job, ret->uid, ret->gid);
        fault_point("prepare-dir-made");
        if (e < 0) {
                ret->r = e;
                ret->error = API_ERROR_INTERNAL;
                snprintf(ret->reason, sizeof(ret->reason), "cannot make %s/%s: %s", o->sc->mount_point, o->job,
                         strerror(-e));
                return;
        }
        ret->r = 0;
}

void worker_run(void *userdata, const WorkOrder *o, WorkResult *ret) {
        Engine *engine = userdata;

        if (o->kind == WORK_PREPARE) {
                worker_prepare(o, ret);
                return;
        }
        ret->r = engine_run_volume(engine, o->sc, o->kind != WORK_ADOPT, &ret->rec);
}
