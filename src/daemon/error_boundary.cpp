// Reporting an unexpected exception: one log line, one counter.
#include "dane/daemon/error_boundary.hpp"

namespace dane::policyd {

void report_internal_error(LogWriter& log, Stats& stats, std::string_view where,
                           std::string_view consequence) noexcept {
  report_internal_error_text(log, stats, where, current_exception_text(), consequence);
}

void report_internal_error_text(LogWriter& log, Stats& stats, std::string_view where, std::string_view what,
                                std::string_view consequence) noexcept {
  stats.internal_error();
  try {
    std::string line = "internal-error in " + std::string(where) + ": " + std::string(what);
    if (!consequence.empty()) {
      line += "; " + std::string(consequence);
    }
    log.message(Severity::Error, line);
  } catch (...) {
    // Nothing left to tell it with; the counter moved.
  }
}

} // namespace dane::policyd
