// dane/policyd/cache.hpp — TTL-bounded, size-bounded cache that coalesces lookups.
//
// Keyed by the normalised lookup key. An entry lives for the smallest DNS TTL of
// the evaluation clamped to [min_ttl, max_ttl]; a temporary failure (TEMP) only
// `temp_ttl` (0: not cached at all). At most `max_entries` finished entries are
// kept; the least recently used is evicted first (entries being evaluated are
// never evicted). Concurrent lookups of one key while it is being evaluated join
// that evaluation (one DNS evaluation, many waiters). With `refresh` on, a hit on
// an entry that was used at least `refresh_min_hits` times and is in the last
// tenth of its lifetime asks the caller to re-evaluate it in the background; the
// old value keeps being served until it expires.
//
// Memory: one map node per key holds the value, the expiry, the hit count and
// the LRU links (the key is stored once); keep V small (the daemon stores a
// compact answer, not the DNS facts behind it).
//
// The cache is pure bookkeeping: it never runs evaluations or calls waiters while
// holding its lock — complete() hands the waiters back to the caller. The clock is
// injected so tests control time. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dane::policyd {

struct CacheLimits {
  std::size_t max_entries = 10000; // 0: cache nothing (lookups are still coalesced)
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{3600};
  std::chrono::seconds temp_ttl{5};
  bool refresh = false;
  unsigned refresh_min_hits = 2;
};

// V: a cheap-to-copy, default-constructible value (a hit returns a copy).
template <typename V> class Cache {
public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Clock = std::function<TimePoint()>;
  using Waiter = std::function<void(const V&)>;

  enum class Kind {
    Hit,      // `value` is fresh; waiter not stored
    Joined,   // an evaluation of this key is running; the waiter will get its result
    Evaluate, // the caller must evaluate and then call complete(); the waiter is stored
  };
  struct LookupResult {
    Kind kind = Kind::Evaluate;
    std::optional<V> value; // for Hit
    bool refresh = false;   // Hit only: caller should re-evaluate in the background, then complete()
  };

  explicit Cache(CacheLimits limits, Clock clock = [] { return std::chrono::steady_clock::now(); })
      : m_limits(limits), m_clock(std::move(clock)) {}
  ~Cache() = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  LookupResult lookup(const std::string& key, Waiter waiter) {
    return lookup_with(key, [&waiter]() -> Waiter { return std::move(waiter); });
  }

  // As lookup(), but the waiter is built by `make_waiter()` (under the cache's lock) only when it
  // must be stored: a hit costs no callback object at all.
  template <typename MakeWaiter> LookupResult lookup_with(const std::string& key, MakeWaiter&& make_waiter) {
    std::lock_guard lock(m_mutex);
    TimePoint now = m_clock();
    auto it = m_entries.find(key);
    if (it != m_entries.end()) {
      Entry& e = it->second;
      if (e.has_value && now < e.expires) {
        if (e.hits < k_max_hits) {
          ++e.hits;
        }
        touch(*it);
        LookupResult r{Kind::Hit, e.value, false};
        if (m_limits.refresh && !e.evaluating && e.hits >= std::min<unsigned>(m_limits.refresh_min_hits, k_max_hits) &&
            (e.expires - now) * 10 <= std::chrono::seconds(e.lifetime_s)) {
          e.evaluating = true;
          r.refresh = true;
        }
        return r;
      }
      if (e.has_value) { // expired: forget the value
        e.value = V{};
        e.has_value = false;
        unlink(*it);
      }
      add_waiter(e, make_waiter());
      if (e.evaluating) {
        return LookupResult{Kind::Joined, std::nullopt, false};
      }
      e.evaluating = true;
      return LookupResult{Kind::Evaluate, std::nullopt, false};
    }
    Entry& e = m_entries[key];
    e.evaluating = true;
    add_waiter(e, make_waiter());
    return LookupResult{Kind::Evaluate, std::nullopt, false};
  }

  // Stores the result of an evaluation (ttl: smallest DNS TTL; temporary: a TEMP
  // answer) and returns the waiters to call, outside any lock, with `value`.
  std::vector<Waiter> complete(const std::string& key, const V& value, std::chrono::seconds ttl, bool temporary) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
      it = m_entries.emplace(key, Entry{}).first;
    }
    Entry& e = it->second;
    std::vector<Waiter> waiters;
    if (e.waiters) {
      waiters = std::move(*e.waiters);
      e.waiters.reset();
    }
    e.evaluating = false;
    std::chrono::seconds lifetime =
        temporary ? m_limits.temp_ttl : std::clamp(ttl, m_limits.min_ttl, m_limits.max_ttl);
    if (m_limits.max_entries == 0 || lifetime.count() <= 0) {
      unlink(*it);
      m_entries.erase(it);
      return waiters;
    }
    lifetime = std::min<std::chrono::seconds>(lifetime, std::chrono::seconds(k_max_lifetime_s));
    e.value = value;
    e.has_value = true;
    e.lifetime_s = static_cast<std::uint32_t>(lifetime.count());
    e.expires = m_clock() + lifetime;
    e.hits = 0;
    touch(*it);
    evict();
    return waiters;
  }

  // Finished entries currently held (fresh or not yet purged).
  std::size_t size() const {
    std::lock_guard lock(m_mutex);
    return m_linked;
  }
  std::size_t evictions() const {
    std::lock_guard lock(m_mutex);
    return m_evictions;
  }

private:
  // One map node per key holds everything: the value, its expiry, the hit count and
  // the links of the LRU list (intrusive, so the key is stored once). Waiters only
  // exist while an evaluation runs, so they live behind a pointer.
  struct Entry;
  using Map = std::unordered_map<std::string, Entry>;
  using Node = typename Map::value_type; // stable address until erased
  static constexpr std::uint8_t k_max_hits = 255;                  // hit counts saturate
  static constexpr std::uint32_t k_max_lifetime_s = 0x7fffffffu;    // ~68 years
  struct Entry {
    V value{};
    TimePoint expires{};
    Node* newer = nullptr; // LRU neighbours (only while linked)
    Node* older = nullptr;
    std::unique_ptr<std::vector<Waiter>> waiters;
    std::uint32_t lifetime_s = 0;
    std::uint8_t hits = 0;
    bool has_value = false;
    bool evaluating = false;
    bool linked = false;
  };

  static void add_waiter(Entry& e, Waiter waiter) {
    if (!e.waiters) {
      e.waiters = std::make_unique<std::vector<Waiter>>();
    }
    e.waiters->push_back(std::move(waiter));
  }
  void touch(Node& node) {
    if (m_newest == &node) {
      return;
    }
    unlink(node);
    Entry& e = node.second;
    e.newer = nullptr;
    e.older = m_newest;
    if (m_newest != nullptr) {
      m_newest->second.newer = &node;
    }
    m_newest = &node;
    if (m_oldest == nullptr) {
      m_oldest = &node;
    }
    e.linked = true;
    ++m_linked;
  }
  void unlink(Node& node) {
    Entry& e = node.second;
    if (!e.linked) {
      return;
    }
    if (e.newer != nullptr) {
      e.newer->second.older = e.older;
    } else {
      m_newest = e.older;
    }
    if (e.older != nullptr) {
      e.older->second.newer = e.newer;
    } else {
      m_oldest = e.newer;
    }
    e.newer = nullptr;
    e.older = nullptr;
    e.linked = false;
    --m_linked;
  }
  void evict() {
    Node* pos = m_oldest;
    while (m_linked > m_limits.max_entries && pos != nullptr) {
      Node* newer = pos->second.newer;
      if (!pos->second.evaluating) { // a refresh running: keep it
        unlink(*pos);
        m_entries.erase(m_entries.find(pos->first));
        ++m_evictions;
      }
      pos = newer;
    }
  }

  CacheLimits m_limits;
  Clock m_clock;
  mutable std::mutex m_mutex;
  Map m_entries;
  Node* m_newest = nullptr; // LRU list: most recently used first
  Node* m_oldest = nullptr;
  std::size_t m_linked = 0;
  std::size_t m_evictions = 0;
};

} // namespace dane::policyd
