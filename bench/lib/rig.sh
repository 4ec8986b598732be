# shellcheck shell=bash
# shellcheck disable=SC2154 # bench_name, work, proxy and pids are the caller's (see below)
# bench/lib/rig.sh — the pieces every rig-based benchmark shares; sourced by bench/*.sh, never run.
#
# The caller sets, before sourcing: `bench_name` (for messages, e.g. "cold.sh"), `proxy` (the
# bench_dns_delay_proxy binary: it finds free ports and checks that nsd answers), `work` (a fresh
# temporary directory), and an array `pids` (processes to end on exit). Every function fails through
# `fail` (defined here) with a message naming the script.

fail() {
  echo "$bench_name: $*" >&2
  exit 1
}

# On exit: SIGTERM to every process in `pids`, SIGKILL to those still alive 5 s later, then the work
# directory goes (KEEP=1 keeps it). On SIGINT/SIGTERM: a message and exit status 1.
# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "$bench_name: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
bench_cleanup_on_exit() {
  trap bench_cleanup EXIT
  # shellcheck disable=SC2064 # expand $bench_name now
  trap "echo \"$bench_name: interrupted\" >&2; exit 1" INT TERM
}

# bench_free_port: a free TCP and UDP port on 127.0.0.1.
bench_free_port() {
  "$proxy" --free-port 127.0.0.1 || fail "no free port on 127.0.0.1"
}

# bench_keygen ZONES ORIGIN...: an ECDSAP256SHA256 key per origin ("test.", "cold.test."), made in ZONES;
# each key's base name is written to ZONES/ORIGIN.keyname (its DS is ZONES/<base name>.ds).
bench_keygen() {
  local zones=$1 origin
  shift
  for origin in "$@"; do
    (cd "$zones" && ldns-keygen -a ECDSAP256SHA256 -k "$origin" >"$origin.keyname") ||
      fail "ldns-keygen failed for $origin"
  done
}

# bench_sign ZONES ORIGIN...: signs ZONES/<origin without its dot>.zone with the origin's key into
# ZONES/<origin without its dot>.zone.signed.
bench_sign() {
  local zones=$1 origin base
  shift
  for origin in "$@"; do
    base=${origin%.}
    (cd "$zones" && ldns-signzone -f "$base.zone.signed" "$base.zone" "$(cat "$origin.keyname")") \
      >>"$work/sign.log" 2>&1 || fail "ldns-signzone failed for $origin: $(cat "$work/sign.log")"
  done
}

# bench_start_nsd ZONES PORT QNAME ORIGIN...: one `nsd -d` on 127.0.0.1@PORT serving each signed zone,
# with response rate limiting off (a benchmark's bursts would be dropped otherwise); returns once it
# answers QNAME. Its pid joins `pids`.
bench_start_nsd() {
  local zones=$1 port=$2 qname=$3 origin nsd_bin
  shift 3
  nsd_bin=$(command -v nsd || echo /usr/sbin/nsd)
  {
    cat <<CONF
server:
  ip-address: 127.0.0.1@$port
  do-ip6: no
  server-count: 1
  verbosity: 1
  zonesdir: "$zones"
  database: ""
  pidfile: "$work/nsd.pid"
  logfile: "$work/nsd.log"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  username: ""
  chroot: ""
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
CONF
    for origin in "$@"; do
      printf 'zone:\n  name: "%s"\n  zonefile: "%s/%s.zone.signed"\n' "$origin" "$zones" "${origin%.}"
    done
  } >"$work/nsd.conf"
  "$nsd_bin" -d -c "$work/nsd.conf" >"$work/nsd.stdout" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do
    "$proxy" --burst-check "127.0.0.1:$port" --burst 1 --qname "$qname" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "nsd did not answer on 127.0.0.1@$port: $(tail -3 "$work/nsd.log" 2>/dev/null)"
}

# bench_unbound_conf FILE TRUST-ANCHOR-FILE STUB-PORT DEAD-PORT: the daemon's --unbound-config fragment:
# test. from 127.0.0.1@STUB-PORT validated from TRUST-ANCHOR-FILE, everything else refused or sent to
# a dead port on loopback (no packet leaves the machine).
bench_unbound_conf() {
  cat >"$1" <<CONF
server:
  do-not-query-localhost: no
  do-ip6: no
  local-zone: "test." nodefault
  local-zone: "test." transparent
  local-zone: "." refuse
  trust-anchor-file: "$2"
stub-zone:
  name: "test."
  stub-addr: 127.0.0.1@$3
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$4
CONF
}
