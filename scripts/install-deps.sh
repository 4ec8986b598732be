#!/usr/bin/env bash
# Installs every Debian package dane-policyd needs to build, run and test.
# Idempotent; never lets a package's post-install script start a system daemon
# (nsd, unbound and postfix would otherwise grab ports 53 and 25).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev openssl
  libunbound-dev libevent-dev unbound-anchor dns-root-data
  libboost-program-options-dev libboost-dev
  nlohmann-json3-dev zlib1g-dev
  libgtest-dev libgmock-dev
  nsd ldnsutils unbound
  postfix
  clang libclang-rt-14-dev
  python3 procps iproute2 man-db groff-base
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all packages present"; exit 0; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
  exit 2
fi

created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
