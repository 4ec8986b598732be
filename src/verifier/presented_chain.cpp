// The chain a server presented, as the probe reports it (contract: presented_chain.hpp).
#include "presented_chain.hpp"

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dane/core/text.hpp"
#include "dane/core/time.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::detail {
namespace {

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr) {
    return {};
  }
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return bio_to_string(bio.get());
}

std::string asn1_time_rfc3339(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return {};
  }
  // 64-bit arithmetic throughout (no int products widened afterwards).
  const std::int64_t secs =
      days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday)) *
          86400 +
      std::int64_t{tm.tm_hour} * 3600 + std::int64_t{tm.tm_min} * 60 + tm.tm_sec;
  return format_rfc3339(secs * k_usec_per_sec);
}

std::vector<std::string> subject_alt_names(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(ip);
      const unsigned char* bytes = ASN1_STRING_get0_data(ip);
      if ((len == 4 && ::inet_ntop(AF_INET, bytes, buf, sizeof buf) != nullptr) ||
          (len == 16 && ::inet_ntop(AF_INET6, bytes, buf, sizeof buf) != nullptr)) {
        out.emplace_back(std::string("IP:") + buf);
      }
    }
  }
  return out;
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return {};
  }
  return bio_to_string(bio.get());
}

} // namespace

void describe_chain(SSL* ssl, ProbeReport& report) {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); // client side: leaf first, not owned
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      report.chain_pem.push_back(cert_pem(sk_X509_value(chain, i)));
    }
  }
  if (leaf == nullptr) {
    return;
  }
  report.leaf_subject = name_text(X509_get_subject_name(leaf));
  report.leaf_issuer = name_text(X509_get_issuer_name(leaf));
  report.leaf_san = subject_alt_names(leaf);
  report.leaf_not_before = asn1_time_rfc3339(X509_get0_notBefore(leaf));
  report.leaf_not_after = asn1_time_rfc3339(X509_get0_notAfter(leaf));
  // i2d_X509_PUBKEY(X509_get_X509_PUBKEY()), docs/design.md §7
  auto spki = selected_der(leaf, TlsaSelector::Spki);
  if (spki) {
    auto digest = tlsa_digest(TlsaMatchingType::Sha2_256, *spki);
    if (digest) {
      report.leaf_spki_sha256 = to_hex(*digest);
    }
  }
}

} // namespace dane::detail
