// dane/policy/sts_scope.hpp — when an evaluation consults MTA-STS (RFC 8461), and what it adds to the
// DANE facts before decide() reads them. Shared by the daemon's evaluator and `dane-policyctl policy`.
//
// What: consults_sts() is the one rule "DANE first": only a NotDane outcome for an MX-resolved next hop
// (not "[host]", not an IP literal, not a parent-domain key, not a malformed key) asks for a policy.
// An insecure MX RRset ends the DANE evaluation before the MX hosts are listed; mx_hosts_from() makes
// the host list (names and preferences, no addresses) from that MX answer, for the enforce answer's
// `match=` (policy_engine.hpp). attach_sts() stores the facts and bounds the cache lifetime by the
// policy's remaining lifetime.
// Inputs: DNS answers (untrusted; malformed MX records are skipped and named) and StsFacts from the
// dane_sts engine. Pure: no I/O, no global state; thread-safe.
#pragma once

#include <chrono>
#include <vector>

#include "dane/verifier/destination.hpp"
#include "dane/verifier/mta_sts.hpp"

namespace dane::policyd {

bool consults_sts(const DestinationFacts& facts);
// True when `facts` lists no MX host and the MX RRset must be asked again (an insecure MX RRset).
bool needs_mx_hosts(const DestinationFacts& facts);
// The MX hosts of an MX answer for the next hop, in preference order: the implicit MX (the domain
// itself) when the name exists without MX records; none for NXDOMAIN, a null MX or a failed lookup.
std::vector<HostResult> mx_hosts_from(const DestinationFacts& facts, const Answer& mx);
// facts.sts = sts; facts.ttl = min(facts.ttl, seconds until sts.expires) when a policy is in force.
void attach_sts(DestinationFacts& facts, StsFacts sts, std::chrono::system_clock::time_point now);

} // namespace dane::policyd
