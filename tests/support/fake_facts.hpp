// fake_facts.hpp — hand-built evaluation results for unit tests that inject an evaluator.
//
// What it does: dane_only_facts(KEY) is what the DNS evaluation reports for a destination KEY whose
// only MX host mx.KEY is DNSSEC-secure with one usable DANE-EE(3) SPKI SHA2-256 record (an address
// from 192.0.2.0/24, TEST-NET-1: never contacted). Failure modes: a record that does not parse fails
// the calling test (EXPECT). Trust: test-only; real evaluations come from tests/support/dns_rig.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "dane/verifier/destination.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::test {

inline DestinationFacts dane_only_facts(const std::string& key) {
  DestinationFacts f;
  f.next_hop.key = key;
  f.next_hop.domain = key;
  f.outcome = DestinationOutcome::DaneOnly;
  f.mx_security = DnsSecurity::Secure;
  f.reason = "the MX host has usable TLSA records";
  HostResult h;
  h.name = "mx." + key;
  h.dnssec = DnsSecurity::Secure;
  h.status = HostStatus::DaneUsable;
  h.tlsa_base = h.name;
  h.tlsa_owner = "_25._tcp." + h.name;
  h.addresses = {"192.0.2.1"};
  h.reason = "1 usable TLSA record at " + h.tlsa_owner;
  h.ttl = 300;
  auto rec = parse_tlsa("3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  EXPECT_TRUE(rec) << (rec ? "" : rec.error());
  if (rec) {
    h.tlsa.push_back(*rec);
  }
  f.hosts.push_back(h);
  f.ttl = 300;
  return f;
}

} // namespace dane::test
