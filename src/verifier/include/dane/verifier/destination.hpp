// dane/verifier/destination.hpp — RFC 7672 §2.2 evaluation of one next-hop destination.
//
// Input: a Postfix TLS-policy lookup key ("example.com", "[mx.example.com]",
// "[mx.example.com]:2525", or a parent key ".example.com") and a Resolver.
// Output: DestinationFacts — every DNS fact the decision needs, per MX host, with
// reasons a person understands. The evaluation is pure apart from the Resolver;
// it never throws on DNS trouble (that becomes Failed/Bogus facts) and it is
// bounded by the resolver's timeout as a whole (docs/design.md §3).
// The mapping from facts to a Postfix answer lives in policyd's policy engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dane/verifier/dns.hpp"
#include "dane/verifier/mta_sts.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {

// A parsed lookup key.
struct NextHop {
  std::string key;        // as received
  std::string domain;     // lowercase, no trailing dot, no brackets
  bool bracketed = false; // "[host]": this host, no MX lookup
  std::uint16_t port = 25;
  bool parent_key = false; // ".example.com": Postfix's parent-domain probe -> NOTFOUND
  bool ip_literal = false; // "[192.0.2.1]", "[ipv6:...]": no host name, so no DANE -> NOTFOUND
};
// Fails on malformed names (empty labels, bad characters, label > 63, name > 253, bad port).
// Keys are case-insensitive ("domain" is lowercased); "domain:port" (no brackets) keeps the MX
// lookup and uses the port for the TLSA names.
Expected<NextHop> parse_next_hop(std::string_view key);

// Per-host outcome (the `status` JSON field uses to_string()).
enum class HostStatus {
  DaneUsable,   // "dane": secure TLSA with at least one usable record
  TlsaUnusable, // "unusable": secure TLSA, every record unusable -> TLS required, no auth
  NoTlsa,       // "no-tlsa": secure NODATA/NXDOMAIN, or insecure TLSA
  Insecure,     // "insecure": host address lookup insecure (no DANE for this host)
  Failed,       // "failed": address or TLSA lookup bogus / SERVFAIL / timeout
};
std::string to_string(HostStatus status);

struct HostResult {
  std::string name; // MX exchange (original name)
  std::uint16_t preference = 0;
  // Of the lookups that decided the host: the worst of its address (or alias) state and the TLSA
  // answer used. A TLSA candidate passed over for a later one with secure records (RFC 7672 §2.2.2)
  // does not count; the reason names it.
  DnsSecurity dnssec = DnsSecurity::Failed;
  std::vector<TlsaRecord> tlsa; // every record of the TLSA RRset, usable or not
  std::string tlsa_base;        // TLSA base domain (RFC 7672 §2.2.3)
  std::string tlsa_owner;       // "_25._tcp.<tlsa_base>"
  HostStatus status = HostStatus::Failed;
  std::string reason;                 // e.g. "TLSA lookup for _25._tcp.mx.example.com bogus: signature expired"
  std::vector<std::string> addresses; // A and AAAA, as text
  std::string canonname;              // CNAME expansion of the host name, if any
  std::uint32_t ttl = 0;              // smallest TTL of the answers used for this host
};

// What the DNS says about the destination as a whole (before choosing a mode).
enum class DestinationOutcome {
  NotDane,  // MX insecure, null MX, NXDOMAIN, parent key, malformed key, or no host has TLSA
  DaneOnly, // every MX host has usable TLSA
  Dane,     // some hosts have usable TLSA (or failed), others not
  Encrypt,  // TLSA present but all unusable on every host: TLS required, no authentication
  TempFail, // MX lookup failed/bogus, or every host failed
};
std::string to_string(DestinationOutcome outcome);

struct DestinationFacts {
  NextHop next_hop;
  DestinationOutcome outcome = DestinationOutcome::TempFail;
  DnsSecurity mx_security = DnsSecurity::Failed;
  std::string reason;            // one line for the whole destination
  std::vector<HostResult> hosts; // in MX preference order
  // Reference identifiers for DANE-TA name checks (docs/design.md §3): next-hop domain as given
  // and, only when the expansion is secure, CNAME-expanded (a name learned through an insecure
  // expansion never authenticates, RFC 7672 §3.2.2); each host's names are in HostResult.
  std::vector<std::string> reference_names;
  std::uint32_t ttl = 0; // smallest TTL of all answers used (cache lifetime)
  // The engine itself failed unexpectedly (an exception): outcome is TempFail and reason says
  // "internal error: ..."; the daemon logs and counts it as an internal error.
  bool internal_error = false;
  // --mta-sts: the domain's MTA-STS facts, filled (by the daemon's evaluation, src/sts/) only for an
  // outcome of NotDane on an MX-resolved (not bracketed) next hop: DANE always comes first (RFC 8461 §2).
  std::optional<StsFacts> sts;
};

struct EvaluateOptions {
  // Nothing yet; room for per-call knobs (e.g. a port override for tests).
};

// Rules beyond docs/design.md §3's table: an MX host whose address lookups are both secure but empty is
// NoTlsa ("no connection possible"); any Bogus/Failed A or AAAA lookup makes the host Failed; a
// malformed key, a parent key or an IP-literal key is NotDane without any DNS traffic (reason says
// why); an MX RRset containing a null MX record is NotDane. HostResult.dnssec is the worst state of
// the lookups that decided the host; for a secure alias into an insecure zone it is the CNAME/TLSA
// state. Lookups are issued in three concurrent rounds (MX; all A/AAAA; all TLSA + CNAME checks).
//
// The engine is asynchronous: evaluate_destination_async() submits the first round and returns; each
// round's answers start the next one on the resolver's thread, and `done` gets the facts exactly
// once (on the resolver's thread, or inline when no DNS is needed or the resolver answers inline).
// `deadline` bounds the whole evaluation (the daemon passes the request's arrival + --dns-timeout);
// what is unanswered then is Failed("timeout"). The resolver must outlive the evaluation. `done`
// must not block. An unexpected exception inside the engine gives TempFail facts, never weaker ones.
using FactsCallback = std::function<void(DestinationFacts)>;
void evaluate_destination_async(Resolver& resolver, std::string_view key,
                                std::chrono::steady_clock::time_point deadline, FactsCallback done);

// The same engine, blocking the caller until the facts are in (deadline: now + resolver.timeout()).
// For dane-policyctl and tests; never call it from a resolver callback.
DestinationFacts evaluate_destination(Resolver& resolver, std::string_view key, const EvaluateOptions& options = {});

} // namespace dane
