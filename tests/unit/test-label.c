/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The disk label: its byte layout (a contract with every disk already
 * written), what label_decode() makes of damaged and foreign bytes, and
 * label_write()/label_read() on a regular file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <zlib.h>

#include "scratchd/label.h"
#include "scratchd/util.h"

static DiskLabel sample(void) {
        DiskLabel l = {
                .index = 2,
                .count = 4,
                .data_offset = LABEL_AREA,
                .chunk_size = UINT64_C(512) << 10,
                .created = UINT64_C(0x0123456789abcdef),
                .pool_id = { 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                             0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f },
        };
        snprintf(l.identity, sizeof(l.identity), "wwn:eui.0025388b91c2d1a7");
        return l;
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* Fixes the checksum after a test changed a field, so that the field, not the
 * crc, is what the decoder sees. */
static void reseal(uint8_t *buf) {
        put32(buf + 24, 0);
        put32(buf + 24, (uint32_t) crc32(0L, buf, LABEL_SIZE));
}

static void test_round_trip(void **state) {
        uint8_t buf[LABEL_SIZE];
        DiskLabel in = sample(), out;

        label_encode(&in, buf);
        memset(&out, 0x55, sizeof(out));
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_VALID);
        assert_int_equal(out.version, LABEL_VERSION);
        assert_int_equal(out.index, in.index);
        assert_int_equal(out.count, in.count);
        assert_true(out.data_offset == in.data_offset);
        assert_true(out.chunk_size == in.chunk_size);
        assert_true(out.created == in.created);
        assert_memory_equal(out.pool_id, in.pool_id, sizeof(in.pool_id));
        assert_string_equal(out.identity, in.identity);
        /* NUL-padded to the end of the field. */
        for (size_t i = strlen(in.identity); i < LABEL_IDENTITY_MAX; i++)
                assert_int_equal(out.identity[i], 0);

        /* A single disk without identity. */
        in = (DiskLabel) { .count = 1, .data_offset = LABEL_AREA };
        label_encode(&in, buf);
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_VALID);
        assert_int_equal(out.index, 0);
        assert_int_equal(out.count, 1);
        assert_string_equal(out.identity, "");
}

static void test_layout(void **state) {
        uint8_t buf[LABEL_SIZE];
        DiskLabel l = sample();

        memset(buf, 0xaa, sizeof(buf));
        label_encode(&l, buf);
        assert_memory_equal(buf, "SCRATCHD-LABEL\0\0", 16);
        assert_int_equal(le32(buf + 16), 1);              /* version */
        assert_int_equal(le32(buf + 20), LABEL_SIZE);     /* header size */
        assert_int_equal(le32(buf + 28), 2);              /* index */
        assert_int_equal(le32(buf + 32), 4);              /* count */
        assert_int_equal(le32(buf + 36), 0);              /* reserved */
        static const uint8_t data_offset[8] = { 0x00, 0x00, 0x10, 0x00, 0, 0, 0, 0 };
        assert_memory_equal(buf + 40, data_offset, 8);
        static const uint8_t chunk[8] = { 0x00, 0x00, 0x08, 0x00, 0, 0, 0, 0 };
        assert_memory_equal(buf + 48, chunk, 8);
        static const uint8_t created[8] = { 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 };
        assert_memory_equal(buf + 56, created, 8);
        assert_memory_equal(buf + 64, l.pool_id, 16);
        assert_string_equal((const char *) buf + 80, "wwn:eui.0025388b91c2d1a7");
        /* Everything past the identity field is zeros. */
        for (size_t i = 80 + LABEL_IDENTITY_MAX; i < LABEL_SIZE; i++)
                assert_int_equal(buf[i], 0);

        /* The crc: zlib's crc32 of the header with its own field zero. */
        uint32_t crc = le32(buf + 24);
        put32(buf + 24, 0);
        assert_int_equal(crc, (uint32_t) crc32(0L, buf, LABEL_SIZE));
}

static void test_long_identity_is_cut(void **state) {
        uint8_t buf[LABEL_SIZE];
        DiskLabel l = sample(), out;

        /* A field without its NUL: the encoder keeps the last byte for one. */
        memset(l.identity, 'x', sizeof(l.identity));
        label_encode(&l, buf);
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_VALID);
        assert_int_equal(strlen(out.identity), LABEL_IDENTITY_MAX - 1);
}

static void test_corrupt(void **state) {
        uint8_t good[LABEL_SIZE], buf[LABEL_SIZE];
        DiskLabel l = sample(), out;

        label_encode(&l, good);

        /* Any flipped byte, anywhere past the magic and version: a bad crc. */
        static const size_t flips[] = { 20, 24, 28, 40, 64, 80, 200, LABEL_SIZE - 1 };
        for (size_t i = 0; i < ELEMENTSOF(flips); i++) {
                memcpy(buf, good, sizeof(buf));
                buf[flips[i]] ^= 0x01;
                assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_CORRUPT);
        }

        /* Impossible fields under a right crc. */
        static const struct {
                size_t offset;
                uint32_t value;
        } fields[] = {
                { 28, 4 },      /* index == count */
                { 28, 9 },      /* index > count */
                { 32, 0 },      /* no disks */
                { 32, 33 },     /* more than 32 */
                { 20, 512 },    /* header size */
                { 36, 1 },      /* reserved */
        };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                memcpy(buf, good, sizeof(buf));
                put32(buf + fields[i].offset, fields[i].value);
                reseal(buf);
                print_message("offset %zu = %u\n", fields[i].offset, fields[i].value);
                assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_CORRUPT);
        }

        /* count 32 (index 31) is the largest stripe, and valid. */
        memcpy(buf, good, sizeof(buf));
        put32(buf + 28, 31);
        put32(buf + 32, 32);
        reseal(buf);
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_VALID);

        /* An identity that fills its field without a NUL. */
        memcpy(buf, good, sizeof(buf));
        memset(buf + 80, 'x', LABEL_IDENTITY_MAX);
        reseal(buf);
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_CORRUPT);

        /* Our magic, but cut short. */
        assert_int_equal(label_decode(good, LABEL_SIZE - 1, &out), LABEL_CORRUPT);
        assert_int_equal(label_decode(good, 24, &out), LABEL_CORRUPT);
}

static void test_unknown_version(void **state) {
        uint8_t buf[LABEL_SIZE];
        DiskLabel l = sample(), out;

        /* A newer scratchd's header: nothing after the version is looked at,
         * so garbage there (or a short buffer) still reads as a version. */
        label_encode(&l, buf);
        put32(buf + 16, 2);
        memset(buf + 20, 0xa5, sizeof(buf) - 20);
        memset(&out, 0x55, sizeof(out));
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_UNKNOWN_VERSION);
        assert_int_equal(out.version, 2);
        assert_int_equal(label_decode(buf, 20, &out), LABEL_UNKNOWN_VERSION);

        put32(buf + 16, 0);
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_UNKNOWN_VERSION);
        assert_int_equal(out.version, 0);
}

static void test_none(void **state) {
        uint8_t buf[LABEL_SIZE] = {};
        DiskLabel out;

        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_NONE);
        assert_int_equal(label_decode(buf, 0, &out), LABEL_NONE);

        /* Random bytes (a fixed seed: the same bytes every run). */
        srand(42);
        for (int round = 0; round < 16; round++) {
                for (size_t i = 0; i < sizeof(buf); i++)
                        buf[i] = (uint8_t) rand();
                assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_NONE);
        }

        /* Nearly our magic. */
        DiskLabel l = sample();
        label_encode(&l, buf);
        buf[15] = '!';
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_NONE);
        label_encode(&l, buf);
        buf[0] = 's';
        assert_int_equal(label_decode(buf, sizeof(buf), &out), LABEL_NONE);
        /* Too short even for the magic. */
        label_encode(&l, buf);
        assert_int_equal(label_decode(buf, 15, &out), LABEL_NONE);
}

static void test_names_disk(void **state) {
        DiskLabel l = sample();

        assert_true(label_names_disk(&l, "wwn:eui.0025388b91c2d1a7"));
        assert_false(label_names_disk(&l, "wwn:eui.0025388b91c2d1a8"));
        assert_false(label_names_disk(&l, "serial:eui.0025388b91c2d1a7"));
        assert_false(label_names_disk(&l, "wwn:eui.0025388b91c2d1a"));
        assert_false(label_names_disk(&l, NULL));
        assert_false(label_names_disk(&l, ""));

        /* Several tokens: one agreeing is enough (a kernel update may spell
         * the WWN anew; the serial still names the disk), none is not. */
        snprintf(l.identity, sizeof(l.identity), "wwn:eui.0025388b91c2d1a7 serial:S3X9NX0M/n1");
        assert_true(label_names_disk(&l, "wwn:nvme.144d-5333-01 serial:S3X9NX0M/n1"));
        assert_true(label_names_disk(&l, "wwn:eui.0025388b91c2d1a7"));
        assert_true(label_names_disk(&l, "serial:S3X9NX0M/n1"));
        assert_false(label_names_disk(&l, "wwn:eui.0025388b91c2d1a8 serial:S3X9NX0M/n2"));
        assert_false(label_names_disk(&l, "serial:S3X9NX0M"));
        assert_false(label_names_disk(&l, "serial:S3X9NX0M/n"));

        /* A disk that reports no identity, and a label written for it. */
        l.identity[0] = 0;
        assert_true(label_names_disk(&l, NULL));
        assert_true(label_names_disk(&l, ""));
        assert_false(label_names_disk(&l, "serial:S1"));
}

static void test_write_read(void **state) {
        char path[] = "/tmp/scratchd-test-label.XXXXXX";
        _cleanup_close_ int fd = mkstemp(path);
        _cleanup_free_ uint8_t *area = malloc(LABEL_AREA + 4096);
        DiskLabel l = sample(), out;

        assert_true(fd >= 0);
        assert_non_null(area);
        /* Whatever was there before is overwritten to LABEL_AREA, and no further. */
        memset(area, 0xee, LABEL_AREA + 4096);
        assert_int_equal(write_all(fd, area, LABEL_AREA + 4096), 0);

        assert_int_equal(label_write(path, &l), 0);
        memset(&out, 0x55, sizeof(out));
        assert_int_equal(label_read(path, &out), LABEL_VALID);
        assert_string_equal(out.identity, l.identity);
        assert_int_equal(out.index, l.index);
        assert_int_equal(out.count, l.count);
        assert_memory_equal(out.pool_id, l.pool_id, sizeof(l.pool_id));

        assert_int_equal(pread(fd, area, LABEL_AREA + 4096, 0), (ssize_t) (LABEL_AREA + 4096));
        for (size_t i = LABEL_SIZE; i < LABEL_AREA; i++)
                if (area[i] != 0)
                        fail_msg("byte %zu of the label area is %#x, not zero", i, area[i]);
        assert_int_equal(area[LABEL_AREA], 0xee);
        assert_int_equal(area[LABEL_AREA + 4095], 0xee);

        /* A file (or device) shorter than a header, and an empty one. */
        assert_int_equal(ftruncate(fd, 100), 0);
        assert_int_equal(label_read(path, &out), LABEL_CORRUPT);   /* our magic, cut short */
        assert_int_equal(pwrite(fd, "not ours", 8, 0), 8);
        assert_int_equal(label_read(path, &out), LABEL_NONE);
        assert_int_equal(ftruncate(fd, 0), 0);
        assert_int_equal(label_read(path, &out), LABEL_NONE);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(label_read(path, &out), -ENOENT);
        assert_int_equal(label_write(path, &l), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_layout),
                cmocka_unit_test(test_long_identity_is_cut),
                cmocka_unit_test(test_corrupt),
                cmocka_unit_test(test_unknown_version),
                cmocka_unit_test(test_none),
                cmocka_unit_test(test_names_disk),
                cmocka_unit_test(test_write_read),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
