// The one trust-anchor store (see dane/policy/ta_store.hpp).
#include "dane/policy/ta_store.hpp"

#include <cstdio>
#include <fstream>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "dane/core/text.hpp"
#include "dane/verifier/pem.hpp"

namespace dane::policyd {
namespace {

std::optional<std::string> sha256_hex(std::string_view text) {
  auto digest = named_digest("sha256", std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  if (!digest) {
    return std::nullopt;
  }
  return to_hex(*digest);
}

// Writes `content` to `path` through a temporary name in the same directory and a rename.
bool write_atomically(const std::string& path, const std::string& content) {
  std::string tmp =
      path + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(reinterpret_cast<std::uintptr_t>(&content));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) {
      std::remove(tmp.c_str());
      return false;
    }
  }
  ::chmod(tmp.c_str(), 0644);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

// A captured anchor is one certificate: bounded like every PEM input (a larger file is not ours).
std::optional<std::string> read_file(const std::string& path) {
  auto text = read_text_file(path);
  return text ? std::optional<std::string>(std::move(*text)) : std::nullopt;
}

// A captured anchor as written by captured(): one PEM certificate.
bool looks_like_certificate(const std::string& pem) {
  return pem.starts_with("-----BEGIN CERTIFICATE-----\n") && pem.ends_with("-----END CERTIFICATE-----\n");
}

} // namespace

std::string TrustAnchorStore::captured_path(const TlsaRecord& record) const {
  return m_dir + "/captured-" + sha256_hex(record.to_string()).value_or("unhashable") + ".pem";
}

void TrustAnchorStore::captured(const TlsaRecord& record, const std::string& certificate_pem) {
  std::lock_guard lock(m_mutex);
  m_captured.insert_or_assign(record.to_string(), certificate_pem);
  std::string path = captured_path(record);
  if (auto old = read_file(path); !old || *old != certificate_pem) {
    write_atomically(path, certificate_pem); // on failure the anchor is still known to this process
  }
}

std::optional<std::string> TrustAnchorStore::captured_pem(const TlsaRecord& record) {
  std::lock_guard lock(m_mutex);
  auto it = m_captured.find(record.to_string());
  if (it != m_captured.end()) {
    return it->second;
  }
  auto pem = read_file(captured_path(record)); // captured by another process, or before a restart
  if (!pem || !looks_like_certificate(*pem)) {
    return std::nullopt;
  }
  m_captured.emplace(record.to_string(), *pem);
  return pem;
}

std::optional<std::string> TrustAnchorStore::file_for(const DestinationFacts& facts) {
  std::set<std::string> blocks; // sorted, so one set of anchors always gives one file
  for (const auto& host : facts.hosts) {
    for (const auto& r : host.tlsa) {
      if (r.usage != TlsaUsage::DaneTa || smtp_usability(r) != TlsaUsability::Usable) {
        continue;
      }
      if (r.mtype == TlsaMatchingType::Full) {
        auto pem = pem_from_der(r.selector, r.data);
        if (pem) {
          blocks.insert(std::move(*pem));
          continue;
        }
      }
      auto pem = captured_pem(r);
      if (!pem) {
        return std::nullopt; // this anchor cannot be expressed: no file (the engine answers dane-only)
      }
      blocks.insert(std::move(*pem));
    }
  }
  if (blocks.empty()) {
    return std::nullopt;
  }
  std::string content;
  for (const auto& b : blocks) {
    content += b;
  }
  auto hash = sha256_hex(content);
  if (!hash) {
    return std::nullopt;
  }
  std::string path = m_dir + "/ta-" + *hash + ".pem";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 || write_atomically(path, content)) {
    return path;
  }
  return std::nullopt;
}

} // namespace dane::policyd
