// Warm restarts: CacheFileKeeper loads --cache-file at start and saves it periodically and at
// shutdown (cache_file.hpp); the format and the file I/O are in cache_file.cpp.
// gcc 12 reports a false -Wnull-dereference inside std::unordered_map::erase when it inlines
// Cache::evict() into Cache::restore() here (the node erased was just found); silence it for this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "dane/daemon/cache_file.hpp"

#include <algorithm>
#include <filesystem>

#include <sys/stat.h>

#include "dane/core/text.hpp"
#include "dane/daemon/service.hpp"

namespace dane::policyd {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

} // namespace

// ---------------------------------------------------------------------------------------------------------
// CacheFileKeeper

CacheFileKeeper::CacheFileKeeper(const Settings& settings, Cache<VerdictPtr>& cache, LogWriter& log, Stats& stats)
    : m_settings(settings), m_cache(cache), m_log(log), m_stats(stats), m_identity(cache_identity(settings)) {}

CacheFileKeeper::~CacheFileKeeper() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

namespace {

// A pinned answer's trust-anchor file ("... tafile=PATH ..."): empty when there is none.
std::string ta_file_of(std::string_view answer) {
  const std::size_t at = answer.find(" tafile=");
  if (at == std::string_view::npos) {
    return {};
  }
  const std::size_t start = at + 8;
  const std::size_t end = answer.find(' ', start);
  return std::string(answer.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

// What load() found, for its log line and the counters.
struct LoadCounts {
  std::size_t loaded = 0;
  std::size_t expired = 0;
  std::size_t dropped = 0;
};

} // namespace

void CacheFileKeeper::load() {
  const std::string& path = m_settings.cache_file;
  auto reject = [&](const std::string& why) {
    m_stats.cache_file_rejected();
    m_log.message(Severity::Warning, "cache-file-rejected file=" + quote_log_value(path) +
                                         " reason=" + quote_log_value(why) + ": ignored; starting with an empty cache");
  };
  const std::size_t max_bytes =
      std::min<std::size_t>(std::size_t{1} << 31, (std::size_t{1} << 20) + m_settings.cache_size * 8192);
  auto text = read_cache_file(path, max_bytes);
  if (!text) {
    reject(text.error());
    return;
  }
  if (!text->has_value()) {
    m_log.message(Severity::Info,
                  "cache-file-missing file=" + quote_log_value(path) + ": starting with an empty cache");
    return;
  }
  auto contents = parse_cache_file(**text);
  if (!contents) {
    reject(contents.error());
    return;
  }
  if (contents->mode != m_settings.mode) {
    reject("written in mode " + to_string(contents->mode) + ", this daemon runs in mode " + to_string(m_settings.mode));
    return;
  }
  if (contents->identity != m_identity) {
    reject("written with other settings that change answers (resolver configuration, trust anchor, "
           "fingerprint digest or state directory)");
    return;
  }
  const std::string ta_dir = (std::filesystem::path(m_settings.state_dir) / "").string();
  for (const auto& e : contents->entries) {
    const std::string ta = ta_file_of(e.answer);
    if (!ta.empty() && (!starts_with(ta, ta_dir) || ta.find("/../") != std::string::npos)) {
      reject("an entry names a trust-anchor file outside --state-dir");
      return;
    }
  }
  LoadCounts counts;
  const std::int64_t now_ms = to_ms(std::chrono::system_clock::now());
  const std::int64_t max_ms = static_cast<std::int64_t>(m_settings.cache_max_ttl.count()) * 1000;
  auto& entries = contents->entries;
  // Least recently used first: when the cache is smaller now, the oldest are left out.
  const std::size_t skip = entries.size() > m_settings.cache_size ? entries.size() - m_settings.cache_size : 0;
  counts.dropped += skip;
  for (std::size_t i = skip; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::int64_t remaining = e.expires_ms - now_ms;
    const std::string ta = ta_file_of(e.answer);
    struct stat st {};
    const bool ta_ok = ta.empty() || (::lstat(ta.c_str(), &st) == 0 && S_ISREG(st.st_mode));
    if (remaining <= 0) {
      ++counts.expired;
      continue;
    }
    const bool restored =
        remaining <= max_ms && ta_ok &&
        m_cache.restore(e.key,
                        std::make_shared<const Verdict>(PolicyAnswer{e.policy, e.answer, e.reason, e.would_answer}),
                        std::chrono::milliseconds(remaining),
                        std::min(std::chrono::seconds(e.lifetime_s), m_settings.cache_max_ttl));
    ++(restored ? counts.loaded : counts.dropped);
  }
  m_stats.cache_file_loaded(counts.loaded, counts.expired, counts.dropped);
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  m_log.message(Severity::Info,
                "cache-file-loaded file=" + quote_log_value(path) + " entries=" + std::to_string(counts.loaded) +
                    " dropped_expired=" + std::to_string(counts.expired) +
                    " dropped=" + std::to_string(counts.dropped) +
                    " age_s=" + std::to_string(std::max<std::int64_t>(0, now_ms - contents->saved_ms) / 1000));
}

bool CacheFileKeeper::save() {
  std::lock_guard serial(m_save_mutex);
  auto snapshot = m_cache.snapshot(); // under the cache's lock: pointer copies only
  const auto now_steady = std::chrono::steady_clock::now();
  const std::int64_t now_ms = to_ms(std::chrono::system_clock::now());
  CacheFileContents contents;
  contents.identity = m_identity;
  contents.mode = m_settings.mode;
  contents.saved_ms = now_ms;
  contents.entries.reserve(snapshot.size());
  for (const auto& s : snapshot) {
    const Verdict& v = *s.value;
    if (v.policy() == PolicyKind::TempFail || starts_with(v.would_answer(), "TEMP")) {
      continue; // not worth saving (and never trusted when read back)
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.expires - now_steady);
    contents.entries.push_back(CacheFileEntry{now_ms + left.count(), static_cast<std::uint32_t>(s.lifetime.count()),
                                              v.policy(), s.key, std::string(v.answer()), std::string(v.reason()),
                                              std::string(v.would_answer())});
  }
  auto st = write_cache_file(m_settings.cache_file, serialize_cache_file(contents));
  m_stats.cache_file_saved(static_cast<bool>(st));
  if (!st) {
    m_log.message(Severity::Warning, "cache-file-save-failed file=" + quote_log_value(m_settings.cache_file) +
                                         " error=" + quote_log_value(st.error()) + ": the previous file stays");
    return false;
  }
  m_log.message(Severity::Debug, "cache-file-saved file=" + quote_log_value(m_settings.cache_file) +
                                     " entries=" + std::to_string(contents.entries.size()));
  return true;
}

void CacheFileKeeper::start() {
  if (m_settings.cache_file_interval.count() > 0 && !m_thread.joinable()) {
    m_thread = std::thread([this] { run(); });
  }
}

void CacheFileKeeper::run() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (m_wake.wait_for(lock, m_settings.cache_file_interval, [this] { return m_stop; })) {
      return;
    }
    lock.unlock();
    save();
    lock.lock();
  }
}

void CacheFileKeeper::stop_and_save() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
  save();
}

bool cache_file_in_state_dir(const Settings& settings) {
  namespace fs = std::filesystem;
  if (settings.cache_file.empty()) {
    return false;
  }
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::absolute(settings.cache_file, ec).parent_path(), ec);
  const fs::path state = fs::weakly_canonical(fs::absolute(settings.state_dir, ec), ec);
  return !ec && dir == state;
}

void warn_if_cache_file_unwritable(const Settings& settings, const std::optional<FileOwner>& owner,
                                   const std::string& user, LogWriter& log) {
  if (settings.cache_file.empty() || !owner || cache_file_in_state_dir(settings)) {
    return; // the state directory is made usable for the run user (or the start fails)
  }
  std::error_code ec;
  const auto dir = std::filesystem::absolute(settings.cache_file, ec).parent_path();
  if (!ec && std::filesystem::exists(dir, ec) && !may_create_files_in(dir.string(), *owner)) {
    log.message(Severity::Warning, "cache-file-unwritable file=" + quote_log_value(settings.cache_file) + ": user " +
                                       user + " cannot create files in " + dir.string() +
                                       ", so the cache cannot be saved (put it in --state-dir)");
  }
}

} // namespace dane::policyd
