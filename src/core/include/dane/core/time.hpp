// dane/core/time.hpp — RFC 3339 time stamps, one parser and one formatter for the whole tree.
//
// Times are UTC. UnixMicros counts microseconds since 1970-01-01T00:00:00Z (the report and
// TLSRPT code keep times this way); the verdict log, rollover and the probe format
// std::chrono::system_clock time points and broken-down dates through the same formatter.
// Parsing accepts what RFC 3339 §5.6 allows ("T", "t" or a space between date and time; "Z",
// "z" or a numeric offset; an optional fraction) and rejects everything else with a message that
// quotes the input; a leap second (:60) is kept inside its minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "dane/core/expected.hpp"

namespace dane {

using UnixMicros = std::int64_t;
inline constexpr UnixMicros k_usec_per_sec = 1'000'000;

// "2026-11-29T07:23:57Z", "2026-11-29T07:23:57.123456+01:00".
Expected<UnixMicros> parse_rfc3339(std::string_view text);
// "2026-11-29T07:23:57Z", with ".ffffff" only when the fraction is non-zero.
std::string format_rfc3339(UnixMicros time);
// Whole seconds (the fraction is cut, never rounded up): "2026-11-29T07:23:57Z".
std::string format_rfc3339(std::chrono::system_clock::time_point time);
UnixMicros now_unix_micros();
// Days since 1970-01-01 of a proleptic Gregorian date (no validation).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);
// Seconds since the epoch of a UTC date and time of day (no validation; 64-bit arithmetic throughout).
std::int64_t unix_seconds(std::int64_t year, unsigned month, unsigned day, std::int64_t hour = 0,
                          std::int64_t minute = 0, std::int64_t second = 0);

} // namespace dane
