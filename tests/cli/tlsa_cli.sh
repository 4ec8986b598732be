#!/usr/bin/env bash
# CLI tests of `dane-policyctl tlsa`: output forms, RFC 7218 names, and every bad-input case with its
# exit code (2) and message. (Digests against the openssl pipelines: tests/unit/tlsa_gen_test.cpp.)
set -u
DANE_POLICYCTL=${DANE_POLICYCTL:?DANE_POLICYCTL not set}
PKI=${DANE_TEST_DATA_DIR:?DANE_TEST_DATA_DIR not set}/pki
WORK=$(mktemp -d /tmp/tlsa_cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
pass() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }

# run NAME WANT-RC STDERR-PATTERN ARGS...: exit code, a message on stderr, nothing on stdout.
bad() {
  local name=$1 want=$2 pattern=$3
  shift 3
  "$DANE_POLICYCTL" tlsa "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$name: exit $rc, want $want"
  elif ! grep -qF -- "$pattern" "$WORK/err"; then
    fail "$name: stderr lacks '$pattern':"
    sed 's/^/    /' "$WORK/err"
  elif [ -s "$WORK/out" ]; then
    fail "$name: wrote to stdout on error"
  else
    pass "$name (exit $rc)"
  fi
}

good() { # NAME WANT-STDOUT-REGEX ARGS...
  local name=$1 pattern=$2
  shift 2
  "$DANE_POLICYCTL" tlsa "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ "$rc" != 0 ]; then
    fail "$name: exit $rc"
    sed 's/^/    /' "$WORK/err"
  elif ! grep -qxE -- "$pattern" "$WORK/out" || [ "$(wc -l <"$WORK/out")" != 1 ]; then
    fail "$name: stdout is not /$pattern/:"
    sed 's/^/    /' "$WORK/out"
  else
    pass "$name"
  fi
}

spki256=$(openssl x509 -in "$PKI/leaf-p256.crt" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)

# --- good forms
good "default 3 1 1" "3 1 1 $spki256" "$PKI/leaf-p256.crt"
good "RFC 7218 names" "2 1 1 $spki256" -u DANE-TA -s SPKI -m SHA2-256 "$PKI/leaf-p256.crt"
good "lower-case names" "3 0 2 [0-9a-f]{128}" -u dane-ee -s cert -m sha2-512 "$PKI/leaf-p256.crt"
good "--host line" "_25\._tcp\.mx\.example\.test\. IN TLSA 3 1 1 $spki256" --host mx.example.test "$PKI/leaf-p256.crt"
good "--port/--proto change the owner" "_587\._udp\.mail\.example\.test\. IN TLSA 3 1 1 $spki256" \
  --host mail.example.test. --port 587 --proto udp "$PKI/leaf-p256.crt"
good "options after FILE" "3 1 2 [0-9a-f]{128}" "$PKI/leaf-p256.crt" -m 2
good "chain file default index 0" "3 1 1 $spki256" "$PKI/leaf-p256.chain.pem"
good "text around PEM ignored" "3 1 1 $spki256" <(openssl x509 -in "$PKI/leaf-p256.crt" -text)
good "usage 0 and 1 can be generated" "0 0 1 [0-9a-f]{64}" -u 0 -s 0 "$PKI/root.crt"

# --- bad input: unreadable file, not PEM, bad option values, unknown options
bad "missing FILE" 2 "missing FILE"
bad "two FILEs" 2 "exactly one FILE expected, got 2" "$PKI/leaf-p256.crt" "$PKI/leaf-rsa.crt"
bad "nonexistent file" 2 "cannot read '$WORK/nope.pem': No such file or directory" "$WORK/nope.pem"
bad "directory" 2 "is a directory" "$PKI"
echo "just text" >"$WORK/text.txt"
bad "not PEM" 2 "no PEM data found" "$WORK/text.txt"
: >"$WORK/empty.pem"
bad "empty file" 2 "no PEM data found" "$WORK/empty.pem"
printf -- '-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n' >"$WORK/garbage.pem"
bad "PEM with garbage DER" 2 "not a valid certificate" "$WORK/garbage.pem"
head -c 300 "$PKI/leaf-p256.crt" >"$WORK/truncated.pem"
bad "truncated PEM" 2 "malformed PEM block #1" "$WORK/truncated.pem"
openssl pkey -in "$PKI/leaf-p256.key" -aes128 -passout pass:secret -out "$WORK/enc.key" 2>/dev/null
bad "encrypted key" 2 "encrypted private keys are not supported" "$WORK/enc.key"
bad "usage 4" 2 "usage '4' is not valid" -u 4 "$PKI/leaf-p256.crt"
bad "usage word" 2 "usage 'foo' is not valid; use one of 0 (pkix-ta)" -u foo "$PKI/leaf-p256.crt"
bad "selector 2" 2 "selector '2' is not valid" -s 2 "$PKI/leaf-p256.crt"
bad "mtype 3" 2 "matching type '3' is not valid" -m 3 "$PKI/leaf-p256.crt"
bad "mtype negative" 2 "matching type '-1' is not valid" -m -1 "$PKI/leaf-p256.crt"
bad "port 0" 2 "--port '0' is not a port number" --host mx.example.test --port 0 "$PKI/leaf-p256.crt"
bad "port 65536" 2 "--port '65536' is not a port number" --host mx.example.test --port 65536 "$PKI/leaf-p256.crt"
bad "port word" 2 "--port 'smtp' is not a port number" --port smtp "$PKI/leaf-p256.crt"
bad "proto with dot" 2 "--proto 'tc.p' is not a protocol label" --proto tc.p "$PKI/leaf-p256.crt"
bad "host empty" 2 "--host '' is not a host name" --host "" "$PKI/leaf-p256.crt"
bad "cert-index word" 2 "--cert-index 'one' is not a number" --cert-index one "$PKI/leaf-p256.chain.pem"
bad "cert-index out of range" 2 "holds 2 certificate(s); --cert-index 2 is out of range" --cert-index 2 "$PKI/leaf-p256.chain.pem"
bad "cert-index with a key" 2 "--cert-index 1 given, but" --cert-index 1 "$PKI/leaf-p256.key"
bad "selector 0 from a key" 2 "holds a key (EC P-256), not a certificate" -s 0 "$PKI/leaf-p256.pub"
bad "unknown option" 2 "unrecognised option '--bogus'" --bogus "$PKI/leaf-p256.crt"
bad "option without value" 2 "the required argument for option '--usage' is missing" "$PKI/leaf-p256.crt" -u

# --- --help goes to stdout with exit 0
"$DANE_POLICYCTL" tlsa --help >"$WORK/out" 2>&1
[ $? = 0 ] && grep -q -- "--cert-index" "$WORK/out" && pass "--help" || fail "--help"

echo "$fails failure(s)"
[ "$fails" = 0 ]
