// certificate_records(): every TLSA record that would authenticate a certificate file
// (contract: dane/tools/rollover.hpp). OpenSSL only, no I/O.
#include <array>
#include <cstdint>

#include <openssl/x509v3.h>

#include "dane/tools/rollover.hpp"
#include "dane/verifier/pem.hpp"

namespace dane::tools {

namespace {

constexpr std::array<TlsaSelector, 2> k_selectors{TlsaSelector::Cert, TlsaSelector::Spki};
constexpr std::array<TlsaMatchingType, 3> k_mtypes{TlsaMatchingType::Full, TlsaMatchingType::Sha2_256,
                                                   TlsaMatchingType::Sha2_512};

Status add_all(std::vector<TlsaRecord>& out, X509* cert, TlsaUsage usage) {
  for (auto selector : k_selectors) {
    for (auto mtype : k_mtypes) {
      auto record = make_tlsa(cert, usage, selector, mtype);
      if (!record) {
        return make_error(record.error());
      }
      out.push_back(std::move(*record));
    }
  }
  return Ok{};
}

} // namespace

Expected<CertificateRecords> certificate_records(const std::vector<X509*>& chain) {
  if (chain.empty() || chain.front() == nullptr) {
    return make_error("no certificate");
  }
  X509* leaf = chain.front();
  CertificateRecords out;
  if (auto st = add_all(out.leaf, leaf, TlsaUsage::DaneEe); !st) {
    return make_error(st.error());
  }
  bool have_issuer = false;
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509* ca = chain[i];
    if (ca == nullptr) {
      continue;
    }
    const bool issued_leaf = !have_issuer && X509_check_issued(ca, leaf) == X509_V_OK;
    auto st = add_all(issued_leaf ? out.issuer : out.other_cas, ca, TlsaUsage::DaneTa);
    if (!st) {
      return make_error(st.error());
    }
    have_issuer = have_issuer || issued_leaf;
  }
  auto cert_der = selected_der(leaf, TlsaSelector::Cert);
  auto spki = selected_der(leaf, TlsaSelector::Spki);
  if (!cert_der || !spki) {
    return make_error(!cert_der ? cert_der.error() : spki.error());
  }
  auto cert_digest = tlsa_digest(TlsaMatchingType::Sha2_256, *cert_der);
  auto spki_digest = tlsa_digest(TlsaMatchingType::Sha2_256, *spki);
  if (!cert_digest || !spki_digest) {
    return make_error("cannot compute SHA-256");
  }
  out.cert_sha256 = to_hex(*cert_digest);
  out.spki_sha256 = to_hex(*spki_digest);
  return out;
}

Expected<CertificateRecords> certificate_records_from_file(const std::string& path) {
  auto certs = load_pem_chain_file(path); // keys in a combined key + chain file are skipped
  if (!certs) {
    return make_error(certs.error());
  }
  std::vector<X509*> chain;
  for (const auto& cert : certs->certs) {
    chain.push_back(cert.get());
  }
  auto records = certificate_records(chain);
  if (!records) {
    return make_error(path + ": " + records.error());
  }
  return records;
}

} // namespace dane::tools
