// Control requests on the reserved socketmap map name (control.hpp).
#include "dane/policy/control.hpp"

namespace dane::policyd {
namespace {

constexpr std::string_view k_known = "known requests: all, flush DESTINATION, flush-all, verdict DESTINATION";

// A destination as a lookup key: one word, no white space or control characters.
bool plausible_destination(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return false;
    }
  }
  return true;
}

} // namespace

std::string_view to_string(ControlVerb verb) {
  switch (verb) {
  case ControlVerb::Counters:
    return "all";
  case ControlVerb::Flush:
    return "flush";
  case ControlVerb::FlushAll:
    return "flush-all";
  case ControlVerb::Verdict:
    return "verdict";
  }
  return "unknown";
}

Expected<ControlRequest> parse_control_request(std::string_view key) {
  std::string_view verb = key.substr(0, key.find(' '));
  std::string_view rest = verb.size() < key.size() ? key.substr(verb.size() + 1) : std::string_view();
  if (verb.empty() || verb == "all") {
    if (!rest.empty()) {
      return make_error("control request 'all' takes no argument; " + std::string(k_known));
    }
    return ControlRequest{ControlVerb::Counters, {}};
  }
  if (verb == "flush-all") {
    if (!rest.empty()) {
      return make_error("control request 'flush-all' takes no argument; " + std::string(k_known));
    }
    return ControlRequest{ControlVerb::FlushAll, {}};
  }
  if (verb == "flush" || verb == "verdict") {
    if (!plausible_destination(rest)) {
      return make_error("control request '" + std::string(verb) + "' needs one DESTINATION (a policy lookup key)");
    }
    return ControlRequest{verb == "flush" ? ControlVerb::Flush : ControlVerb::Verdict, std::string(rest)};
  }
  std::string shown(verb.substr(0, 40));
  for (char& c : shown) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      c = '?';
    }
  }
  return make_error("unknown control request '" + shown + (verb.size() > 40 ? "...'" : "'") +
                    " (this map name is dane-policyd's reserved control map, --stats-name; TLS policy lookups "
                    "must use another map name); " +
                    std::string(k_known));
}

std::string format_control_request(const ControlRequest& request) {
  std::string key(to_string(request.verb));
  if (request.verb == ControlVerb::Flush || request.verb == ControlVerb::Verdict) {
    key += " " + request.destination;
  }
  return key;
}

std::optional<std::string> control_refusal(const ControlPeer& peer, uid_t daemon_uid) {
  switch (peer.kind) {
  case ControlPeer::Kind::Inet:
    return std::string("control requests are not served over inet (any local user can connect there); use the "
                       "daemon's unix socket as root or as the daemon's user");
  case ControlPeer::Kind::Stdio:
    return std::string("control requests are not served over --stdio");
  case ControlPeer::Kind::Unix:
    break;
  }
  if (!peer.uid) {
    return std::string("the client's user could not be determined (SO_PEERCRED)");
  }
  if (*peer.uid == 0 || *peer.uid == daemon_uid) {
    return std::nullopt;
  }
  return "uid " + std::to_string(*peer.uid) + " may not; only root (uid 0) or the daemon's user (uid " +
         std::to_string(daemon_uid) + ") may";
}

} // namespace dane::policyd
