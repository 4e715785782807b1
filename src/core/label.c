/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <zlib.h>

#include "scratchd/label.h"
#include "scratchd/util.h"

/* Field offsets: the layout in label.h is a contract with every disk already
 * written, so each field is put and got byte by byte, never by struct. */
enum {
        OFF_MAGIC = 0,
        OFF_VERSION = 16,
        OFF_HEADER_SIZE = 20,
        OFF_CRC = 24,
        OFF_INDEX = 28,
        OFF_COUNT = 32,
        OFF_RESERVED = 36,
        OFF_DATA_OFFSET = 40,
        OFF_CHUNK_SIZE = 48,
        OFF_CREATED = 56,
        OFF_POOL_ID = 64,
        OFF_IDENTITY = 80,
        OFF_END = OFF_IDENTITY + LABEL_IDENTITY_MAX,
};

#define LABEL_MAX_DISKS 32u

/* Exactly LABEL_MAGIC_SIZE bytes: the literal's own NUL is not part of it. */
static const uint8_t magic[LABEL_MAGIC_SIZE] = LABEL_MAGIC;

static void put_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
        uint32_t v = 0;
        for (unsigned i = 0; i < 4; i++)
                v |= (uint32_t) p[i] << (8 * i);
        return v;
}

static uint64_t get_le64(const uint8_t *p) {
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

/* crc32 of the LABEL_SIZE bytes with the crc field taken as zero. */
static uint32_t label_crc(const uint8_t *buf) {
        static const uint8_t zero[4] = {};
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, buf, OFF_CRC);
        c = crc32(c, zero, sizeof(zero));
        c = crc32(c, buf + OFF_CRC + 4, LABEL_SIZE - OFF_CRC - 4);
        return (uint32_t) c;
}

void label_encode(const DiskLabel *l, uint8_t buf[static LABEL_SIZE]) {
        memset(buf, 0, LABEL_SIZE);
        memcpy(buf + OFF_MAGIC, magic, sizeof(magic));
        put_le32(buf + OFF_VERSION, LABEL_VERSION);
        put_le32(buf + OFF_HEADER_SIZE, LABEL_SIZE);
        put_le32(buf + OFF_INDEX, l->index);
        put_le32(buf + OFF_COUNT, l->count);
        put_le64(buf + OFF_DATA_OFFSET, l->data_offset);
        put_le64(buf + OFF_CHUNK_SIZE, l->chunk_size);
        put_le64(buf + OFF_CREATED, l->created);
        memcpy(buf + OFF_POOL_ID, l->pool_id, sizeof(l->pool_id));
        /* Always NUL-terminated within its field, whatever the caller passed. */
        size_t n = strnlen(l->identity, LABEL_IDENTITY_MAX - 1);
        memcpy(buf + OFF_IDENTITY, l->identity, n);
        put_le32(buf + OFF_CRC, label_crc(buf));
}

LabelStatus label_decode(const uint8_t *buf, size_t size, DiskLabel *ret) {
        if (size < LABEL_MAGIC_SIZE || memcmp(buf + OFF_MAGIC, magic, sizeof(magic)) != 0)
                return LABEL_NONE;
        /* Our magic, but too short to hold even the version: a damaged header. */
        if (size < OFF_VERSION + 4)
                return LABEL_CORRUPT;

        uint32_t version = get_le32(buf + OFF_VERSION);
        if (version != LABEL_VERSION) {
                /* Nothing past the version is ours to read. */
                if (ret)
                        *ret = (DiskLabel) { .version = version };
                return LABEL_UNKNOWN_VERSION;
        }

        if (size < LABEL_SIZE)
                return LABEL_CORRUPT;
        if (get_le32(buf + OFF_CRC) != label_crc(buf))
                return LABEL_CORRUPT;
        if (get_le32(buf + OFF_HEADER_SIZE) != LABEL_SIZE)
                return LABEL_CORRUPT;
        uint32_t index = get_le32(buf + OFF_INDEX), count = get_le32(buf + OFF_COUNT);
        if (count == 0 || count > LABEL_MAX_DISKS || index >= count)
                return LABEL_CORRUPT;
        if (get_le32(buf + OFF_RESERVED) != 0)
                return LABEL_CORRUPT;
        if (!memchr(buf + OFF_IDENTITY, 0, LABEL_IDENTITY_MAX))
                return LABEL_CORRUPT;

        if (ret) {
                *ret = (DiskLabel) {
                        .version = version,
                        .index = index,
                        .count = count,
                        .data_offset = get_le64(buf + OFF_DATA_OFFSET),
                        .chunk_size = get_le64(buf + OFF_CHUNK_SIZE),
                        .created = get_le64(buf + OFF_CREATED),
                };
                memcpy(ret->pool_id, buf + OFF_POOL_ID, sizeof(ret->pool_id));
                memcpy(ret->identity, buf + OFF_IDENTITY, LABEL_IDENTITY_MAX);
        }
        return LABEL_VALID;
}

/* Whether blank-separated token lists `a` and `b` share a token. */
static bool tokens_meet(const char *a, const char *b) {
        for (const char *t = a; *t;) {
                size_t n = strcspn(t, " ");
                for (const char *u = b; *u;) {
                        size_t m = strcspn(u, " ");
                        if (n > 0 && n == m && strncmp(t, u, n) == 0)
                                return true;
                        u += m;
                        u += strspn(u, " ");
                }
                t += n;
                t += strspn(t, " ");
        }
        return false;
}

bool label_names_disk(const DiskLabel *l, const char *identity) {
        /* A disk that reports no identity matches a label written without
         * one; otherwise one agreeing token (a WWN, or a serial) is enough. */
        if (isempty(identity) || isempty(l->identity))
                return isempty(identity) && isempty(l->identity);
        return tokens_meet(l->identity, identity);
}

int label_read(const char *device, DiskLabel *ret) {
        _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC);
        uint8_t buf[LABEL_SIZE] = {};
        size_t got = 0;

        if (fd < 0)
                return -errno;
        while (got < sizeof(buf)) {
                ssize_t k = pread(fd, buf + got, sizeof(buf) - got, (off_t) got);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;  /* A device shorter than a header: what is missing holds no label. */
                got += (size_t) k;
        }
        /* A device too short for the magic has no header (LABEL_NONE); one
         * that begins with our magic but ends before the header does is a
         * damaged one (LABEL_CORRUPT), refused like any other. */
        return (int) label_decode(buf, got, ret);
}

int label_write_fd(int fd, const DiskLabel *l) {
        _cleanup_free_ uint8_t *area = calloc(1, LABEL_AREA);

        if (!area)
                return -ENOMEM;
        label_encode(l, area);
        for (size_t done = 0; done < LABEL_AREA;) {
                ssize_t k = pwrite(fd, area + done, LABEL_AREA - done, (off_t) done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ENOSPC;
                done += (size_t) k;
        }
        return fdatasync(fd) < 0 ? -errno : 0;
}

int label_write(const char *device, const DiskLabel *l) {
        _cleanup_close_ int fd = open(device, O_RDWR | O_EXCL | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return label_write_fd(fd, l);
}
