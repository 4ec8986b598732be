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

# bench_start_proxy LISTEN-PORT UPSTREAM-PORT DELAY-MS [PROXY-OPTION...]: bench_dns_delay_proxy on
# 127.0.0.1@LISTEN-PORT in front of 127.0.0.1@UPSTREAM-PORT, each query delayed DELAY-MS; returns once it
# is ready. Sets proxy_pid (also in `pids`); its log is $work/proxy.log.
bench_start_proxy() {
  local listen=$1 upstream=$2 delay=$3
  shift 3
  "$proxy" --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$upstream" --delay-ms "$delay" "$@" \
    >"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  for _ in $(seq 100); do
    grep -q '^ready' "$work/proxy.log" && return 0
    kill -0 "$proxy_pid" 2>/dev/null || fail "the DNS proxy exited at start-up: $(cat "$work/proxy.log")"
    sleep 0.1
  done
  fail "the DNS proxy did not start: $(cat "$work/proxy.log")"
}

# bench_proxy_queries: the UDP + TCP queries the proxy has seen so far (SIGUSR1 makes it print a STATS line).
bench_proxy_queries() {
  local before line
  before=$(grep -c '^STATS' "$work/proxy.log" || true)
  kill -USR1 "$proxy_pid"
  for _ in $(seq 100); do
    [ "$(grep -c '^STATS' "$work/proxy.log" || true)" -gt "$before" ] && break
    sleep 0.02
  done
  line=$(grep '^STATS' "$work/proxy.log" | tail -1)
  echo $(($(sed -n 's/.*udp_queries=\([0-9]*\).*/\1/p' <<<"$line") + $(sed -n 's/.*tcp_queries=\([0-9]*\).*/\1/p' <<<"$line")))
}

# bench_unbound_conf FILE TRUST-ANCHOR-FILE STUB-PORT DEAD-PORT [ZONE...]: the daemon's --unbound-config
# fragment: test. (and each further ZONE) from 127.0.0.1@STUB-PORT validated from TRUST-ANCHOR-FILE,
# everything else refused or sent to a dead port on loopback (no packet leaves the machine).
bench_unbound_conf() {
  local file=$1 anchor=$2 stub=$3 dead=$4 zone
  shift 4
  {
    cat <<CONF
server:
  do-not-query-localhost: no
  do-ip6: no
  local-zone: "test." nodefault
  local-zone: "test." transparent
  local-zone: "." refuse
  trust-anchor-file: "$anchor"
stub-zone:
  name: "test."
  stub-addr: 127.0.0.1@$stub
CONF
    for zone in "$@"; do
      printf 'stub-zone:\n  name: "%s"\n  stub-addr: 127.0.0.1@%s\n' "$zone" "$stub"
    done
    printf 'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@%s\n' "$dead"
  } >"$file"
}
