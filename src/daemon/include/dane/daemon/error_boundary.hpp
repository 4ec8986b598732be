// dane/daemon/error_boundary.hpp — what happens to an exception nobody expected.
//
// One unexpected exception must not end the daemon for every client. Every session callback
// (read, write, idle timer, an evaluation's answer), every accept and every pool job (evaluation,
// probe round) runs inside a boundary that catches everything; what it lost is then limited to one
// connection (closed), one request (answered TEMP, never weaker, when the evaluation failed) or one
// probe round (skipped). Each catch is reported once by report_internal_error(): one log line
// "internal-error in WHERE: WHAT[; CONSEQUENCE]" (severity error) and the Stats counter
// internal_errors (stats JSON field "internal_errors").
// Inputs: the exception being handled (std::exception or anything else). Never throws.
// Threading: any thread (LogWriter and Stats are thread-safe).
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "dane/core/exceptions.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

// The exception being handled, in words (dane/core/exceptions.hpp). Call only inside a catch block.
using dane::current_exception_text;

// Logs "internal-error in WHERE: WHAT; CONSEQUENCE" once and counts it. Call inside a catch block.
void report_internal_error(LogWriter& log, Stats& stats, std::string_view where,
                           std::string_view consequence = {}) noexcept;
// The same for an error already turned into words elsewhere (the engine reports its own exceptions
// in-band, as TempFail facts): call anywhere.
void report_internal_error_text(LogWriter& log, Stats& stats, std::string_view where, std::string_view what,
                                std::string_view consequence = {}) noexcept;

// Runs `job`; an exception escaping it is reported (report_internal_error) and swallowed.
template <typename Job> void run_guarded(LogWriter& log, Stats& stats, std::string_view where, Job&& job) noexcept {
  try {
    job();
  } catch (...) {
    report_internal_error(log, stats, where);
  }
}

} // namespace dane::policyd
