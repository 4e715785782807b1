/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "scratchd/block.h"
#include "scratchd/util.h"

static int open_exclusive(const char *device) {
        int fd = open(device, O_RDWR | O_EXCL | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int block_discard(const char *device, uint64_t *ret_bytes) {
        _cleanup_close_ int fd = open_exclusive(device);
        uint64_t size;

        if (fd < 0)
                return fd;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return -errno;

        uint64_t range[2] = { 0, size };
        if (ioctl(fd, BLKDISCARD, range) < 0)
                return errno == EINVAL || errno == ENOTTY ? -EOPNOTSUPP : -errno;
        if (ret_bytes)
                *ret_bytes = size;
        return 0;
}

int block_zero_head(const char *device, size_t bytes) {
        _cleanup_close_ int fd = open_exclusive(device);
        _cleanup_free_ void *zeros = NULL;
        uint64_t size;

        if (fd < 0)
                return fd;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return -errno;
        if (bytes > size)
                bytes = (size_t) size;
        zeros = calloc(1, bytes);
        if (!zeros)
                return -ENOMEM;

        for (size_t done = 0; done < bytes;) {
                ssize_t k = pwrite(fd, (char *) zeros + done, bytes - done, (off_t) done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return fdatasync(fd) < 0 ? -errno : 0;
}

static inline void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

int block_erase_signatures(const char *device) {
        _cleanup_close_ int fd = open_exclusive(device);
        if (fd < 0)
                return fd;
        return block_erase_signatures_fd(fd);
}

int block_erase_signatures_fd(int fd) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;

        pr = blkid_new_probe();
        if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return -ENOMEM;

        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC | BLKID_PARTS_FORCE_GPT);

        /* blkid_do_wipe() erases the magic just found and steps the probe back,
         * so the loop also finds what that signature hid (GPT's backup header). */
        int r;
        while ((r = blkid_do_probe(pr)) == 0)
                if (blkid_do_wipe(pr, 0) < 0)
                        return errno > 0 ? -errno : -EIO;
        if (r < 0)
                return -EIO;
        return fsync(fd) < 0 ? -errno : 0;
}
