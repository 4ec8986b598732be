#!/usr/bin/env bash
# Times `danectl report` on a generated verdict log (default one million lines), plain and gzip,
# table and --tlsrpt. Usage: bench/report.sh [BUILD_DIR=build] [LINES=1000000]
# Prints wall-clock seconds and peak RSS for each run (GNU time).
set -euo pipefail
BUILD=${1:-build}
LINES=${2:-1000000}
GEN=$BUILD/bench/bench_report_gen
DANECTL=$BUILD/danectl/danectl
[ -x "$GEN" ] && [ -x "$DANECTL" ] || { echo "build first: cmake --build $BUILD --target danectl bench_report_gen" >&2; exit 2; }
WORK=$(mktemp -d /tmp/report_bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$GEN" "$WORK/verdicts.log" "$LINES"
gzip -c "$WORK/verdicts.log" >"$WORK/verdicts.log.gz"
echo "input: $LINES lines, $(du -m "$WORK/verdicts.log" | cut -f1) MB plain, $(du -m "$WORK/verdicts.log.gz" | cut -f1) MB gzip"
run() { # LABEL ARGS...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$DANECTL" report "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  read -r secs kb <"$WORK/time"
  printf '%-28s %6.2f s  %5d MB peak RSS  (%s destinations)\n' "$label" "$secs" $((kb / 1024)) \
    "$(grep -c '\.example' "$WORK/out" || true)"
}
run "table, plain" "$WORK/verdicts.log"
run "table, gzip" "$WORK/verdicts.log.gz"
run "--json, plain" --json "$WORK/verdicts.log"
run "--tlsrpt, plain" --tlsrpt --organization bench "$WORK/verdicts.log"
