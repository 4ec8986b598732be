// knot_rig.hpp — a real Knot DNS primary (automatic DNSSEC signing, a TSIG update ACL) and a Knot DNS
// secondary (NOTIFY + AXFR/IXFR from the primary) for one zone below `test.`, for the tests of
// `dane-policyctl rollover --publish` (issue 18).
//
// What it does:
//   * start(): a TempDir with two knotd configurations, storages and rundirs; the zone file (SOA, the two
//     NS hosts ns1/ns2.ZONE with their addresses, the caller's records, $TTL `ttl`); knotd for each as a
//     ChildProcess (foreground, PR_SET_PDEATHSIG) on its own unique 127.x.y.z address, port 53 (a
//     validating resolver follows referrals on port 53: root needed). The primary signs the zone itself
//     (policy: ECDSAP256SHA256, DNSKEY/zone TTLs = `ttl`, no key rollover) and allows updates signed with
//     the key `update_key` (hmac-sha256); a second key, `other_key`, is known to the server but no update
//     rule allows it (Knot answers NOTAUTH with TSIG BADKEY). start() returns when both servers answer
//     the zone's SOA with the same serial and a signature.
//   * delegation_records(): NS, glue and DS lines to put into the DnsRig's `test.` zone (ZoneSpec origin
//     "test") so that a validating resolver with the DnsRig's trust anchor sees the zone as secure. So:
//     start the KnotRig first, then add its delegation to the DnsRig and start that.
//   * key_file(): a BIND-format key file (`key "NAME" { algorithm ...; secret "..."; };`) of either key, or
//     of the update key with a wrong secret.
//   * query(): asks one server directly (kdig, no recursion) and returns the answer lines (+short form).
//   * stop_secondary()/start_secondary(): hold the secondary back (it keeps its copy of the zone).
//   * zone_transfer(): the primary's signed zone (kdig AXFR), one record per line, presentation format.
//   * impersonate_secondary(text): stops the secondary and serves `text` (a whole zone, e.g. a tampered
//     zone_transfer()) as is from a plain knotd (no signing, no transfer) on the secondary's address; a bad
//     or missing RRSIG is served unchanged. start_secondary() ends it and brings the real secondary back.
//
// Failure modes: start() returns an error naming the step (with knotd's log) when knotd, keymgr or kdig is
// missing, a port cannot be bound (not root) or a server does not come up within ~10 s. Test-only; not
// thread-safe. The temp dir is kept when DANE_KEEP_RIG=1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dane/core/expected.hpp"

namespace dane::test {

class KnotRig {
public:
  // zone: "pub.test"; records: zone-file lines relative to the zone ($ORIGIN and $TTL preset).
  KnotRig(std::string zone, std::string records, std::uint32_t ttl = 5);
  ~KnotRig();
  KnotRig(const KnotRig&) = delete;
  KnotRig& operator=(const KnotRig&) = delete;

  static bool tools_available(); // knotd, keymgr, kdig and root (port 53 on loopback aliases)
  static std::string missing_tools_message();

  Status start();
  std::string delegation_records() const; // for DnsRig::add_zone({"test", ...})

  const std::string& zone() const;
  const std::string& primary_address() const;
  const std::string& secondary_address() const;
  const std::string& dir() const;

  enum class Key { Update, Other, UpdateWrongSecret };
  std::string key_file(Key key) const; // path of a BIND-format key file (written by start())

  // The answer lines of `kdig @address name type +dnssec +short +norecurse` (record data, RRSIG lines as
  // "TLSA 13 ..."); an error when the server does not answer.
  Expected<std::vector<std::string>> query(const std::string& address, const std::string& name,
                                           const std::string& type) const;
  void stop_secondary();
  Status start_secondary();
  Expected<std::string> zone_transfer() const;
  Status impersonate_secondary(const std::string& zone_text);
  std::string logs() const; // both servers' logs, for failure messages

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace dane::test
