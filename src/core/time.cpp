// RFC 3339 time stamps (dane/core/time.hpp): one parser and one formatter for every component.
#include "dane/core/time.hpp"

#include <cstdio>

namespace dane {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : k_days[m - 1];
}

} // namespace

// Howard Hinnant's days_from_civil algorithm (public domain description), written out here.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t unix_seconds(std::int64_t year, unsigned month, unsigned day, std::int64_t hour, std::int64_t minute,
                          std::int64_t second) {
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

Expected<UnixMicros> parse_rfc3339(std::string_view s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day)) {
    return make_error("not an RFC 3339 time (want YYYY-MM-DDTHH:MM:SSZ): '" + std::string(s) + "'");
  }
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > days_in_month(year, month)) {
    return make_error("invalid date in '" + std::string(s) + "'");
  }
  if (s.size() < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second)) {
    return make_error("not an RFC 3339 time (want YYYY-MM-DDTHH:MM:SSZ): '" + std::string(s) + "'");
  }
  if (hour > 23 || minute > 59 || second > 60) {
    return make_error("invalid time of day in '" + std::string(s) + "'");
  }
  std::size_t pos = 19;
  std::int64_t usec = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) {
        usec += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start) {
      return make_error("empty fraction of a second in '" + std::string(s) + "'");
    }
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return make_error("bad UTC offset in '" + std::string(s) + "'");
    }
    offset = unix_seconds(1970, 1, 1, oh, om, 0) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return make_error("RFC 3339 time without a UTC offset (Z or +HH:MM): '" + std::string(s) + "'");
  }
  if (pos != s.size()) {
    return make_error("trailing characters after the time in '" + std::string(s) + "'");
  }
  if (second == 60) {
    second = 59; // a leap second is kept in its minute
  }
  std::int64_t secs =
      unix_seconds(year, static_cast<unsigned>(month), static_cast<unsigned>(day), hour, minute, second) - offset;
  return secs * k_usec_per_sec + usec;
}

std::string format_rfc3339(UnixMicros t) {
  std::int64_t secs = t >= 0 ? t / k_usec_per_sec : -((-t + k_usec_per_sec - 1) / k_usec_per_sec);
  std::int64_t usec = t - secs * k_usec_per_sec;
  std::int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  std::int64_t rem = secs - days * 86400;
  // civil_from_days
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
  char buf[64];
  if (usec != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<long long>(y), m, d,
                  static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60),
                  static_cast<long long>(usec));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m, d,
                  static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  }
  return buf;
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  auto secs = std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count();
  return format_rfc3339(static_cast<UnixMicros>(secs) * k_usec_per_sec);
}

UnixMicros now_unix_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace dane
