// dane/core/exceptions.hpp — an unexpected exception, in words.
//
// What: the text of the exception being handled, and a runner that turns an exception escaping a step
// into that text, for the code that must answer (never weaker) instead of unwinding: the evaluation
// engines, which report an internal failure in-band as TEMP facts, and the daemon's error boundary.
// Failure modes: none thrown; when even building the text fails (no memory) the text is empty.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

namespace dane {

// what() of a std::exception, "unknown exception" otherwise. Call only inside a catch block.
std::string current_exception_text() noexcept;

// Runs `step`: nullopt when it returned, else the text of the exception that escaped it.
template <typename Step> std::optional<std::string> exception_from(Step&& step) noexcept {
  try {
    step();
    return std::nullopt;
  } catch (...) {
    return current_exception_text();
  }
}

} // namespace dane
