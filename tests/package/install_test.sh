#!/usr/bin/env bash
# Package test: builds the .deb (scripts/build-deb.sh: dpkg-buildpackage + lintian without errors) and
# installs it on a clean Debian 12 root, offline, as a new machine would.
#
# Preparation (the only network use): debootstrap bookworm minbase plus the package's runtime
# dependencies (read from the built .deb's Depends), cached as a tarball outside the clone
# (scripts/debian-root.sh cache). The test itself: a private copy of that root, no apt lists, and
#   apt-get install ./dane-policyd_*.deb      in a network namespace without a route out and with
#                                             no apt lists: the Depends are satisfiable offline
# then checks
#   - dane-policyd --version names the package's upstream version
#   - dane-policyd --check-config accepts the installed /etc/dane-policyd/dane-policyd.conf
#   - dane-policyctl tlsa on contrib/example/mail.example.com.pem prints the "3 1 1" record that
#     openssl computes on the host
#   - the dane-policyd system user and group exist (no home directory, no login shell)
#   - /etc/dane-policyd/dane-policyd.conf is a registered conffile; units, logrotate snippet and man
#     pages are where they belong; the binaries are stripped and a -dbgsym package holds the symbols
#   - no daemon was started: with a policy-rc.d that exits 101 and a systemd-looking root (a stub
#     systemctl that records its calls), the maintainer scripts never ask systemctl to start
#     anything and no dane-policyd process runs; as a control, the same install without policy-rc.d
#     does ask for the start (so the check can fail)
#   - purge removes the package's files and leaves the user
#
# Needs root, debootstrap and network access to the Debian mirror for the preparation (the first
# run; later runs reuse the cached root). Outside CI it skips (exit 0 with SKIP) when it cannot
# run; in CI (CI=true) that is a failure.
# Environment: DANE_DEB_DIR (use the .deb files already there instead of building), KEEP_ROOT=1
# (leave the unpacked root for inspection), DANE_ROOT_CACHE (see scripts/debian-root.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
start=$(date +%s)

skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: package test cannot run: $*" >&2
    exit 1
  fi
  echo "SKIP: package test: $*"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
failures=0

[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root (debootstrap, chroot)"
command -v unshare >/dev/null || skip_or_fail "unshare (util-linux) is missing"

# --- build and lint ---------------------------------------------------------------------------
if [ -n "${DANE_DEB_DIR:-}" ]; then
  debdir=$(cd "$DANE_DEB_DIR" && pwd)
else
  debdir=$src/build-deb
  bash scripts/build-deb.sh "$debdir"
fi
command -v debootstrap >/dev/null || skip_or_fail "debootstrap is missing (scripts/install-deps.sh package)"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
deb=$debdir/dane-policyd_${version}_${arch}.deb
dbgsym=$(ls "$debdir"/dane-policyd-dbgsym_"${version}"_"${arch}".*deb 2>/dev/null | head -n 1 || true)
[ -f "$deb" ] || { echo "FAIL: $deb was not built" >&2; exit 1; }
[ -n "$dbgsym" ] || fail "no dane-policyd-dbgsym package next to $deb"
build_done=$(date +%s)

# --- preparation: a cached root with the runtime dependencies (network) ------------------------
depends=$(dpkg-deb -f "$deb" Pre-Depends Depends | sed -E 's/^[A-Za-z-]+: //' | tr ',' '\n' |
  sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u | paste -sd, -)
echo "package test: runtime dependencies: $depends"
tarball=$(bash scripts/debian-root.sh cache "$depends") || skip_or_fail "could not prepare the Debian root"
prep_done=$(date +%s)

# --- the test proper: offline from here on ------------------------------------------------------
root=$(mktemp -d /var/tmp/dane-policyd-pkgtest.XXXXXX)
rmdir "$root"
cleanup() {
  if [ "${KEEP_ROOT:-}" = 1 ]; then
    echo "package test: root kept in $root"
  else
    bash "$src/scripts/debian-root.sh" remove "$root" || true
  fi
}
trap cleanup EXIT
bash scripts/debian-root.sh unpack "$tarball" "$root"
# Every command of the test runs without a network (a namespace with only loopback).
in_root() { bash "$src/scripts/debian-root.sh" exec --offline "$root" -- "$@"; }

mkdir -p "$root/tmp/debs" "$root/run/systemd/system"
cp "$deb" "$root/tmp/debs/"
chmod 755 "$root/tmp/debs"
cp contrib/example/mail.example.com.pem "$root/root/"
# A systemd-looking root: /run/systemd/system exists and systemctl records every call; is-enabled
# says "enabled" and is-active "inactive", so deb-systemd-invoke would start the unit unless
# policy-rc.d forbids it.
cat >"$root/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>/root/systemctl.calls
for a in "$@"; do
  case "$a" in
    is-enabled) echo enabled; exit 0 ;;
    is-active) exit 3 ;;
  esac
done
exit 0
EOF
chmod 755 "$root/usr/bin/systemctl"

echo "=== apt-get install ./$(basename "$deb") offline (policy-rc.d exits 101) ==="
# (apt-get's --no-download refuses local .deb files, "Pathname to install is not absolute"; the
# network namespace and the absence of apt lists keep apt from fetching anything instead.)
if ! in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/debs/$(basename "$deb")"; then
  echo "FAIL: the package does not install offline on a clean Debian 12 root (Depends: $depends)" >&2
  exit 1
fi

out=$(in_root "dane-policyd --version") || fail "dane-policyd --version exited $?"
[ "$out" = "dane-policyd ${version%-*}" ] || fail "dane-policyd --version printed '$out', expected 'dane-policyd ${version%-*}'"

if out=$(in_root "dane-policyd --check-config 2>&1"); then
  echo "check-config: $out"
else
  fail "dane-policyd --check-config on the installed configuration failed: $out"
fi

out=$(in_root "stat -c '%U:%G %a' /var/log/dane-policyd") || fail "no /var/log/dane-policyd after the install"
[ "$out" = "dane-policyd:adm 2750" ] || fail "/var/log/dane-policyd is '$out', expected 'dane-policyd:adm 2750' (the daemon reopens its log there as dane-policyd)"

expected=$(openssl x509 -in contrib/example/mail.example.com.pem -noout -pubkey |
  openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
out=$(in_root "dane-policyctl tlsa /root/mail.example.com.pem") || fail "dane-policyctl tlsa exited $?"
[ "$out" = "3 1 1 $expected" ] || fail "dane-policyctl tlsa printed '$out', expected '3 1 1 $expected'"

out=$(in_root "getent passwd dane-policyd") || fail "no user dane-policyd after the install"
IFS=: read -r _ _ uid _ _ home shell <<<"$out"
if [ -n "${uid:-}" ]; then
  [ "$uid" -lt 1000 ] || fail "dane-policyd has uid $uid, not a system uid"
  [ "$home" = /nonexistent ] && [ ! -e "$root/nonexistent" ] || fail "dane-policyd's home is '$home' (expected /nonexistent, not created)"
  case "$shell" in */nologin | */false) ;; *) fail "dane-policyd has login shell '$shell'" ;; esac
fi
in_root "getent group dane-policyd >/dev/null" || fail "no group dane-policyd after the install"

conffiles=$(in_root "dpkg-query -W -f='\${Conffiles}' dane-policyd")
grep -q '^ /etc/dane-policyd/dane-policyd.conf [0-9a-f]\{32\}$' <<<"$conffiles" ||
  fail "/etc/dane-policyd/dane-policyd.conf is not a registered conffile (Conffiles: $conffiles)"
cmp -s contrib/dane-policyd.conf.example "$root/etc/dane-policyd/dane-policyd.conf" ||
  fail "/etc/dane-policyd/dane-policyd.conf differs from contrib/dane-policyd.conf.example"

listing=$(in_root "dpkg -L dane-policyd")
for f in /usr/sbin/dane-policyd /usr/bin/dane-policyctl /etc/logrotate.d/dane-policyd \
  /lib/systemd/system/dane-policyd.service /usr/share/man/man8/dane-policyd.8.gz \
  /usr/share/man/man5/dane-policyd.conf.5.gz /usr/share/man/man1/dane-policyctl.1.gz \
  /usr/share/doc/dane-policyd/copyright; do
  grep -qx "$f" <<<"$listing" || fail "the package does not install $f"
done
if [ -f contrib/systemd/dane-policyd.socket ]; then
  grep -qx /lib/systemd/system/dane-policyd.socket <<<"$listing" || fail "the package does not install dane-policyd.socket"
fi
grep -qE '^/usr/(local|lib/systemd)' <<<"$listing" && fail "files outside Debian's paths: $(grep -E '^/usr/(local|lib/systemd)' <<<"$listing")"

for bin in usr/sbin/dane-policyd usr/bin/dane-policyctl; do
  if readelf -S "$root/$bin" | grep -qE '\.(debug_info|symtab)\b'; then
    fail "/$bin is not stripped ($(du -h "$root/$bin" | cut -f1))"
  else
    echo "stripped: /$bin ($(du -h "$root/$bin" | cut -f1))"
  fi
done
if [ -n "$dbgsym" ]; then
  dbg_files=$(dpkg-deb -c "$dbgsym" | grep -c '/usr/lib/debug/.build-id/.*\.debug$' || true)
  [ "$dbg_files" -ge 2 ] || fail "$(basename "$dbgsym") holds $dbg_files debug files, expected one per binary"
fi

calls=$(cat "$root/root/systemctl.calls" 2>/dev/null || true)
echo "systemctl calls during the install: ${calls:-none}"
grep -qE '(^| )(start|restart)( |$)' <<<"$calls" && fail "the maintainer scripts started a unit despite policy-rc.d: $calls"
in_root "! pgrep -a dane-policyd" || fail "a dane-policyd process runs after the install"

echo "=== control: the same install without policy-rc.d asks systemctl to start the unit ==="
rm -f "$root/usr/sbin/policy-rc.d" "$root/root/systemctl.calls"
in_root "dpkg --purge dane-policyd >/dev/null && dpkg -i /tmp/debs/$(basename "$deb") >/dev/null" ||
  fail "reinstalling with dpkg -i failed"
calls=$(cat "$root/root/systemctl.calls" 2>/dev/null || true)
grep -qE ' start .*dane-policyd\.(service|socket)' <<<"$calls" ||
  fail "without policy-rc.d the postinst did not start dane-policyd.service (calls: ${calls:-none}); the check above proves nothing"

echo "=== purge ==="
in_root "dpkg --purge dane-policyd >/dev/null" || fail "dpkg --purge failed"
for f in /usr/sbin/dane-policyd /etc/dane-policyd/dane-policyd.conf /etc/logrotate.d/dane-policyd; do
  [ ! -e "$root$f" ] || fail "$f is still there after purge"
done
in_root "getent passwd dane-policyd >/dev/null" || fail "purge removed the dane-policyd user"

end=$(date +%s)
echo "package test: build+lint $((build_done - start)) s, root preparation $((prep_done - build_done)) s," \
  "install and checks $((end - prep_done)) s, total $((end - start)) s"
if [ "$failures" -gt 0 ]; then
  echo "package test: $failures check(s) FAILED" >&2
  exit 1
fi
echo "package test: PASS"
