#!/usr/bin/env bash
# Times `dane-policyctl report` on a generated verdict log (default one million lines), plain and gzip,
# table and --tlsrpt, and with a generated Postfix log of as many lines joined to it (--maillog).
# Usage: bench/report.sh [BUILD_DIR=build] [LINES=1000000]
# Prints wall-clock and CPU seconds and peak RSS for each run (GNU time; the CPU figure is the one to
# compare on a shared machine).
set -euo pipefail
BUILD=${1:-build}
LINES=${2:-1000000}
GEN=$BUILD/bench/bench_report_gen
DANE_POLICYCTL=$BUILD/bin/dane-policyctl
[ -x "$GEN" ] && [ -x "$DANE_POLICYCTL" ] || { echo "build first: cmake --build $BUILD --target dane-policyctl bench_report_gen" >&2; exit 2; }
WORK=$(mktemp -d /tmp/report_bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$GEN" "$WORK/verdicts.log" "$LINES"
gzip -c "$WORK/verdicts.log" >"$WORK/verdicts.log.gz"
echo "input: $LINES lines, $(du -m "$WORK/verdicts.log" | cut -f1) MB plain, $(du -m "$WORK/verdicts.log.gz" | cut -f1) MB gzip"
# A Postfix maillog_file of LINES lines over the same destinations (d0.example ... d19999.example):
# per message a TLS session line and a delivery line; one in twenty deferred with 4.7.5 after a
# certificate verification failure, one in fifty an Untrusted session; plus qmgr/cleanup noise.
awk -v lines="$LINES" 'BEGIN {
  srand(1); n = 0; pid = 3000; t = 0
  while (n < lines) {
    d = int(rand() * 20000); host = "mx0.d" d ".example"; ip = "192.0.2." (d % 250 + 1)
    q = sprintf("%X%05d", 655360 + n % 1000000, n % 100000); t += 2
    stamp = sprintf("Nov %02d %02d:%02d:%02d", 1 + int(t / 86400) % 28, int(t / 3600) % 24, int(t / 60) % 60, t % 60)
    r = rand()
    printf "%s mail postfix/qmgr[1000]: %s: from=<a@sender.example>, size=1000, nrcpt=1 (queue active)\n", stamp, q
    if (r < 0.05) {
      printf "%s mail postfix/smtp[%d]: server certificate verification failed for %s[%s]:25: num=65:no matching DANE TLSA records\n", stamp, pid, host, ip
      printf "%s mail postfix/smtp[%d]: Untrusted TLS connection established to %s[%s]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n", stamp, pid, host, ip
      printf "%s mail postfix/smtp[%d]: %s: to=<u@d%d.example>, relay=%s[%s]:25, delay=0.1, delays=0/0/0.1/0, dsn=4.7.5, status=deferred (Server certificate not verified)\n", stamp, pid, q, d, host, ip
      n += 4
    } else {
      level = r < 0.07 ? "Untrusted" : "Verified"
      printf "%s mail postfix/smtp[%d]: %s TLS connection established to %s[%s]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n", stamp, pid, level, host, ip
      printf "%s mail postfix/smtp[%d]: %s: to=<u@d%d.example>, relay=%s[%s]:25, delay=0.1, delays=0/0/0.1/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n", stamp, pid, q, d, host, ip
      n += 3
    }
    pid = 3000 + (pid + 1) % 50
  }
}' >"$WORK/maillog"
echo "maillog: $(wc -l <"$WORK/maillog") lines, $(du -m "$WORK/maillog" | cut -f1) MB"
run() { # LABEL ARGS...
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$DANE_POLICYCTL" report "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  read -r secs user sys kb <"$WORK/time"
  printf '%-24s %6.2f s wall  %6.2f s CPU  %5d MB peak RSS  (%s output lines naming a destination)\n' "$label" \
    "$secs" "$(echo "$user + $sys" | bc)" $((kb / 1024)) "$(grep -c '\.example' "$WORK/out" || true)"
}
run "table, plain" "$WORK/verdicts.log"
run "table, gzip" "$WORK/verdicts.log.gz"
run "--json, plain" --json "$WORK/verdicts.log"
run "--tlsrpt, plain" --tlsrpt --organization bench "$WORK/verdicts.log"
run "table + --maillog" --maillog "$WORK/maillog" "$WORK/verdicts.log"
run "--tlsrpt + --maillog" --tlsrpt --organization bench --maillog "$WORK/maillog" "$WORK/verdicts.log"
