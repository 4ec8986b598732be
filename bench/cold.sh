#!/usr/bin/env bash
# bench/cold.sh — dane-policyd's cold path: uncached destinations behind a DNS round-trip time (issue 14).
#
#   bash bench/cold.sh                                  # everything below, in one run (a few minutes)
#   DELAY_MS=100 N_SMALL=160 N_LARGE=1000 bash bench/cold.sh
#   DAEMON_ARGS="--workers 64" bash bench/cold.sh      # extra dane-policyd options (word-split)
#   POLICYD=/other/tree/build/bin/dane-policyd bash bench/cold.sh   # another daemon, this tree's bench tools
#   BUILD=/path/to/other/build bash bench/cold.sh       # everything from that build (missing targets built there)
#   KEEP=1 bash bench/cold.sh                           # keep the work directory (zones, logs, verdicts)
#
# The rig (all on loopback, built at run time in a private temp dir, never checked in):
#   * zones signed with ldns-keygen/ldns-signzone, served by one nsd with response rate limiting off
#     (checked: a burst of BURST NODATA queries is answered in full):
#       test.       the root of trust (the daemon's trust anchor is its DS); delegates cold.test (signed, DS)
#                   and dead.test (signed, DS; its name server ns.dead.test is a loopback address where
#                   nothing answers: as root a black hole that swallows every packet, else a closed port);
#       cold.test.  W warm-up destinations w0001.. and N destinations d0001..dNNNN, each
#                   "dNNNN MX 10 mx.dNNNN", "mx.dNNNN A 127.0.1.x", "_25._tcp.mx.dNNNN TLSA 3 1 1 <sha256>";
#   * bench_dns_delay_proxy between the daemon and nsd: every answer leaves DELAY_MS after its query came
#     (UDP and TCP; one timer per query, any number in flight). The daemon's unbound.conf fragment sends
#     test. and cold.test. to the proxy (stub zones) and refuses everything outside test., so every query
#     for a healthy name goes through the proxy: the script counts them (queries per cold destination);
#   * dane-policyd --foreground --mode native --socketmap unix:PATH --unbound-config FRAGMENT, a fresh process
#     (empty cache) per scenario, plus DAEMON_ARGS. Before each scenario it evaluates one warm-up destination
#     of cold.test, so the zone keys (DNSKEY, DS of test. and cold.test.) are cached and the figures measure
#     destinations, not key fetches.
#
# Scenarios (bench_cold_loadgen: one connection per key, every request sent in one burst):
#   1. single: SINGLE cold destinations asked one after the other; their median latency is the reference;
#   2. N_SMALL (160) distinct cold destinations at once over as many connections;
#   3. N_LARGE (1000) the same (RLIMIT_NOFILE is raised for the script and the daemon);
#   4. dead-zone storm: STORM (200) lookups into dead.test, then STORM_LEAD seconds later, during it,
#      STORM_HEALTHY (70) cold destinations of cold.test and a few lookups that need no DNS ([192.0.2.1],
#      [192.0.2.2]:25, .example.test, .cold.test, .dead.test).
# Each reports the last answer's time, min/p50/p99/max latency, answers by kind, the daemon's VmRSS and
# VmHWM and its CPU time (utime + stime from /proc) over the scenario. Then the ratios to the targets of
# issue 14. Settings (environment): DELAY_MS (100), N_SMALL (160), N_LARGE (1000), SINGLE (3), STORM (200),
# STORM_HEALTHY (70), STORM_LEAD (1 s), TIMEOUT (150 s: the longest a scenario waits for its answers),
# BURST (1000), JOBS (2, for building), DAEMON_ARGS, BUILD, POLICYD, KEEP, SCENARIOS ("1 2 3 4": which to run; 1,
# the reference, always runs), STORM_PROBING (0; 1 adds "infra-keep-probing: yes" to the daemon's unbound
# fragment, as the test rig's fragment has: libunbound then keeps sending to the dead servers instead of
# marking them down for a while, so the storm holds outgoing query slots, the harsher case), UNBOUND_EXTRA
# (more lines for the server: clause of that fragment, separated by ';', e.g. "outgoing-range: 4096;
# num-queries-per-thread: 4096": libunbound's library defaults are outgoing-range 16 and 1 MB caches).
# Benchmarks are never tests: nothing here asserts a speed. Exit status 1 only when a step fails
# (build, rig, daemon start, a load generator that cannot connect, a daemon that dies).
set -euo pipefail
# The whole script is one compound command, read completely before it runs: editing or checking out another
# version of this file during a run does not change the run.
{
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
delay_ms=${DELAY_MS:-100}
n_small=${N_SMALL:-160}
n_large=${N_LARGE:-1000}
single=${SINGLE:-3}
storm=${STORM:-200}
storm_healthy=${STORM_HEALTHY:-70}
storm_lead=${STORM_LEAD:-1}
timeout=${TIMEOUT:-150}
scenarios=${SCENARIOS:-1 2 3 4}
storm_probing=${STORM_PROBING:-0}
burst=${BURST:-1000}
jobs=${JOBS:-2}
warm_count=8

policyd=${POLICYD:-$build/bin/dane-policyd}
proxy="$build/bench/bench_dns_delay_proxy"
loadgen="$build/bench/bench_cold_loadgen"

wanted() { [[ " $scenarios " == *" $1 "* ]]; }

bench_name=cold.sh
# shellcheck source=bench/lib/rig.sh
. "$root/bench/lib/rig.sh"

for tool in nsd ldns-keygen ldns-signzone; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool is missing (Debian packages nsd and ldnsutils: scripts/install-deps.sh)"
done

if [ -n "${POLICYD:-}" ] && [ ! -x "$POLICYD" ]; then
  fail "POLICYD=$POLICYD is not an executable file"
fi
missing=()
[ -x "$policyd" ] || missing+=(dane-policyd)
[ -x "$proxy" ] || missing+=(bench_dns_delay_proxy)
[ -x "$loadgen" ] || missing+=(bench_cold_loadgen)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DDANE_BUILD_BENCH=ON || fail "cmake configure failed"
  fi
  cmake --build "$build" -j "$jobs" --target "${missing[@]}" || fail "building ${missing[*]} failed"
fi

# One descriptor per client connection, in this shell (inherited by the daemon) and the load generator.
want_fds=$((n_large + n_small + 4096))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
  ulimit -Hn "$want_fds" 2>/dev/null || true
fi
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$want_fds" ]; then
  ulimit -Sn "$want_fds"
else
  ulimit -Sn "$(ulimit -Hn)"
  echo "cold.sh: note: RLIMIT_NOFILE is only $(ulimit -Sn); $n_large connections may not all open" >&2
fi

work=$(mktemp -d /tmp/dane-cold.XXXXXX)
chmod 0755 "$work"
pids=()
bench_cleanup_on_exit

stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL; reaped, so it leaves the cleanup list
  local kept=() pid
  if kill -TERM "$1" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$1" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  pids=("${kept[@]}")
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- the rig: keys, zones, signatures, nsd ----------------------------------------------------------------
zones="$work/zones"
mkdir -p "$zones"
n_zone=$n_large
for n in "$n_small" "$storm_healthy" "$single"; do
  [ "$n" -gt "$n_zone" ] && n_zone=$n
done
nsd_port=$("$proxy" --free-port 127.0.0.1) || fail "no free port for nsd"
proxy_port=$("$proxy" --free-port 127.0.0.1) || fail "no free port for the proxy"
dead_forward_port=$("$proxy" --free-port 127.0.0.1) || fail "no free port"
[ "$proxy_port" != "$nsd_port" ] || proxy_port=$("$proxy" --free-port 127.0.0.1)
dead_ns="127.53.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))"

bench_keygen "$zones" test. cold.test. dead.test.
key_test=$(cat "$zones/test..keyname")
key_cold=$(cat "$zones/cold.test..keyname")
key_dead=$(cat "$zones/dead.test..keyname")

{
  echo "\$ORIGIN test."
  echo "\$TTL 3600"
  echo "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600"
  echo "@ NS ns.test."
  echo "ns A 127.0.0.1"
  echo "cold NS ns.test."
  cat "$zones/$key_cold.ds"
  echo "dead NS ns.dead.test."
  echo "ns.dead A $dead_ns"
  cat "$zones/$key_dead.ds"
} >"$zones/test.zone"

tlsa_hex() { # NAME: a made-up SHA-256 "certificate" digest per host
  sha256sum <<<"$1" | cut -d' ' -f1
}
{
  echo "\$ORIGIN cold.test."
  echo "\$TTL 3600"
  echo "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600"
  echo "@ NS ns.test."
  emit() { # NAME INDEX
    echo "$1 MX 10 mx.$1"
    echo "mx.$1 A 127.0.1.$(($2 % 250 + 1))"
    echo "_25._tcp.mx.$1 TLSA 3 1 1 $(tlsa_hex "$1")"
  }
  for i in $(seq 1 "$warm_count"); do
    emit "$(printf 'w%04d' "$i")" "$i"
  done
  for i in $(seq 1 "$n_zone"); do
    emit "$(printf 'd%04d' "$i")" "$i"
  done
} >"$zones/cold.test.zone"

bench_sign "$zones" test. cold.test.
bench_start_nsd "$zones" "$nsd_port" cold.test test. cold.test.
burst_direct=$("$proxy" --burst-check "127.0.0.1:$nsd_port" --burst "$burst" --qname cold.test) ||
  fail "nsd answered only part of a burst of NODATA queries ($burst_direct): is response rate limiting still on?"

# --- the delaying proxy -----------------------------------------------------------------------------------
blackhole=()
if [ "$(id -u)" = 0 ]; then
  blackhole=(--blackhole "$dead_ns:53")
  dead_kind="a black hole at $dead_ns:53 (every packet swallowed)"
else
  dead_kind="$dead_ns:53, where nothing listens (not root: no black hole on port 53)"
fi
bench_start_proxy "$proxy_port" "$nsd_port" "$delay_ms" --log-queries "$work/queries.log" "${blackhole[@]}"
t0=$(date +%s%N)
burst_proxied=$("$proxy" --burst-check "127.0.0.1:$proxy_port" --burst "$burst" --qname cold.test) ||
  fail "the proxy answered only part of a burst ($burst_proxied)"
burst_ms=$((($(date +%s%N) - t0) / 1000000))

# Counters of the proxy: SIGUSR1 makes it print a STATS line (and start a new max_in_flight interval).
proxy_stats() {
  local before lines
  before=$(grep -c '^STATS' "$work/proxy.log" || true)
  kill -USR1 "$proxy_pid"
  for _ in $(seq 50); do
    lines=$(grep -c '^STATS' "$work/proxy.log" || true)
    [ "$lines" -gt "$before" ] && break
    sleep 0.02
  done
  grep '^STATS' "$work/proxy.log" | tail -1
}

cat >"$work/unbound.conf" <<CONF
# unbound.conf fragment of bench/cold.sh: test. and cold.test. through the delaying proxy, nothing else.
server:
  do-not-query-localhost: no
  do-ip6: no
  local-zone: "test." nodefault
  local-zone: "test." transparent
  local-zone: "." refuse
  trust-anchor-file: "$zones/$key_test.ds"
$([ "$storm_probing" = 1 ] && echo '  infra-keep-probing: yes')
$(tr ';' '\n' <<<"${UNBOUND_EXTRA:-}" | sed 's/^ */  /')
stub-zone:
  name: "test."
  stub-addr: 127.0.0.1@$proxy_port
stub-zone:
  name: "cold.test."
  stub-addr: 127.0.0.1@$proxy_port
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$dead_forward_port
CONF

echo "rig: nsd 127.0.0.1@$nsd_port ($burst_direct, rate limiting off); proxy 127.0.0.1@$proxy_port adds" \
  "$delay_ms ms ($burst_proxied through it in $burst_ms ms); cold.test: $n_zone destinations + $warm_count warm-up;" \
  "dead.test: $dead_kind"

# --- the daemon -------------------------------------------------------------------------------------------
help=$("$policyd" --help 2>&1 || true)
has_option() { grep -q -- "--$1\b" <<<"$help"; }
daemon_pid=""
daemon_sock=""
start_daemon() { # LABEL
  daemon_sock="$work/$1.sock"
  local args=(--foreground --socketmap "unix:$daemon_sock" --mode native --unbound-config "$work/unbound.conf"
    --verdict-log "$work/$1.verdicts.jsonl")
  has_option user && args+=(--user root)
  has_option state-dir && mkdir -p "$work/state" && args+=(--state-dir "$work/state")
  has_option log-to && args+=(--log-to stderr)
  # shellcheck disable=SC2206 # word splitting intended
  [ -n "${DAEMON_ARGS:-}" ] && args+=(${DAEMON_ARGS})
  [ -n "${daemon_args_shown:-}" ] || echo "$policyd ${args[*]}"
  daemon_args_shown=1
  "$policyd" "${args[@]}" >"$work/$1.daemon.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 100); do
    [ -S "$daemon_sock" ] && return 0
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      cat "$work/$1.daemon.log" >&2
      fail "dane-policyd exited before listening ($1)"
    fi
    sleep 0.1
  done
  fail "dane-policyd did not listen on $daemon_sock within 10 s ($1)"
}
stop_daemon() { # LABEL
  kill -0 "$daemon_pid" 2>/dev/null || {
    tail -20 "$work/$1.daemon.log" >&2
    fail "dane-policyd died during scenario $1"
  }
  stop_pid "$daemon_pid"
}

clk_tck=$(getconf CLK_TCK)
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# -> "rss_kb hwm_kb cpu_ticks queries max_in_flight blackholed" (max_in_flight: since the previous snapshot)
snapshot() {
  local stats
  stats=$(proxy_stats)
  echo "$(status_kb "$daemon_pid" VmRSS) $(status_kb "$daemon_pid" VmHWM) $(cpu_ticks "$daemon_pid")" \
    "$(($(field udp_queries "$stats") + $(field tcp_queries "$stats")))" \
    "$(field max_in_flight "$stats") $(field blackholed "$stats")"
}

field() { # NAME RESULT-LINE
  sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"
}

load() { # LABEL LOADGEN-ARGS... ; prints the loadgen's output, fails when it cannot connect
  local label=$1
  shift
  "$loadgen" --connect "unix:$daemon_sock" --label "$label" --timeout "$timeout" "$@" ||
    fail "the load generator failed ($label)"
}

warm_up() { # one destination of cold.test, so its keys are cached
  local out
  out=$(load warm-up --key w0001.cold.test)
  grep -q 'KIND count=1 answer="OK dane-only"' <<<"$out" || {
    echo "$out" >&2
    tail -20 "$work/$current.daemon.log" >&2
    fail "the warm-up destination w0001.cold.test did not answer OK dane-only: the rig or the daemon is broken"
  }
}

kinds() { # loadgen output(s) -> "count x answer; ...", most frequent first
  grep '^KIND' <<<"$1" | sed 's/^KIND count=\([0-9]*\) answer="\(.*\)"$/\1 \2/; s/ *$//' |
    awk '{ n = $1; sub(/^[0-9]+ /, ""); c[$0] += n } END { for (k in c) print c[k] " x " k }' | sort -rn |
    paste -sd';' | sed 's/;/; /g'
}

summary=()
report() { # TITLE RESULT-LINE BEFORE AFTER KINDS [no-daemon-line]
  local r=$2 b a cpu queries
  read -r -a b <<<"$3"
  read -r -a a <<<"$4"
  cpu=$(awk -v a="${b[2]}" -v b="${a[2]}" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz }')
  queries=$((a[3] - b[3]))
  printf '%s\n  last answer %s ms; latency min %s p50 %s p99 %s max %s ms; answered %s/%s, errors %s\n' "$1" \
    "$(field wall_ms "$r")" "$(field min_ms "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
    "$(field max_ms "$r")" "$(field answered "$r")" "$(field requests "$r")" "$(field errors "$r")"
  printf '  answers: %s\n' "$5"
  [ -n "${6:-}" ] || printf '  daemon: VmRSS %s -> %s kB, VmHWM %s kB, CPU %s s; DNS queries through the proxy: %s,' \
    "${b[0]}" "${a[0]}" "${a[1]}" "$cpu" "$queries"
  [ -n "${6:-}" ] || printf ' at most %s in flight at once\n' "${a[4]}"
  summary+=("$(printf '%-40s %9s %9s %9s %9s  ok=%s temp=%s notfound=%s other=%s unanswered=%s  RSS %s MB  CPU %s s' \
    "$1" "$(field wall_ms "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" "$(field max_ms "$r")" \
    "$(field ok "$r")" "$(field temp "$r")" "$(field notfound "$r")" \
    "$(($(field timeout "$r") + $(field perm "$r") + $(field errors "$r")))" "$(field unanswered "$r")" \
    "$(awk -v k="${a[1]}" 'BEGIN { printf "%.1f", k / 1024 }')" "$cpu")")
  max_hwm=$((a[1] > max_hwm ? a[1] : max_hwm))
}
max_hwm=0

# --- 1. single cold lookups -------------------------------------------------------------------------------
current=single
start_daemon "$current"
warm_up
before=$(snapshot)
single_ms=()
single_out=""
for i in $(seq 1 "$single"); do
  out=$(load "single-$i" --prefix d --first "$i" --count 1)
  single_out+="$out"$'\n'
  single_ms+=("$(field max_ms "$(grep '^RESULT' <<<"$out")")")
done
after=$(snapshot)
stop_daemon "$current"
single_ref=$(printf '%s\n' "${single_ms[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
single_queries=$(awk -v a="$(cut -d' ' -f4 <<<"$before")" -v b="$(cut -d' ' -f4 <<<"$after")" -v n="$single" \
  'BEGIN { printf "%.1f", (b - a) / n }')
echo
echo "1. single cold lookup, $single one after the other: ${single_ms[*]} ms (median $single_ref ms);" \
  "$single_queries DNS queries each through the proxy ($delay_ms ms each)"
echo "  answers: $(kinds "$single_out")"
read -r -a sb <<<"$before"
read -r -a sa <<<"$after"
echo "  daemon: VmRSS ${sb[0]} -> ${sa[0]} kB, VmHWM ${sa[1]} kB, CPU" \
  "$(awk -v a="${sb[2]}" -v b="${sa[2]}" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz }') s"
summary+=("$(printf '%-40s %9s %9s %9s %9s  (%s DNS queries per destination)' "1. single cold lookup (median)" \
  "$single_ref" "$single_ref" "$single_ref" "$single_ref" "$single_queries")")

# --- 2. and 3. N distinct cold destinations at once -------------------------------------------------------
burst_run() { # LABEL COUNT TITLE -> prints a report, sets burst_result
  current=$1
  start_daemon "$current"
  warm_up
  local before after out
  before=$(snapshot)
  out=$(load "$1" --prefix d --first 1 --count "$2")
  after=$(snapshot)
  stop_daemon "$current"
  burst_result=$(grep '^RESULT' <<<"$out")
  echo
  report "$3" "$burst_result" "$before" "$after" "$(kinds "$out")"
}
small_result=""
large_result=""
if wanted 2; then
  burst_run small "$n_small" "2. $n_small cold destinations at once"
  small_result=$burst_result
fi
if wanted 3; then
  burst_run large "$n_large" "3. $n_large cold destinations at once"
  large_result=$burst_result
fi

# --- 4. dead-zone storm -----------------------------------------------------------------------------------
healthy_result=""
nodns_result=""
if wanted 4; then
  current=storm
  start_daemon "$current"
  warm_up
  before=$(snapshot)
  load storm --prefix x --first 1 --count "$storm" --suffix .dead.test >"$work/storm.out" &
  storm_pid=$!
  sleep "$storm_lead"
  load healthy --prefix d --first 1 --count "$storm_healthy" >"$work/healthy.out" &
  healthy_pid=$!
  load no-dns --per-request "$work/nodns.requests" --key '[192.0.2.1]' --key '[192.0.2.2]:25' --key .example.test \
    --key .cold.test --key .dead.test >"$work/nodns.out" &
  nodns_pid=$!
  wait "$nodns_pid" || fail "the no-DNS load generator failed"
  wait "$healthy_pid" || fail "the healthy load generator failed"
  wait "$storm_pid" || fail "the storm load generator failed"
  after=$(snapshot)
  stop_daemon "$current"
  echo
  echo "4. dead-zone storm (dead.test: $dead_kind):"
  report "4. storm: $storm lookups into dead.test" "$(grep '^RESULT' "$work/storm.out")" "$before" "$after" \
    "$(kinds "$(cat "$work/storm.out")")"
  healthy_result=$(grep '^RESULT' "$work/healthy.out")
  nodns_result=$(grep '^RESULT' "$work/nodns.out")
  report "4. + $storm_healthy healthy, ${storm_lead} s into it" "$healthy_result" "$before" "$after" \
    "$(kinds "$(cat "$work/healthy.out")")" no-daemon-line
  report "4. + 5 no-DNS keys, ${storm_lead} s into it" "$nodns_result" "$before" "$after" \
    "$(kinds "$(cat "$work/nodns.out")")" no-daemon-line
  echo "  packets the dead servers swallowed: $(($(cut -d' ' -f6 <<<"$after") - $(cut -d' ' -f6 <<<"$before")))"
  echo "  each no-DNS key: $(awk '{ printf "%s%s %s ms", sep, $2, $1; sep = ", " }' "$work/nodns.requests")"
fi

# --- summary ----------------------------------------------------------------------------------------------
echo
echo "=== cold path, $delay_ms ms per DNS round trip; latencies in ms; RSS = VmHWM at the end of the scenario ==="
printf '%-40s %9s %9s %9s %9s\n' scenario last p50 p99 max
printf '%s\n' "${summary[@]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "ratios to the single cold lookup ($single_ref ms), targets of issue 14 in brackets:"
wanted 2 && echo "  $n_small at once: last answer $(ratio "$(field wall_ms "$small_result")" "$single_ref") x [1.5 x]," \
  "TEMP answers $(field temp "$small_result") [0]"
wanted 3 && echo "  $n_large at once: last answer $(ratio "$(field wall_ms "$large_result")" "$single_ref") x [3 x]," \
  "TEMP answers $(field temp "$large_result"), peak RSS $(awk -v k="$max_hwm" 'BEGIN { printf "%.1f", k / 1024 }') MB [< 100 MB]"
wanted 4 && echo "  storm, healthy lookups: p99 $(ratio "$(field p99_ms "$healthy_result")" "$single_ref") x," \
  "max $(ratio "$(field max_ms "$healthy_result")" "$single_ref") x [2 x], TEMP $(field temp "$healthy_result") of" \
  "$storm_healthy [0]"
wanted 4 && echo "  storm, no-DNS lookups: max $(field max_ms "$nodns_result") ms [at once]"
exit 0
}
