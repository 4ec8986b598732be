#!/usr/bin/env bash
# dane-policyctl policy at the command line without any DNS server: exit codes (docs/design.md §5),
# errors that name the bad option or key, keys answered without DNS traffic (parent keys,
# IP literals), and TEMP (exit 3) from a resolver that refuses every name. The DNS cases
# over real signed zones are in tests/integration/destination_rig_test.cpp.
set -u
: "${DANE_POLICYCTL:?DANE_POLICYCTL must point at the dane-policyctl binary}"

failures=0
tmp=$(mktemp -d /tmp/dane-cli-policy-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# A resolver configuration that never sends a packet: every name is refused locally (names
# under example.com: unbound's built-in RFC 6761 zones would answer .test names itself).
cat > "$tmp/refuse.conf" <<'CONF'
server:
  local-zone: "." refuse
CONF
offline=(--unbound-config "$tmp/refuse.conf" --dns-timeout 2)

# expect CODE PATTERN ARGS...: exit status CODE and output (stdout+stderr) matching PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 2
  local out status
  out=$("$DANE_POLICYCTL" "$@" 2>&1)
  status=$?
  if [[ $status -ne $code ]]; then
    echo "FAIL: dane-policyctl $* exited $status, expected $code; output: $out" >&2
    failures=$((failures + 1))
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: dane-policyctl $*: output does not match '$pattern': $out" >&2
    failures=$((failures + 1))
  fi
}

expect 2 'exactly one DESTINATION' policy
expect 2 'unrecognised option|unknown option' policy example.test --no-such-option
expect 2 'empty label' policy bad..example.test "${offline[@]}"
expect 2 'bad port' policy '[mx.example.test]:99999' "${offline[@]}"
expect 2 'unknown mode' policy example.test --mode weird "${offline[@]}"
expect 2 -- '--dns-timeout' policy example.test --dns-timeout 0
expect 2 -- '--forwarder nope' policy example.test --forwarder nope
expect 2 -- '--unbound-config /nonexistent/unbound.conf' policy example.test --unbound-config /nonexistent/unbound.conf
expect 0 'OPTIONS|Options' policy --help

# Parent keys and IP literals: NOTFOUND, exit 0, no DNS needed.
expect 0 '^answer: +NOTFOUND $' policy .example.test "${offline[@]}"
expect 0 '"policy": "notfound"' policy .example.test --json "${offline[@]}"
expect 0 '"answer": "NOTFOUND "' policy '[192.0.2.1]:2525' --json "${offline[@]}"
# A monitor-mode answer is NOTFOUND even when the DNS fails; it says what it would have answered.
expect 0 'would answer: TEMP 4\.7\.5 MX lookup for example\.com failed: REFUSED' \
  policy example.com --mode monitor "${offline[@]}"

# DNS failure: TEMP with a 4.7.5 reason, exit 3 (native and pinned alike).
expect 3 '^answer: +TEMP 4\.7\.5 MX lookup for example\.com failed: REFUSED$' policy example.com "${offline[@]}"
expect 3 '"policy": "tempfail"' policy example.com --mode pinned --json "${offline[@]}"

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "dane-policyctl policy CLI: all checks passed"
