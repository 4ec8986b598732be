// dane/tools/dns_update.hpp — publishing and removing TLSA records by RFC 2136 DNS UPDATE, TSIG-signed
// (RFC 8945), for `dane-policyctl rollover --publish` (issue 18).
//
// What it does:
//   * parse_tsig_key() / load_tsig_key_file(): a key in the `key "NAME" { algorithm hmac-sha256; secret "B64"; };`
//     format that BIND's tsig-keygen (and Knot's keymgr -t, in its BIND form) write. Algorithms hmac-sha224,
//     hmac-sha256, hmac-sha384, hmac-sha512. Errors name the file and what is wrong (unknown algorithm, bad or
//     empty base64 secret, missing name/algorithm/secret, more than one key, syntax).
//   * parse_update_server(): "ADDR[@PORT]" (IPv4 or IPv6 literal; default port 53).
//   * build_tlsa_update(): the UPDATE message (libldns: ldns_update_pkt_new) for one TLSA owner. Publish: add
//     the next record(s) only, with the prerequisite "RRset exists (value dependent)" listing the whole RRset
//     the tool just saw — or "RRset does not exist" when it saw none. Remove: delete exactly the old records,
//     with the prerequisite that the RRset is exactly the one seen (which holds the next record).
//     The server applies all or nothing: a concurrent change makes the prerequisite fail (YXRRSET/NXRRSET).
//   * send_tlsa_update(): signs with the key (libldns), sends over UDP (TCP when the answer is truncated; own
//     non-blocking sockets, one deadline for both), verifies the TSIG of a NOERROR answer, and maps the outcome:
//     Applied; Rejected (the server's RCODE and TSIG error named, e.g. "REFUSED", "NOTAUTH (TSIG BADKEY)", "YXRRSET");
//     NoAnswer (timeout, connection refused); Unauthenticated (a NOERROR answer whose TSIG does not verify: the change
//     may or may not have been made, the next run's lookup tells).
//   * find_update_target(): the zone (from the SOA of the owner name's closest enclosing zone, walking up
//     the labels) and, unless given, the update server (the SOA MNAME's address), through the DNSSEC-
//     validating Resolver the rest of the tool uses. Failed/bogus lookups -> error with `temporary` set.
//   * publish_by_update(): the rollover's publish / remove step (RolloverDecision::add_records /
//     remove_records) as one update: zone and server found, message sent, outcome reported (PublishReport).
//     The rollover state is never changed by it: the next run's validated lookup is what starts the clock.
//
// Trust: the TSIG secret is the credential; it is never printed. Answers are only believed when their TSIG
// verifies (error answers from a server that does not know the key cannot be signed and are reported as
// the server's word, unauthenticated). No packet goes anywhere but the update server.
// Files: tsig_key.cpp (the key file), dns_update.cpp (message, answers), dns_exchange.cpp (sending: UDP, then TCP
// when truncated; shared with the authoritative check of rollover_authority.cpp), update_target.cpp (zone and
// server), rollover_publish.cpp (the rollover step).
// Exit-code policy (cmd_rollover): a key-file problem is an input error (2); Rejected by REFUSED, NOTAUTH,
// NOTZONE, NOTIMP, FORMERR or a TSIG error is 1 (a human must fix the key or the server's policy);
// NoAnswer, SERVFAIL, a failed prerequisite (YXRRSET/NXRRSET/YXDOMAIN/NXDOMAIN: the zone changed under
// us, the next run re-reads it) and an unauthenticated answer are 3 (temporary: retry later).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::tools {

struct TsigKey {
  std::string name;      // key name as written, lowercase, no trailing dot ("upd" / "mx-update.example.org")
  std::string algorithm; // "hmac-sha256" ...
  std::string secret;    // base64 as written (validated); never printed
};

// Parses the text of a key file; `origin` names it in errors ("FILE: ...").
Expected<TsigKey> parse_tsig_key(std::string_view text, std::string_view origin);
// Reads (at most 64 KiB) and parses a key file; errors name the file.
Expected<TsigKey> load_tsig_key_file(const std::string& path);

struct UpdateServer {
  std::string address; // IP literal
  std::uint16_t port = 53;
  std::string label() const; // "192.0.2.1@53" / "[2001:db8::1]@53"
};
Expected<UpdateServer> parse_update_server(std::string_view text);

enum class UpdateAction { Publish, Remove };
std::string to_string(UpdateAction action); // "publish", "remove"

struct TlsaUpdate {
  UpdateAction action = UpdateAction::Publish;
  std::string zone;               // "example.org" (no trailing dot)
  std::string owner;              // "_25._tcp.mx.example.org" (no trailing dot)
  std::uint32_t ttl = 3600;       // TTL of added records
  std::vector<TlsaRecord> seen;   // the whole RRset the tool just saw (prerequisite)
  std::vector<TlsaRecord> change; // publish: records to add; remove: records to delete
};

// The UPDATE message in wire format, unsigned (for tests and for send_tlsa_update). Fails on bad names.
Expected<std::vector<std::uint8_t>> build_tlsa_update(const TlsaUpdate& update);

enum class UpdateOutcome { Applied, Rejected, NoAnswer, Unauthenticated };
struct UpdateResult {
  UpdateOutcome outcome = UpdateOutcome::NoAnswer;
  std::string rcode;      // "NOERROR", "REFUSED", "NOTAUTH", ... (empty without an answer)
  std::string tsig_error; // "BADKEY", "BADSIG", "BADTIME", ... (empty when none)
  bool temporary = true;  // true: retry later (exit 3); false: a human must act (exit 1)
  std::string message;    // one line naming the server, the action and the RCODE/TSIG error
};
UpdateResult send_tlsa_update(const TlsaUpdate& update, const TsigKey& key, const UpdateServer& server,
                              std::chrono::milliseconds timeout);

struct UpdateTarget {
  std::string zone;    // apex of the zone holding the owner name
  std::string mname;   // the SOA MNAME (no trailing dot)
  UpdateServer server; // --update-server, or the MNAME's first address
};
struct UpdateTargetResult {
  bool ok = false;
  UpdateTarget target;
  std::string error;     // when !ok: what failed, naming the name looked up
  bool temporary = true; // DNS failure / bogus (exit 3); false: e.g. an MNAME without addresses (exit 1)
};
// Walks from `owner` up to the first name with a SOA RRset (DNSSEC-secure or insecure, never bogus/failed);
// when `given` has an address it is the server, else the MNAME's A (then AAAA) address through `resolver`.
UpdateTargetResult find_update_target(const std::string& owner, const UpdateServer& given, Resolver& resolver);

// ---- the rollover steps by update (rollover_publish.cpp) ----

struct RolloverPublish {
  TsigKey key;
  UpdateServer server; // address empty: the SOA MNAME's address
  std::chrono::milliseconds timeout{10000};
};

// What --publish did in this run (JSON field `update`).
struct PublishReport {
  bool attempted = false; // false: the step needs no DNS change (wait, swap, done, refuse)
  UpdateAction action = UpdateAction::Publish;
  std::string zone;
  std::string server;               // "ADDR@PORT" (empty when the zone/server lookup failed)
  std::vector<std::string> records; // "U S M hex" added or deleted
  bool ok = false;
  bool temporary = true; // when !ok: exit 3 (retry later) or 1 (a human must fix the key/server)
  std::string rcode;
  std::string tsig_error;
  std::string message;
};

// Step publish: adds decision.add_records to the RRset in.published saw; step remove: deletes
// decision.remove_records. Any other step: nothing (attempted = false). Never touches the state.
PublishReport publish_by_update(const RolloverInput& in, const RolloverDecision& decision,
                                const RolloverPublish& publish, Resolver& resolver);

} // namespace dane::tools
