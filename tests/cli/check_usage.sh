#!/usr/bin/env bash
# dane-policyctl check: usage and input errors exit 2 with a message naming what was wrong (docs/design.md §5);
# --help exits 0 and lists the pinned options. Needs no DNS and no network (every case fails
# before any lookup or probe).
set -u

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
[[ -x ${DANE_POLICYCTL:-} ]] || { echo "FAIL: DANE_POLICYCTL is not set to the dane-policyctl binary" >&2; exit 1; }

# expect EXIT PATTERN ARGS...: runs `dane-policyctl check ARGS` (bounded), checks the exit code and that
# stdout+stderr match the extended regular expression PATTERN.
expect() {
  local want=$1 pattern=$2
  shift 2
  local out rc
  out=$(timeout 20 "$DANE_POLICYCTL" check "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want ]]; then
    fail "dane-policyctl check $*: exit $rc, expected $want; output: $out"
  elif ! grep -Eq -- "$pattern" <<<"$out"; then
    fail "dane-policyctl check $*: output does not match /$pattern/: $out"
  fi
}

expect 2 'missing DESTINATION'
expect 2 'exactly one DESTINATION' example.test example.org
expect 2 '--port 0: must be a number from 1 to 65535' example.test --port 0
expect 2 '--port 70000: must be a number from 1 to 65535' example.test --port 70000
expect 2 'port' example.test --port abc
expect 2 'probe-timeout' example.test --probe-timeout 0
expect 2 'probe-timeout' example.test --probe-timeout -3
expect 2 'helo' example.test --helo 'two words'
expect 2 'unrecognised option|unknown option|unrecognized option' example.test --no-such-option
expect 2 "bad DESTINATION 'exa mple.test'" 'exa mple.test'
expect 2 "bad DESTINATION 'a..b'" 'a..b'
expect 2 "bad DESTINATION '\[mx.example.test\]:99999'" '[mx.example.test]:99999'
expect 2 'dns-timeout' example.test --dns-timeout 0
expect 2 'forwarder' example.test --forwarder not-an-address
expect 2 'unbound-config|/nonexistent/unbound.conf' example.test --unbound-config /nonexistent/unbound.conf
expect 0 '--port' --help
expect 0 '--all' --help
expect 0 '--json' --help
expect 0 '--probe-timeout' --help
expect 0 '--unbound-config' --help

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
