/* SPDX-License-Identifier: GPL-2.0-or-later */
/* safety_check() on hand-built DiskFacts (a blank disk unless a test says
 * otherwise), and signature_describe(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/sysmacros.h>

#include "scratchd/safety.h"
#include "scratchd/util.h"

#define DISK "/dev/nvme1n1"
#define IDENTITY "wwn:eui.0025388b91c2d1a7"
#define OTHER_IDENTITY "wwn:eui.0025388b91c2d1ff"


static void facts_init(DiskFacts *f) {
        *f = (DiskFacts) {
                .path = strdup(DISK),
                .sysname = strdup("nvme1n1"),
                .devnum = makedev(259, 1),
                .size = UINT64_C(4) << 40,
                .logical_sector_size = 512,
                .physical_sector_size = 4096,
                .discard_max_bytes = UINT64_C(2) << 30,
                /* Zeros at both ends, no header: a new disk, unless a test says otherwise. */
                .head_zero = true,
                .tail_zero = true,
        };
        assert_non_null(f->path);
        assert_non_null(f->sysname);
}

static void add(char ***l, const char *v) {
        assert_int_equal(strv_extend(l, v), 0);
}

/* Runs safety_check with a reason buffer pre-filled with a marker, so that a
 * verdict that should carry a reason is seen to write one. */
static SafetyVerdict check(const DiskFacts *f, bool expendable, char *reason, size_t size) {
        memset(reason, 'X', size - 1);
        reason[size - 1] = 0;
        return safety_check(f, expendable, reason, size);
}

static void assert_reason(const char *reason, ...) {
        va_list ap;
        /* Written, and every reason starts by naming the disk. */
        if (!startswith(reason, DISK " "))
                print_error("reason \"%s\" does not start with the disk\n", reason);
        assert_true(startswith(reason, DISK " "));
        assert_null(strchr(reason, '\n'));
        va_start(ap, reason);
        for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *)) {
                if (!strstr(reason, n))
                        print_error("reason \"%s\" does not contain \"%s\"\n", reason, n);
                assert_non_null(strstr(reason, n));
        }
        va_end(ap);
}

static void test_blank(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_BLANK);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_BLANK);
        /* Empty (non-NULL) lists are as good as none. */
        f.signatures = calloc(1, sizeof(char *));
        f.mounts = calloc(1, sizeof(char *));
        f.holders = calloc(1, sizeof(char *));
        f.swaps = calloc(1, sizeof(char *));
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_BLANK);
        disk_facts_done(&f);
}

static const struct {
        const char *type, *what;
} signatures[] = {
        { "ext4", "an ext4 filesystem" },
        { "xfs", "an XFS filesystem" },
        { "btrfs", "a btrfs filesystem" },
        { "gpt", "a GPT partition table" },
        { "dos", "an MBR partition table" },
        { "swap", "a swap signature" },
        { "LVM2_member", "an LVM physical volume" },
        { "linux_raid_member", "an md RAID member superblock" },
        { "crypto_LUKS", "a LUKS header" },
        { "zfs_member", "a ZFS pool member label" },
};

static void test_signatures_refused(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(signatures); i++) {
                DiskFacts f;
                char reason[512];

                print_message("%s\n", signatures[i].type);
                facts_init(&f);
                add(&f.signatures, signatures[i].type);
                assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, signatures[i].what, "Expendable=yes", NULL);
                disk_facts_done(&f);
        }
}

static void test_signatures_expendable(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(signatures); i++) {
                DiskFacts f;
                char reason[512];

                print_message("%s\n", signatures[i].type);
                facts_init(&f);
                add(&f.signatures, signatures[i].type);
                assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_EXPENDABLE);
                assert_reason(reason, DISK, signatures[i].what, "destroyed", NULL);
                disk_facts_done(&f);
        }
}

static void test_several_signatures(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        add(&f.signatures, "gpt");
        add(&f.signatures, "PMBR");
        add(&f.signatures, "ext4");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, DISK, "a GPT partition table, a protective MBR (GPT disk), an ext4 filesystem", NULL);
        disk_facts_done(&f);
}

static void test_small_reason_buffer(void **state) {
        DiskFacts f;
        char reason[16];

        facts_init(&f);
        add(&f.signatures, "ext4");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_int_equal(strlen(reason), sizeof(reason) - 1);
        assert_true(startswith(reason, DISK));
        disk_facts_done(&f);
}

static void test_holds_root(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                f.holds_root = true;
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "root filesystem", NULL);
                disk_facts_done(&f);
        }
}

static void test_swap(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                add(&f.swaps, "/dev/nvme1n1p2");
                add(&f.signatures, "swap");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "swap", "/dev/nvme1n1p2", NULL);
                disk_facts_done(&f);
        }
}

static void test_foreign_mounts(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                add(&f.mounts, "/data (nvme1n1p1)");
                add(&f.mounts, "/home (nvme1n1p3)");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "/data (nvme1n1p1)", "/home (nvme1n1p3)", "mounted", NULL);
                disk_facts_done(&f);
        }
}

static void test_foreign_holders(void **state) {
        static const char *const holders[] = { "md0", "dm-3 (vg0-home)" };
        for (size_t i = 0; i < ELEMENTSOF(holders); i++)
                for (int e = 0; e <= 1; e++) {
                        DiskFacts f;
                        char reason[512];

                        facts_init(&f);
                        add(&f.holders, holders[i]);
                        assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                        assert_reason(reason, DISK, holders[i], NULL);
                        disk_facts_done(&f);
                }
}

static void test_ours(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        f.our_mapping = strdup("scratchd-scratch");
        f.our_mapping_devnum = makedev(253, 4);
        add(&f.our_mounts, "/scratch");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_OURS);
        disk_facts_done(&f);
}

static void test_ours_with_foreign_use(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                f.our_mapping = strdup("scratchd-scratch");
                add(&f.mounts, "/data (nvme1n1p1)");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "/data (nvme1n1p1)", NULL);
                disk_facts_done(&f);

                facts_init(&f);
                f.our_mapping = strdup("scratchd-scratch");
                add(&f.holders, "md127");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "md127", NULL);
                disk_facts_done(&f);

                facts_init(&f);
                f.our_mapping = strdup("scratchd-scratch");
                f.holds_root = true;
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                disk_facts_done(&f);
        }
}

static void test_in_use_beats_expendable_signatures(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        add(&f.signatures, "ext4");
        add(&f.mounts, "/data (nvme1n1)");
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, DISK, "/data (nvme1n1)", NULL);
        disk_facts_done(&f);
}

/* Our header, for the disk whose identity is `identity`. */
static void set_label(DiskFacts *f, const char *identity) {
        f->label_status = LABEL_VALID;
        f->label = (DiskLabel) {
                .version = LABEL_VERSION,
                .index = 0,
                .count = 1,
                .data_offset = LABEL_AREA,
                .created = 1700000000,
        };
        snprintf(f->label.identity, sizeof(f->label.identity), "%s", identity);
        /* Our header is not zeros; the tail of a used disk is ciphertext. */
        f->head_zero = false;
        f->tail_zero = false;
}

static void test_blank_with_identity(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        f.identity = strdup(IDENTITY);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_BLANK);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_BLANK);
        disk_facts_done(&f);
}

static void test_random_data(void **state) {
        DiskFacts f;
        char reason[512];

        /* No signature, no header, no zeros: perhaps a headerless encrypted volume. */
        facts_init(&f);
        f.head_zero = f.tail_zero = false;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, "cannot identify", "no scratchd header", "headerless encrypted volume",
                      "Expendable=yes", NULL);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_EXPENDABLE);
        assert_reason(reason, "cannot identify", "destroyed", NULL);
        disk_facts_done(&f);
}

static void test_both_ends_matter(void **state) {
        DiskFacts f;
        char reason[512];

        /* A zeroed head with data at the end (a backup GPT, an md 1.0 superblock). */
        facts_init(&f);
        f.tail_zero = false;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, "cannot identify", "not zeros", NULL);
        disk_facts_done(&f);

        facts_init(&f);
        f.head_zero = false;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, "cannot identify", "not zeros", NULL);
        disk_facts_done(&f);
}

static void test_labelled(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        f.identity = strdup(IDENTITY);
        set_label(&f, IDENTITY);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_LABELLED);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_LABELLED);
        disk_facts_done(&f);
}

static void test_labelled_without_identity(void **state) {
        DiskFacts f;
        char reason[512];

        /* A disk that reports no identity, and a header written for it. */
        facts_init(&f);
        set_label(&f, "");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_LABELLED);
        f.identity = strdup("");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_LABELLED);
        disk_facts_done(&f);
}

static void test_label_of_another_disk(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                f.identity = strdup(IDENTITY);
                set_label(&f, OTHER_IDENTITY);
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, IDENTITY, OTHER_IDENTITY, "another disk", "clone", "kernel or firmware update",
                              "blkdiscard " DISK, NULL);
                disk_facts_done(&f);

                /* The copy on a disk that reports no identity. */
                facts_init(&f);
                set_label(&f, OTHER_IDENTITY);
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, "is none", OTHER_IDENTITY, "another disk", NULL);
                disk_facts_done(&f);

                /* A header without identity on a disk that has one. */
                facts_init(&f);
                f.identity = strdup(IDENTITY);
                set_label(&f, "");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, IDENTITY, "names none", "another disk", NULL);
                disk_facts_done(&f);
        }
}

static void test_unknown_version(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                facts_init(&f);
                f.identity = strdup(IDENTITY);
                f.label_status = LABEL_UNKNOWN_VERSION;
                f.label = (DiskLabel) { .version = 2 };
                f.head_zero = f.tail_zero = false;
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, "version 2", "newer scratchd", "upgrade scratchd", NULL);
                disk_facts_done(&f);
        }
}

static void test_corrupt_label(void **state) {
        DiskFacts f;
        char reason[512];

        facts_init(&f);
        f.identity = strdup(IDENTITY);
        f.label_status = LABEL_CORRUPT;
        f.head_zero = f.tail_zero = false;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, "cannot identify", "a damaged scratchd header", "Expendable=yes", NULL);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_EXPENDABLE);
        assert_reason(reason, "a damaged scratchd header", "destroyed", NULL);
        disk_facts_done(&f);
}

static void test_signature_beats_label(void **state) {
        DiskFacts f;
        char reason[512];

        /* Someone made a file system on our disk after us. */
        facts_init(&f);
        f.identity = strdup(IDENTITY);
        set_label(&f, IDENTITY);
        add(&f.signatures, "ext4");
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_REFUSED);
        assert_reason(reason, "an ext4 filesystem", "did not write", NULL);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_EXPENDABLE);
        assert_reason(reason, "an ext4 filesystem", "destroyed", NULL);
        disk_facts_done(&f);
}

static void test_ours_beats_label_and_data(void **state) {
        DiskFacts f;
        char reason[512];

        /* Our mapping is active: whatever its ends read as. */
        facts_init(&f);
        f.our_mapping = strdup("scratchd-scratch");
        f.head_zero = f.tail_zero = false;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        f.identity = strdup(IDENTITY);
        set_label(&f, OTHER_IDENTITY);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        f.label_status = LABEL_UNKNOWN_VERSION;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        disk_facts_done(&f);
}

/* Shared mode: our data device on the disk, the thin pool on it, job
 * volumes mounted at MountPoint/JOB; no dm-crypt mapping of the volume's
 * own (scratchd-<name>). */
static void pool_facts_init(DiskFacts *f) {
        facts_init(f);
        f->our_data = strdup("scratchd-scratch-data");
        assert_non_null(f->our_data);
        f->our_data_devnum = makedev(253, 0);
        f->our_pool = true;
        add(&f->our_mounts, "/scratch/1001");
        add(&f->our_mounts, "/scratch/1002");
        /* Our header, and ciphertext under it. */
        f->identity = strdup(IDENTITY);
        set_label(f, IDENTITY);
}

static void test_ours_pool(void **state) {
        DiskFacts f;
        char reason[512];

        pool_facts_init(&f);
        assert_null(f.our_mapping);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        assert_int_equal(check(&f, true, reason, sizeof(reason)), SAFETY_OURS);

        /* The pool alone, no job mounted: ours all the same. */
        strv_free(f.our_mounts);
        f.our_mounts = NULL;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);

        /* Whatever its ends read as, or its header says. */
        f.head_zero = f.tail_zero = false;
        set_label(&f, OTHER_IDENTITY);
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        f.label_status = LABEL_UNKNOWN_VERSION;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_OURS);
        disk_facts_done(&f);

        /* Our data device with nothing of ours on it (a wipe stopped between
         * the data device and the pool) is not SAFETY_OURS: the disk is
         * judged by its header, which names it. */
        pool_facts_init(&f);
        f.our_pool = false;
        strv_free(f.our_mounts);
        f.our_mounts = NULL;
        assert_int_equal(check(&f, false, reason, sizeof(reason)), SAFETY_LABELLED);
        disk_facts_done(&f);
}

/* Anything of anyone else's on the disk, or on the pool, still refuses it. */
static void test_ours_pool_with_foreign_use(void **state) {
        for (int e = 0; e <= 1; e++) {
                DiskFacts f;
                char reason[512];

                pool_facts_init(&f);
                add(&f.mounts, "/data (nvme1n1p1)");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "/data (nvme1n1p1)", "mounted", NULL);
                /* Our job volumes' mounts are not named as foreign ones. */
                assert_null(strstr(reason, "/scratch/1001"));
                disk_facts_done(&f);

                /* Someone's LVM on a job volume. */
                pool_facts_init(&f);
                add(&f.holders, "dm-9 (device-mapper vg-lv)");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "dm-9 (device-mapper vg-lv)", NULL);
                disk_facts_done(&f);

                pool_facts_init(&f);
                add(&f.swaps, "/dev/dm-9");
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "swap", NULL);
                disk_facts_done(&f);

                pool_facts_init(&f);
                f.holds_root = true;
                assert_int_equal(check(&f, e, reason, sizeof(reason)), SAFETY_REFUSED);
                assert_reason(reason, DISK, "root filesystem", NULL);
                disk_facts_done(&f);
        }
}

static void test_describe(void **state) {
        char buf[128];

        assert_string_equal(signature_describe("ext4", buf, sizeof(buf)), "an ext4 filesystem");
        assert_ptr_equal(signature_describe("ext4", buf, sizeof(buf)), buf);
        assert_string_equal(signature_describe("btrfs", buf, sizeof(buf)), "a btrfs filesystem");
        assert_string_equal(signature_describe("vfat", buf, sizeof(buf)), "a FAT filesystem");
        assert_string_equal(signature_describe("iso9660", buf, sizeof(buf)), "an ISO 9660 filesystem");
        /* Names without an entry get no guessed article. */
        assert_string_equal(signature_describe("minix", buf, sizeof(buf)), "a 'minix' signature");
        assert_string_equal(signature_describe("", buf, sizeof(buf)), "a '' signature");
        assert_string_equal(signature_describe("LVM2_member", buf, sizeof(buf)), "an LVM physical volume");
        assert_string_equal(signature_describe("gpt", buf, sizeof(buf)), "a GPT partition table");
        assert_string_equal(signature_describe("dos", buf, sizeof(buf)), "an MBR partition table");
        assert_string_equal(signature_describe("crypto_LUKS", buf, sizeof(buf)), "a LUKS header");
        assert_string_equal(signature_describe("zfs_member", buf, sizeof(buf)), "a ZFS pool member label");
        assert_string_equal(signature_describe("linux_raid_member", buf, sizeof(buf)),
                            "an md RAID member superblock");
        assert_string_equal(signature_describe("swap", buf, sizeof(buf)), "a swap signature");

        char small[8];
        signature_describe("crypto_LUKS", small, sizeof(small));
        assert_string_equal(small, "a LUKS ");
}

static void test_describe_xfs_article(void **state) {
        /* "XFS" is read "ex-eff-ess": "an XFS filesystem". */
        char buf[128];
        assert_string_equal(signature_describe("xfs", buf, sizeof(buf)), "an XFS filesystem");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blank),
                cmocka_unit_test(test_signatures_refused),
                cmocka_unit_test(test_signatures_expendable),
                cmocka_unit_test(test_several_signatures),
                cmocka_unit_test(test_small_reason_buffer),
                cmocka_unit_test(test_holds_root),
                cmocka_unit_test(test_swap),
                cmocka_unit_test(test_foreign_mounts),
                cmocka_unit_test(test_foreign_holders),
                cmocka_unit_test(test_ours),
                cmocka_unit_test(test_ours_with_foreign_use),
                cmocka_unit_test(test_in_use_beats_expendable_signatures),
                cmocka_unit_test(test_blank_with_identity),
                cmocka_unit_test(test_random_data),
                cmocka_unit_test(test_both_ends_matter),
                cmocka_unit_test(test_labelled),
                cmocka_unit_test(test_labelled_without_identity),
                cmocka_unit_test(test_label_of_another_disk),
                cmocka_unit_test(test_unknown_version),
                cmocka_unit_test(test_corrupt_label),
                cmocka_unit_test(test_signature_beats_label),
                cmocka_unit_test(test_ours_beats_label_and_data),
                cmocka_unit_test(test_ours_pool),
                cmocka_unit_test(test_ours_pool_with_foreign_use),
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_describe_xfs_article),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
