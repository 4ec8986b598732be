#!/usr/bin/env bash
# Cross-check of our DANE verdicts against independent implementations, over the vectors in
# tests/data/vectors/match.vectors that carry an `xcheck:` line:
#   ldns-dane  NLnet Labs' ldns DANE code (ldnsutils), offline: -c CHAIN -t TLSAFILE -d verify
#              (-n when the case has no reference names or no DANE-TA record: ldns-dane checks
#              names even for DANE-EE, SMTP does not)
#   s_client   a real TLS handshake on loopback: `openssl s_server` sends the chain, `openssl
#              s_client -dane_tlsa_domain -dane_tlsa_rrdata -dane_ee_no_namechecks
#              -verify_return_error` (and -attime for cases with a time) decides
# For each case and tool, the tool's verdict (verified or not) must equal the vector's expectation,
# and `dane-policyctl verify` must give the same verdict through its exit code (0 or 1).
set -u
DANE_POLICYCTL=${DANE_POLICYCTL:?DANE_POLICYCTL not set}
DATA=${DANE_TEST_DATA_DIR:?DANE_TEST_DATA_DIR not set}
PKI=$DATA/pki
VECTORS=$DATA/vectors/match.vectors
WORK=$(mktemp -d /tmp/verify_xcheck.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fails=0
checked_ldns=0
checked_sclient=0
pass() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }

need() { # TOOL PACKAGE: a missing tool fails under CI, skips (loudly) elsewhere
  if ! command -v "$1" >/dev/null; then
    if [ "${CI:-}" = true ]; then fail "$1 is not installed (Debian package $2, scripts/install-deps.sh)"; else
      echo "SKIP - $1 is not installed (Debian package $2)"
    fi
    return 1
  fi
}
have_ldns=0
have_openssl=0
need ldns-dane ldnsutils && have_ldns=1
need openssl openssl && have_openssl=1

# A unique loopback address per run (tests may run concurrently); port 0 lets the kernel choose.
addr=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))

start_server() { # CHAIN-FILE -> sets $port, $server_pid
  local chain=$1 base=${1%%.*}
  awk -v dir="$WORK" '/-----BEGIN/{n++} {print > (dir "/cert" n ".pem")}' "$PKI/$chain"
  local count
  count=$(grep -c -- '-----BEGIN CERTIFICATE' "$PKI/$chain")
  : >"$WORK/rest.pem"
  for ((i = 2; i <= count; i++)); do cat "$WORK/cert$i.pem" >>"$WORK/rest.pem"; done
  local args=(-www -accept "$addr:0" -cert "$WORK/cert1.pem" -key "$PKI/$base.key")
  [ "$count" -gt 1 ] && args+=(-cert_chain "$WORK/rest.pem")
  : >"$WORK/server.out"
  openssl s_server "${args[@]}" >"$WORK/server.out" 2>&1 </dev/null &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n "s/^ACCEPT $addr:\([0-9][0-9]*\)\$/\1/p" "$WORK/server.out")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "s_server did not start:"; sed 's/^/    /' "$WORK/server.out"
  return 1
}
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  server_pid=
}

run_case() {
  [ -z "$name" ] && return
  [ -z "$xcheck" ] && return
  local want_verified=0
  [ "$status" = verified ] && want_verified=1
  local first_name=${names%% *}
  local has_ta=0 r
  for r in "${tlsa[@]}"; do [ "${r%% *}" = 2 ] && has_ta=1; done

  # dane-policyctl verify itself (exit 0 verified, 1 not)
  local args=(--chain "$PKI/$chain")
  for r in "${tlsa[@]}"; do args+=(--tlsa "$r"); done
  for n in $names; do args+=(--name "$n"); done
  [ -n "$time" ] && args+=(--time "$time")
  "$DANE_POLICYCTL" verify "${args[@]}" >"$WORK/dane-policyctl.out" 2>&1
  local rc=$?
  local want_rc=$((1 - want_verified))
  [ "$rc" = "$want_rc" ] && pass "$name: dane-policyctl verify exit $rc" || fail "$name: dane-policyctl verify exit $rc, want $want_rc"

  if [[ " $xcheck " == *" ldns-dane "* ]] && ((have_ldns)); then
    local owner=${first_name:-mx.example.test}
    : >"$WORK/tlsa.txt"
    for r in "${tlsa[@]}"; do echo "_25._tcp.$owner. 3600 IN TLSA $r" >>"$WORK/tlsa.txt"; done
    local opts=(-d -c "$PKI/$chain" -t "$WORK/tlsa.txt")
    if [ -z "$names" ] || ((has_ta == 0)); then opts+=(-n); fi
    timeout 30 ldns-dane "${opts[@]}" verify "$owner" 25 >"$WORK/ldns.out" 2>&1
    local lrc=$?
    local got=0
    [ "$lrc" = 0 ] && grep -q "dane-validated successfully" "$WORK/ldns.out" && got=1
    checked_ldns=$((checked_ldns + 1))
    if [ "$got" = "$want_verified" ]; then pass "$name: ldns-dane agrees (verified=$got)"; else
      fail "$name: ldns-dane verified=$got, vector says $status"
      sed 's/^/    /' "$WORK/ldns.out"
    fi
  fi

  if [[ " $xcheck " == *" s_client "* ]] && ((have_openssl)); then
    if start_server "$chain"; then
      local copts=(-connect "$addr:$port" -no-CAfile -no-CApath -no-CAstore -brief -verify_return_error
        -dane_ee_no_namechecks -dane_tlsa_domain "${first_name:-mx.example.test}")
      for r in "${tlsa[@]}"; do copts+=(-dane_tlsa_rrdata "$r"); done
      [ -n "$time" ] && copts+=(-attime "$time")
      timeout 30 openssl s_client "${copts[@]}" </dev/null >"$WORK/client.out" 2>&1
      local crc=$?
      local got=0
      [ "$crc" = 0 ] && grep -q "^Verification: OK" "$WORK/client.out" && got=1
      checked_sclient=$((checked_sclient + 1))
      if [ "$got" = "$want_verified" ]; then pass "$name: s_client agrees (verified=$got)"; else
        fail "$name: s_client verified=$got, vector says $status"
        sed 's/^/    /' "$WORK/client.out"
      fi
    else
      fail "$name: could not start s_server"
    fi
    stop_server
  fi
}

name= chain= names= time= status= xcheck=
tlsa=()
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
  '#'* | '') continue ;;
  '['*']')
    run_case
    name=${line#[}; name=${name%]}
    chain= names= time= status= xcheck=
    tlsa=()
    ;;
  chain:*) chain=${line#chain: } ;;
  names:*) names=${line#names: } ;;
  time:*) time=${line#time: } ;;
  tlsa:*) tlsa+=("${line#tlsa: }") ;;
  expect:*) status=${line#expect: }; status=${status%% *} ;;
  xcheck:*) xcheck=${line#xcheck: } ;;
  esac
done <"$VECTORS"
run_case

echo "cross-checked: $checked_ldns case(s) with ldns-dane, $checked_sclient with openssl s_client"
if ((have_ldns)) && ((checked_ldns < 30)); then fail "expected at least 30 ldns-dane cases, got $checked_ldns"; fi
if ((have_openssl)) && ((checked_sclient < 25)); then fail "expected at least 25 s_client cases, got $checked_sclient"; fi
echo "$fails failure(s)"
[ "$fails" = 0 ]
