// dane/probe.hpp — live SMTP STARTTLS probe of one address with DANE.
//
// connect (deadline) -> 220 banner (multi-line) -> EHLO -> STARTTLS offered? ->
// STARTTLS -> TLS handshake with OpenSSL DANE enabled for the TLSA RRset (SNI =
// TLSA base domain, DANE_FLAG_NO_DANE_EE_NAMECHECKS) -> capture chain -> QUIT.
// Every step has a timeout; no step can hang the caller. Thread-safe; probe_all()
// runs probes concurrently with a bound on how many are in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dane/tlsa.hpp"

namespace dane {

// Pinned JSON spellings (DESIGN.md §6) via to_string().
enum class ProbeResult { Pass, TlsaMismatch, NameMismatch, CertExpired, StarttlsNotOffered, ConnectFailed, TlsFailed };
std::string to_string(ProbeResult result); // "pass", "tlsa-mismatch", ...

struct ProbeRequest {
  std::string address;  // IP literal, v4 or v6, no brackets
  std::uint16_t port = 25;
  std::vector<TlsaRecord> tlsa;
  std::string tlsa_base;                    // SNI and first reference identifier
  std::vector<std::string> reference_names; // further DANE-TA reference identifiers
  std::string helo_name = "localhost";
  std::chrono::milliseconds timeout{10000}; // per step
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
  std::string leaf_spki_sha256; // hex
  std::vector<std::string> chain_pem; // the chain as presented, leaf first
};

ProbeReport probe(const ProbeRequest& request);
std::vector<ProbeReport> probe_all(const std::vector<ProbeRequest>& requests, std::size_t max_in_flight = 8);

} // namespace dane
