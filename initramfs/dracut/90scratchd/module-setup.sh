#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut module: scratchd setup before the switch to the real root, so the
# scratch disk is encrypted before anything on it can write in the clear.

check() {
        require_binaries scratchd || return 1
        return 255   # only when asked for, or when scratchd is installed (hostonly)
}

depends() {
        echo dm
}

installkernel() {
        instmods dm_crypt dm_mod xts ecb cbc aes_generic sha512_generic algif_skcipher encrypted_keys
        hostonly='' instmods aesni_intel aes_ce_blk
}

install() {
        inst_multiple scratchd mkfs.xfs mkfs.ext4
        inst_hook pre-pivot 50 "$moddir/scratchd-setup.sh"
}
