// dane/daemon/admission.hpp — how many evaluations the asynchronous engine runs at once.
//
// What it does: EvaluationBudget hands out slots for evaluations in flight (from the cache miss
// until the answer is delivered), at most `total` at once and at most `per_zone` under one
// destination zone, so that a storm into one slow or dead zone cannot take every slot while
// healthy zones wait (docs/engine.md). There is no queue: a lookup that finds no slot is answered
// TEMP at once by the caller (counted), never parked without bound. destination_zone() names the
// zone a lookup key is counted under: its registered domain, approximated without a public-suffix
// list as the last two labels, or three when the last two look like a country's second level
// ("example.co.uk", "example.com.au").
// Inputs: lookup keys from Postfix (untrusted; malformed keys simply map to some string).
// Threading: thread-safe; release() may run on any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dane::policyd {

enum class Admission {
  Admitted,
  FullTotal, // `total` evaluations are in flight
  FullZone,  // `per_zone` evaluations of this zone are in flight
};

class EvaluationBudget {
public:
  EvaluationBudget(std::size_t total, std::size_t per_zone) : m_total(total), m_per_zone(per_zone) {}

  Admission admit(const std::string& zone);
  // Counts an evaluation that needs no DNS (it finishes at once): never refused, still waited for.
  void admit_unlimited(const std::string& zone);
  void release(const std::string& zone);
  std::size_t in_flight() const;
  std::size_t total() const { return m_total; }
  std::size_t per_zone() const { return m_per_zone; }
  // Waits until nothing is in flight, at most `timeout`; true when nothing is.
  bool wait_idle(std::chrono::milliseconds timeout);

private:
  const std::size_t m_total;
  const std::size_t m_per_zone;
  mutable std::mutex m_mutex;
  std::condition_variable m_idle;
  std::size_t m_in_flight = 0;
  std::unordered_map<std::string, std::size_t> m_zones;
};

// The zone a lookup key's evaluation is counted under (lowercase input expected): brackets, port
// and a leading dot are dropped; see the header comment for the labels kept.
std::string destination_zone(std::string_view key);

} // namespace dane::policyd
