// dane/tools/rollover_authority.hpp — asks every authoritative server of a zone directly for a TLSA RRset and
// checks its signature, for `dane-policyctl rollover` (issue 18: the wait starts when EVERY authoritative
// server serves the next record, not when one resolver first saw it).
//
// check_authoritative(owner, intended, resolver, timeout):
//   1. the zone: the SOA of the owner's closest enclosing zone (find_update_target's walk), through `resolver`;
//   2. the zone's NS and DNSKEY RRsets through `resolver` (the DNSSEC-validating libunbound of the tool): both
//      must be Secure, else the check did not run (security/error say why: Failed or Bogus -> temporary);
//   3. the A and AAAA records of every NS host through `resolver` (a failed or bogus lookup makes that host a
//      lagging server with the reason; an insecure one is used: addresses only say where to ask, the RRSIG
//      check is what is trusted);
//   4. every address: a TLSA query for `owner` and a SOA query for the zone, RD=0, EDNS DO=1, UDP then TCP
//      (dns_exchange), each bounded by `timeout`. A server counts only with an authoritative (AA) NOERROR
//      answer; its TLSA records are compared with `intended` as sets; the RRSIG(s) over them must carry the
//      zone as signer and verify (ldns_verify_rrsig_keylist, validity window included) under the validated
//      DNSKEY set. The served TTL is the authoritative one, not a cache's decremented TTL.
// Never fails as a whole: every problem is in the result (AuthorityCheck::error or a server's detail).
// Trust: the answers of the servers are untrusted input; only an RRSIG that verifies under the DNSKEY set
// libunbound validated from the trust anchor makes a served RRset count. Packets go only to the NS hosts'
// addresses. Servers are asked one after the other (a silent one costs up to 2 x `timeout`).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "dane/tools/rollover.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::tools {

AuthorityCheck check_authoritative(const std::string& owner, const std::vector<TlsaRecord>& intended,
                                   Resolver& resolver, std::chrono::milliseconds timeout);

} // namespace dane::tools
