#!/usr/bin/env bash
# CLI tests of bounded input (issue 13, finding 6): every whole-file read of dane-policyctl stops at its
# limit with "input too large" (exit 2), whatever the file is (/dev/zero, a pipe, a sparse 1 GB file),
# and its memory stays small; `report` streams, skips a 100 MB line with FILE:LINE and stays small; `report`
# exits 2 for a truncated or corrupt gzip file and for input of which no line could be read.
# Memory is checked with /usr/bin/time's "maximum resident set size" (a bound on memory, not on time).
set -u
DANE_POLICYCTL=${DANE_POLICYCTL:?DANE_POLICYCTL not set}
PKI=${DANE_TEST_DATA_DIR:?DANE_TEST_DATA_DIR not set}/pki
export TZ=UTC
WORK=$(mktemp -d /tmp/input_limits_cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
pass() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }
expect_rc() { # NAME WANT GOT
  if [ "$2" = "$3" ]; then pass "$1 (exit $3)"; else fail "$1: exit $3, want $2"; fi
}
expect_grep() { # NAME PATTERN FILE
  if grep -qE -- "$2" "$3"; then pass "$1"; else fail "$1: /$2/ not in $3:"; head -c 2000 "$3" | sed 's/^/    /'; fi
}
# Peak memory of one run, in KB, and its exit code: run_measured NAME CMD... (stdout/stderr to $WORK/out, err)
# The bound is the program's own footprint (its peak on a small valid certificate) + 32 MB: the inputs
# below are 1 GB, endless, or hold a 100 MB line, so reading any of them whole goes far past it. (A fixed
# bound does not fit every build: under AddressSanitizer dane-policyctl starts above 64 MB by itself.)
MAX_RSS_KB=0
run_measured() {
  local name=$1
  shift
  /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  local kb
  kb=$(tail -n 1 "$WORK/rss")
  if [ -n "$kb" ] && [ "$kb" -lt "$MAX_RSS_KB" ]; then
    pass "$name: peak memory ${kb} KB < ${MAX_RSS_KB} KB"
  else
    fail "$name: peak memory '${kb}' KB, want < ${MAX_RSS_KB} KB"
  fi
}
if [ ! -x /usr/bin/time ]; then
  echo "FAIL - /usr/bin/time missing (package 'time', scripts/install-deps.sh)"
  exit 1
fi
/usr/bin/time -f '%M' -o "$WORK/rss" "$DANE_POLICYCTL" tlsa "$PKI/leaf-p256.crt" >/dev/null 2>&1 || {
  echo "FAIL - dane-policyctl tlsa on a valid certificate failed: no baseline for the memory bound"
  exit 1
}
MAX_RSS_KB=$(($(tail -n 1 "$WORK/rss") + 32768))
echo "# memory bound: ${MAX_RSS_KB} KB (the footprint on a small certificate + 32 MB)"

# --- tlsa / verify / rollover on /dev/zero: endless input, no size to trust
run_measured "tlsa /dev/zero" timeout 60 "$DANE_POLICYCTL" tlsa /dev/zero
expect_rc "tlsa /dev/zero" 2 "$rc"
expect_grep "tlsa /dev/zero: too large, file and limit named" "'/dev/zero': input too large \(more than 1048576 bytes\)" "$WORK/err"

run_measured "verify /dev/zero" timeout 60 "$DANE_POLICYCTL" verify --tlsa "3 1 1 $(printf '%064d' 0)" --chain /dev/zero
expect_rc "verify --chain /dev/zero" 2 "$rc"
expect_grep "verify /dev/zero: too large" "'/dev/zero': input too large" "$WORK/err"

run_measured "rollover /dev/zero" timeout 60 "$DANE_POLICYCTL" rollover --current /dev/zero \
  --next "$PKI/leaf-p256.crt" --host mx.example --state-file "$WORK/rollover.state"
expect_rc "rollover --current /dev/zero" 2 "$rc"
expect_grep "rollover /dev/zero: too large" "--current: '/dev/zero': input too large" "$WORK/err"

# --- a pipe (not a regular file) is bounded the same way
head -c 5000000 /dev/zero | timeout 60 "$DANE_POLICYCTL" tlsa /dev/stdin >"$WORK/out" 2>"$WORK/err"
expect_rc "tlsa from a 5 MB pipe" 2 "$?"
expect_grep "pipe: too large" "'/dev/stdin': input too large" "$WORK/err"

# --- a sparse 1 GB file without PEM: refused as too large, without reading it into memory
truncate -s 1G "$WORK/huge.pem"
run_measured "tlsa 1 GB file" timeout 60 "$DANE_POLICYCTL" tlsa "$WORK/huge.pem"
expect_rc "tlsa 1 GB PEM-less file" 2 "$rc"
expect_grep "1 GB file: too large, named" "huge\.pem': input too large \(more than 1048576 bytes\)" "$WORK/err"
run_measured "verify 1 GB file" timeout 60 "$DANE_POLICYCTL" verify --tlsa "3 1 1 $(printf '%064d' 0)" --chain "$WORK/huge.pem"
expect_rc "verify 1 GB PEM-less file" 2 "$rc"

# --- the limit is a limit, not a change of behaviour: a certificate padded to just under 1 MiB still
# works (text outside PEM blocks is ignored), one byte more is refused
cp "$PKI/leaf-p256.crt" "$WORK/padded.pem"
pad=$((1048576 - $(stat -c %s "$WORK/padded.pem")))
head -c "$pad" /dev/zero | tr '\0' '#' >>"$WORK/padded.pem"
"$DANE_POLICYCTL" tlsa "$WORK/padded.pem" >"$WORK/out" 2>"$WORK/err"
expect_rc "certificate file of exactly 1 MiB" 0 "$?"
expect_grep "1 MiB file: record printed" '^3 1 1 [0-9a-f]{64}$' "$WORK/out"
printf '#' >>"$WORK/padded.pem"
"$DANE_POLICYCTL" tlsa "$WORK/padded.pem" >"$WORK/out" 2>"$WORK/err"
expect_rc "certificate file of 1 MiB + 1 byte" 2 "$?"
expect_grep "1 MiB + 1: too large" "padded\.pem': input too large" "$WORK/err"

# --- report: a 100 MB line (sparse: NUL bytes) is skipped with FILE:LINE, in bounded memory
mk() { printf '{"time":"%s","destination":"%s","mode":"native","policy":"dane-only","answer":"OK dane-only","reason":"r","cached":false,"hosts":[]}\n' "$1" "$2"; }
truncate -s 100M "$WORK/long.jsonl"
{ printf '\n'; mk 2026-11-20T00:00:00Z after.example; } >>"$WORK/long.jsonl"
run_measured "report with a 100 MB line" "$DANE_POLICYCTL" report "$WORK/long.jsonl"
expect_rc "report with a 100 MB line and a good one" 0 "$rc"
expect_grep "100 MB line named" "long\.jsonl:1: malformed verdict line: line longer than 1048576 bytes, skipped" "$WORK/err"
expect_grep "line after it read" '^ +after\.example +dane-only +1 ' "$WORK/out"

truncate -s 100M "$WORK/only-long.jsonl"
run_measured "report with only a 100 MB line" "$DANE_POLICYCTL" report "$WORK/only-long.jsonl"
expect_rc "report with only a 100 MB unterminated line" 2 "$rc"
expect_grep "only-long named" "only-long\.jsonl:1: malformed verdict line \(truncated last line, no newline\): line longer than" "$WORK/err"
expect_grep "nothing read" "no input line could be read" "$WORK/err"

# the same through --maillog
{ head -c 3000000 /dev/zero | tr '\0' 'x'; printf '\n'; } >"$WORK/maillog"
"$DANE_POLICYCTL" report --maillog "$WORK/maillog" >"$WORK/out" 2>"$WORK/err"
expect_rc "maillog with only a 3 MB line" 2 "$?"
expect_grep "maillog long line named" "maillog:1: malformed log line: line longer than 1048576 bytes" "$WORK/err"

# --- report: gzip truncated, corrupt, trailing garbage; all-garbage input; valid input still 0
for i in $(seq 1 2000); do mk 2026-11-20T00:00:00Z "d$((i % 50)).example"; done >"$WORK/plain.jsonl"
gzip -c "$WORK/plain.jsonl" >"$WORK/good.gz"
"$DANE_POLICYCTL" report "$WORK/good.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "valid gzip" 0 "$?"
[ -s "$WORK/err" ] && fail "valid gzip wrote to stderr" || pass "valid gzip: empty stderr"

head -c 1000 "$WORK/good.gz" >"$WORK/cut.gz"
"$DANE_POLICYCTL" report "$WORK/cut.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "truncated gzip (head -c 1000)" 2 "$?"
expect_grep "truncated gzip named" "cut\.gz:[0-9]+: malformed input, stopped reading: truncated gzip stream" "$WORK/err"

python3 - "$WORK/good.gz" "$WORK/corrupt.gz" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
mid = len(data) // 2
for i in range(mid, mid + 16):
    data[i] ^= 0xFF
open(sys.argv[2], "wb").write(bytes(data))
EOF
"$DANE_POLICYCTL" report "$WORK/corrupt.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "corrupt gzip (16 bytes flipped in the middle)" 2 "$?"
expect_grep "corrupt gzip named" "corrupt\.gz:[0-9]+: malformed input, stopped reading: corrupt gzip data" "$WORK/err"

python3 - "$WORK/good.gz" "$WORK/badcrc.gz" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-8] ^= 0x01  # the CRC-32 of the gzip trailer
open(sys.argv[2], "wb").write(bytes(data))
EOF
"$DANE_POLICYCTL" report "$WORK/badcrc.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "gzip with a wrong CRC in its trailer" 2 "$?"
expect_grep "bad CRC named" "badcrc\.gz:[0-9]+: malformed input, stopped reading: corrupt gzip data: incorrect data check" "$WORK/err"

{ cat "$WORK/good.gz"; printf 'garbage'; } >"$WORK/trailing.gz"
"$DANE_POLICYCTL" report "$WORK/trailing.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "gzip followed by garbage" 2 "$?"
expect_grep "trailing garbage named" "trailing\.gz:[0-9]+: malformed input, stopped reading: garbage after the end of the gzip data" "$WORK/err"

head -c 20000 /dev/urandom | base64 >"$WORK/garbage.log"
"$DANE_POLICYCTL" report "$WORK/garbage.log" >"$WORK/out" 2>"$WORK/err"
expect_rc "all-garbage file" 2 "$?"
expect_grep "all garbage: nothing read" "no input line could be read" "$WORK/err"
expect_grep "all garbage: lines named" "garbage\.log:1: malformed verdict line" "$WORK/err"

printf 'not json\n' | gzip -c | head -c 12 >"$WORK/garbage-cut.gz"
"$DANE_POLICYCTL" report "$WORK/garbage-cut.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "empty after a read error" 2 "$?"

: >"$WORK/empty.jsonl"
"$DANE_POLICYCTL" report "$WORK/empty.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "empty file (nothing wrong, nothing to report)" 0 "$?"

"$DANE_POLICYCTL" report "$WORK/plain.jsonl" "$WORK/garbage.log" >"$WORK/out" 2>"$WORK/err"
expect_rc "good file and garbage file" 0 "$?"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
