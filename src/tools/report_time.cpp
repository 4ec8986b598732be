// Time arguments of dane-policyctl report: relative --since/--until (RFC 3339 itself is dane/core/time.hpp).
#include <chrono>
#include <cstdio>

#include "dane/tools/report.hpp"

namespace dane::tools::report {

Expected<TimePoint> parse_time_arg(std::string_view text, TimePoint now) {
  if (text.empty()) {
    return make_error("empty time");
  }
  // Relative: digits followed by one unit letter.
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 12) {
    n = n * 10 + (text[i] - '0');
    ++i;
  }
  if (i > 0 && i + 1 == text.size()) {
    std::int64_t unit = 0;
    switch (text[i]) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = std::int64_t{7} * 86400;
      break;
    default:
      return make_error("unknown time unit in '" + std::string(text) + "' (use s, m, h, d or w)");
    }
    // A hundred years back is further than any verdict log reaches; larger ages would overflow the
    // microsecond arithmetic below, so they are refused rather than wrapped.
    constexpr std::int64_t k_max_age_seconds = 100LL * 366 * 86400;
    if (n > k_max_age_seconds / unit) {
      return make_error("relative age '" + std::string(text) + "' is too large (at most 100 years)");
    }
    return now - n * unit * k_usec_per_sec;
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    return parse_rfc3339(std::string(text) + "T00:00:00Z");
  }
  auto t = parse_rfc3339(text);
  if (!t) {
    return make_error("bad time '" + std::string(text) +
                      "': want RFC 3339 (2026-11-29T07:00:00Z), a date (2026-11-29) or a relative age (30m, 24h, 7d)");
  }
  return t;
}

TimePoint now_utc() {
  return now_unix_micros();
}

} // namespace dane::tools::report
