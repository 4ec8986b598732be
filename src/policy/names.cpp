// Pinned spellings of modes and policy kinds (docs/design.md §5, §6).
#include "dane/policy/policy_engine.hpp"

namespace dane::policyd {

std::string to_string(Mode mode) {
  switch (mode) {
  case Mode::Native:
    return "native";
  case Mode::Pinned:
    return "pinned";
  case Mode::Monitor:
    return "monitor";
  }
  return "unknown";
}

Expected<Mode> parse_mode(std::string_view text) {
  if (text == "native") {
    return Mode::Native;
  }
  if (text == "pinned") {
    return Mode::Pinned;
  }
  if (text == "monitor") {
    return Mode::Monitor;
  }
  return make_error("unknown mode '" + std::string(text) + "' (expected native, pinned or monitor)");
}

std::string to_string(PolicyKind kind) {
  switch (kind) {
  case PolicyKind::DaneOnly:
    return "dane-only";
  case PolicyKind::Dane:
    return "dane";
  case PolicyKind::Encrypt:
    return "encrypt";
  case PolicyKind::Fingerprint:
    return "fingerprint";
  case PolicyKind::Secure:
    return "secure";
  case PolicyKind::NotFound:
    return "notfound";
  case PolicyKind::TempFail:
    return "tempfail";
  }
  return "unknown";
}

} // namespace dane::policyd
