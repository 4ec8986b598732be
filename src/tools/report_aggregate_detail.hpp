// src/tools/report_aggregate_detail.hpp — what the two halves of the report aggregation share
// (report_aggregate.cpp: verdict logs; report_maillog_join.cpp: Postfix logs): the per-host TLSA
// history lookups and the bound on warnings per input file.
//
// Input: a DestinationSummary being built (trusted: the Aggregator's own state) and a host name or time.
// host_history() finds or adds the host's history; epoch_at() is the TLSA set in force at a time (the first
// set for times before it, a new empty set when none is known yet); the warn_* functions word the
// per-file warnings alike for both kinds of log. None fails.
// Internal to dane_tools (not under include/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dane/tools/report.hpp"

namespace dane::tools::report::detail {

// Malformed lines reported one by one per input file; the rest are counted in one warning.
inline constexpr std::size_t k_max_warnings_per_file = 100;

// The history of host `name` (hash = name_hash(name)) in `d`, added when new.
HostHistory& host_history(DestinationSummary& d, const std::string& name, std::uint64_t hash);
HostHistory& host_history(DestinationSummary& d, const std::string& name);
// The TLSA epoch of `h` in force at t.
TlsaEpoch& epoch_at(HostHistory& h, TimePoint t);

// The end of reading one input file: a warning when the reader stopped on malformed input (returns
// whether it did), and one counting the malformed lines past the first k_max_warnings_per_file.
bool warn_read_error(const std::string& path, const LineReader& reader, const WarningSink& warn);
// The problem text for a line longer than k_max_line_bytes ("line longer than N bytes, skipped").
std::string too_long_text();
void warn_not_shown(const std::string& path, std::size_t shown, std::uint64_t malformed_in_file,
                    const WarningSink& warn);

} // namespace dane::tools::report::detail
