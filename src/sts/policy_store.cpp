// The MTA-STS policy cache (RFC 8461 §5): memory plus one JSON file per domain under --state-dir.
// Files are written atomically and read back no more trusting than a fresh fetch (the body is parsed
// again); see the header for what is refused and why.
#include "dane/sts/policy_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/fd.hpp"
#include "dane/core/private_file.hpp"
#include "dane/core/text.hpp"
#include "dane/core/time.hpp"

namespace dane::sts {
namespace {

constexpr std::size_t k_store_file_max_bytes = std::size_t{256} * 1024;
constexpr int k_store_format = 1;
// The domain as a file name: lower case, no trailing dot, LDH labels only (so never "/", "..", or a
// leading dot).
Expected<std::string> store_name(std::string_view domain) {
  std::string name = normalize_sts_domain(domain);
  if (!is_sts_domain_name(name)) {
    return make_error("invalid domain name '" + quote_untrusted(domain) + "'");
  }
  return name;
}

UnixMicros to_micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
std::chrono::system_clock::time_point from_micros(UnixMicros us) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::microseconds(us)));
}

// The owner a file in `dir` may have besides this process's user: for a read-only store (dane-policyctl,
// often root, reading the daemon's store), the owner of the directory, when that directory is a real
// directory (not a symbolic link) writable by its owner only. Otherwise nullopt.
std::optional<uid_t> directory_owner(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return std::nullopt;
  }
  return st.st_uid;
}

Expected<std::string> json_string(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return make_error(std::string("no string field \"") + key + "\"");
  }
  return it->get<std::string>();
}

Expected<std::chrono::system_clock::time_point> json_time(const nlohmann::json& j, const char* key) {
  auto text = json_string(j, key);
  if (!text) {
    return make_error(text.error());
  }
  auto us = parse_rfc3339(*text);
  if (!us) {
    return make_error(std::string("field \"") + key + "\": " + us.error());
  }
  return from_micros(*us);
}

// The file's content -> a StoredPolicy for `domain`, every field checked.
Expected<StoredPolicy> decode_store_file(const std::string& text, const std::string& domain) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error("not a JSON object");
  }
  if (const auto it = j.find("format"); it == j.end() || *it != k_store_format) {
    return make_error("not format " + std::to_string(k_store_format));
  }
  auto file_domain = json_string(j, "domain");
  if (!file_domain) {
    return make_error(file_domain.error());
  }
  if (*file_domain != domain) {
    return make_error("holds the policy of another domain ('" + quote_untrusted(*file_domain) + "')");
  }
  auto id = json_string(j, "id");
  auto body = json_string(j, "policy");
  auto fetched = json_time(j, "fetched");
  auto expires = json_time(j, "expires");
  for (const std::string* e : {id ? nullptr : &id.error(), body ? nullptr : &body.error(),
                               fetched ? nullptr : &fetched.error(), expires ? nullptr : &expires.error()}) {
    if (e != nullptr) {
      return make_error(*e);
    }
  }
  if (auto txt = parse_sts_txt("v=STSv1; id=" + *id); !txt || txt->id != *id) {
    return make_error("id '" + quote_untrusted(*id) + "' is not a valid MTA-STS id");
  }
  auto policy = parse_sts_policy(*body);
  if (!policy) {
    return make_error("the stored policy is refused: " + policy.error());
  }
  if (*expires != *fetched + std::chrono::seconds(policy->max_age)) {
    return make_error("\"expires\" is not \"fetched\" + max_age");
  }
  return StoredPolicy{domain, std::move(*id), std::move(*policy), *fetched, *expires};
}

std::string encode_store_file(const StoredPolicy& p) {
  const nlohmann::json j = {
      {"format", k_store_format},
      {"domain", p.domain},
      {"id", p.id},
      {"fetched", format_rfc3339(to_micros(p.fetched))},
      {"expires", format_rfc3339(to_micros(p.expires))},
      {"policy", p.policy.text},
  };
  return j.dump(2) + "\n";
}

// The directory, created 0700 when missing; an existing one must be a directory (not a symbolic link).
Status ensure_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error("cannot create directory " + dir + ": " + std::strerror(errno));
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return make_error("cannot open directory " + dir + " (a symbolic link is never followed): " + std::strerror(errno));
  }
  return Ok{};
}

} // namespace

PolicyStore::PolicyStore(std::string dir, bool read_only) : m_dir(std::move(dir)), m_read_only(read_only) {}

Expected<std::optional<StoredPolicy>> PolicyStore::load(const std::string& domain) {
  auto name = store_name(domain);
  if (!name) {
    return make_error(name.error());
  }
  const std::lock_guard lock(m_mutex);
  if (const auto it = m_memory.find(*name); it != m_memory.end()) {
    return std::optional<StoredPolicy>(it->second);
  }
  if (m_dir.empty()) {
    return std::optional<StoredPolicy>();
  }
  const std::string path = m_dir + "/" + *name + ".json";
  auto text = read_private_file(
      path, PrivateFileRules{k_store_file_max_bytes, m_read_only ? directory_owner(m_dir) : std::nullopt, true});
  if (!text) {
    return make_error("MTA-STS policy file " + path + ": " + text.error());
  }
  if (!text->has_value()) {
    return std::optional<StoredPolicy>();
  }
  auto stored = decode_store_file(**text, *name);
  if (!stored) {
    return make_error("MTA-STS policy file " + path + ": " + stored.error());
  }
  m_memory[*name] = *stored;
  return std::optional<StoredPolicy>(std::move(*stored));
}

Status PolicyStore::save(const StoredPolicy& policy) {
  auto name = store_name(policy.domain);
  if (!name) {
    return make_error(name.error());
  }
  StoredPolicy copy = policy;
  copy.domain = *name;
  {
    const std::lock_guard lock(m_mutex);
    m_memory[*name] = copy;
  }
  if (m_dir.empty() || m_read_only) {
    return Ok{};
  }
  // The disk write runs without the lock (fsync takes a while); of two saves of one domain at once,
  // the later rename wins, and both bodies were fresh fetches.
  if (auto st = ensure_dir(m_dir); !st) {
    return st;
  }
  const std::string path = m_dir + "/" + *name + ".json";
  if (auto st = write_file_atomically(path, encode_store_file(copy), ".tmp-policy."); !st) {
    return make_error("MTA-STS policy file " + path + ": " + st.error());
  }
  return Ok{};
}

} // namespace dane::sts
