#!/usr/bin/env bash
# A fresh minimal Debian 12 root to try things as a new machine would (the package test,
# scripts/try-fresh-root.sh). Needs root, debootstrap, unshare (util-linux).
#
#   debian-root.sh cache [PKG,PKG...]      debootstraps bookworm (variant minbase, plus the given
#                                          packages) once and keeps it as a tarball in $DANE_ROOT_CACHE
#                                          (default /var/cache/dane-policyd-ci); prints the tarball's
#                                          path. The only step that uses the network.
#   debian-root.sh unpack TARBALL DIR [--no-policy-rc]
#                                          a private copy in DIR (must not exist) with this machine's
#                                          resolv.conf, its Debian apt sources, /etc/hosts and, unless
#                                          --no-policy-rc, a /usr/sbin/policy-rc.d that exits 101
#   debian-root.sh exec [--offline] DIR [NAME=VALUE...] -- COMMAND
#                                          runs `bash -lc COMMAND` in DIR as root, in new PID and mount
#                                          namespaces (fresh /proc, /dev and /sys bound in), with a clean
#                                          environment (plus the NAME=VALUE pairs) and stdin from
#                                          /dev/null; every process it leaves ends with it. --offline: also
#                                          a new network namespace with only loopback (no route out)
#   debian-root.sh remove DIR              deletes DIR (refuses while anything is mounted below it)
#
# The root has no apt lists and no downloaded .debs (like a fresh cloud or container image). The
# mirror is read from this machine's apt sources at run time: the `deb` entry of suite bookworm,
# component main (one-line .list or deb822 .sources).
set -euo pipefail

cache_dir=${DANE_ROOT_CACHE:-/var/cache/dane-policyd-ci}
base_include=ca-certificates,apt-utils,netbase,procps

die() {
  echo "debian-root: $*" >&2
  exit 2
}

# Prints "URI SUITE" for every Debian bookworm, bookworm-updates and bookworm-security source with
# component main in this machine's apt configuration.
debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      uri = $i; suite = $(i + 1)
      for (j = i + 2; j <= NF; j++) if ($j == "main" && suite ~ /^bookworm(-updates|-security)?$/) print uri, suite
    }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'function flush(   n, m, u, s, i, k, hasmain, isdeb) {
        isdeb = (" " types " ") ~ / deb /
        hasmain = (" " comps " ") ~ / main /
        if (isdeb && hasmain) {
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (i = 1; i <= n; i++) for (k = 1; k <= m; k++)
            if (s[k] ~ /^bookworm(-updates|-security)?$/) print u[i], s[k]
        }
        types = uris = suites = comps = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; val = $0; sub(/^[ \t]+/, "", val) }
      key == "types" { types = val } key == "uris" { uris = val }
      key == "suites" { suites = val } key == "components" { comps = val }
      END { flush() }' "$f"
  done
}

mirror_uri() {
  local uri
  uri=$(debian_sources | awk '$2 == "bookworm" { print $1; exit }')
  [ -n "$uri" ] || die "no 'deb URI bookworm main' entry in /etc/apt/sources.list{,.d/}"
  printf '%s\n' "$uri"
}

cmd_cache() {
  local extra=${1:-} include key tarball tmp uri
  include=$base_include${extra:+,$extra}
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/install-deps.sh package)"
  key=$(printf '%s' "$include" | tr ',' '\n' | sort -u | tr '\n' ',' | sha256sum | cut -c1-16)
  tarball=$cache_dir/bookworm-minbase-$key.tar
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/.lock"
  flock 9
  if [ ! -s "$tarball" ]; then
    uri=$(mirror_uri)
    tmp=$(mktemp -d "$cache_dir/root.XXXXXX")
    chmod 755 "$tmp"
    echo "debian-root: debootstrap --variant=minbase --include=$include bookworm $uri" >&2
    if ! debootstrap --variant=minbase --include="$include" bookworm "$tmp" "$uri" >"$tmp.log" 2>&1; then
      tail -n 30 "$tmp.log" >&2
      rm -rf --one-file-system "$tmp" "$tmp.log"
      die "debootstrap failed"
    fi
    rm -f "$tmp.log"
    rm -f "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/cache/apt/*.bin
    find "$tmp/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
    printf '%s\n' "$include" >"$tmp/etc/dane-policyd-ci-root"
    tar -C "$tmp" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$tmp"
  fi
  printf '%s\n' "$tarball"
}

cmd_unpack() {
  local tarball=${1:?TARBALL} dir=${2:?DIR} policy=1
  [ "${3:-}" = --no-policy-rc ] && policy=0
  [ -e "$dir" ] && die "$dir already exists"
  mkdir -p "$dir"
  tar -C "$dir" --numeric-owner -xf "$tarball"
  # The root directory itself must be 0755 like a real /: unprivileged users (nobody, postfix, man)
  # cannot reach anything in a 0700 root (mktemp -d makes 0700 directories, and tar keeps the mode).
  chmod 755 "$dir"
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
  rm -f "$dir"/etc/apt/sources.list.d/*
  debian_sources | sort -u | awk '{ print "deb", $1, $2, "main" }' >"$dir/etc/apt/sources.list"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$(hostname)" \
    >"$dir/etc/hosts"
  if [ "$policy" = 1 ]; then
    printf '#!/bin/sh\n# fresh-root test: no package starts a daemon in this chroot (it shares the network)\nexit 101\n' \
      >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
  else
    rm -f "$dir/usr/sbin/policy-rc.d"
  fi
}

cmd_exec() {
  local net=() envs=() dir
  if [ "${1:-}" = --offline ]; then
    net=(--net)
    shift
  fi
  dir=${1:?DIR}
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    envs+=("$1")
    shift
  done
  [ "${1:-}" = -- ] || die "exec: missing -- before the command"
  shift
  [ -x "$dir/bin/bash" ] || die "$dir is not a Debian root"
  dir=$(cd "$dir" && pwd)
  # PID 1 of the new namespaces mounts what the chroot needs and waits for the command; when it
  # exits the kernel kills whatever is left and the mounts disappear with the namespace.
  # shellcheck disable=SC2016
  unshare "${net[@]}" --pid --mount --propagation private --fork bash -c '
    set -e
    offline=$1; dir=$2; cmd=$3; shift 3
    if [ "$offline" = 1 ]; then ip link set lo up; fi
    # The root as a mount point of its own: tools that change mount propagation inside the chroot
    # (unshare -m, as tests do) fail with EINVAL when / is not a mount point.
    mount --bind "$dir" "$dir"
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    mount --bind /sys "$dir/sys"
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
      bash -lc "$cmd" </dev/null
  ' wrapper "${#net[@]}" "$dir" "$*" "${envs[@]}"
}

cmd_remove() {
  local dir=${1:?DIR}
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  if findmnt -rn -o TARGET | grep -q "^$dir/"; then
    die "something is still mounted below $dir; not deleting"
  fi
  rm -rf --one-file-system "$dir"
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount namespaces)"
case "${1:-}" in
  cache | unpack | exec | remove)
    sub=$1
    shift
    "cmd_$sub" "$@"
    ;;
  sources) debian_sources ;;
  *) die "usage: debian-root.sh cache [PKGS] | unpack TARBALL DIR [--no-policy-rc] | exec DIR [N=V...] -- CMD | remove DIR" ;;
esac
