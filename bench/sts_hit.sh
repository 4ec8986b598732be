#!/usr/bin/env bash
# bench/sts_hit.sh — the cache-hit cost of an MTA-STS destination beside a DANE one (issue 15), side by side
# with the floor server, in one run.
#
#   bash bench/sts_hit.sh                          # ROUNDS=3 rounds of REQUESTS=200000 per key
#   BUILD=/path/to/build ROUNDS=5 REQUESTS=300000 CONNECTIONS=50 bash bench/sts_hit.sh
#   KEEP=1 bash bench/sts_hit.sh                   # keep the work directory (zone, logs, policy store)
#
# The rig (loopback only, built at run time in a private temp dir):
#   * one signed zone, test. (ldns-keygen + ldns-signzone, served by nsd, rate limiting off), holding
#       dane.test   MX mx.dane.test, mx.dane.test A, _25._tcp.mx.dane.test TLSA 3 1 1 <digest>  (DANE)
#       sts.test    MX mx.sts.test, mx.sts.test A, no TLSA; _mta-sts.sts.test TXT "v=STSv1; id=bench1;",
#                   mta-sts.sts.test A 127.0.18.1                                               (MTA-STS)
#   * `openssl s_server -WWW` on 127.0.18.1:443 serving /.well-known/mta-sts.txt (mode enforce), with a
#     certificate for mta-sts.sts.test made here and signed by the fixture intermediate (tests/data/pki);
#   * dane-policyd --mta-sts --mta-sts-ca-file tests/data/pki/root.crt, its resolver pointed at the nsd.
# Then, in each round, one after the other: the floor server (bench_floor_server, a constant answer), the
# daemon asked dane.test REQUESTS times, and the daemon asked sts.test REQUESTS times (every answer a cache
# hit after one warm-up request each; the answers are checked). Prints each round and the medians: q/s, p99
# and server CPU per request, and the ratios STS hit / DANE hit and each / floor.
# Needs root (port 443 on a loopback alias). Benchmarks are never tests: nothing here asserts a speed.
# Exit status 1 only when a step fails (build, rig, a wrong answer, a load generator that cannot connect).
set -euo pipefail
{
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rounds=${ROUNDS:-3}
requests=${REQUESTS:-200000}
connections=${CONNECTIONS:-50}
jobs=${JOBS:-2}
pki="$root/tests/data/pki"

policyd="$build/bin/dane-policyd"
floor="$build/bench/bench_floor_server"
loadgen="$build/bench/bench_loadgen"
proxy="$build/bench/bench_dns_delay_proxy"

bench_name=sts_hit.sh
# shellcheck source=bench/lib/rig.sh
. "$root/bench/lib/rig.sh"
[ "$(id -u)" = 0 ] || fail "needs root (an HTTPS server on port 443 of 127.0.18.1)"
for tool in nsd ldns-keygen ldns-signzone openssl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool is missing (Debian packages nsd, ldnsutils, openssl: scripts/install-deps.sh)"
done

missing=()
for target in dane-policyd:"$policyd" bench_floor_server:"$floor" bench_loadgen:"$loadgen" \
  bench_dns_delay_proxy:"$proxy"; do
  [ -x "${target#*:}" ] || missing+=("${target%%:*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DDANE_BUILD_BENCH=ON >/dev/null || fail "cmake configure failed"
  cmake --build "$build" -j "$jobs" --target "${missing[@]}" || fail "building ${missing[*]} failed"
fi

work=$(mktemp -d /tmp/dane-sts-hit.XXXXXX)
chmod 0755 "$work"
pids=()
bench_cleanup_on_exit

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- the rig ----------------------------------------------------------------------------------------------
zones="$work/zones"
mkdir -p "$zones"
nsd_port=$(bench_free_port)
dead_port=$(bench_free_port)
bench_keygen "$zones" test.
key_test=$(cat "$zones/test..keyname")
cat >"$zones/test.zone" <<ZONE
\$ORIGIN test.
\$TTL 3600
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 3600
@ NS ns.test.
ns A 127.0.0.1
dane MX 10 mx.dane
mx.dane A 127.0.18.2
_25._tcp.mx.dane TLSA 3 1 1 $(printf '%064x' 42)
sts MX 10 mx.sts
mx.sts A 127.0.18.3
_mta-sts.sts TXT "v=STSv1; id=bench1;"
mta-sts.sts A 127.0.18.1
ZONE
bench_sign "$zones" test.
bench_start_nsd "$zones" "$nsd_port" test test.
bench_unbound_conf "$work/unbound.conf" "$zones/$key_test.ds" "$nsd_port" "$dead_port"

# The policy server: a certificate for mta-sts.sts.test under the fixture intermediate, s_server -WWW.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/https.key" 2>/dev/null || fail "openssl ecparam failed"
openssl req -new -key "$work/https.key" -subj /CN=mta-sts.sts.test -out "$work/https.csr" ||
  fail "openssl req failed"
printf 'subjectAltName=DNS:mta-sts.sts.test\n' >"$work/https.ext"
openssl x509 -req -in "$work/https.csr" -CA "$pki/int.crt" -CAkey "$pki/int.key" -CAcreateserial \
  -CAserial "$work/int.srl" -days 30 -extfile "$work/https.ext" -out "$work/https.crt" 2>/dev/null ||
  fail "openssl x509 -req failed"
mkdir -p "$work/www/.well-known"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n' \
  >"$work/www/.well-known/mta-sts.txt"
(cd "$work/www" && exec openssl s_server -quiet -accept 127.0.18.1:443 -cert "$work/https.crt" \
  -cert_chain "$pki/int.crt" -key "$work/https.key" -WWW) >"$work/https.log" 2>&1 &
pids+=("$!")

# --- the daemon -------------------------------------------------------------------------------------------
sock="$work/socketmap"
mkdir -p "$work/state"
"$policyd" --foreground --socketmap "unix:$sock" --mode native --unbound-config "$work/unbound.conf" \
  --user root --log-to stderr --state-dir "$work/state" --verdict-log "$work/verdicts.jsonl" \
  --mta-sts --mta-sts-ca-file "$pki/root.crt" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
for _ in $(seq 100); do
  [ -S "$sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || fail "dane-policyd exited at start: $(cat "$work/daemon.log")"
  sleep 0.1
done
[ -S "$sock" ] || fail "dane-policyd did not listen on $sock"

dane_answer="OK dane-only"
sts_answer="OK secure match=mx.sts.test servername=hostname"
"$loadgen" --connect "unix:$sock" --connections 1 --requests 1 --key dane.test --expect "$dane_answer" \
  >"$work/warm-dane.out" 2>&1 || fail "dane.test was not answered '$dane_answer': $(cat "$work/warm-dane.out")"
"$loadgen" --connect "unix:$sock" --connections 1 --requests 1 --key sts.test --expect "$sts_answer" \
  >"$work/warm-sts.out" 2>&1 || fail "sts.test was not answered '$sts_answer': $(cat "$work/warm-sts.out");" \
  "daemon log: $(tail -5 "$work/daemon.log")"

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
clk_tck=$(getconf CLK_TCK)
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"; }
measure() { # PID SOCKET KEY EXPECT -> "qps p99_us cpu_us"
  local t0 out t1
  t0=$(cpu_ticks "$1")
  out=$("$loadgen" --connect "unix:$2" --connections "$connections" --requests "$requests" --warmup 10000 \
    --key "$3" --expect "$4") || fail "load generator failed on $3: $out"
  t1=$(cpu_ticks "$1")
  out=$(grep '^RESULT' <<<"$out")
  echo "$(field qps "$out") $(field p99_us "$out") $(awk -v a="$t0" -v b="$t1" -v n="$requests" -v hz="$clk_tck" \
    'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }')"
}

: >"$work/rounds"
for r in $(seq "$rounds"); do
  "$floor" --listen "unix:$work/floor.sock" --max-seconds 600 >"$work/floor.log" 2>&1 &
  floor_pid=$!
  for _ in $(seq 100); do [ -S "$work/floor.sock" ] && break; sleep 0.05; done
  f=$(measure "$floor_pid" "$work/floor.sock" dane.test "$dane_answer")
  kill -TERM "$floor_pid"
  wait "$floor_pid" 2>/dev/null || true
  rm -f "$work/floor.sock"
  d=$(measure "$daemon_pid" "$sock" dane.test "$dane_answer")
  s=$(measure "$daemon_pid" "$sock" sts.test "$sts_answer")
  echo "round $r: floor $f | dane hit $d | sts hit $s   (q/s p99_us cpu_us/request)"
  echo "$f $d $s" >>"$work/rounds"
done
echo
awk '
  function median(col,   i, n, v, t) { n = 0; for (i = 1; i <= NR; i++) v[++n] = cell[i, col]
    for (i = 1; i <= n; i++) for (t = i + 1; t <= n; t++) if (v[t] < v[i]) { x = v[i]; v[i] = v[t]; v[t] = x }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
  { for (c = 1; c <= NF; c++) cell[NR, c] = $c }
  END {
    fq = median(1); fp = median(2); fc = median(3); dq = median(4); dp = median(5); dc = median(6)
    sq = median(7); sp = median(8); sc = median(9)
    printf "medians over %d rounds:\n", NR
    printf "  %-26s %9.0f q/s  p99 %6.0f us  server CPU %5.2f us/request\n", "floor_server", fq, fp, fc
    printf "  %-26s %9.0f q/s  p99 %6.0f us  server CPU %5.2f us/request\n", "dane-policyd, DANE hit", dq, dp, dc
    printf "  %-26s %9.0f q/s  p99 %6.0f us  server CPU %5.2f us/request\n", "dane-policyd, MTA-STS hit", sq, sp, sc
    printf "ratios: DANE hit / floor %.2f, MTA-STS hit / floor %.2f, MTA-STS hit / DANE hit %.2f (throughput);", dq / fq, sq / fq, sq / dq
    printf " CPU per request MTA-STS / DANE %.2fx\n", sc / dc
  }' "$work/rounds"
grep -c '"sts"' "$work/verdicts.jsonl" | sed 's/^/verdict-log lines with an "sts" object: /'
kill -TERM "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
exit 0
}
