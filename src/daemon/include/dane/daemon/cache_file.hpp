// dane/daemon/cache_file.hpp — warm restarts: the cache saved to --cache-file and read back at start.
//
// What: CacheFileKeeper reads the file once at start, before the daemon serves (restoring each
// entry with the TTL it has left), saves the cache at shutdown and every --cache-file-interval
// from a thread of its own (never on the I/O thread, never holding the cache's lock while it
// formats, hashes or writes). The format functions below are pure, for the unit tests.
//
// Inputs: the daemon's settings; the file at --cache-file (the daemon's own, written by an earlier
// run as its run user, mode 0600; yet read as untrusted bytes).
//
// File format (text, one record per line, every line ends in '\n'):
//   dane-policyd cache-file 1                magic and format version
//   identity HEX64                           SHA-256 of the settings that change answers (cache_identity)
//   mode native|pinned|monitor
//   saved UNIX_MS                            when it was written (wall clock)
//   entries N
//   E EXPIRES_MS LIFETIME_S POLICY KEY ANSWER REASON WOULD   N times, least recently used first
//   sha256 HEX64                             over every byte before this line
// Text fields are %XX-escaped (%, bytes <= 0x20 and >= 0x7f); "-" is the empty text. Times are
// absolute wall-clock milliseconds since 1970, so that an entry keeps its remaining TTL across
// the restart: remaining = EXPIRES_MS - now.
//
// Failure modes: a file that is missing starts the daemon cold (no warning); one that cannot be
// trusted — a symbolic link, not a regular file, not owned by the daemon's user, writable by
// others, more than one link, too large, wrong magic or version, a checksum mismatch, another
// mode or identity (other resolver settings or trust anchor), a malformed line, a field out of
// range, an entry this daemon could never have written (a TEMP answer, a key that is not a
// destination, an answer that does not fit its policy, a trust-anchor file outside --state-dir)
// — is ignored as a whole: one warning naming the file and why (cache-file-rejected), counted,
// and the daemon starts cold. Entries that merely aged are dropped one by one: expired, with
// more left than --cache-max-ttl (the clock moved back, or the limit was lowered), or in pinned
// mode naming a trust-anchor file that no longer exists. A failed save (full disk, unwritable
// directory) is warned about (cache-file-save-failed) and counted; the previous file stays.
//
// Why a cache file cannot weaken a policy: its entries come only from this daemon's own
// evaluations (DNSSEC-validated, never TEMP); the file is the daemon user's own, mode 0600, written
// by rename of a fresh mkstemp file in the same directory (never through a symbolic link at FILE)
// and read without following one; its header binds it to the mode and the resolver and trust-anchor
// settings that produced it; and anything unexpected discards the whole file, so the daemon then
// evaluates afresh, with full validation, as after any cold start. An entry lives no longer than
// the DNS TTL the evaluation allowed (capped by --cache-max-ttl), exactly as if the daemon had run on.
// (Who can write the file as the daemon's user can also change the daemon's answers in memory;
// the checks guard against corruption, stale or foreign files and mistakes, not against that user.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/daemon/cache.hpp"
#include "dane/daemon/owned_files.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"
#include "dane/policy/answer.hpp"

namespace dane::policyd {

class Verdict;
using VerdictPtr = std::shared_ptr<const Verdict>;

inline constexpr std::size_t k_cache_file_max_entries = 10'000'000;
inline constexpr std::size_t k_cache_file_max_line = std::size_t{1024} * 1024;

// One saved cache entry.
struct CacheFileEntry {
  std::int64_t expires_ms = 0; // wall clock, ms since 1970
  std::uint32_t lifetime_s = 0;
  PolicyKind policy = PolicyKind::NotFound;
  std::string key;
  std::string answer;
  std::string reason;
  std::string would_answer;
};

struct CacheFileContents {
  std::string identity; // cache_identity() of the daemon that wrote it
  Mode mode = Mode::Native;
  std::int64_t saved_ms = 0;
  std::vector<CacheFileEntry> entries;
};

// SHA-256 (hex) over the settings that change answers: mode, fingerprint digest, state
// directory, and the resolver's configuration (unbound config file and trust-anchor file, names
// and contents; forwarders). Files that cannot be read count as their names only.
std::string cache_identity(const Settings& settings);

std::string serialize_cache_file(const CacheFileContents& contents);
// Strict: any deviation from the format above is an error saying what and on which line.
Expected<CacheFileContents> parse_cache_file(std::string_view text);

// Reads FILE without following a symbolic link: a regular file with one link, owned by this
// process's user, not writable by group or others, at most `max_bytes`. nullopt: no such file.
Expected<std::optional<std::string>> read_cache_file(const std::string& path, std::size_t max_bytes);
// Writes FILE atomically: a mkstemp file in the same directory (mode 0600), fsync, rename over
// FILE (replacing a symbolic link there, never following it), fsync of the directory.
Status write_cache_file(const std::string& path, std::string_view content);

// Start-up, as root before the privilege drop: whether --cache-file lies in --state-dir (the daemon
// then prepares that directory for its user in every mode, not only in pinned mode), and a warning
// (cache-file-unwritable) when the run user `owner` cannot create files in the cache file's directory
// (the cache could not be saved); a directory that does not exist yet is not judged.
bool cache_file_in_state_dir(const Settings& settings);
void warn_if_cache_file_unwritable(const Settings& settings, const std::optional<FileOwner>& owner,
                                   const std::string& user, LogWriter& log);

class CacheFileKeeper {
public:
  CacheFileKeeper(const Settings& settings, Cache<VerdictPtr>& cache, LogWriter& log, Stats& stats);
  ~CacheFileKeeper(); // stops the saving thread (without saving: see stop_and_save)
  CacheFileKeeper(const CacheFileKeeper&) = delete;
  CacheFileKeeper& operator=(const CacheFileKeeper&) = delete;

  // Restores the saved entries (at start, before serving). Logs and counts what happened.
  void load();
  // Starts the periodic saves (none when the interval is 0).
  void start();
  // Stops the periodic saves and saves once more (at shutdown, after the evaluations ended).
  void stop_and_save();
  // Saves now (on the calling thread); true when written.
  bool save();

private:
  void run();

  const Settings& m_settings;
  Cache<VerdictPtr>& m_cache;
  LogWriter& m_log;
  Stats& m_stats;
  std::string m_identity;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::mutex m_save_mutex; // one save at a time
  std::thread m_thread;
};

} // namespace dane::policyd
