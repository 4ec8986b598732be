// dane/policy/control.hpp — the operator's control requests to a running dane-policyd. Pure.
//
// Control requests travel over the socketmap protocol under one reserved map name,
// Settings::stats_name (`--stats-name`, default `stats`); every other map name is a policy
// lookup. The key selects the request:
//
//   all                    the daemon's counters, one JSON object (any client; no destination names)
//   flush DESTINATION      forget the cached verdict of DESTINATION (a policy lookup key)
//   flush-all              forget every cached verdict
//   verdict DESTINATION    the full verdict for DESTINATION as one JSON object (the verdict log's
//                          rendering, docs/design.md §6), from the cache when it holds the DNS facts,
//                          else from a fresh evaluation that then replaces the cached verdict
//
// Replies: `OK JSON` (counters; {"flushed":N,...}; the verdict object), or `PERM reason` for an
// unknown request (which is also what a Postfix table configured with the reserved name gets: a
// loud error, never a policy) and for a refused one. flush, flush-all and verdict act on the
// daemon (a verdict may start an evaluation), so they are served only to a client whose user is
// known and trusted: a unix-socket peer whose SO_PEERCRED uid is root or the daemon's own user.
// Over inet (loopback included: any local user can connect), tcp_table, policy delegation and
// --stdio they are refused. A flush only forgets: the next lookup evaluates with full validation.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "dane/core/expected.hpp"

namespace dane::policyd {

enum class ControlVerb { Counters, Flush, FlushAll, Verdict };
std::string_view to_string(ControlVerb verb); // "all", "flush", "flush-all", "verdict"

struct ControlRequest {
  ControlVerb verb = ControlVerb::Counters;
  std::string destination; // Flush, Verdict
  friend bool operator==(const ControlRequest&, const ControlRequest&) = default;
};

// The key of a request on the reserved map name. Errors (unknown request, missing or extra
// destination) name what was wrong and list the known requests: fit for a PERM reply.
Expected<ControlRequest> parse_control_request(std::string_view key);
// Client side: the key for a request (inverse of parse_control_request).
std::string format_control_request(const ControlRequest& request);

// Who is asking, as far as the server can tell.
struct ControlPeer {
  enum class Kind { Unix, Inet, Stdio };
  Kind kind = Kind::Unix;
  std::optional<uid_t> uid; // unix peers: SO_PEERCRED; nullopt when it could not be read
};

// nullopt when `peer` may send flush / flush-all / verdict to a daemon running as `daemon_uid`;
// otherwise the reason it may not (for the PERM reply and the log line).
std::optional<std::string> control_refusal(const ControlPeer& peer, uid_t daemon_uid);

} // namespace dane::policyd
