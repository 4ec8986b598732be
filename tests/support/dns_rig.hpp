// dns_rig.hpp — a real DNSSEC test rig: signed zones under `test.` served by nsd on loopback.
//
// What it does (at test time, never with checked-in signed data):
//   * makes a private temp dir (mkdtemp), generates an ECDSAP256SHA256 key per signed zone with
//     ldns-keygen, writes zone files from ZoneSpecs, signs them with ldns-signzone (each parent
//     carries its children's DS records), and serves every zone from ONE `nsd -d` process
//     listening on 127.0.0.1@<free port> (and, when running as root, also on a rig-unique
//     127.x.y.z port 53, the address the NS glue names, so followed delegations stay inside nsd);
//   * writes an unbound.conf fragment (unbound_config_path()) usable by the library
//     (ResolverConfig::unbound_config, see resolver_config()) and by the programs as
//     `--unbound-config FILE` (see cli_args()): stub-zone `test.` at the nsd, trust anchor =
//     the DS of the rig's `test.` key (the rig's root of trust), `local-zone: "test." nodefault`
//     + `transparent` (unbound's built-in RFC 6761 zone would answer NXDOMAIN), `local-zone: "."
//     refuse` and a forward of `.` to a dead loopback port: no packet ever leaves loopback and a
//     stray name (outside test.) fails in milliseconds;
//   * can stop() and start() nsd again mid-test (DNS server down -> lookups time out -> TEMP),
//     replace a zone's contents (replace_zone(), re-signs and restarts nsd), and make SERVFAIL
//     names with lame delegations (add_lame_delegation()).
//
// Zone origins must be `test.` or below it. The `test.` zone always exists (signed); give a
// ZoneSpec with origin "test" to add records to it. Parents are found automatically: a zone's
// parent is the closest enclosing zone added to the rig (ultimately `test.`).
//
// Signing modes (ZoneSigning) and what a validating resolver then reports:
//   Signed        -> secure answers (and secure NXDOMAIN/NODATA proofs, NSEC)
//   Unsigned      -> zone not signed, parent has no DS (insecure delegation) -> insecure
//   WrongDs       -> zone signed, parent publishes a DS matching no key -> bogus (whole zone)
//   Expired       -> RRSIGs expired in 2020: for the `target` RRset only, or, with an empty target,
//                    for the whole zone -> bogus
//   BadSignature  -> one record of the `target` RRset is edited after signing (A/AAAA/TLSA: last
//                    digit changed, MX: preference + 1, CNAME/NS: target name prefixed "x") -> bogus
//
// Usage (one rig per test file; start it once in SetUpTestSuite):
//
//   using dane::test::DnsRig; using dane::test::ZoneSpec; using dane::test::ZoneSigning;
//   static std::unique_ptr<DnsRig> s_rig;
//   static void SetUpTestSuite() {
//     if (!DnsRig::tools_available()) { return; }          // tests then skip/fail via require below
//     s_rig = std::make_unique<DnsRig>();
//     s_rig->add_zone({"example.test", R"(
//         @            MX   10 mx
//         mx           A    127.0.0.2
//         _25._tcp.mx  TLSA 3 1 1 0c72ac70...d3d6
//     )"});
//     s_rig->add_zone({"insecure.test", "mx A 127.0.0.3\n", ZoneSigning::Unsigned});
//     s_rig->add_zone({"bad.test", "mx A 127.0.0.4\n", ZoneSigning::BadSignature, "mx.bad.test. A"});
//     s_rig->add_lame_delegation("lame.example.test");     // any name below it: SERVFAIL in ~10 ms
//     DnsRig::start_or_fail(s_rig);                          // ADD_FAILURE + reset when it cannot start
//   }
//   void SetUp() override { DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message()); }
//   ... auto resolver = dane::make_unbound_resolver(s_rig->resolver_config());
//   ... run_program({dane-policyctl, "policy", "example.test", "--unbound-config", s_rig->unbound_config_path()})
//
// Records text is zone-file syntax with `$ORIGIN <origin>.` and `$TTL <ttl>` preset; relative and
// absolute owner names both work. Leading white space is stripped from every line (so indented raw
// string literals work): every record must name its owner (`@` for the apex), one record per line. Do not write SOA,
// apex NS or DS records: the rig adds them. A resolver caches answers for the TTL (ZoneSpec::ttl, default 300 s): after
// replace_zone() use a fresh resolver (a new process / make_unbound_resolver), or give the zone a small TTL.
//
// Addresses: unique_loopback_address() hands out 127.x.y.z addresses that are unique per process
// (derived from the pid) and per call, for MX hosts, SMTP servers, and the rig's own listeners;
// concurrent test processes never collide. Timings (2 shared cores): start() ~0.3-0.6 s; a
// lookup 1-10 ms; a name under a Refused lame delegation SERVFAILs in ~10 ms; under a NoServer
// lame delegation libunbound gives up only after ~17 s (use that only for timeout tests, with a
// short --dns-timeout).
//
// Failure modes: start() returns an error naming the failing step (tool output included) when a
// tool is missing or fails; the destructor kills nsd (SIGTERM, then SIGKILL) and removes the
// temp dir (kept when DANE_KEEP_RIG=1 is set, for debugging). nsd also gets SIGTERM if the test
// process dies (PR_SET_PDEATHSIG). Not thread-safe: drive a rig from one test thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::test {

enum class ZoneSigning {
  Signed,       // secure
  Unsigned,     // insecure delegation: no DS in the parent
  WrongDs,      // parent DS matches no key: bogus
  Expired,      // expired RRSIGs (for `target`, or the whole zone when target is empty): bogus
  BadSignature, // a record of `target` edited after signing: bogus
};

struct ZoneSpec {
  ZoneSpec() = default;
  ZoneSpec(std::string origin_, std::string records_, ZoneSigning signing_ = ZoneSigning::Signed,
           std::string target_ = {}, std::uint32_t ttl_ = 300)
      : origin(std::move(origin_)), records(std::move(records_)), signing(signing_), target(std::move(target_)),
        ttl(ttl_) {}

  std::string origin;  // "example.test" (trailing dot optional); "test" adds to the root-of-trust zone
  std::string records; // zone-file text; $ORIGIN and $TTL preset; no SOA / apex NS / DS
  ZoneSigning signing = ZoneSigning::Signed;
  std::string target; // "OWNER TYPE", e.g. "mx.example.test. A" or "_25._tcp.mx.example.test TLSA"
  std::uint32_t ttl = 300;
};

// What answers at a lame delegation's name server address.
enum class LameKind {
  Refused,  // an in-rig responder answers REFUSED: libunbound reports SERVFAIL in ~10 ms (needs root: port 53)
  NoServer, // nothing listens: libunbound gives up after ~17 s (timeout tests only)
};

// A 127.x.y.z address unique to this process and call (x in 64..191, derived from the pid).
std::string unique_loopback_address();

class DnsRig {
public:
  DnsRig();
  ~DnsRig();
  DnsRig(const DnsRig&) = delete;
  DnsRig& operator=(const DnsRig&) = delete;

  // nsd, ldns-keygen and ldns-signzone on PATH (or /usr/sbin, /usr/bin).
  static bool tools_available();
  static std::string missing_tools_message();

  // Describe the zones (before the first start(); use replace_zone() afterwards).
  void add_zone(ZoneSpec zone);
  // Delegate `name` (below some added zone) to a server that does not answer properly: every name
  // at or below it fails (SERVFAIL or timeout). The parent gets an NS + glue and no DS.
  void add_lame_delegation(const std::string& name, LameKind kind = LameKind::Refused);

  // First call: temp dir, keys, zone files, signing, unbound fragment, nsd up and answering.
  // Later calls (after stop()): start the same nsd configuration again (same port, same data).
  Status start();
  // For SetUpTestSuite: start() the rig `rig` points to; when that fails, record a test failure
  // (ADD_FAILURE, naming the step) and reset `rig`, so each test's DANE_REQUIRE_OR_SKIP(rig != nullptr)
  // then fails (CI) or skips. True when the rig runs.
  static bool start_or_fail(std::unique_ptr<DnsRig>& rig);
  // Kill nsd (SIGTERM, wait). Lookups then fail (time out) until start().
  void stop();
  bool running() const;
  // Replace one zone's records/signing (same keys), re-sign everything, restart nsd.
  Status replace_zone(ZoneSpec zone);

  // The unbound.conf fragment (for ResolverConfig::unbound_config or --unbound-config FILE).
  const std::string& unbound_config_path() const;
  // ResolverConfig with unbound_config set and the given per-destination timeout.
  ResolverConfig resolver_config(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // {"--unbound-config", PATH, "--dns-timeout", "SECONDS"} for dane-policyctl / dane-policyd.
  std::vector<std::string> cli_args(int dns_timeout_seconds = 5) const;

  const std::string& dir() const;               // the temp dir (zone files, keys, nsd.log, unbound.conf)
  std::uint16_t port() const;                   // nsd's port on 127.0.0.1
  std::string server_address() const;           // "127.0.0.1@PORT"
  const std::string& trust_anchor_file() const; // DS of the `test.` key (already in the fragment)
  std::string nsd_log() const;                  // contents of nsd's log, for failure messages

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace dane::test
