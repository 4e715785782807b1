/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tuning_decide(): every combination of the inputs (logical and physical
 * block size, disk size, SectorSize=, rotational, BypassWorkqueues=, discard
 * limit, AllowDiscards=, Discard=, AES acceleration, Adiantum in the kernel,
 * Cipher=) checked against tables of what each input must decide; and the
 * reading of /proc/crypto that tells whether AES is accelerated. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratchd/tuning.h"
#include "scratchd/util.h"

#define DISK "/dev/nvme1n1"
#define TIB (UINT64_C(1) << 40)
#define GIB (UINT64_C(1) << 30)
#define KIB (UINT64_C(1) << 10)

/* Each combination describes itself here, printed only when a check fails
 * (printing 100,000 combinations would drown the one that matters). */
static char ctx[512];
#define CHECK(cond)                                                          \
        do {                                                                 \
                if (!(cond)) {                                               \
                        print_error("%s\n  failed: %s\n", ctx, #cond);      \
                        fail();                                              \
                }                                                            \
        } while (0)

/* The sector size decision: expected sector, or 0 for -EINVAL. Auto takes
 * 4096, dm-crypt's largest, where the disk's size and logical block allow;
 * else the physical block where it is a power of two the size is a multiple
 * of; else the logical block. A logical block over 4096 is refused. Sizes:
 * 4 TiB, or 4 TiB + 512 (a multiple of 512 only), or 4 TiB + 2048 (of 512,
 * 1024 and 2048). */
static const struct {
        unsigned logical, physical;
        uint64_t extra;   /* bytes over 4 TiB */
        unsigned config;
        unsigned expected;   /* 0: -EINVAL */
} sector_table[] = {
        /* auto */
        { 512, 512, 0, 0, 4096 },
        { 512, 512, 512, 0, 512 },
        { 512, 1024, 0, 0, 4096 },
        { 512, 1024, 512, 0, 512 },      /* 4 TiB + 512 is no multiple of 1024 */
        { 512, 2048, 2048, 0, 2048 },    /* not of 4096, but of the physical block */
        { 512, 4096, 0, 0, 4096 },
        { 512, 4096, 512, 0, 512 },      /* the disk reads-modifies-writes: nothing else fits */
        { 512, 8192, 0, 0, 4096 },       /* dm-crypt's sectors stop at 4096 */
        { 512, 3000, 2048, 0, 512 },     /* nonsense from the device: the logical block */
        { 4096, 4096, 0, 0, 4096 },
        { 4096, 65536, 0, 0, 4096 },
        { 8192, 8192, 0, 0, 0 },         /* no dm-crypt sector is that large */
        /* configured */
        { 512, 512, 0, 512, 512 },
        { 512, 512, 0, 4096, 4096 },
        { 512, 4096, 0, 512, 512 },      /* smaller than the physical block: the admin's call */
        { 512, 4096, 512, 4096, 0 },     /* the size is no multiple of it */
        { 4096, 4096, 0, 512, 0 },       /* smaller than the logical block */
        { 4096, 4096, 0, 4096, 4096 },
        { 4096, 4096, 512, 512, 0 },
        { 4096, 4096, 512, 4096, 0 },
        { 8192, 8192, 0, 4096, 0 },
};

/* The cipher decision. expected: a Cipher= spelling, or NULL for -EINVAL. */
static const struct {
        CipherChoice config;
        bool probed, accelerated, adiantum;
        const char *expected;
        const char *why;   /* a piece of the status line */
} cipher_table[] = {
        { CIPHER_AES_XTS, true, false, false, "aes-xts-plain64", "cipher: default" },
        { CIPHER_AES_XTS, true, false, true, "aes-xts-plain64", "cipher: default" },
        { CIPHER_AES_XTS, true, true, false, "aes-xts-plain64", "cipher: default" },
        { CIPHER_AES_XTS, true, true, true, "aes-xts-plain64", "cipher: default" },
        { CIPHER_ADIANTUM_XCHACHA12, true, false, false, NULL, NULL },
        { CIPHER_ADIANTUM_XCHACHA12, true, false, true, "xchacha12,aes-adiantum-plain64", "cipher: configured;" },
        { CIPHER_ADIANTUM_XCHACHA12, true, true, false, NULL, NULL },
        { CIPHER_ADIANTUM_XCHACHA12, true, true, true, "xchacha12,aes-adiantum-plain64", "cipher: configured;" },
        { CIPHER_ADIANTUM_XCHACHA20, true, false, false, NULL, NULL },
        { CIPHER_ADIANTUM_XCHACHA20, true, false, true, "xchacha20,aes-adiantum-plain64", "cipher: configured;" },
        { CIPHER_ADIANTUM_XCHACHA20, true, true, false, NULL, NULL },
        { CIPHER_ADIANTUM_XCHACHA20, true, true, true, "xchacha20,aes-adiantum-plain64", "cipher: configured;" },
        { CIPHER_AUTO, true, false, false, "aes-xts-plain64", "no AES instructions (aes-drv) but no Adiantum" },
        { CIPHER_AUTO, true, false, true, "xchacha12,aes-adiantum-plain64", "cipher: Cipher=auto, no AES instructions (aes-drv);" },
        { CIPHER_AUTO, true, true, false, "aes-xts-plain64", "cipher: Cipher=auto, AES instructions (aes-drv);" },
        { CIPHER_AUTO, true, true, true, "aes-xts-plain64", "cipher: Cipher=auto, AES instructions (aes-drv);" },
        /* AF_ALG not allowed: only what /proc/crypto lists is known. An
         * Adiantum not listed is left to dm-crypt, not refused. */
        { CIPHER_AES_XTS, false, false, false, "aes-xts-plain64", "cipher: default" },
        { CIPHER_ADIANTUM_XCHACHA12, false, false, false, "xchacha12,aes-adiantum-plain64",
          "cipher: configured, unchecked (no AF_ALG);" },
        { CIPHER_ADIANTUM_XCHACHA12, false, false, true, "xchacha12,aes-adiantum-plain64", "cipher: configured;" },
        { CIPHER_ADIANTUM_XCHACHA20, false, true, false, "xchacha20,aes-adiantum-plain64",
          "cipher: configured, unchecked (no AF_ALG);" },
        { CIPHER_AUTO, false, false, false, "aes-xts-plain64",
          "cipher: Cipher=auto, no AES instructions (aes-drv) but Adiantum unknown: AF_ALG not allowed;" },
        { CIPHER_AUTO, false, false, true, "xchacha12,aes-adiantum-plain64",
          "cipher: Cipher=auto, no AES instructions (aes-drv);" },
        { CIPHER_AUTO, false, true, false, "aes-xts-plain64", "cipher: Cipher=auto, AES instructions (aes-drv);" },
};

static const Tristate tristates[] = { TRISTATE_AUTO, TRISTATE_YES, TRISTATE_NO };

/* Indexed [rotational][BypassWorkqueues= auto, yes, no]: SSDs skip the
 * kcryptd queues, spinning disks keep them. */
static const bool bypass_expected[2][3] = {
        { true, true, false },
        { false, true, false },
};

/* Indexed [the disk discards][AllowDiscards= auto, yes, no]. */
static const bool allow_discards_expected[2][3] = {
        { false, true, false },
        { true, true, false },
};

/* The wipe-time discard decision on a 4 TiB disk. 32 KiB at a time is 134
 * million requests (too many for auto), 2 GiB at a time is 2048. */
static bool expected_discard_on_wipe(uint64_t discard_max, Tristate mode) {
        switch (mode) {
        case TRISTATE_NO: return false;
        case TRISTATE_YES: return discard_max > 0;
        default: return discard_max >= 2 * GIB;
        }
}

static void test_all_combinations(void **state) {
        static const uint64_t discard_maxes[] = { 0, 32 * KIB, 2 * GIB };
        unsigned n_ok = 0, n_einval = 0, n_total = 0;

        for (size_t s = 0; s < ELEMENTSOF(sector_table); s++)
        for (size_t c = 0; c < ELEMENTSOF(cipher_table); c++)
        for (int rotational = 0; rotational <= 1; rotational++)
        for (size_t bw = 0; bw < ELEMENTSOF(tristates); bw++)
        for (size_t dm = 0; dm < ELEMENTSOF(discard_maxes); dm++)
        for (size_t ad = 0; ad < ELEMENTSOF(tristates); ad++)
        for (size_t dw = 0; dw < ELEMENTSOF(tristates); dw++) {
                DiskFacts f = {
                        .path = (char *) DISK,
                        .size = 4 * TIB + sector_table[s].extra,
                        .logical_sector_size = sector_table[s].logical,
                        .physical_sector_size = sector_table[s].physical,
                        .rotational = rotational,
                        .discard_max_bytes = discard_maxes[dm],
                };
                CryptoFacts cf = {
                        .aes_driver = "aes-drv",
                        .aes_accelerated = cipher_table[c].accelerated,
                        .probed = cipher_table[c].probed,
                        .adiantum_available = cipher_table[c].adiantum,
                };
                ScratchConfig v = {
                        .sector_size = sector_table[s].config,
                        .cipher = cipher_table[c].config,
                        .bypass_workqueues = tristates[bw],
                        .allow_discards = tristates[ad],
                        .discard = tristates[dw],
                };
                CryptTuning t;
                char reason[256] = "";

                n_total++;
                snprintf(ctx, sizeof(ctx),
                         "logical=%u physical=%u size=%llu SectorSize=%u Cipher=%s probed=%d accelerated=%d adiantum=%d "
                         "rotational=%d BypassWorkqueues=%s discard_max=%llu AllowDiscards=%s Discard=%s",
                         f.logical_sector_size, f.physical_sector_size, (unsigned long long) f.size, v.sector_size,
                         cipher_choice_to_string(v.cipher), cf.probed, cf.aes_accelerated, cf.adiantum_available, rotational,
                         tristate_to_string(v.bypass_workqueues), (unsigned long long) f.discard_max_bytes,
                         tristate_to_string(v.allow_discards), tristate_to_string(v.discard));

                memset(&t, 0xA5, sizeof(t));
                CryptTuning untouched = t;

                int r = tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason));

                if (!cipher_table[c].expected || sector_table[s].expected == 0) {
                        CHECK(r == -EINVAL);
                        CHECK(startswith(reason, DISK ": "));
                        CHECK(!strchr(reason, '\n'));
                        if (!cipher_table[c].expected) {
                                /* The cipher is decided first and named. */
                                CHECK(strstr(reason, cipher_choice_to_string(v.cipher)));
                                CHECK(strstr(reason, "Adiantum"));
                        } else {
                                char want[48];
                                if (f.logical_sector_size > 4096)
                                        snprintf(want, sizeof(want), "%u-byte logical blocks", f.logical_sector_size);
                                else
                                        snprintf(want, sizeof(want), "SectorSize=%u does not fit", v.sector_size);
                                CHECK(strstr(reason, want));
                        }
                        /* Nothing half-decided is handed back. */
                        CHECK(memcmp(&t, &untouched, sizeof(t)) == 0);
                        n_einval++;
                        continue;
                }

                CHECK(r == 0);
                CHECK(streq(t.cipher_spec, cipher_table[c].expected));
                /* cipher-mode is what dm-crypt's table says, and what Cipher= takes. */
                char spec[64];
                snprintf(spec, sizeof(spec), "%s-%s", t.cipher, t.mode);
                CHECK(streq(spec, t.cipher_spec));
                CHECK(t.key_size == (startswith(t.cipher_spec, "aes-xts") ? 64u : 32u));
                CHECK(strstr(t.why, cipher_table[c].why));

                CHECK(t.sector_size == sector_table[s].expected);
                /* dm-crypt needs the device to be a whole number of crypto sectors. */
                CHECK(f.size % t.sector_size == 0);
                CHECK(t.sector_size >= f.logical_sector_size);
                CHECK(strstr(t.why, v.sector_size          ? "sectors: configured"
                                    : t.sector_size == 4096 ? "sectors: the largest (physical block "
                                    : t.sector_size == f.physical_sector_size ? "sectors: physical block (size not"
                                                                              : "sectors: logical block (size not"));
                CHECK((strstr(t.why, "reads-modifies-writes") != NULL) ==
                      (t.sector_size < f.physical_sector_size && f.physical_sector_size <= 4096));

                CHECK(t.bypass_workqueues == bypass_expected[rotational][bw]);
                CHECK(strstr(t.why, v.bypass_workqueues != TRISTATE_AUTO ? "workqueues: configured"
                                    : rotational ? "workqueues: rotational disk"
                                                 : "workqueues: non-rotational disk"));
                CHECK(t.allow_discards == allow_discards_expected[f.discard_max_bytes > 0][ad]);
                CHECK(strstr(t.why, v.allow_discards != TRISTATE_AUTO ? "discards: configured"
                                    : f.discard_max_bytes > 0 ? "discards: the disk discards"
                                                              : "discards: the disk cannot discard"));
                CHECK(t.discard_on_wipe == expected_discard_on_wipe(f.discard_max_bytes, v.discard));
                CHECK(!strchr(t.why, '\n'));
                n_ok++;
        }

        /* Both outcomes were exercised, over every combination. */
        size_t rest = 2 * 3 * 3 * 3 * 3;
        assert_int_equal(n_total, ELEMENTSOF(sector_table) * ELEMENTSOF(cipher_table) * rest);
        assert_int_equal(n_ok + n_einval, n_total);
        /* 4 of 23 cipher rows and 6 of 21 sector rows refuse. */
        assert_int_equal(n_ok, (ELEMENTSOF(sector_table) - 6) * (ELEMENTSOF(cipher_table) - 4) * rest);
}

static void test_sector_reason_physical(void **state) {
        DiskFacts f = { .path = (char *) DISK, .size = 4 * TIB, .logical_sector_size = 512, .physical_sector_size = 4096 };
        CryptoFacts cf = {};
        ScratchConfig v = {};
        CryptTuning t;
        char reason[256];

        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), 0);
        assert_non_null(strstr(t.why, "sectors: the largest (physical block 4096);"));
        f.size += 512;
        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), 0);
        assert_int_equal(t.sector_size, 512);
        assert_non_null(strstr(t.why, "sectors: logical block (size not a multiple of 4096 or 4096), below the "
                                      "4096-byte physical block: the disk reads-modifies-writes;"));
        f.size += 1536;
        f.physical_sector_size = 2048;
        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), 0);
        assert_int_equal(t.sector_size, 2048);
        assert_non_null(strstr(t.why, "sectors: physical block (size not a multiple of 4096);"));
        f.size = 4 * TIB;
        f.physical_sector_size = 4096;
        v.sector_size = 512;
        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), 0);
        assert_non_null(strstr(t.why, "sectors: configured, below the 4096-byte physical block: the disk "
                                      "reads-modifies-writes;"));

        f.logical_sector_size = f.physical_sector_size = 8192;
        v.sector_size = 0;
        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), -EINVAL);
        assert_string_equal(reason, DISK ": the disk's 8192-byte logical blocks are larger than dm-crypt's largest "
                                    "sector (4096); it cannot be a scratch disk, take it out of Devices=");
}

static void test_discard_auto_boundary(void **state) {
        static const struct {
                uint64_t size, discard_max;
                bool expected;
        } table[] = {
                /* exactly the limit of requests */
                { (uint64_t) DISCARD_AUTO_MAX_REQUESTS * 1 * 1024 * 1024, 1024 * 1024, true },
                /* one byte more: one request more */
                { (uint64_t) DISCARD_AUTO_MAX_REQUESTS * 1024 * 1024 + 512, 1024 * 1024, false },
                /* one request is enough */
                { 4096, 4 * GIB, true },
                /* rounding up: 2.5 requests are 3 */
                { 5 * GIB / 2, 1 * GIB, true },
                /* a huge disk with a huge limit: no overflow in the arithmetic */
                { UINT64_C(1) << 62, UINT64_C(1) << 62, true },
                { (UINT64_C(1) << 62) + 4096, UINT64_C(1) << 46, false },   /* 65537 requests */
                { (UINT64_C(1) << 62) + 4096, UINT64_C(1) << 47, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                DiskFacts f = {
                        .path = (char *) DISK,
                        .size = table[i].size,
                        .logical_sector_size = 512,
                        .physical_sector_size = 512,
                        .discard_max_bytes = table[i].discard_max,
                };
                CryptoFacts cf = {};
                ScratchConfig v = { .discard = TRISTATE_AUTO };
                CryptTuning t;
                char reason[256];

                print_message("size=%llu discard_max=%llu\n", (unsigned long long) table[i].size,
                              (unsigned long long) table[i].discard_max);
                assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), 0);
                assert_int_equal(t.discard_on_wipe, table[i].expected);
        }
}

static void test_reason_names_device_and_sizes(void **state) {
        DiskFacts f = {
                .path = (char *) "/dev/disk/by-id/nvme-X",
                .size = 4 * TIB,
                .logical_sector_size = 4096,
                .physical_sector_size = 4096,
        };
        CryptoFacts cf = { .probed = true };
        ScratchConfig v = { .sector_size = 512 };
        CryptTuning t;
        char reason[256];

        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), -EINVAL);
        assert_string_equal(reason, "/dev/disk/by-id/nvme-X: SectorSize=512 does not fit a disk with 4096-byte "
                                    "logical sectors and 4398046511104 bytes; use SectorSize=auto");

        v = (ScratchConfig) { .cipher = CIPHER_ADIANTUM_XCHACHA12 };
        assert_int_equal(tuning_decide(&f, &cf, &v, &t, reason, sizeof(reason)), -EINVAL);
        assert_string_equal(reason, "/dev/disk/by-id/nvme-X: Cipher=xchacha12,aes-adiantum-plain64, but the kernel "
                                    "has no Adiantum; load the adiantum module or use Cipher=aes-xts-plain64");
}

/* /proc/crypto as an x86 kernel with AES-NI shows it, trimmed: the internal
 * "__" helpers have the highest priority and must not count. */
static const char proc_crypto_aesni[] =
        "name         : xts(aes)\n"
        "driver       : cryptd(__xts-aes-aesni)\n"
        "module       : kernel\n"
        "priority     : 900\n"
        "internal     : yes\n"
        "type         : skcipher\n"
        "\n"
        "name         : __xts(aes)\n"
        "driver       : __xts-aes-aesni\n"
        "module       : aesni_intel\n"
        "priority     : 401\n"
        "refcnt       : 1\n"
        "selftest     : passed\n"
        "internal     : yes\n"
        "type         : skcipher\n"
        "\n"
        "name         : xts(aes)\n"
        "driver       : xts(ecb(aes-generic))\n"
        "module       : kernel\n"
        "priority     : 100\n"
        "internal     : no\n"
        "type         : skcipher\n"
        "\n"
        "name         : xts(aes)\n"
        "driver       : xts-aes-aesni\n"
        "module       : aesni_intel\n"
        "priority     : 401\n"
        "internal     : no\n"
        "type         : skcipher\n"
        "\n"
        "name         : aes\n"
        "driver       : aes-aesni\n"
        "priority     : 300\n"
        "internal     : no\n"
        "type         : cipher\n"
        "\n";

/* A kernel with only the C implementations, as User-Mode Linux has. */
static const char proc_crypto_generic[] =
        "name         : adiantum(xchacha12,aes)\n"
        "driver       : adiantum(xchacha12-generic,aes-generic,nhpoly1305-generic)\n"
        "module       : adiantum\n"
        "priority     : 100\n"
        "internal     : no\n"
        "type         : skcipher\n"
        "\n"
        "name         : xts(aes)\n"
        "driver       : xts(ecb(aes-generic))\n"
        "module       : xts\n"
        "priority     : 100\n"
        "internal     : no\n"
        "type         : skcipher\n"
        "\n"
        "name         : aes\n"
        "driver       : aes-generic\n"
        "priority     : 100\n"
        "internal     : no\n"
        "type         : cipher\n";   /* the last entry, with no blank line after it */

/* arm64 with the crypto extensions; xts(aes) not instantiated yet, so only
 * the block cipher tells, and aes-fixed-time outranks aes-generic but is C. */
static const char proc_crypto_arm64_no_xts[] =
        "name         : aes\n"
        "driver       : aes-fixed-time\n"
        "priority     : 100\n"
        "type         : cipher\n"
        "\n"
        "name         : aes\n"
        "driver       : aes-ce\n"
        "priority     : 250\n"
        "type         : cipher\n"
        "\n";

static const char proc_crypto_fixed_time[] =
        "name         : aes\n"
        "driver       : aes-generic\n"
        "priority     : 100\n"
        "\n"
        "name         : aes\n"
        "driver       : aes-fixed-time\n"
        "priority     : 101\n"
        "\n";

/* A 32-bit ARM core without the crypto extensions (Cortex-A7): NEON's
 * bit-sliced AES is its best, and Adiantum was made for it. */
static const char proc_crypto_arm_neon[] =
        "name         : xts(aes)\n"
        "driver       : xts-aes-neonbs\n"
        "module       : aes_arm_bs\n"
        "priority     : 250\n"
        "internal     : no\n"
        "\n"
        "name         : xts(aes)\n"
        "driver       : xts(ecb(aes-arm))\n"
        "priority     : 200\n"
        "internal     : no\n"
        "\n"
        "name         : adiantum(xchacha12,aes)\n"
        "driver       : adiantum(xchacha12-neon,aes-arm,nhpoly1305-neon)\n"
        "priority     : 300\n"
        "internal     : no\n";

static void test_proc_crypto(void **state) {
        static const struct {
                const char *text;
                bool adiantum_instantiated;
                const char *driver;
                bool accelerated, adiantum;
        } table[] = {
                { proc_crypto_aesni, false, "xts-aes-aesni", true, false },
                { proc_crypto_aesni, true, "xts-aes-aesni", true, true },
                { proc_crypto_generic, false, "xts(ecb(aes-generic))", false, true },
                { proc_crypto_arm64_no_xts, false, "aes-ce", true, false },
                { proc_crypto_fixed_time, false, "aes-fixed-time", false, false },
                { proc_crypto_arm_neon, false, "xts-aes-neonbs", false, true },
                { "", false, "", false, false },
                { "garbage without structure\n\n:::\nname :\n", false, "", false, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                CryptoFacts f;
                print_message("case %zu\n", i);
                crypto_facts_from_text(table[i].text, table[i].adiantum_instantiated, &f);
                assert_string_equal(f.aes_driver, table[i].driver);
                assert_int_equal(f.aes_accelerated, table[i].accelerated);
                assert_int_equal(f.adiantum_available, table[i].adiantum);
        }
}

static void test_best_driver(void **state) {
        char d[64];

        assert_int_equal(crypto_best_driver(proc_crypto_aesni, "xts(aes)", d, sizeof(d)), 1);
        assert_string_equal(d, "xts-aes-aesni");
        /* Names match whole: "aes" is not "xts(aes)", "__xts(aes)" is neither. */
        assert_int_equal(crypto_best_driver(proc_crypto_aesni, "aes", d, sizeof(d)), 1);
        assert_string_equal(d, "aes-aesni");
        assert_int_equal(crypto_best_driver(proc_crypto_aesni, "xts", d, sizeof(d)), 0);
        assert_string_equal(d, "");
        assert_int_equal(crypto_best_driver(proc_crypto_generic, "adiantum(xchacha12,aes)", d, sizeof(d)), 1);
        assert_string_equal(d, "adiantum(xchacha12-generic,aes-generic,nhpoly1305-generic)");
        /* A driver too long for the buffer is cut, never overrun. */
        char small[8];
        assert_int_equal(crypto_best_driver(proc_crypto_aesni, "xts(aes)", small, sizeof(small)), 1);
        assert_string_equal(small, "xts-aes");

        assert_false(crypto_driver_accelerated(""));
        assert_false(crypto_driver_accelerated("aes-generic"));
        assert_false(crypto_driver_accelerated("xts(ecb(aes-fixed-time))"));
        assert_true(crypto_driver_accelerated("xts-aes-vaes-avx512"));
        assert_true(crypto_driver_accelerated("xts-aes-aesni"));
        assert_true(crypto_driver_accelerated("xts-aes-ce"));        /* ARMv8 crypto extensions */
        assert_true(crypto_driver_accelerated("xts-aes-s390"));
        /* ARM cores without the crypto extensions: Adiantum's target. */
        assert_false(crypto_driver_accelerated("xts-aes-neonbs"));
        assert_false(crypto_driver_accelerated("xts-aes-neon"));
        assert_false(crypto_driver_accelerated("xts(ecb(aes-arm64))"));
        assert_false(crypto_driver_accelerated("xts(ecb(aes-arm))"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_combinations),
                cmocka_unit_test(test_sector_reason_physical),
                cmocka_unit_test(test_discard_auto_boundary),
                cmocka_unit_test(test_reason_names_device_and_sizes),
                cmocka_unit_test(test_proc_crypto),
                cmocka_unit_test(test_best_driver),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
