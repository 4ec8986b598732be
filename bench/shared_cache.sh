#!/usr/bin/env bash
# bench/shared_cache.sh — a fleet's shared cache on Redis (issue 16): daemon A evaluates N distinct cold
# destinations through a delaying DNS rig and stores them in Redis; daemon B (a fresh process, same key)
# then asks the same N: how many DNS queries B sent (target: none) and B's latency (target: p99 < 1 ms).
#
#   bash bench/shared_cache.sh                       # N=10000, DELAY_MS=100
#   N=1000 BATCH_A=500 BATCH_B=10 bash bench/shared_cache.sh
#   BUILD=/path/to/build KEEP=1 bash bench/shared_cache.sh
#
# The rig is bench/cold.sh's, built here the same way (all on loopback, in a private temp dir): signed
# zones test. and cold.test. (N destinations dNNNNN.cold.test, each MX + A + TLSA 3 1 1) served by one nsd
# with response rate limiting off, behind bench_dns_delay_proxy adding DELAY_MS to every query; the
# daemons' unbound fragment sends test. through the proxy and refuses everything else, so the proxy's
# counters are every DNS query the daemons sent. A private redis-server (no persistence) on 127.0.0.1.
# A asks in batches of BATCH_A at once (bench_cold_loadgen: one connection per key), so its engine's
# admission limit is not the subject; B asks in batches of BATCH_B at once and its per-request latencies
# (from the loadgen's --per-request files) give p50/p99/max. Benchmarks are never tests: nothing here
# asserts a speed; exit status 1 only when a step fails.
{
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
n=${N:-10000}
delay_ms=${DELAY_MS:-100}
batch_a=${BATCH_A:-1000}
batch_b=${BATCH_B:-10}
jobs=${JOBS:-2}
policyd=${POLICYD:-$build/bin/dane-policyd}
proxy="$build/bench/bench_dns_delay_proxy"
loadgen="$build/bench/bench_cold_loadgen"

bench_name=shared_cache.sh
# shellcheck source=bench/lib/rig.sh
. "$root/bench/lib/rig.sh"
for tool in nsd ldns-keygen ldns-signzone redis-server redis-cli openssl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool is missing (scripts/install-deps.sh test: nsd, ldnsutils, redis-server, openssl)"
done
missing=()
[ -x "$policyd" ] || missing+=(dane-policyd)
[ -x "$proxy" ] || missing+=(bench_dns_delay_proxy)
[ -x "$loadgen" ] || missing+=(bench_cold_loadgen)
if [ "${#missing[@]}" -gt 0 ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -G Ninja -DDANE_BUILD_BENCH=ON || fail "cmake failed"
  cmake --build "$build" -j "$jobs" --target "${missing[@]}" || fail "building ${missing[*]} failed"
fi
want_fds=$((batch_a + batch_b + 4096))
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge "$want_fds" ] ||
  echo "shared_cache.sh: note: RLIMIT_NOFILE is $(ulimit -Sn); batches of $batch_a may not all connect" >&2

work=$(mktemp -d /tmp/dane-shared.XXXXXX)
chmod 0755 "$work"
pids=()
bench_cleanup_on_exit

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); commit" \
  "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- the rig (as bench/cold.sh builds it) -----------------------------------------------------------------
zones="$work/zones"
mkdir -p "$zones"
nsd_port=$(bench_free_port)
proxy_port=$(bench_free_port)
[ "$proxy_port" != "$nsd_port" ] || proxy_port=$(bench_free_port)
dead_forward_port=$(bench_free_port)
redis_port=$(bench_free_port)
bench_keygen "$zones" test. cold.test.
key_test=$(cat "$zones/test..keyname")
key_cold=$(cat "$zones/cold.test..keyname")
{
  # shellcheck disable=SC2016 # zone-file directives, not shell variables
  printf '$ORIGIN test.\n$TTL 3600\n@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600\n@ NS ns.test.\n'
  printf 'ns A 127.0.0.1\ncold NS ns.test.\n'
  cat "$zones/$key_cold.ds"
} >"$zones/test.zone"
{
  # shellcheck disable=SC2016 # zone-file directives, not shell variables
  printf '$ORIGIN cold.test.\n$TTL 3600\n@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600\n@ NS ns.test.\n'
  for i in $(seq 1 "$n"); do
    d=$(printf 'd%05d' "$i")
    echo "$d MX 10 mx.$d"
    echo "mx.$d A 127.0.1.$((i % 250 + 1))"
    echo "_25._tcp.mx.$d TLSA 3 1 1 $(printf '%064x' "$i")"
  done
} >"$zones/cold.test.zone"
bench_sign "$zones" test. cold.test.
bench_start_nsd "$zones" "$nsd_port" cold.test test. cold.test.
bench_start_proxy "$proxy_port" "$nsd_port" "$delay_ms"
bench_unbound_conf "$work/unbound.conf" "$zones/$key_test.ds" "$proxy_port" "$dead_forward_port" cold.test.

redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$work" --daemonize no \
  >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
[ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" = PONG ] || fail "redis-server did not start: $(cat "$work/redis.log")"
(umask 077 && openssl rand -hex 32 >"$work/shared.key")
echo "rig: nsd 127.0.0.1@$nsd_port behind a proxy adding $delay_ms ms (127.0.0.1@$proxy_port); cold.test: $n" \
  "destinations; redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$redis_port"

# --- the daemons ------------------------------------------------------------------------------------------
start_daemon() { # LABEL
  local sock="$work/$1.sock"
  # shellcheck disable=SC2086 # DAEMON_ARGS: word splitting intended
  "$policyd" --foreground --socketmap "unix:$sock" --mode native --unbound-config "$work/unbound.conf" \
    --user root --state-dir "$work/state" --log-to stderr --cache-size $((n * 2)) \
    --shared-cache "redis://127.0.0.1:$redis_port" --shared-cache-key "$work/shared.key" \
    ${DAEMON_ARGS:-} >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -S "$sock" ] && return 0
    sleep 0.1
  done
  fail "dane-policyd did not listen ($1): $(tail -5 "$work/$1.log")"
}
stats() { # LABEL -> the daemon's stats JSON
  "$loadgen" --connect "unix:$work/$1.sock" --name stats --key all --label stats --timeout 10 \
    --per-request "$work/stats.out" >/dev/null || fail "stats of $1"
  sed 's/^[^ ]* all OK //' "$work/stats.out"
}
ask_all() { # LABEL BATCH -> per-request lines in $work/LABEL.requests
  : >"$work/$1.requests"
  local first=1 count
  while [ "$first" -le "$n" ]; do
    count=$(($2 < n - first + 1 ? $2 : n - first + 1))
    "$loadgen" --connect "unix:$work/$1.sock" --label "$1" --prefix d --width 5 --first "$first" --count "$count" \
      --timeout 120 --per-request "$work/batch.out" >/dev/null || fail "the load generator failed ($1)"
    cat "$work/batch.out" >>"$work/$1.requests"
    first=$((first + count))
  done
}
summarise() { # LABEL -> "p50 p99 max" of the answered requests and the answers by kind
  awk '$1 >= 0 { print $1 }' "$work/$1.requests" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) printf "p50 %s ms, p99 %s ms, max %s ms over %d answers", v[int(NR*0.5+0.5)], v[int(NR*0.99+0.5)], v[NR], NR }'
  echo
  printf '  answers: '
  cut -d' ' -f3- "$work/$1.requests" | sed 's/^TEMP .*/TEMP/' | sort | uniq -c | sort -rn | awk '{ c=$1; $1=""; printf "%s x%s; ", c, $0 }'
  echo
}

start_daemon a
q0=$(bench_proxy_queries)
t0=$(date +%s%N)
ask_all a "$batch_a"
t1=$(date +%s%N)
q1=$(bench_proxy_queries)
for _ in $(seq 200); do
  stored=$(stats a | sed -n 's/.*"shared_cache":{[^}]*"stored":\([0-9]*\).*/\1/p')
  [ "${stored:-0}" -ge "$n" ] && break
  sleep 0.05
done
echo
echo "A: $n cold destinations in batches of $batch_a: $(((t1 - t0) / 1000000)) ms, $((q1 - q0)) DNS queries;" \
  "$(summarise a)"
echo "  A's shared_cache: $(stats a | sed -n 's/.*"shared_cache":\({[^}]*}\).*/\1/p')"

start_daemon b
q2=$(bench_proxy_queries)
t2=$(date +%s%N)
ask_all b "$batch_b"
t3=$(date +%s%N)
q3=$(bench_proxy_queries)
echo "B: the same $n in batches of $batch_b: $(((t3 - t2) / 1000000)) ms, DNS queries sent: $((q3 - q2)) (target: 0);" \
  "$(summarise b)"
echo "  B's shared_cache: $(stats b | sed -n 's/.*"shared_cache":\({[^}]*}\).*/\1/p');" \
  "evaluations: $(stats b | sed -n 's/.*"evaluations":\([0-9]*\).*/\1/p')"
ask_all b "$batch_b"
echo "B again (its own cache): $(summarise b)"
}
exit
