#!/usr/bin/env bash
# CLI tests of `dane-policyctl verify`: exit codes 0/1/2, the text lines ("Matched DANE-EE ... at depth 0",
# per-record reasons, unusable records), --json fields, --time, and every bad-input case with its
# message. (Matching semantics in depth: tests/unit/match_test.cpp over tests/data/vectors.)
set -u
DANE_POLICYCTL=${DANE_POLICYCTL:?DANE_POLICYCTL not set}
PKI=${DANE_TEST_DATA_DIR:?DANE_TEST_DATA_DIR not set}/pki
WORK=$(mktemp -d /tmp/verify_cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
pass() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }
py() { python3 -c "$1" "${@:2}"; }

# check NAME WANT-RC ARGS...: runs verify, leaves stdout/stderr in $WORK/out, $WORK/err.
check() {
  local name=$1 want=$2
  shift 2
  "$DANE_POLICYCTL" verify "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ "$rc" = "$want" ]; then pass "$name (exit $rc)"; else
    fail "$name: exit $rc, want $want"
    sed 's/^/    out: /' "$WORK/out"
    sed 's/^/    err: /' "$WORK/err"
  fi
}
has() { # NAME FILE FIXED-STRING
  if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1: '$3' not in:"; sed 's/^/    /' "$2"; fi
}
line1() { # NAME FILE EXACT-FIRST-LINE
  if [ "$(head -1 "$2")" = "$3" ]; then pass "$1"; else fail "$1: first line '$(head -1 "$2")', want '$3'"; fi
}

# Record data from the openssl CLI (independent of dane-policyctl).
spki() { openssl x509 -in "$PKI/$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
short() { echo "${1:0:8}...${1: -8}"; }
ee=$(spki leaf-rsa.crt)
ta=$(spki int.crt)
wrong=$(spki leaf-p256.crt)
zeros=$(printf '0%.0s' $(seq 64))

# --- verified (exit 0)
check "DANE-EE match" 0 --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem"
line1 "DANE-EE first line" "$WORK/out" "Matched DANE-EE 3 1 1 $(short "$ee") at depth 0"
has "per-record line" "$WORK/out" "  DANE-EE 3 1 1 $(short "$ee"): matches the certificate at depth 0"
[ -s "$WORK/err" ] && fail "verified: stderr not empty" || pass "verified: stderr empty"

check "DANE-TA match with name" 0 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-rsa.chain.pem" --name mx.example.test
line1 "DANE-TA first line" "$WORK/out" "Matched DANE-TA 2 1 1 $(short "$ta") at depth 1"

check "hex with spaces and upper case" 0 --tlsa "3 1 1 ${ee:0:20} $(echo "${ee:20}" | tr a-f A-F)" --chain "$PKI/leaf-rsa.chain.pem"

check "second --name matches" 0 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-wrongname.chain.pem" \
  --name mx.example.test --name other.example.net

check "EE ignores expiry" 0 --tlsa "3 1 1 $(spki leaf-expired.crt)" --chain "$PKI/leaf-expired.chain.pem" --name mx.example.test

check "mixed unusable + match" 0 --tlsa "1 1 1 $ee" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem"
has "unusable record listed" "$WORK/out" "  PKIX-EE 1 1 1 $(short "$ee"): unusable: usage 1 (PKIX-EE) is not usable for SMTP"

# RFC 7672 §3.2.2: DANE-TA needs the names checked. Without --name they cannot be, so a chain whose only
# authority is a DANE-TA record is not verified (exit 1), even when its names would have matched.
check "no --name with DANE-TA is not verified" 1 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-rsa.chain.pem"
line1 "no --name first line" "$WORK/out" \
  "Not verified: DANE-TA 2 1 1 $(short "$ta") matched at depth 1, but no --name was given, so the certificate names were not checked (RFC 7672 §3.2.2 requires them for DANE-TA): give the MX host name and the next-hop domain with --name"
has "no-name note" "$WORK/out" "note: no --name given; DANE-TA certificate names are not checked"
check "no --name with DANE-TA and a wrong name is not verified" 1 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-wrongname.chain.pem"
check "no --name, DANE-EE matches beside DANE-TA: verified" 0 --tlsa "2 1 1 $ta" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem"
line1 "DANE-EE is the authority" "$WORK/out" "Matched DANE-EE 3 1 1 $(short "$ee") at depth 0"
check "--json no --name with DANE-TA" 1 --json --tlsa "2 1 1 $ta" --chain "$PKI/leaf-rsa.chain.pem"
py '
import json,sys
j=json.load(open(sys.argv[1]))
assert j["verified"] is False and j["status"]=="not-verified" and j["failure"]=="names-not-checked", j
assert j["names"]==[] and j["names_checked"] is False and j["matched"] is None and j["depth"] is None, j
assert j["records"][0]["result"]=="matched" and j["records"][0]["depth"]==1, j["records"]
assert "no --name was given" in j["reason"], j["reason"]
' "$WORK/out" && pass "--json names-not-checked content" || { fail "--json names-not-checked content"; cat "$WORK/out"; }

# --- not verified (exit 1)
check "no match" 1 --tlsa "3 1 1 $wrong" --tlsa "2 1 1 $zeros" --chain "$PKI/leaf-rsa.chain.pem" --name mx.example.test
line1 "no match first line" "$WORK/out" "Not verified: no usable TLSA record matches the chain (2 usable)"
has "EE reason" "$WORK/out" "  DANE-EE 3 1 1 $(short "$wrong"): does not match the server certificate (depth 0)"
has "TA reason" "$WORK/out" "  DANE-TA 2 1 1 $(short "$zeros"): no certificate in the chain matches"

check "TA name mismatch" 1 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-wrongname.chain.pem" --name mx.example.test
line1 "name mismatch line" "$WORK/out" \
  "Not verified: DANE-TA 2 1 1 $(short "$ta") matched at depth 1, but the certificate at depth 0 matches none of the reference names (mx.example.test)"

check "TA expired leaf" 1 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-expired.chain.pem" --name mx.example.test
has "expired reason" "$WORK/out" "but the certificate at depth 0 has expired"

check "--time before validity fails DANE-TA" 1 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-rsa.chain.pem" --name mx.example.test --time 1700000000
has "--time reason" "$WORK/out" "is not yet valid"
check "--time inside validity passes" 0 --tlsa "2 1 1 $ta" --chain "$PKI/leaf-rsa.chain.pem" --name mx.example.test --time 4102444800

check "unusable plus usable mismatch is 1, not 2" 1 --tlsa "0 1 1 $(spki root.crt)" --tlsa "3 1 1 $wrong" --chain "$PKI/leaf-rsa.fullchain.pem"

# --- --json
check "--json verified" 0 --json --tlsa "3 1 1 $ee" --tlsa "3 1 9 $zeros" --chain "$PKI/leaf-rsa.chain.pem" --time 4102444800
py '
import json,sys
j=json.load(open(sys.argv[1]))
ee=sys.argv[2]
assert j["verified"] is True and j["status"]=="verified" and j["failure"]=="none", j
assert j["matched"]=="3 1 1 "+ee and j["matched_usage"]=="DANE-EE" and j["depth"]==0, j
assert j["reason"].startswith("Matched DANE-EE 3 1 1 "), j["reason"]
assert j["time"]==4102444800 and j["names"]==[] and j["x509_error"]==0, j
r=j["records"]
assert [x["result"] for x in r]==["matched","unusable"], r
assert r[1]["usable"] is False and r[1]["note"]=="unusable: unknown matching type 9", r[1]
assert [c["depth"] for c in j["chain"]]==[0,1] and "mx.example.test" in j["chain"][0]["subject"], j["chain"]
' "$WORK/out" "$ee" && pass "--json verified content" || { fail "--json verified content"; cat "$WORK/out"; }

check "--json name mismatch" 1 --json --tlsa "2 1 1 $ta" --chain "$PKI/leaf-wrongname.chain.pem" --name mx.example.test
py '
import json,sys
j=json.load(open(sys.argv[1]))
assert j["verified"] is False and j["status"]=="not-verified" and j["failure"]=="name-mismatch", j
assert j["matched"] is None and j["depth"] is None and j["error_depth"]==0, j
assert j["x509_error"]==62 and j["names"]==["mx.example.test"] and j["names_checked"] is True, j
assert j["records"][0]["result"]=="matched-but-failed" and j["records"][0]["depth"]==1, j["records"]
' "$WORK/out" && pass "--json name-mismatch content" || { fail "--json name-mismatch content"; cat "$WORK/out"; }

# --- bad input (exit 2) with a message naming what was wrong
bad() { # NAME STDERR-FIXED-STRING ARGS...
  local name=$1 pattern=$2
  shift 2
  check "$name" 2 "$@"
  has "$name: message" "$WORK/err" "$pattern"
}
bad "no usable: only PKIX" "no usable TLSA record given" --tlsa "0 1 1 $ta" --tlsa "1 1 1 $ee" --chain "$PKI/leaf-rsa.fullchain.pem"
has "no usable: report still lists records" "$WORK/out" "unusable: usage 0 (PKIX-TA) is not usable for SMTP"
bad "no usable: only malformed" "no usable TLSA record given" --tlsa "3 1 1 abcd" --tlsa "3 1 2 $ee" --tlsa "3 2 1 $ee" --tlsa "7 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem"
has "bad length named" "$WORK/out" "unusable: matching type 2 needs 64 octets of data, got 32"
has "unknown selector named" "$WORK/out" "unusable: unknown selector 2"
has "unknown usage named" "$WORK/out" "unusable: unknown usage 7"
bad "no usable: TA garbage" "no usable TLSA record given" --tlsa "2 0 0 abcdef" --chain "$PKI/leaf-rsa.chain.pem"
bad "TLSA three fields" "--tlsa '3 1 1': TLSA record '3 1 1' must have four fields" --tlsa "3 1 1" --chain "$PKI/leaf-rsa.chain.pem"
bad "TLSA bad hex" "--tlsa '3 1 1 xyz': certificate association data: invalid hex character 'x'" --tlsa "3 1 1 xyz" --chain "$PKI/leaf-rsa.chain.pem"
bad "TLSA odd hex" "odd number of hex digits" --tlsa "3 1 1 abc" --chain "$PKI/leaf-rsa.chain.pem"
bad "TLSA usage 256" "usage '256' is not a number from 0 to 255" --tlsa "256 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem"
bad "TLSA empty" "must have four fields" --tlsa "" --chain "$PKI/leaf-rsa.chain.pem"
bad "one bad TLSA among good ones" "--tlsa 'junk'" --tlsa "3 1 1 $ee" --tlsa "junk" --chain "$PKI/leaf-rsa.chain.pem"
bad "no --tlsa" "at least one --tlsa" --chain "$PKI/leaf-rsa.chain.pem"
bad "no --chain" "--chain FILE is required" --tlsa "3 1 1 $ee"
bad "chain missing" "cannot read '$WORK/none.pem': No such file or directory" --tlsa "3 1 1 $ee" --chain "$WORK/none.pem"
echo "hello" >"$WORK/text.pem"
bad "chain not PEM" "no PEM data found" --tlsa "3 1 1 $ee" --chain "$WORK/text.pem"
bad "chain only a key" "no certificate found (only keys)" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.key"
head -c 500 "$PKI/leaf-rsa.crt" >"$WORK/trunc.pem"
bad "chain truncated" "malformed PEM block #1" --tlsa "3 1 1 $ee" --chain "$WORK/trunc.pem"
bad "chain is a directory" "is a directory" --tlsa "3 1 1 $ee" --chain "$PKI"
bad "bad --time" "--time 'yesterday' is not a UNIX time" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem" --time yesterday
bad "empty --name" "--name '' is not a host name" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem" --name ""
bad "unknown option" "unrecognised option '--bogus'" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem" --bogus
bad "stray argument" "unexpected argument 'extra'" --tlsa "3 1 1 $ee" --chain "$PKI/leaf-rsa.chain.pem" extra

"$DANE_POLICYCTL" verify --help >"$WORK/out" 2>&1
[ $? = 0 ] && grep -q -- "--tlsa" "$WORK/out" && pass "--help" || fail "--help"

echo "$fails failure(s)"
[ "$fails" = 0 ]
