#!/usr/bin/env bash
# bench/metrics_cost.sh — the cost of --metrics on the cache-hit path (issue 16: "within noise of no metrics").
#
#   bench/metrics_cost.sh                      # 3 rounds, each: bench/run.sh without, then with --metrics
#   ROUNDS=5 REQUESTS=300000 SCRAPE_EVERY=1 bench/metrics_cost.sh
#   BASELINE_POLICYD=/path/to/older/dane-policyd bench/metrics_cost.sh   # a third variant: that binary
#
# Each round runs bench/run.sh (floor server, then dane-policyd's cache-hit path over a unix socket)
# twice, alternating: once as it is, once with --metrics inet:127.0.0.1:PORT while a scraper asks
# GET /metrics every SCRAPE_EVERY seconds (1 s: far more often than Prometheus' usual 15-60 s).
# With BASELINE_POLICYD, each round also runs that binary (e.g. the build before the metrics work:
# the latency histogram every request feeds changed too, with or without --metrics). Prints, per run, the cache-hit throughput, p99, server CPU per request and the ratio to that run's
# own floor (which absorbs some of the machine's noise), then the medians of both variants.
# A benchmark, never a test: nothing here asserts a speed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
port=${METRICS_PORT:-19142}
scrape_every=${SCRAPE_EVERY:-1}
export REQUESTS=${REQUESTS:-200000} WARMUP=${WARMUP:-20000} DISTINCT=${DISTINCT:-1000}
command -v curl >/dev/null || { echo "metrics_cost: needs curl" >&2; exit 2; }

scraper_pid=""
cleanup() { [ -n "$scraper_pid" ] && kill "$scraper_pid" 2>/dev/null || true; }
trap cleanup EXIT

results=()
one_run() { # VARIANT
  local variant=$1 out line
  if [ "$variant" = on ]; then
    (while :; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true; sleep "$scrape_every"; done) &
    scraper_pid=$!
    out=$(DAEMON_ARGS="${DAEMON_ARGS:-} --metrics inet:127.0.0.1:$port" bash "$root/bench/run.sh" 2>/dev/null)
    kill "$scraper_pid" 2>/dev/null || true
    wait "$scraper_pid" 2>/dev/null || true
    scraper_pid=""
  elif [ "$variant" = base ]; then
    local fake
    fake=$(mktemp -d /tmp/dane-bench-base.XXXXXX)
    mkdir -p "$fake/bin"
    ln -s "$(cd "${BUILD:-$root/build}" && pwd)/bench" "$fake/bench"
    ln -s "$BASELINE_POLICYD" "$fake/bin/dane-policyd"
    out=$(BUILD=$fake bash "$root/bench/run.sh" 2>/dev/null)
    rm -rf "$fake"
  else
    out=$(bash "$root/bench/run.sh" 2>/dev/null)
  fi
  line=$(grep '^dane-policyd (cache hits)' <<<"$out")
  local qps p99 cpu ratio
  qps=$(awk '{print $4}' <<<"$line")
  p99=$(sed -n 's/.* p99 *\([0-9.]*\) us.*/\1/p' <<<"$line")
  cpu=$(sed -n 's/.*server CPU *\([0-9.]*\) us.*/\1/p' <<<"$line")
  ratio=$(sed -n 's/^ratio dane-policyd \/ floor: throughput \([0-9.]*\).*/\1/p' <<<"$out")
  printf '%-13s %10s q/s  p99 %8s us  CPU %6s us/request  vs floor %s\n' "variant=$variant" "$qps" "$p99" "$cpu" "$ratio"
  results+=("$variant $qps $cpu $ratio")
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of $REQUESTS cache hits"
variants=(off on)
[ -n "${BASELINE_POLICYD:-}" ] && variants+=(base)
for _ in $(seq "$rounds"); do
  for variant in "${variants[@]}"; do
    one_run "$variant"
  done
done
echo
for variant in "${variants[@]}"; do
  printf '%s\n' "${results[@]}" | awk -v v="$variant" 'BEGIN { n = 0 } $1 == v { q[n] = $2; c[n] = $3; r[n] = $4; n++ }
    function median(a, n,   i, j, t) {
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2 }
    END { printf "median variant=%-4s %10.0f q/s  CPU %6.2f us/request  vs floor %.2f  (%d runs)\n", v, median(q, n), median(c, n), median(r, n), n }'
done
