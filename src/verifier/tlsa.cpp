// TLSA record model: parsing, formatting, usability, digests, generation.
#include "dane/verifier/tlsa.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dane/core/text.hpp"
#include "dane/verifier/handles.hpp"

namespace dane {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::vector<std::string_view> split_fields(std::string_view text, std::size_t max_fields) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) {
      ++i;
    }
    if (i >= text.size()) {
      break;
    }
    if (fields.size() + 1 == max_fields) {
      fields.push_back(text.substr(i)); // the rest: hex data, possibly with spaces
      break;
    }
    std::size_t j = i;
    while (j < text.size() && !is_space(text[j])) {
      ++j;
    }
    fields.push_back(text.substr(i, j - i));
    i = j;
  }
  return fields;
}

Expected<std::uint8_t> parse_octet(std::string_view field, const char* what) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size() || value > 255) {
    return make_error(std::string(what) + " '" + quote_untrusted(field) + "' is not a number from 0 to 255");
  }
  return static_cast<std::uint8_t>(value);
}

std::string fields_text(const TlsaRecord& r) {
  return std::to_string(octet(r.usage)) + " " + std::to_string(octet(r.selector)) + " " +
         std::to_string(octet(r.mtype));
}

} // namespace

std::string TlsaRecord::to_string() const {
  return fields_text(*this) + " " + to_hex(data);
}

std::string TlsaRecord::short_string() const {
  std::string hex = to_hex(data);
  if (hex.size() > 16) {
    hex = hex.substr(0, 8) + "..." + hex.substr(hex.size() - 8);
  }
  return fields_text(*this) + " " + hex;
}

TlsaUsability smtp_usability(const TlsaRecord& record) {
  if (record.usage == TlsaUsage::PkixTa || record.usage == TlsaUsage::PkixEe) {
    return TlsaUsability::PkixUsage;
  }
  if (octet(record.usage) > octet(TlsaUsage::DaneEe)) {
    return TlsaUsability::UnknownUsage;
  }
  if (octet(record.selector) > octet(TlsaSelector::Spki)) {
    return TlsaUsability::UnknownSelector;
  }
  if (octet(record.mtype) > octet(TlsaMatchingType::Sha2_512)) {
    return TlsaUsability::UnknownMatchingType;
  }
  if (record.data.empty()) {
    return TlsaUsability::EmptyData;
  }
  if ((record.mtype == TlsaMatchingType::Sha2_256 && record.data.size() != 32) ||
      (record.mtype == TlsaMatchingType::Sha2_512 && record.data.size() != 64)) {
    return TlsaUsability::BadDigestLength;
  }
  return TlsaUsability::Usable;
}

std::string usage_name(TlsaUsage usage) {
  switch (usage) {
  case TlsaUsage::PkixTa:
    return "PKIX-TA";
  case TlsaUsage::PkixEe:
    return "PKIX-EE";
  case TlsaUsage::DaneTa:
    return "DANE-TA";
  case TlsaUsage::DaneEe:
    return "DANE-EE";
  }
  return "usage " + std::to_string(octet(usage)); // any other published octet
}

std::string describe(TlsaUsability usability, const TlsaRecord& record) {
  switch (usability) {
  case TlsaUsability::Usable:
    return "usable";
  case TlsaUsability::PkixUsage:
    return "usage " + std::to_string(octet(record.usage)) + " (" + usage_name(record.usage) +
           ") is not usable for SMTP";
  case TlsaUsability::UnknownUsage:
    return "unknown usage " + std::to_string(octet(record.usage));
  case TlsaUsability::UnknownSelector:
    return "unknown selector " + std::to_string(octet(record.selector));
  case TlsaUsability::UnknownMatchingType:
    return "unknown matching type " + std::to_string(octet(record.mtype));
  case TlsaUsability::BadDigestLength:
    return "matching type " + std::to_string(octet(record.mtype)) + " needs " +
           (record.mtype == TlsaMatchingType::Sha2_256 ? "32" : "64") + " octets of data, got " +
           std::to_string(record.data.size());
  case TlsaUsability::EmptyData:
    return "empty certificate association data";
  }
  return "unknown";
}

Expected<TlsaRecord> parse_tlsa(std::string_view text) {
  auto fields = split_fields(text, 4);
  if (fields.size() != 4) {
    return make_error("TLSA record '" + quote_untrusted(text) +
                      "' must have four fields: usage selector mtype hex-data");
  }
  TlsaRecord record;
  auto usage = parse_octet(fields[0], "usage");
  if (!usage) {
    return make_error(usage.error());
  }
  auto selector = parse_octet(fields[1], "selector");
  if (!selector) {
    return make_error(selector.error());
  }
  auto mtype = parse_octet(fields[2], "matching type");
  if (!mtype) {
    return make_error(mtype.error());
  }
  auto data = from_hex(fields[3]);
  if (!data) {
    return make_error("certificate association data: " + data.error());
  }
  if (data->empty()) {
    return make_error("certificate association data is empty");
  }
  record.usage = TlsaUsage{*usage};
  record.selector = TlsaSelector{*selector};
  record.mtype = TlsaMatchingType{*mtype};
  record.data = std::move(*data);
  return record;
}

Expected<TlsaRecord> parse_tlsa_rdata(std::span<const std::uint8_t> rdata) {
  if (rdata.size() < 4) {
    return make_error("TLSA RDATA of " + std::to_string(rdata.size()) + " octets is too short");
  }
  TlsaRecord record;
  record.usage = TlsaUsage{rdata[0]};
  record.selector = TlsaSelector{rdata[1]};
  record.mtype = TlsaMatchingType{rdata[2]};
  record.data.assign(rdata.begin() + 3, rdata.end());
  return record;
}

std::vector<std::uint8_t> to_rdata(const TlsaRecord& record) {
  std::vector<std::uint8_t> out(3 + record.data.size());
  out[0] = octet(record.usage);
  out[1] = octet(record.selector);
  out[2] = octet(record.mtype);
  std::copy(record.data.begin(), record.data.end(), out.begin() + 3);
  return out;
}

Expected<std::vector<std::uint8_t>> named_digest(std::string_view algorithm, std::span<const std::uint8_t> bytes) {
  const EVP_MD* md = EVP_get_digestbyname(std::string(algorithm).c_str());
  if (md == nullptr) {
    return make_error("unknown digest algorithm '" + quote_untrusted(algorithm) + "'");
  }
  std::vector<std::uint8_t> out(static_cast<std::size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, md, nullptr) != 1) {
    return make_error("digest " + std::string(algorithm) + " failed");
  }
  out.resize(len);
  return out;
}

Expected<std::vector<std::uint8_t>> tlsa_digest(TlsaMatchingType mtype, std::span<const std::uint8_t> bytes) {
  switch (mtype) {
  case TlsaMatchingType::Full:
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  case TlsaMatchingType::Sha2_256:
    return named_digest("sha256", bytes);
  case TlsaMatchingType::Sha2_512:
    return named_digest("sha512", bytes);
  }
  return make_error("unknown matching type " + std::to_string(octet(mtype)));
}

Expected<std::vector<std::uint8_t>> selected_der(X509* cert, TlsaSelector selector) {
  unsigned char* der = nullptr;
  int len = -1;
  if (selector == TlsaSelector::Cert) {
    len = i2d_X509(cert, &der);
  } else if (selector == TlsaSelector::Spki) {
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  } else {
    return make_error("unknown selector " + std::to_string(octet(selector)));
  }
  if (len <= 0) {
    return make_error("cannot DER-encode the certificate");
  }
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Expected<std::vector<std::uint8_t>> spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    return make_error("cannot DER-encode the public key");
  }
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

namespace {

// The record whose data is the matching type's digest of the selected DER.
Expected<TlsaRecord> record_of(TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype,
                               const std::vector<std::uint8_t>& der) {
  auto data = tlsa_digest(mtype, der);
  if (!data) {
    return make_error(data.error());
  }
  return TlsaRecord{usage, selector, mtype, std::move(*data)};
}

} // namespace

Expected<TlsaRecord> make_tlsa(X509* cert, TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype) {
  auto der = selected_der(cert, selector);
  if (!der) {
    return make_error(der.error());
  }
  return record_of(usage, selector, mtype, *der);
}

Expected<TlsaRecord> make_tlsa(EVP_PKEY* key, TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype) {
  if (selector != TlsaSelector::Spki) {
    return make_error("a key alone gives only selector 1 (SubjectPublicKeyInfo); selector " +
                      std::to_string(octet(selector)) + " needs the certificate");
  }
  auto der = spki_der(key);
  if (!der) {
    return make_error(der.error());
  }
  return record_of(usage, selector, mtype, *der);
}

} // namespace dane
