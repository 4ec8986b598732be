// dane/daemon/shared_cache.hpp — a fleet's shared answer cache on Redis that cannot lie.
//
// What: with --shared-cache redis://HOST:PORT[/DB] or unix:PATH, a daemon that misses its own
// cache asks Redis (GET, within --shared-cache-timeout ms) before evaluating, and stores what it
// evaluated (SET ... EX ttl) so that the other daemons of a fleet need no DNS for it.
// Inputs: the settings (URL, key file, timeout, mode and the settings that change answers), the
// daemon's io_context (every Redis operation runs on it: hiredis's asynchronous API over
// redis_asio.hpp's adapter; no thread ever waits for Redis), the log and the counters.
// Failure modes: Redis slow, down, or answering garbage only ever turns a shared lookup into a
// miss: the caller evaluates locally as without a shared cache (counted as timeouts, errors,
// misses or rejected entries in the stats JSON `shared_cache` object). The connection is
// re-opened with a backoff (100 ms doubling to 5 s) when it breaks, or when a lookup times out
// and Redis has answered nothing for 2 s.
// Trust: Redis and whoever can write to it are NOT trusted. Every entry is sealed with
// HMAC-SHA256 under the key of --shared-cache-key (a file only root or the daemon's user may
// read: open_shared_cache_key refuses others). The MAC covers a format version, the lookup
// key, the daemon's mode and the settings that change answers (SharedContext), the answer
// (kind, text, reason, would_answer) and the absolute expiry. An entry whose MAC does not
// verify, that does not parse, is expired, or whose expiry lies further ahead than
// --cache-max-ttl is ignored (a miss) and counted as rejected. Someone with Redis access can
// delete entries (no worse than a miss) or replay an old entry sealed for the same key and
// context until its own expiry; they cannot forge or alter one. TEMP answers and answers
// that name local files (pinned `secure tafile=...`) are never shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dane/core/expected.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"
#include "dane/policy/answer.hpp"

struct redisAsyncContext;

namespace dane::policyd {

// Where Redis is: "redis://HOST:PORT[/DB]" (PORT default 6379, DB default 0) or "unix:PATH".
struct SharedCacheUrl {
  bool unix_socket = false;
  std::string host;
  std::uint16_t port = 6379;
  std::string path;
  unsigned db = 0;
};
Expected<SharedCacheUrl> parse_shared_cache_url(std::string_view text);

// The MAC key, read at start (as root, before the privilege drop). Refuses a file that is not a
// regular file, is readable or writable by group or other, is owned by anyone but root or
// `daemon_uid`, or holds fewer than 16 bytes (trailing white space is not part of the key).
Expected<std::string> read_shared_cache_key(const std::string& path, long daemon_uid);

// What an entry's meaning depends on beyond its key: the mode and the settings that change
// answers. Daemons whose contexts differ never accept each other's entries (and use other Redis keys).
std::string shared_context(const Settings& settings);

// An answer that may be shared: not TEMP, and nothing that names a local file.
bool shareable(const PolicyAnswer& answer);

// Entry codec (pure): the Redis value for `answer` under `key`, valid until `expires_unix`.
std::string seal_entry(std::string_view mac_key, std::string_view context, std::string_view lookup_key,
                       const PolicyAnswer& answer, std::int64_t expires_unix);
struct OpenedEntry {
  PolicyAnswer answer;
  std::chrono::seconds remaining{0};
};
// The answer of a sealed entry, or why it is rejected ("malformed", "bad MAC", "expired", ...).
Expected<OpenedEntry> open_entry(std::string_view mac_key, std::string_view context, std::string_view lookup_key,
                                 std::string_view value, std::int64_t now_unix, std::chrono::seconds max_ttl);
// The Redis key of `lookup_key` under `context`.
std::string redis_key(std::string_view context, std::string_view lookup_key);

class SharedCache {
public:
  // `answer` set: a valid entry (its remaining lifetime in `remaining`); unset: evaluate locally.
  using Found = std::function<void(std::optional<OpenedEntry> entry)>;

  SharedCache(const Settings& settings, SharedCacheUrl url, std::string mac_key, boost::asio::io_context& io,
              LogWriter& log, Stats& stats);
  ~SharedCache();
  SharedCache(const SharedCache&) = delete;
  SharedCache& operator=(const SharedCache&) = delete;

  // Connects (on the io_context). Call once the io_context will run (after the privilege drop).
  void start();
  // Any thread. `done` exactly once, on the io_context's thread, within about the timeout —
  // unless the cache is closed first (shutdown), when it is dropped.
  void get(const std::string& lookup_key, Found done);
  // Any thread. Stores `answer` (when shareable) for `ttl` seconds; failures are only counted.
  void put(const std::string& lookup_key, const PolicyAnswer& answer, std::chrono::seconds ttl);
  // No more callbacks from now on (the daemon's shutdown).
  void close();

private:
  struct Request;
  void connect();
  void schedule_reconnect();
  void drop_connection(const std::string& why);
  void get_on_loop(const std::string& lookup_key, Found done);
  void put_on_loop(const std::string& lookup_key, const std::string& value, std::chrono::seconds ttl);
  void finish_get(Request& request, void* reply);
  static void on_get_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_set_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);

  std::string m_context;
  SharedCacheUrl m_url;
  std::string m_mac_key;
  std::chrono::milliseconds m_timeout;
  std::chrono::seconds m_max_ttl;
  boost::asio::io_context& m_io;
  LogWriter& m_log;
  Stats& m_stats;
  redisAsyncContext* m_ctx = nullptr; // null while disconnected
  boost::asio::steady_timer m_reconnect;
  std::chrono::milliseconds m_backoff{100};
  std::size_t m_outstanding = 0;                        // commands sent and not yet answered
  std::chrono::steady_clock::time_point m_last_reply{}; // of any reply, or the connect
  bool m_connected_logged = false;                      // say "connected" / "lost" once per change
  std::atomic<bool> m_closed{false};
};

// --shared-cache set: the key file read and the cache built (not yet connected); unset: null.
// Errors (bad key file) are start-up errors of exit code 2.
Expected<std::shared_ptr<SharedCache>> open_shared_cache(const Settings& settings, long daemon_uid,
                                                         boost::asio::io_context& io, LogWriter& log, Stats& stats);

} // namespace dane::policyd
