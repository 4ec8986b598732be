// dane/verifier/probe.hpp — live SMTP STARTTLS probe of one address with DANE.
//
// connect (deadline) -> 220 banner (multi-line) -> EHLO -> STARTTLS offered? ->
// STARTTLS -> TLS handshake with OpenSSL DANE enabled for the TLSA RRset (SNI =
// TLSA base domain, DANE_FLAG_NO_DANE_EE_NAMECHECKS) -> capture chain -> QUIT.
// Every step has a timeout; no step can hang the caller. Thread-safe; probe_all()
// runs probes concurrently with a bound on how many are in flight.
//
// Inputs: an IP literal and port, the host's TLSA RRset (every record as published;
// only records usable for SMTP, RFC 7672 §3.1 — DANE-TA(2) and DANE-EE(3) — are handed
// to OpenSSL), the TLSA base domain and further reference identifiers for DANE-TA name
// checks (docs/design.md §3). Matching is OpenSSL's DANE engine (docs/style.md point 1): the
// handshake runs with SSL_VERIFY_NONE so that the chain is always captured, and the
// verdict is classified afterwards from SSL_get_verify_result + SSL_get0_dane_authority.
//
// Result classification (pinned spellings, docs/design.md §6):
//   pass                  DANE match (matched + depth set); or, when the RRset holds no
//                         record usable for SMTP, a completed TLS handshake ("encrypt",
//                         authenticated == false, matched unset)
//   tlsa-mismatch         no usable record authenticates the chain (or any other chain
//                         verification error, named in `reason`)
//   name-mismatch         DANE-TA matched but no reference identifier is in the leaf
//   cert-expired          DANE-TA chain has a certificate outside its validity period
//   starttls-not-offered  EHLO reply lacks STARTTLS, or EHLO was refused
//   connect-failed        TCP connect failed / timed out, bad address, or the SMTP
//                         session broke down before STARTTLS (no/negative greeting,
//                         timeout waiting for the banner or the EHLO reply)
//   tls-failed            STARTTLS refused, handshake failed or timed out, or plaintext
//                         data pipelined after the STARTTLS reply (injection guard)
// PKIX mode (ProbeRequest::pkix_ca_file set: MTA-STS, RFC 8461 §4.2): no TLSA records; the chain is
// verified against the trust store (that file, or OpenSSL's default paths when empty) and the leaf
// must be valid for `tlsa_base` (the MX host name, also the SNI):
//   pass (authenticated), name-mismatch (not valid for the MX name), cert-expired (outside its
//   validity), cert-untrusted (any other chain error, e.g. no path to a trusted CA).
//   mx-mismatch (an MX host the policy's patterns do not allow) is never set by probe(): callers
//   (dane-policyctl check) report it for such hosts without probing.
// Bounds: every step (connect, banner, EHLO, STARTTLS, handshake, QUIT) has its own
// deadline of `timeout` (QUIT at most 3 s); an SMTP reply is at most 64 KiB.
// No global state is touched (SIGPIPE is blocked per thread while probing).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dane/verifier/tlsa.hpp"

namespace dane {

// Pinned JSON spellings (docs/design.md §6) via to_string().
enum class ProbeResult {
  Pass,
  TlsaMismatch,
  NameMismatch,
  CertExpired,
  StarttlsNotOffered,
  ConnectFailed,
  TlsFailed,
  CertUntrusted, // PKIX mode: the chain is not trusted
  MxMismatch,    // MTA-STS: the MX host is not allowed by the policy (set by callers)
};
std::string to_string(ProbeResult result); // "pass", "tlsa-mismatch", ...

struct ProbeRequest {
  std::string address; // IP literal, v4 or v6, no brackets
  std::uint16_t port = 25;
  std::vector<TlsaRecord> tlsa;
  std::string tlsa_base;                    // SNI and first reference identifier
  std::vector<std::string> reference_names; // further DANE-TA reference identifiers
  std::string helo_name = "localhost";
  std::chrono::milliseconds timeout{10000}; // per step
  // PKIX mode (see above): the CA file ("" = the system's trust store); nullopt: DANE with `tlsa`.
  std::optional<std::string> pkix_ca_file;
};

struct ProbeReport {
  std::string address;
  std::uint16_t port = 25;
  ProbeResult result = ProbeResult::ConnectFailed;
  std::string reason;
  std::optional<TlsaRecord> matched;
  int depth = -1;
  std::string tls_version; // "TLSv1.3"
  std::string cipher;
  std::string leaf_subject;
  std::vector<std::string> leaf_san;
  std::string leaf_not_before; // RFC 3339 UTC
  std::string leaf_not_after;
  std::string leaf_spki_sha256;       // hex
  std::vector<std::string> chain_pem; // the chain as presented, leaf first

  // Extra fields (not pinned).
  std::string banner;             // first line of the 220 greeting, without the code
  bool authenticated = false;     // true only for a DANE match
  std::size_t usable_records = 0; // records OpenSSL accepted as usable (SSL_dane_tlsa_add > 0)
  int x509_error = 0;             // X509_V_* verification result of the handshake, 0 if none
  std::string leaf_issuer;        // RFC 2253 issuer name of the leaf
};

ProbeReport probe(const ProbeRequest& request);
std::vector<ProbeReport> probe_all(const std::vector<ProbeRequest>& requests, std::size_t max_in_flight = 8);

} // namespace dane
