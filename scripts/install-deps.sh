#!/usr/bin/env bash
# Installs the Debian 12 packages one job needs. Usage: install-deps.sh [PROFILE...]
#
#   run      build and run dane-policyd and dane-policyctl (compiler, CMake, Ninja, libraries,
#            the root trust anchor)
#   test     run + everything the test suite calls: GoogleTest, nsd/ldns (signed zones), unbound,
#            Postfix, clang (fuzzing), openssl, python3, man/groff, systemd-socket-activate
#   package  run + debhelper, lintian, fakeroot, debootstrap (building and installing the .deb)
#   all      every profile
#
# Without a profile: test. Idempotent: when everything is installed it does nothing (no network).
# It runs `apt-get update` before installing, so it works on a fresh image with no apt lists.
# A package's post-install script never starts a system daemon (nsd, unbound and postfix would
# grab ports 53 and 25): unless /usr/sbin/policy-rc.d already exists, the script writes one that
# forbids every start (exit 101) for the duration of the install, and removes it afterwards.
set -euo pipefail

run_packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev
  # libunbound.pc names libevent, hogweed and nettle (Requires.private); pkg-config fails without
  # their .pc files, and libunbound-dev does not depend on them.
  libunbound-dev libevent-dev nettle-dev dns-root-data
  libboost-program-options-dev libboost-dev
  nlohmann-json3-dev zlib1g-dev
  libsystemd-dev
  # libldns: DNS UPDATE + TSIG of `dane-policyctl rollover --publish`
  libldns-dev
  libhiredis-dev # --shared-cache (issue 16): the Redis client, asynchronous API
)
test_packages=(
  libgtest-dev libgmock-dev
  openssl unbound-anchor
  nsd ldnsutils unbound
  # the rollover --publish rig (issue 18): Knot DNS primary and secondary, kdig/knsupdate
  knot knot-dnsutils
  postfix
  clang libclang-rt-14-dev
  # scripts/check-style.sh (CI): clang-format and clang-tidy (with run-clang-tidy)
  clang-format clang-tidy
  python3 procps iproute2 man-db groff-base
  # systemd-socket-activate (the socket-activation test); util-linux: setpriv, unshare
  systemd util-linux
  logrotate # the verdict-log rotation tests (create and copytruncate)
  prometheus # promtool: the metrics tests check the scraped /metrics text and contrib/prometheus/ rules
  redis-server # the shared-cache tests (issue 16): a private redis-server on loopback
)
package_packages=(
  debhelper dpkg-dev fakeroot lintian debootstrap openssl
)

profiles=("$@")
[ ${#profiles[@]} -eq 0 ] && profiles=(test)
packages=("${run_packages[@]}")
for profile in "${profiles[@]}"; do
  case "$profile" in
    run) ;;
    test) packages+=("${test_packages[@]}") ;;
    package) packages+=("${package_packages[@]}") ;;
    all) packages+=("${test_packages[@]}" "${package_packages[@]}") ;;
    *)
      echo "install-deps: unknown profile '$profile' (expected run, test, package or all)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages of profile(s) ${profiles[*]} present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
  exit 2
fi

created_policy=0
cleanup() {
  if [ "$created_policy" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
  fi
}
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# written by dane-policyd scripts/install-deps.sh: no daemon starts during the install\nexit 101\n' \
    >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
echo "install-deps: installing ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
