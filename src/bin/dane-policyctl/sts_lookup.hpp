// sts_lookup.hpp — dane-policyctl's --mta-sts step (policy, check): the daemon's MTA-STS evaluation
// (dane/policy/sts_scope.hpp + dane_sts's engine), blocking.
//
// What: for facts that consult MTA-STS (NotDane, MX-resolved next hop), lists the MX hosts of an
// insecure MX RRset, evaluates the domain's policy (TXT record, the policy store under `store_dir`
// read only, or a fetch now) and attaches it to the facts. With `with_addresses` (check), MX hosts
// without addresses get their A and AAAA records (the probes need them).
// Inputs: DNS and HTTPS answers (untrusted; the engine validates them). Failure modes: none raised;
// what failed is in the StsFacts (txt_error, fetch_error, store_error). Not thread-safe per resolver call.
#pragma once

#include <string>

#include "dane/verifier/destination.hpp"

namespace dane::ctl {

// `ca_file`: "" = the system's trust store; `store_dir`: "" = no store.
void add_sts_blocking(Resolver& resolver, DestinationFacts& facts, const std::string& ca_file,
                      const std::string& store_dir, bool with_addresses);

} // namespace dane::ctl
