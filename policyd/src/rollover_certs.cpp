// certificate_records(): every TLSA record that would authenticate a certificate file
// (contract: dane/policyd/rollover.hpp). OpenSSL only, no I/O.
#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/pem.h>

#include <openssl/x509v3.h>

#include "dane/policyd/rollover.hpp"

namespace dane::policyd {

namespace {

constexpr std::array<std::uint8_t, 2> k_selectors{0, 1};
constexpr std::array<std::uint8_t, 3> k_mtypes{0, 1, 2};

Status add_all(std::vector<TlsaRecord>& out, X509* cert, std::uint8_t usage) {
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
  if (auto st = add_all(out.leaf, leaf, 3); !st) {
    return make_error(st.error());
  }
  bool have_issuer = false;
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509* ca = chain[i];
    if (ca == nullptr) {
      continue;
    }
    const bool issued_leaf = !have_issuer && X509_check_issued(ca, leaf) == X509_V_OK;
    auto st = add_all(issued_leaf ? out.issuer : out.other_cas, ca, 2);
    if (!st) {
      return make_error(st.error());
    }
    have_issuer = have_issuer || issued_leaf;
  }
  auto cert_der = selected_der(leaf, 0);
  auto spki = selected_der(leaf, 1);
  if (!cert_der || !spki) {
    return make_error(!cert_der ? cert_der.error() : spki.error());
  }
  auto cert_digest = tlsa_digest(1, *cert_der);
  auto spki_digest = tlsa_digest(1, *spki);
  if (!cert_digest || !spki_digest) {
    return make_error("cannot compute SHA-256");
  }
  out.cert_sha256 = to_hex(*cert_digest);
  out.spki_sha256 = to_hex(*spki_digest);
  return out;
}

Expected<std::vector<X509Ptr>> parse_pem_certificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  constexpr std::string_view k_begin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view k_end = "-----END CERTIFICATE-----";
  std::size_t pos = 0;
  while ((pos = pem.find(k_begin, pos)) != std::string_view::npos) {
    std::size_t end = pem.find(k_end, pos);
    if (end == std::string_view::npos) {
      return make_error("certificate " + std::to_string(out.size() + 1) + " has no END line");
    }
    std::string_view block = pem.substr(pos, end + k_end.size() - pos);
    BioPtr bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
    if (!bio) {
      return make_error("out of memory");
    }
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      ERR_clear_error();
      return make_error("certificate " + std::to_string(out.size() + 1) + " does not parse");
    }
    out.push_back(std::move(cert));
    pos = end + k_end.size();
  }
  if (out.empty()) {
    return make_error("no PEM certificate found");
  }
  return out;
}

Expected<std::vector<X509Ptr>> read_pem_certificates(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("cannot read " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto certs = parse_pem_certificates(text.str());
  if (!certs) {
    return make_error(path + ": " + certs.error());
  }
  return certs;
}

Expected<CertificateRecords> certificate_records_from_file(const std::string& path) {
  auto certs = read_pem_certificates(path);
  if (!certs) {
    return make_error(certs.error());
  }
  std::vector<X509*> chain;
  for (const auto& cert : *certs) {
    chain.push_back(cert.get());
  }
  auto records = certificate_records(chain);
  if (!records) {
    return make_error(path + ": " + records.error());
  }
  return records;
}

} // namespace dane::policyd
