#!/usr/bin/env bash
# bench/run.sh — socketmap throughput of dane-policyd's cache-hit path against the floor (docs/design.md §7).
#
#   bench/run.sh                  # defaults below; everything on a unix socket in a private temp dir
#   BUILD=build CONNECTIONS=50 REQUESTS=300000 WARMUP=20000 DISTINCT=100000 bench/run.sh
#   SKIP_THROUGHPUT=1 DISTINCT=100000 bench/run.sh   # memory only: no floor, no cache-hit throughput run
#   DAEMON_ARGS="--log-cache-hits" bench/run.sh      # extra dane-policyd options (word-split)
#
# 1. bench_floor_server (constant answer, single-threaded epoll) under bench_loadgen: the floor.
# 2. dane-policyd --foreground --socketmap unix:PATH --mode native with an --unbound-config that refuses
#    every name (no packet leaves the machine; every destination evaluates quickly to TEMP, which the
#    daemon caches for --tempfail-ttl). After a warm-up on one key, the same key is asked REQUESTS times:
#    the cache-hit path. Prints both throughputs, the ratio and p99.
# 3. Memory: VmRSS of dane-policyd before and after DISTINCT distinct destinations were asked, and the
#    number of entries the cache then holds (from the daemon's stats map, when python3 is there to ask it):
#    every one of them is a TEMP answer, kept for --tempfail-ttl (600 s here), so all DISTINCT stay cached.
# Benchmarks are never tests: nothing here asserts a speed. Exit status 1 only when a step fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
connections=${CONNECTIONS:-50}
requests=${REQUESTS:-300000}
warmup=${WARMUP:-20000}
distinct=${DISTINCT:-100000}
key=${KEY:-bench.test}
jobs=${JOBS:-2}
skip_throughput=${SKIP_THROUGHPUT:-0}

floor="$build/bench/bench_floor_server"
loadgen="$build/bench/bench_loadgen"
policyd="$build/bin/dane-policyd"

if [ ! -x "$floor" ] || [ ! -x "$loadgen" ] || [ ! -x "$policyd" ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DDANE_BUILD_BENCH=ON
  fi
  cmake --build "$build" -j "$jobs" --target bench_floor_server bench_loadgen dane-policyd
fi

work=$(mktemp -d /tmp/dane-bench.XXXXXX)
pids=()
cleanup() {
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
  rm -rf "$work"
}
trap cleanup EXIT

wait_for_socket() { # PATH PID LOG
  for _ in $(seq 100); do
    [ -S "$1" ] && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench: server exited before listening; its log:" >&2
      cat "$3" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "bench: $1 did not appear within 10 s" >&2
  return 1
}

# CPU time (user + system, all threads) of a process in clock ticks, from /proc/PID/stat.
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
clk_tck=$(getconf CLK_TCK)
us_per_request() { # TICKS-BEFORE TICKS-AFTER REQUESTS
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$clk_tck" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n }'
}

field() { # NAME RESULT-LINE
  sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"
}

run_load() { # SOCKET LABEL EXTRA-ARGS...
  local socket=$1 label=$2
  shift 2
  local out
  out=$("$loadgen" --connect "unix:$socket" --connections "$connections" "$@") || {
    echo "$out" >&2
    echo "bench: loadgen reported errors ($label)" >&2
    return 1
  }
  echo "  $label: $(grep -v '^RESULT' <<<"$out")" >&2
  grep '^RESULT' <<<"$out"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. the floor ---------------------------------------------------------------------------------------
floor_result=""
floor_cpu=""
if [ "$skip_throughput" != 1 ]; then
"$floor" --listen "unix:$work/floor.sock" --max-seconds 600 >"$work/floor.log" 2>&1 &
floor_pid=$!
pids+=("$floor_pid")
wait_for_socket "$work/floor.sock" "$floor_pid" "$work/floor.log"
run_load "$work/floor.sock" "floor warm-up" --requests "$warmup" --key "$key" >/dev/null
t0=$(cpu_ticks "$floor_pid")
floor_result=$(run_load "$work/floor.sock" "floor_server" --requests "$requests" --key "$key" --expect "OK dane-only")
floor_cpu=$(us_per_request "$t0" "$(cpu_ticks "$floor_pid")" "$requests")
kill -TERM "$floor_pid"
wait "$floor_pid" 2>/dev/null || true
echo "floor_server: $(field qps "$floor_result") q/s, p99 $(field p99_us "$floor_result") us, $floor_cpu us CPU/request"
fi

# --- 2. dane-policyd, cache-hit path ---------------------------------------------------------------------
cat >"$work/unbound.conf" <<'CONF'
# Refuse every name locally: no packet leaves the machine and every lookup fails at once (-> TEMP).
server:
  local-zone: "." refuse
  local-zone: "test." refuse
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@9
CONF
help=$("$policyd" --help 2>&1 || true)
has_option() { grep -q -- "--$1\b" <<<"$help"; }
daemon_args=(--foreground --socketmap "unix:$work/policyd.sock" --mode native --unbound-config "$work/unbound.conf")
# Optional knobs, used when this build of the daemon has them.
has_option user && daemon_args+=(--user root)
has_option state-dir && mkdir -p "$work/state" && daemon_args+=(--state-dir "$work/state")
has_option tempfail-ttl && daemon_args+=(--tempfail-ttl 600)
has_option cache-size && daemon_args+=(--cache-size "$((distinct * 2))")
has_option verdict-log && daemon_args+=(--verdict-log "$work/verdicts.jsonl")
has_option dns-timeout && daemon_args+=(--dns-timeout 5)
# shellcheck disable=SC2206 # word splitting intended
[ -n "${DAEMON_ARGS:-}" ] && daemon_args+=(${DAEMON_ARGS})
echo "dane-policyd ${daemon_args[*]}"
"$policyd" "${daemon_args[@]}" >"$work/policyd.log" 2>&1 &
policyd_pid=$!
pids+=("$policyd_pid")
wait_for_socket "$work/policyd.sock" "$policyd_pid" "$work/policyd.log"

rss_empty=$(awk '/^VmRSS/ {print $2}' "/proc/$policyd_pid/status")
run_load "$work/policyd.sock" "first request (fills the cache)" --requests 1 --connections 1 --key "$key" >/dev/null
policyd_result=""
policyd_cpu=""
if [ "$skip_throughput" != 1 ]; then
  run_load "$work/policyd.sock" "dane-policyd warm-up" --requests "$warmup" --key "$key" >/dev/null
  t0=$(cpu_ticks "$policyd_pid")
  policyd_result=$(run_load "$work/policyd.sock" "dane-policyd" --requests "$requests" --key "$key")
  policyd_cpu=$(us_per_request "$t0" "$(cpu_ticks "$policyd_pid")" "$requests")
fi

# The daemon's stats JSON ("stats all" on the socketmap), asked with python3; empty without it.
daemon_stats() { # SOCKET
  command -v python3 >/dev/null || return 1
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
q = b"stats all"
s.sendall(str(len(q)).encode() + b":" + q + b",")
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    head, sep, rest = buf.partition(b":")
    if sep and len(rest) > int(head):
        break
length, _, rest = buf.partition(b":")
payload = rest[: int(length)].decode()
print(payload[3:] if payload.startswith("OK ") else payload)
PY
}

# --- 3. memory after DISTINCT distinct destinations ------------------------------------------------------
rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$policyd_pid/status")
distinct_result=$(run_load "$work/policyd.sock" "$distinct distinct keys" --requests "$distinct" --distinct "$distinct" \
  --suffix "$key" --duration 600)
rss_after=$(awk '/^VmRSS/ {print $2}' "/proc/$policyd_pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$policyd_pid/status")
cache_stats=$(daemon_stats "$work/policyd.sock" || true)

kill -TERM "$policyd_pid"
wait "$policyd_pid" 2>/dev/null || true

# --- summary --------------------------------------------------------------------------------------------
fq=$(field qps "$floor_result")
dq=$(field qps "$policyd_result")
echo
if [ "$skip_throughput" != 1 ]; then
echo "=== socketmap over a unix socket, $connections connections, one request in flight each ==="
printf '%-28s %8s q/s  p50 %8s us  p99 %8s us  max %8s us  server CPU %6s us/request\n' "floor_server" "$fq" \
  "$(field p50_us "$floor_result")" "$(field p99_us "$floor_result")" "$(field max_us "$floor_result")" "$floor_cpu"
printf '%-28s %8s q/s  p50 %8s us  p99 %8s us  max %8s us  server CPU %6s us/request\n' \
  "dane-policyd (cache hits)" "$dq" "$(field p50_us "$policyd_result")" "$(field p99_us "$policyd_result")" \
  "$(field max_us "$policyd_result")" "$policyd_cpu"
echo "dane-policyd answers: ok=$(field ok "$policyd_result") notfound=$(field notfound "$policyd_result")" \
  "temp=$(field temp "$policyd_result") timeout=$(field timeout "$policyd_result") perm=$(field perm "$policyd_result")"
awk -v d="$dq" -v f="$fq" -v dc="$policyd_cpu" -v fc="$floor_cpu" 'BEGIN {
  if (f > 0) printf "ratio dane-policyd / floor: throughput %.2f", d / f
  if (dc > 0 && fc > 0) printf ", CPU per request %.2fx", dc / fc
  printf "\n" }'
fi
printf '%-28s %10s q/s   p99 %8s us   (cache misses: each a refused DNS evaluation)\n' "$distinct distinct keys" \
  "$(field qps "$distinct_result")" "$(field p99_us "$distinct_result")"
echo "dane-policyd VmRSS: ${rss_empty} kB empty, ${rss_before} kB before, ${rss_after} kB after $distinct distinct destinations (VmHWM ${hwm} kB)"
if [ -n "$cache_stats" ]; then
  echo "dane-policyd cache after the distinct run: $(python3 -c 'import json,sys; c=json.loads(sys.argv[1])["cache"]; print(" ".join(f"{k}={v}" for k, v in c.items()))' "$cache_stats")"
fi
