#!/usr/bin/env bash
# bench/warm_restart.sh — dane-policyd's warm restart (issue 16): N cached destinations, a restart with
# --cache-file, then every destination asked again.
#
#   bash bench/warm_restart.sh                       # N=10000 destinations, one run (about a minute)
#   N=10000 BATCH=500 DELAY_MS=0 bash bench/warm_restart.sh
#   DAEMON_ARGS="--workers 8" bash bench/warm_restart.sh   # extra dane-policyd options (word-split)
#   BUILD=/path/to/build bash bench/warm_restart.sh  # binaries from there (missing targets built there)
#   KEEP=1 bash bench/warm_restart.sh                # keep the work directory (zones, logs, cache file)
#
# The rig (loopback only, built at run time in a private temp dir, never checked in), as in bench/cold.sh:
#   * test. (the root of trust) delegates warm.test (signed, DS); warm.test holds N destinations
#     "dNNNNN MX 10 mx.dNNNNN", "mx.dNNNNN A 127.0.1.x", "_25._tcp.mx.dNNNNN TLSA 3 1 1 <sha256>", TTL 3600,
#     signed with ldns-keygen/ldns-signzone, served by one nsd with response rate limiting off;
#   * bench_dns_delay_proxy in front of nsd (DELAY_MS, default 0: this measures the restart, not the
#     network) counts every DNS query the daemon sends; the daemon's unbound fragment sends test. through it
#     and refuses everything else.
# Steps:
#   1. fill: a daemon with --cache-file evaluates all N destinations (BATCH at once, over BATCH connections:
#      bench_cold_loadgen); every answer must be "OK dane-only" (answers cached, so saved);
#   2. restart: SIGTERM (the cache is saved at shutdown), then a new daemon with the same --cache-file;
#      reported: the stop time, the file's size, the start time until the socket answers (the file is read
#      before the daemon serves), and the daemon's cache-file-loaded line;
#   3. ask again: all N destinations, BATCH at once, against the restarted daemon. Reported: the share
#      answered without DNS (cache hits of the restarted daemon / N, and its evaluations), the DNS queries
#      the proxy saw meanwhile, the time to serve all N and the latency percentiles (bench_cold_loadgen).
# Target of issue 16: share answered without DNS >= 99 %. Benchmarks are never tests: nothing here asserts a
# speed. Exit status 1 only when a step fails (build, rig, daemon start, a load generator that cannot connect).
set -euo pipefail
{
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
n=${N:-10000}
batch=${BATCH:-500}
delay_ms=${DELAY_MS:-0}
jobs=${JOBS:-2}
timeout=${TIMEOUT:-120}

policyd="$build/bin/dane-policyd"
policyctl="$build/bin/dane-policyctl"
proxy="$build/bench/bench_dns_delay_proxy"
loadgen="$build/bench/bench_cold_loadgen"

bench_name=warm_restart.sh
# shellcheck source=bench/lib/rig.sh
. "$root/bench/lib/rig.sh"
for tool in nsd ldns-keygen ldns-signzone python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool is missing (Debian packages nsd, ldnsutils, python3: scripts/install-deps.sh)"
done

missing=()
[ -x "$policyd" ] || missing+=(dane-policyd)
[ -x "$policyctl" ] || missing+=(dane-policyctl)
[ -x "$proxy" ] || missing+=(bench_dns_delay_proxy)
[ -x "$loadgen" ] || missing+=(bench_cold_loadgen)
if [ "${#missing[@]}" -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DDANE_BUILD_BENCH=ON >/dev/null || fail "cmake configure failed"
  cmake --build "$build" -j "$jobs" --target "${missing[@]}" || fail "building ${missing[*]} failed"
fi

want_fds=$((batch + 4096))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
  ulimit -Hn "$want_fds" 2>/dev/null || true
fi
ulimit -Sn "$(ulimit -Hn)"

work=$(mktemp -d /tmp/dane-warm.XXXXXX)
chmod 0755 "$work"
pids=()
bench_cleanup_on_exit

now_ms() { echo $(($(date +%s%N) / 1000000)); }
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- the rig ----------------------------------------------------------------------------------------------
zones="$work/zones"
mkdir -p "$zones"
nsd_port=$(bench_free_port)
proxy_port=$(bench_free_port)
[ "$proxy_port" != "$nsd_port" ] || proxy_port=$(bench_free_port)
dead_forward_port=$(bench_free_port)
bench_keygen "$zones" test. warm.test.
key_test=$(cat "$zones/test..keyname")
key_warm=$(cat "$zones/warm.test..keyname")
{
  echo "\$ORIGIN test."
  echo "\$TTL 3600"
  echo "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600"
  echo "@ NS ns.test."
  echo "ns A 127.0.0.1"
  echo "warm NS ns.test."
  cat "$zones/$key_warm.ds"
} >"$zones/test.zone"
{
  echo "\$ORIGIN warm.test."
  echo "\$TTL 3600"
  echo "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600"
  echo "@ NS ns.test."
  for i in $(seq 1 "$n"); do
    name=$(printf 'd%05d' "$i")
    echo "$name MX 10 mx.$name"
    echo "mx.$name A 127.0.1.$((i % 250 + 1))"
    echo "_25._tcp.mx.$name TLSA 3 1 1 $(printf '%064x' "$i")"
  done
} >"$zones/warm.test.zone"
t0=$(now_ms)
bench_sign "$zones" test. warm.test.
sign_ms=$(($(now_ms) - t0))
bench_start_nsd "$zones" "$nsd_port" warm.test test. warm.test.
bench_start_proxy "$proxy_port" "$nsd_port" "$delay_ms"
bench_unbound_conf "$work/unbound.conf" "$zones/$key_test.ds" "$proxy_port" "$dead_forward_port"
echo "rig: warm.test with $n destinations signed in $sign_ms ms; nsd 127.0.0.1@$nsd_port; proxy" \
  "127.0.0.1@$proxy_port adding $delay_ms ms per query"

# --- the daemon -------------------------------------------------------------------------------------------
sock="$work/socketmap"
mkdir -p "$work/state"
daemon_pid=""
start_daemon() { # LABEL -> sets daemon_pid, start_ms (until the socket answers)
  local args=(--foreground --socketmap "unix:$sock" --mode native --unbound-config "$work/unbound.conf"
    --user root --log-to stderr --state-dir "$work/state" --cache-file "$work/state/cache"
    --cache-size $((n * 2)))
  # shellcheck disable=SC2206 # word splitting intended
  [ -n "${DAEMON_ARGS:-}" ] && args+=(${DAEMON_ARGS})
  local t0
  t0=$(now_ms)
  "$policyd" "${args[@]}" >"$work/$1.daemon.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 600); do
    "$policyctl" stats --socket "unix:$sock" --json >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || {
      cat "$work/$1.daemon.log" >&2
      fail "dane-policyd exited at start ($1)"
    }
    sleep 0.01
  done
  start_ms=$(($(now_ms) - t0))
}
stop_daemon() { # -> stop_ms
  local t0
  t0=$(now_ms)
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || fail "dane-policyd did not stop cleanly"
  stop_ms=$(($(now_ms) - t0))
}
stat_field() { # PATH.IN.JSON
  "$policyctl" stats --socket "unix:$sock" --json |
    python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"
}
ask_all() { # LABEL -> output of every batch in $work/LABEL.out, wall_ms
  local first=1 count t0
  : >"$work/$1.out"
  t0=$(now_ms)
  while [ "$first" -le "$n" ]; do
    count=$((n - first + 1 < batch ? n - first + 1 : batch))
    "$loadgen" --connect "unix:$sock" --label "$1" --timeout "$timeout" --prefix d --first "$first" --count "$count" \
      --width 5 --suffix .warm.test >>"$work/$1.out" || fail "the load generator failed ($1)"
    first=$((first + count))
  done
  wall_ms=$(($(now_ms) - t0))
}
kinds() { # LABEL -> "count x answer; ..."
  grep '^KIND' "$work/$1.out" | sed 's/^KIND count=\([0-9]*\) answer="\(.*\)"$/\1 \2/; s/ *$//' |
    awk '{ c = $1; sub(/^[0-9]+ /, ""); k[$0] += c } END { for (a in k) print k[a] " x " a }' | sort -rn | paste -sd';'
}
percentiles() { # LABEL -> "p50 p99 max" over the batches' per-batch figures (max of each)
  grep '^RESULT' "$work/$1.out" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["p50_ms"] > p50) p50 = v["p50_ms"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"]; if (v["max_ms"] > mx) mx = v["max_ms"] }
    END { printf "%s %s %s", p50, p99, mx }'
}

# --- 1. fill ----------------------------------------------------------------------------------------------
start_daemon fill
ask_all fill
fill_ms=$wall_ms
fill_kinds=$(kinds fill)
fill_eval=$(stat_field evaluations)
fill_entries=$(stat_field cache.entries)
echo
echo "1. fill: $n destinations evaluated in $fill_ms ms ($batch at once); answers: $fill_kinds;" \
  "evaluations $fill_eval, cache entries $fill_entries"
[ "$fill_kinds" = "$n x OK dane-only" ] || echo "   note: not every answer was OK dane-only (TEMP answers are not saved)"

# --- 2. restart -------------------------------------------------------------------------------------------
stop_daemon
file_bytes=$(stat -c %s "$work/state/cache")
start_daemon restart
loaded_line=$(grep -o 'cache-file-loaded.*' "$work/restart.daemon.log" || echo "(no cache-file-loaded line)")
echo
echo "2. restart: SIGTERM -> exit in $stop_ms ms (cache saved: $file_bytes bytes);" \
  "new daemon answering after $start_ms ms"
echo "   $loaded_line"

# --- 3. ask again -----------------------------------------------------------------------------------------
q0=$(bench_proxy_queries)
ask_all again
q1=$(bench_proxy_queries)
hits=$(stat_field cache.hits)
evals=$(stat_field evaluations)
read -r p50 p99 mx <<<"$(percentiles again)"
share=$(awk -v h="$hits" -v n="$n" 'BEGIN { printf "%.2f", 100 * h / n }')
echo
echo "3. all $n asked again: served in $wall_ms ms ($batch at once); answers: $(kinds again)"
echo "   answered from the restored cache: $hits of $n = $share % [target >= 99 %]; evaluations $evals;" \
  "DNS queries sent meanwhile: $((q1 - q0))"
echo "   latency per batch (worst batch): p50 $p50 ms, p99 $p99 ms, max $mx ms"
stop_daemon
exit 0
}
