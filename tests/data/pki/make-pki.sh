#!/usr/bin/env bash
# make-pki.sh — regenerate the fixture PKI in tests/data/pki/ with the openssl CLI.
#
# The generated PEM files are CHECKED IN: tests and other developers' STARTTLS
# servers use them as they are. Run this only to change the PKI on purpose, then
# commit every file it writes (and update anything that pins a digest of them).
# Usage: bash tests/data/pki/make-pki.sh [OUTDIR]   (default: this script's directory)
#
# Validity: CA and good leaves 2025-01-01 .. 2125-01-01 (never expire in tests);
# leaf-expired 2000-01-01 .. 2001-01-01; leaf-notyet 2120-01-01 .. 2125-01-01;
# int-expired (and its leaf) 2000-01-01 .. 2001-01-01. See README.md for the list.
set -euo pipefail

out=${1:-$(cd "$(dirname "$0")" && pwd)}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

k_start=20250101000000Z
k_end=21250101000000Z

# key NAME TYPE: write $out/NAME.key (PKCS#8) and $out/NAME.pub (SPKI PEM).
key() {
  local name=$1 type=$2
  case $type in
  rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/$name.key" 2>/dev/null ;;
  p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$out/$name.key" ;;
  p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$out/$name.key" ;;
  ed25519) openssl genpkey -algorithm ED25519 -out "$out/$name.key" ;;
  *) echo "unknown key type $type" >&2; exit 2 ;;
  esac
  openssl pkey -in "$out/$name.key" -pubout -out "$out/$name.pub"
}

# One openssl-ca database per issuer, so serials and dates are fully controlled.
ca_conf() {
  local issuer=$1
  mkdir -p "$work/$issuer"
  : >"$work/$issuer/index.txt"
  cat >"$work/$issuer/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $work/$issuer
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
rand_serial = yes
default_md = sha256
policy = any_policy
unique_subject = no
copy_extensions = none
email_in_dn = no
[ any_policy ]
commonName = supplied
organizationName = optional
[ v3_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_int ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::DANE_SAN
EOF
}

# sign NAME ISSUER EXT CN SAN START END ("-" as ISSUER: self-signed)
sign() {
  local name=$1 issuer=$2 ext=$3 cn=$4 san=$5 start=$6 end=$7
  local conf_issuer=$issuer
  [[ $issuer == - ]] && conf_issuer=$name
  ca_conf "$conf_issuer"
  openssl req -new -key "$out/$name.key" -subj "/O=dane-policyd tests/CN=$cn" -out "$work/$name.csr"
  local args=(-batch -notext -config "$work/$conf_issuer/ca.cnf" -extensions "$ext"
    -startdate "$start" -enddate "$end" -in "$work/$name.csr" -out "$out/$name.crt")
  if [[ $issuer == - ]]; then
    args+=(-selfsign -keyfile "$out/$name.key")
  else
    args+=(-cert "$out/$issuer.crt" -keyfile "$out/$issuer.key")
  fi
  DANE_SAN=$san openssl ca "${args[@]}" 2>"$work/ca.log" || { cat "$work/ca.log" >&2; exit 1; }
}

# leaf NAME KEYTYPE ISSUER CN SAN [START END]: leaf cert, NAME.chain.pem (leaf +
# issuer) and NAME.fullchain.pem (leaf + issuer + root).
leaf() {
  local name=$1 type=$2 issuer=$3 cn=$4 san=$5 start=${6:-$k_start} end=${7:-$k_end}
  key "$name" "$type"
  sign "$name" "$issuer" v3_leaf "$cn" "$san" "$start" "$end"
  cat "$out/$name.crt" "$out/$issuer.crt" >"$out/$name.chain.pem"
  cat "$out/$name.crt" "$out/$issuer.crt" "$out/root.crt" >"$out/$name.fullchain.pem"
}

good_san="DNS:mx.example.test,DNS:mail.example.test"

# Trust hierarchy: root (RSA 2048) -> int (P-256) -> leaves.
key root rsa2048
DANE_SAN=unused sign root - v3_root "dane-policyd Test Root CA" "DNS:unused" "$k_start" "$k_end"
key int p256
sign int root v3_int "dane-policyd Test Intermediate CA" "DNS:unused" "$k_start" "$k_end"
# An intermediate that expired long ago (for DANE-TA on the root: chain expiry).
key int-expired p256
sign int-expired root v3_int "dane-policyd Expired Intermediate CA" "DNS:unused" 20000101000000Z 20010101000000Z

leaf leaf-rsa rsa2048 int mx.example.test "$good_san"
leaf leaf-p256 p256 int mx.example.test "$good_san"
leaf leaf-p384 p384 int mx.example.test "$good_san"
leaf leaf-ed25519 ed25519 int mx.example.test "$good_san"
leaf leaf-expired p256 int mx.example.test "$good_san" 20000101000000Z 20010101000000Z
leaf leaf-notyet p256 int mx.example.test "$good_san" 21200101000000Z "$k_end"
leaf leaf-wrongname p256 int other.example.net "DNS:other.example.net"
leaf leaf-wildcard p256 int "*.example.test" "DNS:*.example.test"
leaf leaf-under-expired-int p256 int-expired mx.example.test "$good_san"

# A self-signed leaf (no CA at all), for DANE-EE tests without any chain.
key selfsigned p256
sign selfsigned - v3_leaf mx.example.test "$good_san" "$k_start" "$k_end"

# An unrelated root, not in any chain above (a DANE-TA record naming it never matches).
key other-root p256
sign other-root - v3_root "dane-policyd Unrelated Root CA" "DNS:unused" "$k_start" "$k_end"

# int.chain.pem: intermediate + root (what a TLS server sends after its leaf when it also sends the root).
cat "$out/int.crt" "$out/root.crt" >"$out/int.chain.pem"

# Sanity: every good leaf verifies against the root with the intermediate.
for name in leaf-rsa leaf-p256 leaf-p384 leaf-ed25519 leaf-wrongname leaf-wildcard; do
  openssl verify -CAfile "$out/root.crt" -untrusted "$out/int.crt" "$out/$name.crt" >/dev/null
done
echo "PKI written to $out"
