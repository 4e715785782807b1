# SPDX-License-Identifier: GPL-2.0-or-later
# Host-side helpers for tests that boot a Debian 12 node image in User-Mode
# Linux with systemd as PID 1 (docs/testing.md, "System, a booted node
# image"). Sourced by tests/system/test-*.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"   # skip; the image gets a copy

image_require() {
        [ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot)"
        for t in linux.uml debootstrap dpkg-buildpackage chroot; do
                command -v "$t" >/dev/null || skip "$t not found (tools/install-deps)"
        done
        UML_MODULES=$(ls -d /usr/lib/uml/modules/*/ 2>/dev/null | head -n1)
        [ -n "$UML_MODULES" ] || skip "no UML modules (apt-get install user-mode-linux)"
        UML_MODULES=${UML_MODULES%/}
}

# The mirror for the image: the first Debian mirror of bookworm main in this
# machine's own apt sources, in apt's order (sources.list, then
# sources.list.d by name; one-line .list entries and deb822 .sources
# paragraphs). A site with a local mirror, or no way out but through it,
# builds the image from where its apt already goes.
image_mirror() {
        local files=() f
        [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
        for f in /etc/apt/sources.list.d/*; do
                case $f in *.list|*.sources) [ -f "$f" ] && files+=("$f") ;; esac
        done
        [ ${#files[@]} -gt 0 ] || return 1
        awk '
        function has(list, word) { return (" " list " ") ~ (" " word " ") }
        function flush() {   # one deb822 paragraph
                if (has(f["types"], "deb") && tolower(f["enabled"]) != "no" && has(f["suites"], "bookworm") \
                    && has(f["components"], "main") && f["uris"] != "") { split(f["uris"], u, " "); print u[1]; done = 1; exit }
                delete f; key = ""
        }
        FNR == 1 { flush() }
        FILENAME ~ /\.sources$/ {
                if ($0 ~ /^#/) next
                if ($0 ~ /^[ \t]*$/) { flush(); next }
                if ($0 ~ /^[ \t]/ && key != "") { f[key] = f[key] " " $0; next }   # a continuation line
                key = tolower($0); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val); f[key] = val
                next
        }
        {       # one-line format: deb [OPTIONS] URI SUITE COMPONENT...
                sub(/#.*/, "")
                if ($1 != "deb") next
                line = $0; sub(/^[ \t]*deb[ \t]+/, "", line); sub(/^\[[^]]*\][ \t]*/, "", line)
                n = split(line, w, /[ \t]+/)
                if (w[2] != "bookworm") next
                for (i = 3; i <= n; i++) if (w[i] == "main") { print w[1]; done = 1; exit }
        }
        END { if (!done) flush() }' "${files[@]}" | head -n1 | grep .
}

# The base image: debootstrap of bookworm with systemd, udev, Slurm and munge,
# cached between runs (about 50 s and 390 MB to make).
IMAGE_PACKAGES=systemd,systemd-sysv,udev,kmod,dbus,util-linux,procps,e2fsprogs,xfsprogs,dmsetup,cryptsetup-bin,libcryptsetup12,libinih1,libjson-c5,slurm-wlm,munge,python3,initramfs-tools,busybox
image_base() {
        local cache=${SCRATCHD_IMAGE_CACHE:-/var/cache/scratchd-tests}
        local key
        key=$(echo "$IMAGE_PACKAGES" | sha256sum | cut -c1-12)
        IMAGE_BASE=$cache/rootfs-bookworm-$key
        [ -f "$IMAGE_BASE/.complete" ] && return 0
        local mirror
        mirror=$(image_mirror) || { echo "not ok - no Debian mirror of bookworm main in /etc/apt/sources.list or sources.list.d (add one: deb URI bookworm main)"; exit 1; }
        mkdir -p "$cache"
        rm -rf "$IMAGE_BASE.tmp"
        echo "# making the base image (debootstrap from $mirror, about a minute; cached in $cache)"
        debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$IMAGE_BASE.tmp" \
                "$mirror" > "$cache/debootstrap.log" 2>&1 \
                || { tail -n 20 "$cache/debootstrap.log"; echo "not ok - debootstrap failed"; exit 1; }
        touch "$IMAGE_BASE.tmp/.complete"
        mv "$IMAGE_BASE.tmp" "$IMAGE_BASE"
}

# Builds scratchd's .deb from the working tree (uncommitted changes included),
# once per tree: the node-image tests of a run share it (each build is a
# compile and the unit tests), keyed by a hash of the tree as tar packs it
# (contents, names and times), so that any change builds anew.
image_build_deb() {  # image_build_deb SOURCE-ROOT WORKDIR -> $DEB
        local src=$1 work=$2 cache=${SCRATCHD_IMAGE_CACHE:-/var/cache/scratchd-tests} key
        mkdir -p "$work/src" "$cache"
        tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf "$work/src.tar" .
        key=$(sha256sum < "$work/src.tar" | cut -c1-16)
        DEB=$(ls "$cache/deb-$key"/scratchd_*.deb 2>/dev/null | head -n1)
        if [ -n "$DEB" ]; then echo "# the .deb of this tree, built by an earlier test: $DEB"; return 0; fi
        tar -C "$work/src" -xf "$work/src.tar"
        (cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/deb.log" 2>&1 \
                || { tail -n 20 "$work/deb.log"; echo "not ok - dpkg-buildpackage failed"; exit 1; }
        # Old trees' packages go after a day (not at once: other worktrees on
        # this machine may be using theirs); this one lands whole or not at all.
        find "$cache" -maxdepth 1 -name 'deb-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null
        mkdir -p "$cache/deb-$key.$$"
        cp "$work"/scratchd_*.deb "$cache/deb-$key.$$/" && mv -T "$cache/deb-$key.$$" "$cache/deb-$key" 2>/dev/null \
                || rm -rf "$cache/deb-$key.$$"
        DEB=$(ls "$work"/scratchd_*.deb)
}

# A private copy of the base image with the .deb installed and the test's
# tweaks: UML's modules, by-id links for ubd disks, no gettys.
image_make() {  # image_make WORKDIR -> $ROOTFS
        ROOTFS=$1/rootfs
        cp -a "$IMAGE_BASE" "$ROOTFS"
        cp "$DEB" "$ROOTFS/tmp/scratchd.deb"
        chroot "$ROOTFS" dpkg -i /tmp/scratchd.deb > "$1/dpkg.log" 2>&1 \
                || { tail -n 20 "$1/dpkg.log"; echo "not ok - dpkg -i scratchd.deb failed in the image"; exit 1; }
        # Kept for the tests that upgrade the package on the running node.
        cp "$DEB" "$ROOTFS/root/scratchd.deb"
        mkdir -p "$ROOTFS/usr/lib/modules"
        cp -a "$UML_MODULES" "$ROOTFS/usr/lib/modules/"
        # udev makes no by-id links for ubd disks; this one uses their serial.
        cat > "$ROOTFS/etc/udev/rules.d/60-ubd-by-id.rules" <<'RULE'
KERNEL=="ubd[a-z]", ENV{DEVTYPE}=="disk", ATTR{serial}=="?*", ATTR{serial}!="(null)", SYMLINK+="disk/by-id/ubd-$attr{serial}"
RULE
        for u in getty@tty1.service serial-getty@ttyS0.service console-getty.service systemd-timesyncd.service \
                 apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
                ln -sf /dev/null "$ROOTFS/etc/systemd/system/$u"
        done
        # Loopback only, and with an address besides 127.0.0.1: glibc's
        # AI_ADDRCONFIG (Slurm's getaddrinfo) ignores 127.0.0.1 itself.
        cat > "$ROOTFS/etc/systemd/system/loopback.service" <<'UNIT'
[Unit]
Description=Loopback for the test node
DefaultDependencies=no
Before=network-pre.target munge.service slurmctld.service slurmd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/busybox ip link set lo up
ExecStart=-/bin/busybox ip addr add 127.0.1.1/8 dev lo
[Install]
WantedBy=sysinit.target
UNIT
        mkdir -p "$ROOTFS/etc/systemd/system/sysinit.target.wants"
        ln -sf /etc/systemd/system/loopback.service "$ROOTFS/etc/systemd/system/sysinit.target.wants/loopback.service"
        echo node1 > "$ROOTFS/etc/hostname"
        printf '127.0.0.1 localhost\n127.0.1.1 node1\n' > "$ROOTFS/etc/hosts"
        : > "$ROOTFS/etc/fstab"
        mkdir -p "$ROOTFS/results"
}

# Installs GUEST-SCRIPT as a oneshot unit that runs once multi-user is up,
# writes TAP to /results/result and powers the node off. At each boot: a
# test that reboots the node on purpose touches /run/node-test-reboot first
# (tmpfs: gone at the next boot), so that its unit's end does not turn the
# reboot into a poweroff.
image_add_test_unit() {  # image_add_test_unit GUEST-SCRIPT
        install -m 0755 "$1" "$ROOTFS/usr/local/sbin/node-test"
        install -D -m 0644 "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$ROOTFS/usr/local/lib/scratchd-tests/lib.sh"
        cat > "$ROOTFS/etc/systemd/system/node-test.service" <<'UNIT'
[Unit]
Description=scratchd node image test
After=multi-user.target scratchd.service
[Service]
Type=oneshot
StandardOutput=append:/results/guest.log
StandardError=append:/results/guest.log
ExecStart=/usr/local/sbin/node-test
ExecStopPost=/bin/sh -c 'test -e /run/node-test-reboot || exec /bin/systemctl poweroff --no-block'
[Install]
WantedBy=multi-user.target
UNIT
        ln -sf /etc/systemd/system/node-test.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/node-test.service"
}

# Boots the image: image_boot WORKDIR DISK[,,SERIAL]...
image_boot() {
        local work=$1; shift
        local ubd=() i=0
        for d in "$@"; do ubd+=("ubd$i=$d"); i=$((i + 1)); done
        local start end
        start=$(date +%s)
        timeout "${IMAGE_TIMEOUT:-400}" linux.uml mem=1536M "${ubd[@]}" root=/dev/root rootfstype=hostfs \
                rootflags="$ROOTFS" rw init=/lib/systemd/systemd pty.legacy_count=0 con=null con0=fd:0,fd:1 \
                systemd.show_status=0 quiet ${IMAGE_CMDLINE:-} </dev/null > "$work/console.log" 2>&1
        BOOT_RC=$?
        end=$(date +%s)
        echo "# the node ran for $((end - start)) s (linux.uml exit $BOOT_RC)"
}

# Prints the guest's TAP and decides.
image_result() {
        local work=$1
        if [ ! -s "$ROOTFS/results/result" ] || ! grep -q '^done$' "$ROOTFS/results/result"; then
                cat "$ROOTFS/results/result" 2>/dev/null
                echo "not ok - the node test did not finish; console and guest log tails:"
                tail -n 30 "$work/console.log" | sed 's/^/# console: /'
                tail -n 30 "$ROOTFS/results/guest.log" 2>/dev/null | sed 's/^/# guest: /'
                return 1
        fi
        grep -v '^done$' "$ROOTFS/results/result"
        if grep -q '^not ok' "$ROOTFS/results/result"; then
                tail -n 40 "$ROOTFS/results/guest.log" 2>/dev/null | sed 's/^/# guest: /'
                return 1
        fi
        return 0
}

# A one-node Slurm on loopback (slurmctld and slurmd on node1, munge), the
# users alice (2001) and bob (2002), and the lines of
# contrib/slurm/slurm.conf.snippet as the package ships them, comments left
# out: image_slurm NODE-LINE [SLURM.CONF-LINE...]. cgroup v1, as the kernel
# command line in the tests' IMAGE_CMDLINE asks. SLURM_PROCTRACK= picks the
# ProctrackType (proctrack/linuxproc unless set); SLURMD_TIMEOUT=, SlurmdTimeout (60).
image_slurm() {
        local node=$1; shift
        chroot "$ROOTFS" useradd -m -u 2001 -s /bin/bash alice
        chroot "$ROOTFS" useradd -m -u 2002 -s /bin/bash bob
        mkdir -p "$ROOTFS/var/spool/slurmd" "$ROOTFS/var/spool/slurmctld"
        {
                cat <<SLURM
ClusterName=scratchtest
SlurmctldHost=node1(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=${SLURM_PROCTRACK:-proctrack/linuxproc}
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
ReturnToService=2
SlurmdTimeout=${SLURMD_TIMEOUT:-60}
InactiveLimit=0
KillWait=5
SLURM
                local line
                for line in "$@"; do echo "$line"; done
                echo "$node"
                echo "PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP"
                # What the package tells admins to add, as shipped.
                grep -v '^#' "$ROOTFS/usr/share/doc/scratchd/slurm.conf.snippet" | grep .
        } > "$ROOTFS/etc/slurm/slurm.conf"
        echo 'CgroupPlugin=cgroup/v1' > "$ROOTFS/etc/slurm/cgroup.conf"
}

# All of the above for one test: image_setup GUEST-SCRIPT -> $WORK, $ROOTFS.
# The run's directory goes at exit (kept with SCRATCHD_KEEP=1).
image_setup() {
        image_require
        WORK=$(mktemp -d /var/tmp/scratchd-image.XXXXXX)
        trap '[ -n "${SCRATCHD_KEEP:-}" ] || rm -rf "$WORK"' EXIT
        # The node-image tests run side by side: one makes the base image and
        # the .deb while the others wait, then find them made.
        local cache=${SCRATCHD_IMAGE_CACHE:-/var/cache/scratchd-tests} lock
        mkdir -p "$cache"
        exec {lock}> "$cache/.lock" && flock "$lock"
        image_base
        image_build_deb "$(dirname "${BASH_SOURCE[0]}")/../.." "$WORK"
        exec {lock}>&-
        image_make "$WORK"
        image_add_test_unit "$1"
}
