// dane/policy/policy_engine.hpp — DestinationFacts + mode -> Postfix answer. Pure.
//
// Implements the answer columns of docs/design.md §3: native (OK dane-only / OK dane /
// NOTFOUND / TEMP), pinned (OK fingerprint match=..., OK secure tafile=... match=...,
// OK encrypt, ...), monitor (always NOTFOUND, but `would_answer` carries the native
// answer for the log). A failure never yields a weaker answer than the DNS warrants. A parent-domain
// key (facts.next_hop.parent_key) is answered by parent_key_answer() (answer.hpp), in every mode.
// The typed answer and its per-protocol encoders: answer.hpp.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dane/policy/answer.hpp"
#include "dane/verifier/destination.hpp"

namespace dane::policyd {

enum class Mode { Native, Pinned, Monitor };
std::string to_string(Mode mode);
Expected<Mode> parse_mode(std::string_view text);

struct PinnedOptions {
  std::string fingerprint_digest = "sha256"; // Postfix's smtp_tls_fingerprint_digest
  // Writes (or reuses) a trust-anchor file for DANE-TA records of a destination and returns its
  // path; nullopt when it cannot (then the answer is dane-only). Not called in other modes.
  std::function<std::optional<std::string>(const DestinationFacts&)> ta_file;
};

PolicyAnswer decide(const DestinationFacts& facts, Mode mode, const PinnedOptions& pinned = {});

} // namespace dane::policyd
