#!/usr/bin/env bash
# dane-policyd --mta-sts / --mta-sts-ca-file on the real binary: an unreadable CA file is bad usage
# (exit 2, the option and the file named) at start and in --check-config; a readable one passes; without
# --mta-sts the CA file is not looked at.
# Needs: DANE_POLICYD, DANE_SOURCE_DIR (for tests/data/pki).
set -u

src=${DANE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
[[ -x ${DANE_POLICYD:-} ]] || { echo "FAIL: DANE_POLICYD is not set to the dane-policyd binary" >&2; exit 1; }

tmp=$(mktemp -d /tmp/dane-cli-mta-sts-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/state" "$tmp/a-directory"
: >"$tmp/empty.pem"

# run EXPECTED_EXIT PATTERN -- COMMAND...
run() {
  local want=$1 pattern=$2
  shift 3
  local out rc
  out=$(timeout 30 "$@" 2>&1 </dev/null)
  rc=$?
  [[ $rc -eq $want ]] || fail "$* exited $rc, expected $want; output: $out"
  [[ $out =~ $pattern ]] || fail "$*: output does not match '$pattern': $out"
}

common=(--config /dev/null --user root --state-dir "$tmp/state")
# A plain start: exit 2 before anything is bound or started.
run 2 "error: --mta-sts-ca-file $tmp/no-such.pem: No such file or directory" -- \
  "$DANE_POLICYD" "${common[@]}" --foreground --log-to stderr --mta-sts --mta-sts-ca-file "$tmp/no-such.pem"
run 2 "error: --mta-sts-ca-file $tmp/a-directory: not a regular file" -- \
  "$DANE_POLICYD" "${common[@]}" --foreground --log-to stderr --mta-sts --mta-sts-ca-file "$tmp/a-directory"
run 2 "error: --mta-sts-ca-file $tmp/empty.pem: empty" -- \
  "$DANE_POLICYD" "${common[@]}" --foreground --log-to stderr --mta-sts --mta-sts-ca-file "$tmp/empty.pem"
# --check-config names the option and the file.
run 2 "^--mta-sts-ca-file: $tmp/no-such.pem: No such file or directory" -- \
  "$DANE_POLICYD" "${common[@]}" --check-config --mta-sts --mta-sts-ca-file "$tmp/no-such.pem"
run 0 "configuration OK" -- \
  "$DANE_POLICYD" "${common[@]}" --check-config --mta-sts --mta-sts-ca-file "$src/tests/data/pki/root.crt"
run 0 "configuration OK" -- "$DANE_POLICYD" "${common[@]}" --check-config --mta-sts
# Without --mta-sts the CA file is not used, so not checked.
run 0 "configuration OK" -- "$DANE_POLICYD" "${common[@]}" --check-config --mta-sts-ca-file "$tmp/no-such.pem"
# The configuration-file spelling.
printf 'mta-sts = yes\nmta-sts-ca-file = %s\n' "$tmp/no-such.pem" >"$tmp/sts.conf"
run 2 "^$tmp/sts.conf:2: option 'mta-sts-ca-file': $tmp/no-such.pem" -- \
  "$DANE_POLICYD" --config "$tmp/sts.conf" --user root --state-dir "$tmp/state" --check-config

if [[ $failures -gt 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "mta_sts_options: all passed"
