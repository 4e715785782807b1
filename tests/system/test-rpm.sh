#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The EL9 package: rpmbuild -bb of rpm/scratchd.spec from this tree succeeds
# (with Debian's rpm: --nodeps, since its database knows none of EL9's
# packages), rpmlint finds no error in the package, and it has what it
# must: the binaries and units, the dracut module with its opt-in snippet,
# and scriptlets that restart the daemon after an upgrade.
set -u
root=$(realpath "$(dirname "$(realpath "$0")")/../..")
for t in rpmbuild rpmlint rpm; do
        if ! command -v $t > /dev/null; then
                [ -n "${CI:-}" ] && { echo "not ok 1 - $t not found (tools/install-deps installs rpm and rpmlint)"; exit 1; }
                echo "1..0 # SKIP $t not found (tools/install-deps installs rpm and rpmlint)"; exit 0
        fi
done
version=$(sed -n 's/^Version: *//p' "$root/rpm/scratchd.spec")
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES"
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
# The tree as git has it (committed or not, less what it ignores).
(cd "$root" && git ls-files -z --cached --others --exclude-standard) \
        | (cd "$root" && tar --null -T - --transform "s,^,scratchd-$version/," -czf "$top/SOURCES/scratchd-$version.tar.gz")
if rpmbuild -bb --nodeps --define "_topdir $top" "$root/rpm/scratchd.spec" > "$top/build.log" 2>&1; then
        ok "rpmbuild -bb rpm/scratchd.spec"
else
        not_ok "rpmbuild -bb rpm/scratchd.spec:"; tail -n 25 "$top/build.log" | sed 's/^/#   /'
        echo "1..$n"; exit 1
fi
rpmfile=$(ls "$top"/RPMS/*/scratchd-"$version"-*.rpm | grep -v debug | head -n 1)
# rpm/scratchd.rpmlintrc filters what is another distribution's policy (it says which).
lint=$(rpmlint -r "$root/rpm/scratchd.rpmlintrc" "$rpmfile" 2>&1)
summary=$(tail -n 1 <<<"$lint")
echo "# rpmlint: $summary"
grep -E ': (E|W): ' <<<"$lint" | sed 's/^/#   /'
if grep -Eq '(^| )0 errors' <<<"$summary"; then ok "rpmlint: no errors"; else not_ok "rpmlint: errors"; fi
files=$(rpm -qpl "$rpmfile" 2>/dev/null)
for f in /usr/sbin/scratchd /usr/bin/scratchctl /usr/libexec/scratchd/scratchd-holders \
         /usr/lib/systemd/system/scratchd.service /usr/lib/systemd/system/scratchd-holders.socket \
         /usr/lib/dracut/modules.d/90scratchd/module-setup.sh /usr/share/scratchd/dracut/90-scratchd.conf \
         /etc/scratchd/scratchd.conf /usr/share/scratchd/prometheus/scratchd-alerts.yml; do
        if grep -qx "$f" <<<"$files"; then ok "the package has $f"; else not_ok "the package lacks $f"; fi
done
if ! grep -q initramfs-tools <<<"$files"; then ok "... and no initramfs-tools hooks (Debian's)"; else not_ok "initramfs-tools files in the RPM"; fi
scripts=$(rpm -qp --scripts "$rpmfile" 2>/dev/null)
if grep -A3 '^postuninstall' <<<"$scripts" | grep -q 'try-restart.*scratchd.service'; then
        ok "after an upgrade (postun), the daemon is restarted"
else
        not_ok "postun does not restart the daemon:"; sed 's/^/#   /' <<<"$scripts"
fi
if grep -q 'add_dracutmodules+=" scratchd "' "$root/initramfs/dracut/90-scratchd.conf"; then
        ok "the dracut snippet asks for the module (opt-in: not installed in /etc)"
else
        not_ok "the dracut snippet does not add the module"
fi
if ! grep -qx '/etc/dracut.conf.d/.*' <<<"$files"; then ok "... and the package puts nothing in /etc/dracut.conf.d"; else not_ok "dracut enabled by the package"; fi
echo "1..$n"
exit $fail
