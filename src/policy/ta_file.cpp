// Trust-anchor files from DANE-TA records (see dane/policyd/ta_file.hpp).
#include "dane/policy/ta_file.hpp"

#include <cstdio>
#include <fstream>

#include <openssl/pem.h>
#include <unistd.h>

#include "dane/verifier/handles.hpp"

namespace dane::policyd {
namespace {

std::optional<std::string> fail(std::string* error, std::string message) {
  if (error != nullptr) {
    *error = std::move(message);
  }
  return std::nullopt;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

} // namespace

std::optional<std::string> write_ta_file(const DestinationFacts& facts, const std::string& directory,
                                         std::string* error) {
  std::string pem;
  std::size_t anchors = 0;
  for (const auto& host : facts.hosts) {
    for (const auto& r : host.tlsa) {
      if (r.usage != TlsaUsage::DaneTa || smtp_usability(r) != TlsaUsability::Usable) {
        continue;
      }
      if (r.mtype != TlsaMatchingType::Full) {
        return fail(error, "DANE-TA record " + r.short_string() + " holds only a digest of its trust anchor");
      }
      BioPtr out(BIO_new(BIO_s_mem()));
      const unsigned char* p = r.data.data();
      auto len = static_cast<long>(r.data.size());
      bool ok = false;
      if (r.selector == TlsaSelector::Cert) {
        X509Ptr cert(d2i_X509(nullptr, &p, len));
        ok = cert && p == r.data.data() + r.data.size() && PEM_write_bio_X509(out.get(), cert.get()) == 1;
      } else {
        EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, len));
        ok = key && p == r.data.data() + r.data.size() && PEM_write_bio_PUBKEY(out.get(), key.get()) == 1;
      }
      if (!ok) {
        return fail(error, "DANE-TA record " + r.short_string() + " does not hold a DER " +
                               (r.selector == TlsaSelector::Cert ? "certificate" : "public key"));
      }
      std::string block = bio_text(out.get());
      if (pem.find(block) == std::string::npos) {
        pem += block;
        ++anchors;
      }
    }
  }
  if (anchors == 0) {
    return fail(error, "no usable DANE-TA record");
  }
  auto digest = named_digest("sha256", std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
  if (!digest) {
    return fail(error, digest.error());
  }
  std::string name = facts.next_hop.domain.empty() ? std::string("destination") : facts.next_hop.domain;
  std::string path = directory + "/" + name + "-" + to_hex(*digest).substr(0, 16) + ".pem";
  if (::access(path.c_str(), R_OK) == 0) {
    return path; // same anchors already written
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(reinterpret_cast<std::uintptr_t>(&pem));
  {
    std::ofstream file(tmp, std::ios::trunc);
    file << pem;
    if (!file.flush()) {
      std::remove(tmp.c_str());
      return fail(error, "cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return fail(error, "cannot rename " + tmp + " to " + path);
  }
  return path;
}

} // namespace dane::policyd
