// dane/sts/policy_store.hpp — the MTA-STS policy cache (RFC 8461 §5): in memory, and on disk under
// --state-dir so that policies survive restarts.
//
// What: one StoredPolicy per policy domain, kept until its `expires` (fetched + max_age). On disk: one
// file per domain, `<dir>/<domain>.json` (JSON: domain, id, fetched, expires, the policy body), written
// atomically (temporary file in the same directory, mode 0600, fsync, rename). Reading re-parses the
// body with parse_sts_policy(): a file is trusted no more than a fresh fetch.
// Failure modes: a file that cannot be read or parsed, or that names another domain, is an error
// (load() says which file and why); the caller must not treat it as "no policy" (that could weaken an
// enforce policy): the daemon refetches, and answers TEMP when that fails too. An expired policy is
// returned as such; the caller decides (it is never used to answer).
// Trust: the directory is the daemon's own (--state-dir, owned by its user); a file owned by someone
// else, a symlink, or one writable by group/other is refused. A read-only store (dane-policyctl, often
// root) also accepts files owned by the directory's owner when that directory is writable by its owner
// only. File format: {"format": 1, "domain", "id", "fetched", "expires" (RFC 3339), "policy" (the body)}.
// Thread-safe (one mutex); `dir` empty keeps policies in memory only.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "dane/core/expected.hpp"
#include "dane/verifier/mta_sts.hpp"

namespace dane::sts {

struct StoredPolicy {
  std::string domain; // lower case, no trailing dot
  std::string id;     // the TXT id the policy was fetched under
  StsPolicy policy;
  std::chrono::system_clock::time_point fetched;
  std::chrono::system_clock::time_point expires; // fetched + policy.max_age
};

class PolicyStore {
public:
  // `dir`: e.g. "/var/lib/dane-policyd/mta-sts" (created 0700 on the first save); empty: memory only.
  // `read_only`: load from disk but never write (dane-policyctl reading the daemon's store).
  explicit PolicyStore(std::string dir, bool read_only = false);

  // nullopt: nothing stored for `domain`; an error: a stored file that cannot be trusted (see above).
  Expected<std::optional<StoredPolicy>> load(const std::string& domain);
  // Replaces the domain's policy in memory and (unless read-only or memory-only) on disk.
  Status save(const StoredPolicy& policy);

  const std::string& dir() const { return m_dir; }

private:
  std::string m_dir;
  bool m_read_only;
  std::mutex m_mutex;
  std::map<std::string, StoredPolicy> m_memory;
};

} // namespace dane::sts
