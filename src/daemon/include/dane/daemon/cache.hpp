// dane/daemon/cache.hpp — TTL-bounded, size-bounded cache that coalesces lookups.
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
// Every evaluation the cache asks for carries a ticket; complete() with that ticket
// stores the result only while the entry still waits for that very evaluation.
// erase() and clear() (an operator's flush) forget values at once: an evaluation
// still running for a forgotten key keeps the waiters that joined it before the
// flush (each gets exactly one answer), but its result is never stored, and a
// lookup after the flush starts a new evaluation instead of joining the old one —
// so a flush only ever forgets, and nothing evaluated before it comes back.
//
// A detailed lookup (lookup_detailed) accepts a hit only when the stored value
// passes the caller's test (the daemon: "keeps the DNS facts"); otherwise it
// starts or joins an evaluation whose detailed value complete() then stores
// (other clients keep being served the old value until then).
//
// Memory: one map node per key holds the value, the expiry, the hit count and
// the LRU links (the key is stored once); keep V small (the daemon stores a
// compact answer, not the DNS facts behind it).
//
// Warm restarts (cache_file.hpp): snapshot() copies the finished, fresh entries that were not
// stored as temporary, least recently used first, with their expiry and lifetime; restore() puts
// one such entry back (with the time it has left) into a key that holds nothing yet. The copy is
// made under the lock (pointer copies, about a millisecond per 10,000 entries); writing it out is
// the caller's, outside the lock.
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
  using Ticket = std::uint64_t;
  struct LookupResult {
    Kind kind = Kind::Evaluate;
    std::optional<V> value; // for Hit
    bool refresh = false;   // Hit only: caller should re-evaluate in the background, then complete()
    Ticket ticket = 0;      // Evaluate, or Hit with refresh: pass it to complete()
  };

  explicit Cache(
      CacheLimits limits, Clock clock = [] { return std::chrono::steady_clock::now(); })
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
    return lookup_impl<false>(key, std::forward<MakeWaiter>(make_waiter), [](const V&) { return true; });
  }

  // A lookup that needs more than the compact value: a fresh value counts as a hit only when
  // `accept(value)` is true. Otherwise an evaluation is started (or the running one joined) and
  // marked so that complete() stores its detailed value; until then everybody else keeps getting
  // the old value. Not on the hot path.
  template <typename MakeWaiter, typename Accept>
  LookupResult lookup_detailed(const std::string& key, MakeWaiter&& make_waiter, Accept&& accept) {
    return lookup_impl<true>(key, std::forward<MakeWaiter>(make_waiter), std::forward<Accept>(accept));
  }

  // Stores the result of the evaluation `ticket` (ttl: smallest DNS TTL; temporary: a TEMP
  // answer) and returns the waiters to call, outside any lock. `detailed` is stored instead of
  // `value` when a detailed lookup asked for this evaluation. When the key was erased (flushed)
  // after this evaluation started, nothing is stored: only the waiters that joined it are returned.
  // `*wants_detailed` (when given) tells whether a detailed lookup is among the waiters (they
  // should then all get `detailed`).
  std::vector<Waiter> complete(const std::string& key, Ticket ticket, const V& value, const V& detailed,
                               std::chrono::seconds ttl, bool temporary, bool* wants_detailed = nullptr) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end() || !it->second.pending || it->second.pending->ticket != ticket) {
      std::vector<Waiter> waiters;
      bool want = false;
      if (auto orphan = m_orphans.find(ticket); orphan != m_orphans.end()) {
        waiters = std::move(orphan->second.waiters);
        want = orphan->second.detailed;
        m_orphans.erase(orphan);
      }
      if (wants_detailed != nullptr) {
        *wants_detailed = want;
      }
      return waiters;
    }
    if (wants_detailed != nullptr) {
      *wants_detailed = it->second.pending->detailed;
    }
    return store(it, value, detailed, ttl, temporary);
  }

  // Ends the evaluation `ticket` without a result (the engine had no room for it) and returns its
  // waiters: nothing is stored, a value the entry still holds (a refresh was asked for) stays as it
  // is, and an entry with no value is removed.
  std::vector<Waiter> abandon(const std::string& key, Ticket ticket) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end() || !it->second.pending || it->second.pending->ticket != ticket) {
      std::vector<Waiter> waiters;
      if (auto orphan = m_orphans.find(ticket); orphan != m_orphans.end()) {
        waiters = std::move(orphan->second.waiters);
        m_orphans.erase(orphan);
      }
      return waiters;
    }
    std::vector<Waiter> waiters = std::move(it->second.pending->waiters);
    it->second.pending.reset();
    if (!it->second.has_value) {
      unlink(*it);
      m_entries.erase(it);
    }
    return waiters;
  }

  // Completes whatever evaluation of `key` is running (or inserts the value): for callers that
  // never flush (tests of expiry, eviction and coalescing).
  std::vector<Waiter> complete(const std::string& key, const V& value, std::chrono::seconds ttl, bool temporary) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
      it = m_entries.emplace(key, Entry{}).first;
    }
    return store(it, value, value, ttl, temporary);
  }

  // Forgets `key` (its value, and any evaluation running for it: see the header comment).
  // True when there was something to forget.
  bool erase(const std::string& key) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
      return false;
    }
    forget(it);
    return true;
  }

  // Forgets every key; returns how many there were (values and running evaluations).
  std::size_t clear() {
    std::lock_guard lock(m_mutex);
    std::size_t n = m_entries.size();
    while (!m_entries.empty()) {
      forget(m_entries.begin());
    }
    return n;
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

  // One finished entry as snapshot() copies it.
  struct Snapshot {
    std::string key;
    V value;
    TimePoint expires;
    std::chrono::seconds lifetime{0};
  };
  // The fresh entries whose value is not a temporary failure, least recently used first.
  std::vector<Snapshot> snapshot() const {
    std::lock_guard lock(m_mutex);
    std::vector<Snapshot> out;
    out.reserve(m_linked);
    const TimePoint now = m_clock();
    for (const Node* n = m_oldest; n != nullptr; n = n->second.newer) {
      const Entry& e = n->second;
      if (e.has_value && !e.temporary && now < e.expires) {
        out.push_back(Snapshot{n->first, e.value, e.expires, std::chrono::seconds(e.lifetime_s)});
      }
    }
    return out;
  }
  // Puts a value saved by an earlier run back: `remaining` of its `lifetime` left. Only into a key
  // that holds no value and no running evaluation (what this run evaluated wins); true when stored.
  // The restored entry becomes the most recently used (restore the oldest first).
  bool restore(const std::string& key, const V& value, std::chrono::milliseconds remaining,
               std::chrono::seconds lifetime) {
    std::lock_guard lock(m_mutex);
    if (m_limits.max_entries == 0 || remaining.count() <= 0 || m_entries.count(key) != 0) {
      return false;
    }
    auto it = m_entries.emplace(key, Entry{}).first;
    Entry& e = it->second;
    e.value = value;
    e.has_value = true;
    e.lifetime_s = static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(std::max<std::int64_t>(lifetime.count(), 1), 1, k_max_lifetime_s));
    e.expires = m_clock() + remaining;
    touch(*it);
    evict();
    return true;
  }

private:
  // One map node per key holds everything: the value, its expiry, the hit count and
  // the links of the LRU list (intrusive, so the key is stored once). Waiters only
  // exist while an evaluation runs, so they live behind a pointer.
  struct Entry;
  using Map = std::unordered_map<std::string, Entry>;
  using Node = typename Map::value_type;                         // stable address until erased
  static constexpr std::uint8_t k_max_hits = 255;                // hit counts saturate
  static constexpr std::uint32_t k_max_lifetime_s = 0x7fffffffu; // ~68 years
  // The evaluation running for a key (only while one runs, so it lives behind a pointer).
  struct Pending {
    Ticket ticket = 0;
    bool detailed = false; // a detailed lookup waits: store the detailed value
    std::vector<Waiter> waiters;
  };
  struct Entry {
    V value{};
    TimePoint expires{};
    Node* newer = nullptr; // LRU neighbours (only while linked)
    Node* older = nullptr;
    std::unique_ptr<Pending> pending; // non-null while an evaluation runs
    std::uint32_t lifetime_s = 0;
    std::uint8_t hits = 0;
    bool has_value = false;
    bool linked = false;
    bool temporary = false; // the value is a temporary failure (never saved by snapshot())
  };

  template <bool Detailed, typename MakeWaiter, typename Accept>
  LookupResult lookup_impl(const std::string& key, MakeWaiter&& make_waiter, Accept&& accept) {
    std::lock_guard lock(m_mutex);
    TimePoint now = m_clock();
    auto it = m_entries.find(key);
    if (it != m_entries.end()) {
      Entry& e = it->second;
      bool fresh = e.has_value && now < e.expires;
      if (fresh && (!Detailed || accept(e.value))) {
        if (e.hits < k_max_hits) {
          ++e.hits;
        }
        touch(*it);
        LookupResult r{Kind::Hit, e.value, false, 0};
        if (m_limits.refresh && !e.pending && e.hits >= std::min<unsigned>(m_limits.refresh_min_hits, k_max_hits) &&
            (e.expires - now) * 10 <= std::chrono::seconds(e.lifetime_s)) {
          r.ticket = start(e);
          r.refresh = true;
        }
        return r;
      }
      if (e.has_value && !fresh) { // expired: forget the value
        e.value = V{};
        e.has_value = false;
        unlink(*it);
      }
      if (e.pending) {
        e.pending->waiters.push_back(make_waiter());
        e.pending->detailed = e.pending->detailed || Detailed;
        return LookupResult{Kind::Joined, std::nullopt, false, 0};
      }
      Ticket t = start(e);
      e.pending->detailed = Detailed;
      e.pending->waiters.push_back(make_waiter());
      return LookupResult{Kind::Evaluate, std::nullopt, false, t};
    }
    Entry& e = m_entries[key];
    Ticket t = start(e);
    e.pending->detailed = Detailed;
    e.pending->waiters.push_back(make_waiter());
    return LookupResult{Kind::Evaluate, std::nullopt, false, t};
  }

  Ticket start(Entry& e) {
    e.pending = std::make_unique<Pending>();
    e.pending->ticket = ++m_last_ticket;
    return e.pending->ticket;
  }

  // Under the lock: the evaluation of entry `it` finished.
  std::vector<Waiter> store(typename Map::iterator it, const V& value, const V& detailed, std::chrono::seconds ttl,
                            bool temporary) {
    Entry& e = it->second;
    std::vector<Waiter> waiters;
    bool want_detailed = false;
    if (e.pending) {
      waiters = std::move(e.pending->waiters);
      want_detailed = e.pending->detailed;
      e.pending.reset();
    }
    std::chrono::seconds lifetime = temporary ? m_limits.temp_ttl : std::clamp(ttl, m_limits.min_ttl, m_limits.max_ttl);
    if (m_limits.max_entries == 0 || lifetime.count() <= 0) {
      unlink(*it);
      m_entries.erase(it);
      return waiters;
    }
    lifetime = std::min<std::chrono::seconds>(lifetime, std::chrono::seconds(k_max_lifetime_s));
    e.value = want_detailed ? detailed : value;
    e.has_value = true;
    e.temporary = temporary;
    e.lifetime_s = static_cast<std::uint32_t>(lifetime.count());
    e.expires = m_clock() + lifetime;
    e.hits = 0;
    touch(*it);
    evict();
    return waiters;
  }

  // Under the lock: drops entry `it`; a running evaluation's waiters wait for it as orphans.
  void forget(typename Map::iterator it) {
    Entry& e = it->second;
    if (e.pending) {
      m_orphans.emplace(e.pending->ticket, std::move(*e.pending));
    }
    unlink(*it);
    m_entries.erase(it);
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
      if (!pos->second.pending) { // a refresh running: keep it
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
  Ticket m_last_ticket = 0;
  // Waiters of evaluations whose key was erased while they ran, by ticket (see erase()).
  std::unordered_map<Ticket, Pending> m_orphans;
};

} // namespace dane::policyd
