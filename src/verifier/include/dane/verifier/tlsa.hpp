// dane/verifier/tlsa.hpp — the TLSA record model (RFC 6698 §2, RFC 7218 mnemonics).
//
// Inputs: presentation text "U S M HEX" (hex may contain white space, as zone
// files allow) or wire RDATA from DNS. Fields are typed as the RFC 7218 enums but
// hold any octet published (underlying uint8_t), so unknown usages, selectors and
// matching types survive parsing and are reported as *unusable* (RFC 7672 §3.1 /
// RFC 6698 §4.1) instead of failing.
// Parsing fails only when the text is not a TLSA record at all (wrong number
// of fields, a field that is not a number 0-255, bad hex, empty data).
// Trust: the data is whatever DNS or the operator gave; nothing here decides trust.
// Generating records (make_tlsa & co.) takes OpenSSL objects, but this header
// includes no OpenSSL header (the types are declared below), so the policy and
// daemon libraries stay free of OpenSSL.
// No global state; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/core/text.hpp"

// The two OpenSSL types the generation functions below take, declared exactly as
// <openssl/types.h> declares them, so that code which only needs the record model
// (policy, daemon) does not see any OpenSSL header. Callers of make_tlsa /
// selected_der / spki_der include the OpenSSL headers they need themselves.
typedef struct x509_st X509;         // NOLINT(modernize-use-using): must match OpenSSL's typedef
typedef struct evp_pkey_st EVP_PKEY; // NOLINT(modernize-use-using)

namespace dane {

// Certificate usage field (RFC 6698 §2.1.1; names from RFC 7218 §2.1).
enum class TlsaUsage : std::uint8_t {
  PkixTa = 0, // CA constraint: unusable for SMTP (RFC 7672 §3.1.3)
  PkixEe = 1, // service certificate constraint: unusable for SMTP
  DaneTa = 2, // trust anchor assertion (RFC 7672 §3.1.2)
  DaneEe = 3, // domain-issued certificate (RFC 7672 §3.1.1)
};

// Selector field (RFC 6698 §2.1.2; RFC 7218 §2.2).
enum class TlsaSelector : std::uint8_t {
  Cert = 0, // full certificate
  Spki = 1, // SubjectPublicKeyInfo
};

// Matching type field (RFC 6698 §2.1.3; RFC 7218 §2.3).
enum class TlsaMatchingType : std::uint8_t {
  Full = 0,
  Sha2_256 = 1,
  Sha2_512 = 2,
};

// The octet a field value is published as (its underlying value; any 0-255
// survives, named or not). Use it for arithmetic, wire RDATA and printing.
constexpr std::uint8_t octet(TlsaUsage v) noexcept {
  return static_cast<std::uint8_t>(v);
}
constexpr std::uint8_t octet(TlsaSelector v) noexcept {
  return static_cast<std::uint8_t>(v);
}
constexpr std::uint8_t octet(TlsaMatchingType v) noexcept {
  return static_cast<std::uint8_t>(v);
}

struct TlsaRecord {
  TlsaUsage usage = TlsaUsage::DaneEe;
  TlsaSelector selector = TlsaSelector::Spki;
  TlsaMatchingType mtype = TlsaMatchingType::Sha2_256;
  std::vector<std::uint8_t> data;

  // "3 1 1 abcdef..." (lowercase hex, no spaces inside the data).
  std::string to_string() const;
  // "3 1 1 ab12...cd34" for log lines (head...tail of the data, docs/style.md point 10).
  std::string short_string() const;

  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

// Why a record can or cannot be used for SMTP (RFC 7672 §3.1).
enum class TlsaUsability {
  Usable,
  PkixUsage,           // usage 0 or 1
  UnknownUsage,        // usage > 3
  UnknownSelector,     // selector > 1
  UnknownMatchingType, // mtype > 2
  BadDigestLength,     // mtype 1 with data != 32 octets, mtype 2 with data != 64
  EmptyData,
};

TlsaUsability smtp_usability(const TlsaRecord& record);
// Short phrase, e.g. "usage 1 (PKIX-EE) is not usable for SMTP".
std::string describe(TlsaUsability usability, const TlsaRecord& record);
// RFC 7218 mnemonic of a usage, "DANE-EE"; "usage N" for unknown values.
std::string usage_name(TlsaUsage usage);

Expected<TlsaRecord> parse_tlsa(std::string_view text);
Expected<TlsaRecord> parse_tlsa_rdata(std::span<const std::uint8_t> rdata);
std::vector<std::uint8_t> to_rdata(const TlsaRecord& record);

// to_hex / from_hex: dane/core/text.hpp.

// Digest of `bytes` for a matching type (0: bytes themselves, 1: SHA-256, 2: SHA-512).
Expected<std::vector<std::uint8_t>> tlsa_digest(TlsaMatchingType mtype, std::span<const std::uint8_t> bytes);
// Digest by OpenSSL name ("sha256", "sha1", "sha512", ... as Postfix's smtp_tls_fingerprint_digest).
Expected<std::vector<std::uint8_t>> named_digest(std::string_view algorithm, std::span<const std::uint8_t> bytes);

// DER of the selected part of a certificate (selector 0: the certificate, 1: its SPKI,
// via i2d_X509_PUBKEY(X509_get_X509_PUBKEY()) which is fast, docs/design.md §7).
Expected<std::vector<std::uint8_t>> selected_der(X509* cert, TlsaSelector selector);
// DER SubjectPublicKeyInfo of a key (public or private).
Expected<std::vector<std::uint8_t>> spki_der(EVP_PKEY* key);

// Generate a record from a certificate (any selector) or from a key (selector 1 only).
Expected<TlsaRecord> make_tlsa(X509* cert, TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype);
Expected<TlsaRecord> make_tlsa(EVP_PKEY* key, TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype);

} // namespace dane
