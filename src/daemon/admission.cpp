// EvaluationBudget and destination_zone (see dane/daemon/admission.hpp).
#include "dane/daemon/admission.hpp"

#include <array>

namespace dane::policyd {

Admission EvaluationBudget::admit(const std::string& zone) {
  std::lock_guard lock(m_mutex);
  if (m_in_flight >= m_total) {
    return Admission::FullTotal;
  }
  std::size_t& in_zone = m_zones[zone];
  if (in_zone >= m_per_zone) {
    return Admission::FullZone;
  }
  ++in_zone;
  ++m_in_flight;
  return Admission::Admitted;
}

void EvaluationBudget::admit_unlimited(const std::string& zone) {
  std::lock_guard lock(m_mutex);
  ++m_zones[zone];
  ++m_in_flight;
}

void EvaluationBudget::release(const std::string& zone) {
  std::lock_guard lock(m_mutex);
  auto it = m_zones.find(zone);
  if (it != m_zones.end() && it->second > 0 && --it->second == 0) {
    m_zones.erase(it);
  }
  if (m_in_flight > 0 && --m_in_flight == 0) {
    m_idle.notify_all();
  }
}

std::size_t EvaluationBudget::in_flight() const {
  std::lock_guard lock(m_mutex);
  return m_in_flight;
}

bool EvaluationBudget::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_idle.wait_for(lock, timeout, [this] { return m_in_flight == 0; });
}

namespace {

// Second-level labels under which many countries register names ("co.uk", "com.au", "ac.jp"):
// a short list, not a public-suffix list; it only decides how evaluations are grouped.
bool country_second_level(std::string_view label) {
  static constexpr std::array<std::string_view, 14> k_labels = {"ac",  "co", "com", "edu", "gov", "gv",  "ltd",
                                                                "mil", "ne", "net", "or",  "org", "plc", "sch"};
  for (auto l : k_labels) {
    if (label == l) {
      return true;
    }
  }
  return false;
}

} // namespace

std::string destination_zone(std::string_view key) {
  std::string_view name = key;
  if (!name.empty() && name.front() == '[') {
    name.remove_prefix(1);
    name = name.substr(0, name.find(']'));
  } else {
    name = name.substr(0, name.find(':'));
  }
  while (!name.empty() && name.front() == '.') {
    name.remove_prefix(1);
  }
  while (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  // Start of the last label, then of the one before it.
  auto last = name.rfind('.');
  if (last == std::string_view::npos) {
    return std::string(name);
  }
  auto second = name.rfind('.', last - 1);
  if (second == std::string_view::npos || last == 0) {
    return std::string(name);
  }
  std::string_view tld = name.substr(last + 1);
  std::string_view sld = name.substr(second + 1, last - second - 1);
  if (tld.size() == 2 && country_second_level(sld) && second > 0) {
    auto third = name.rfind('.', second - 1);
    return std::string(third == std::string_view::npos ? name : name.substr(third + 1));
  }
  return std::string(name.substr(second + 1));
}

} // namespace dane::policyd
