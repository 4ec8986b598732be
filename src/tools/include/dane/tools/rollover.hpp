// dane/tools/rollover.hpp — the step logic of `dane-policyctl rollover` (safe TLSA/certificate rollover).
//
// The procedure (publish the next key's record, wait until every cache holds the new RRset, install
// the next certificate, then delete the old record) is decided by the PURE function decide_rollover():
//   inputs  = the records the current and the next certificate would match (CertificateRecords),
//             the published TLSA RRset at _PORT._tcp.HOST with its DNSSEC state and TTL,
//             the state kept between runs (when each published record was first seen),
//             the current time, the configured confirmation interval,
//             and what the live server presents (one observation per probed address);
//   output  = a RolloverDecision: step (publish / wait / swap / remove / done / refuse), a message,
//             zone-file lines to add or delete, how long to wait, and the updated state.
// No I/O, no clock, no DNS, no OpenSSL TLS: certificate_records() (OpenSSL, no I/O) builds the
// inputs from certificates; load/save of the state file are separate functions (rollover_state.cpp);
// gather_rollover_facts() (rollover_gather.cpp) fills the DNS and live-server inputs through the
// Resolver and Prober it is handed (the program passes the real ones, unit tests canned answers).
//
// Safety rules (docs/rollover.md):
//   * only a DNSSEC-Secure RRset is trusted. Bogus or a failed lookup -> refuse with exit code 3
//     (temporary DNS failure, docs/design.md §5: retry later, nothing is known); Insecure -> refuse, exit 1
//     (senders ignore unsigned TLSA: DANE is not in effect, so there is no DANE rollover to plan).
//   * the wait before `swap` is max(TTL of the RRset (largest seen), interval), counted from the
//     first run that saw a record matching the next certificate (kept in the state file); a record
//     that disappears and comes back starts its clock again. Elapsed >= wait is enough (boundary inclusive).
//   * when the authoritative servers were asked (input.authority), the wait is also counted from the moment
//     the LAST of them first served the intended set signed (state `servers`), the TTL includes the TTL
//     they serve, and while any of them lags (no answer, other records, no or a bad RRSIG) the step is
//     `wait` naming it, however long ago the record was published; a check that could not run (DNS
//     failure) refuses the swap with exit 3.
//   * `remove` and `done` need the live server (every probed address) to present the next key.
//   * anything the tool cannot prove safe is `refuse` (exit 1) with a RolloverRefusal saying why.
// Exit codes (docs/design.md §5, pinned): swap/done 0; publish/wait/remove 4; refuse 1, or 3 for DNS trouble.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "dane/core/expected.hpp"
#include "dane/core/time.hpp"
#include "dane/tools/prober.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/probe.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::tools {

// Pinned JSON spellings of `step` (docs/design.md §5) via to_string().
enum class RolloverStep { Publish, Wait, Swap, Remove, Done, Refuse };
std::string to_string(RolloverStep step); // "publish", "wait", "swap", "remove", "done", "refuse"

// Why a rollover was refused; stable spellings (JSON field `refusal`) so scripts can tell
// "nothing to roll" (same key: installing the next certificate is harmless) from real trouble.
enum class RolloverRefusal {
  None,
  SameKey,            // "same-key": next certificate has the current key (and matches every current record)
  DnsFailed,          // "dns-failed": SERVFAIL / timeout / resolver error (exit 3)
  DnssecBogus,        // "dnssec-bogus": validation failed (exit 3)
  Insecure,           // "insecure": the TLSA RRset is not DNSSEC-signed (exit 1)
  NoTlsa,             // "no-tlsa": secure proof that no TLSA RRset exists
  MatchesNeither,     // "matches-neither": no usable published record matches either certificate
  ServerOtherKey,     // "server-other-key": the live server presents neither certificate
  LiveKeyUnpublished, // "live-key-unpublished": the server presents a key no published record matches (DANE fails now)
  Unconfirmed,        // "unconfirmed": the old record is gone but the probe could not confirm the next key
};
std::string to_string(RolloverRefusal refusal);

// Every TLSA record that would authenticate one certificate (file): usage 3 for the leaf and usage 2
// for each CA certificate in the file, each under every selector (0, 1) and matching type (0, 1, 2).
struct CertificateRecords {
  std::vector<TlsaRecord> leaf;      // 3 S M of the leaf
  std::vector<TlsaRecord> issuer;    // 2 S M of the certificate in the file that issued the leaf (if any)
  std::vector<TlsaRecord> other_cas; // 2 S M of further CA certificates in the file
  std::string cert_sha256;           // hex SHA-256 of the leaf certificate's DER
  std::string spki_sha256;           // hex SHA-256 of the leaf's SubjectPublicKeyInfo (= data of 3 1 1)

  bool matches(const TlsaRecord& record) const;
  // The record of the leaf (usage 3) or the issuer (usage 2) with these parameters, if computed.
  std::optional<TlsaRecord> find(TlsaUsage usage, TlsaSelector selector, TlsaMatchingType mtype) const;
};

// Builds CertificateRecords from a chain (leaf first, then optional CA certificates). The issuer is
// the first later certificate that X509_check_issued() says issued the leaf. Fails on an empty chain.
Expected<CertificateRecords> certificate_records(const std::vector<X509*>& chain);

// certificate_records() of a PEM file (certificate or chain, leaf first; read with
// dane/verifier/pem.hpp load_pem_chain_file, so keys in the file are skipped).
Expected<CertificateRecords> certificate_records_from_file(const std::string& path);

// The published TLSA RRset at _PORT._tcp.HOST as the resolver saw it.
struct PublishedRrset {
  DnsSecurity security = DnsSecurity::Failed;
  std::string reason;                 // why_bogus / "SERVFAIL" / "timeout" ...
  bool exists = false;                // records of type TLSA present (false: NODATA / NXDOMAIN)
  std::uint32_t ttl = 0;              // TTL of the RRset
  std::vector<TlsaRecord> records;    // parsed records, in answer order
  std::vector<std::string> malformed; // RDATA that did not parse as TLSA (reported, ignored)
  std::string canonname;              // the CNAME target holding the records ("" when the owner holds them)
};
// From a resolver Answer for the TLSA query (pure: parses the RDATA).
PublishedRrset published_from_answer(const Answer& answer);

// What one probed address of the live server presents.
enum class Presented { Current, Next, Other, Unknown };
std::string to_string(Presented presented); // "current", "next", "other", "unknown"
struct ServerObservation {
  std::string address; // "127.0.0.2" (with port in `port`)
  std::uint16_t port = 25;
  Presented presented = Presented::Unknown;
  std::string detail; // probe failure reason, or the presented leaf SPKI SHA-256
};
// Classifies a presented leaf by its certificate digest first, then its SPKI digest (hex, any case;
// empty = unknown). A certificate re-issued for the same key counts as `next` only by certificate digest.
Presented classify_presented(std::string_view cert_sha256, std::string_view spki_sha256,
                             const CertificateRecords& current, const CertificateRecords& next);

// ---- propagation at every authoritative server (rollover_authority.cpp, dane/tools/rollover_authority.hpp) ----

// How the RRSIG over the TLSA RRset one authoritative server served checked out under the zone's validated
// DNSKEY set. Only Valid counts; never a bare bool.
enum class AuthSignature {
  NotChecked, // no RRset to check (no answer, not authoritative, no TLSA records)
  Valid,      // an RRSIG by the zone's key verifies now (inception/expiration included)
  Missing,    // records served without an RRSIG over them
  Invalid,    // RRSIG(s) present, none verifies under the DNSKEY set
};
std::string to_string(AuthSignature signature); // "not-checked", "valid", "missing", "invalid"

// One address of one NS host, asked directly (RD=0, DNSSEC OK) in this run.
struct AuthoritativeServer {
  std::string name;                    // NS host name, lowercase, no trailing dot
  std::string address;                 // IP literal ("" when the host's address lookup failed)
  bool answered = false;               // an authoritative (AA) NOERROR answer came for the TLSA query
  std::optional<std::uint32_t> serial; // the SOA serial it serves (when it answered that query)
  std::vector<TlsaRecord> records;     // the TLSA RRset it serves (empty: none)
  std::uint32_t ttl = 0;               // that RRset's TTL as served (not a cache's decremented TTL)
  AuthSignature signature = AuthSignature::NotChecked;
  bool serves_intended = false; // `records` equals the intended set (as sets)
  std::string detail;           // what is wrong, when anything is ("no answer (timed out)", "RRSIG ... expired")
  // The one condition under which the server counts as serving the next RRset.
  bool serves_intended_signed() const { return serves_intended && signature == AuthSignature::Valid; }
};

// The result of asking every authoritative server of the zone.
struct AuthorityCheck {
  DnsSecurity security = DnsSecurity::Failed; // Secure: the zone, its NS and DNSKEY sets were validated and
                                              // every NS host's addresses were asked; else `error` says why
  std::string error;
  std::string zone;                 // apex, no trailing dot
  std::vector<TlsaRecord> intended; // what every server should serve
  std::vector<AuthoritativeServer> servers;
  // The servers that do not serve the intended set with a valid signature ("ns2.example.org 192.0.2.2: ...").
  std::vector<std::string> lagging() const;
};

// State kept between runs (the small JSON state file).
struct RolloverServerSeen {
  std::string name;    // NS host name
  std::string address; // IP literal
  std::string rrset;   // the intended set it served: its records "U S M hex", sorted, joined by ", "
  std::chrono::sys_seconds first_seen{};
  friend bool operator==(const RolloverServerSeen&, const RolloverServerSeen&) = default;
};
struct RolloverRecordSeen {
  std::string tlsa; // "U S M hex"
  std::chrono::sys_seconds first_seen{};
  friend bool operator==(const RolloverRecordSeen&, const RolloverRecordSeen&) = default;
};
struct RolloverState {
  std::string host; // lowercase, no trailing dot
  std::uint16_t port = 25;
  std::uint32_t max_ttl = 0;               // largest RRset TTL seen while the rollover runs
  std::vector<RolloverRecordSeen> records; // every currently published record, with its first-seen time
  std::vector<RolloverServerSeen> servers; // every authoritative server that served the intended set signed
                                           // at the last check, with when it first did (continuously)
  friend bool operator==(const RolloverState&, const RolloverState&) = default;
};

struct RolloverInput {
  std::string host; // MX host name, lowercase, no trailing dot
  std::uint16_t port = 25;
  CertificateRecords current;
  CertificateRecords next;
  PublishedRrset published;
  RolloverState state; // as loaded (empty for a first run or a corrupt file)
  std::chrono::sys_seconds now{};
  std::chrono::seconds interval{std::chrono::hours(24)};
  std::vector<ServerObservation> servers; // empty: no probe ran (treated as unknown)
  // The authoritative servers asked directly (nullopt: the check did not run, --no-authoritative-check or
  // an RRset that cannot be trusted; then the wait is counted from the resolver's view alone).
  std::optional<AuthorityCheck> authority;
};

// The canonical text of a set of records for the state file: "U S M hex" each, sorted, joined by ", ".
std::string rrset_key(const std::vector<TlsaRecord>& records);
// Folds one authority check into the state (pure): a server serving the intended set signed keeps its
// first-seen time when the state already has it for the same name, address and set (and the time is not in
// the future), else it starts now; every other server is dropped (its clock starts again when it serves the
// set). max_ttl grows to the largest TTL any server served. A check that did not run (not Secure) changes
// nothing.
void note_authority(RolloverState& state, const AuthorityCheck& check, std::chrono::sys_seconds now);

struct RolloverDecision {
  RolloverStep step = RolloverStep::Refuse;
  RolloverRefusal refusal = RolloverRefusal::None;
  int exit_code = 1;
  std::string message;                                      // what to do now, one or two sentences
  std::string tlsa_name;                                    // "_25._tcp.mx.example.org."
  std::vector<std::string> add_lines;                       // zone-file lines to publish (step publish)
  std::vector<std::string> alternative_lines;               // alternative partner records (e.g. 2 1 1 of the issuer)
  std::vector<std::string> remove_lines;                    // zone-file lines to delete (step remove)
  std::vector<TlsaRecord> add_records;                      // the records of add_lines in step publish (for --publish)
  std::vector<TlsaRecord> remove_records;                   // the records of remove_lines (for --publish)
  std::vector<std::string> notes;                           // further facts and warnings, one per line
  std::vector<TlsaRecord> current_records;                  // published records matching the current certificate
  std::vector<TlsaRecord> next_records;                     // published records matching the next certificate
  std::optional<std::chrono::sys_seconds> next_first_seen;  // when a next record was first seen
  std::chrono::seconds required_wait{0};                    // max(TTL, interval)
  std::optional<std::chrono::seconds> remaining_wait;       // step wait: how much longer
  std::optional<std::chrono::sys_seconds> safe_at;          // when swapping becomes safe
  std::optional<std::chrono::sys_seconds> last_server_seen; // when the last authoritative server first served
                                                            // the intended set (authority check ran, all serve)
  RolloverState state;                                      // state to keep for the next run
};

// The exit code of a step (docs/design.md §5): 0 swap/done, 4 publish/wait/remove, 1 refuse, 3 refuse for
// DnsFailed / DnssecBogus.
int rollover_exit_code(RolloverStep step, RolloverRefusal refusal);

// The pure step logic (see the file comment). Never fails: every input combination has a step.
RolloverDecision decide_rollover(const RolloverInput& input);

// "_25._tcp.mx.example.org. IN TLSA 3 1 1 hex" (the `dane-policyctl tlsa --host` format, docs/design.md §5).
std::string zone_line(std::string_view host, std::uint16_t port, const TlsaRecord& record);
// "2h 5m 3s" / "59s" / "0s".
std::string format_duration(std::chrono::seconds duration);

// ---- gathering the facts (rollover_gather.cpp) ----

// What the live server presents at one address, from a probe report: the leaf of the presented chain
// classified against both certificates; Unknown (with the probe's result as detail) when no leaf came.
ServerObservation observe(const ProbeReport& report, const CertificateRecords& current, const CertificateRecords& next);

struct RolloverGather {
  bool probe = true;                  // false: --no-probe
  std::vector<std::string> addresses; // probe these; empty: look up the host's A and AAAA records
  std::chrono::milliseconds probe_timeout{10000};
};

// One round of concurrent lookups through `resolver`: the TLSA RRset at _PORT._tcp.HOST and, when probing
// without given addresses, the host's A and AAAA records. Sets input.published; then, only when the RRset
// is DNSSEC-Secure and exists, probes every address through `prober` and appends to input.servers one
// observation per address (an Unknown one per failed or bogus address lookup, or for a host without
// addresses). Uses input.host, input.port, input.current and input.next. Fails (exit 2 in the program)
// only when the resolver returns no answer at all.
Status gather_rollover_facts(RolloverInput& input, const RolloverGather& gather, Resolver& resolver,
                             const Prober& prober);

// ---- state file (rollover_state.cpp) ----

// JSON text of a state: {"version":1,"host":...,"port":...,"max_ttl":...,"records":[{"tlsa":..,"first_seen":UNIX,
// "first_seen_utc":"..."}]}. parse fails with a message naming what is wrong (not JSON, wrong version,
// missing or mistyped field, unparsable record, a time before 2000 or a duplicate record).
std::string serialize_state(const RolloverState& state);
Expected<RolloverState> parse_state(std::string_view text);

// Default state file: $XDG_STATE_HOME/dane-policyd/rollover/<host>_<port>.json when XDG_STATE_HOME is
// set, else /var/lib/dane-policyd/rollover/<host>_<port>.json for root, else
// $HOME/.local/state/dane-policyd/rollover/<host>_<port>.json. Arguments are the environment values
// (empty when unset) so the choice stays testable.
std::string default_state_path(std::string_view host, std::uint16_t port, std::string_view xdg_state_home,
                               std::string_view home, bool is_root);

// Result of reading the state file: a missing file is a fresh start (no warning); an unreadable
// or corrupt one is a fresh start with `warning` set (the clock restarts: waiting longer is safe);
// a file for another host/port is treated the same way.
struct LoadedState {
  RolloverState state;
  std::string warning; // empty when the file was absent or fine
};
LoadedState load_state(const std::string& path, std::string_view host, std::uint16_t port);
// Writes atomically: a temporary file in the same directory, fsync, rename, fsync of the directory.
// Creates missing parent directories (mode 0700). Fails with a message naming the path.
Status save_state(const std::string& path, const RolloverState& state);

} // namespace dane::tools
