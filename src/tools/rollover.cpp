// The pure step logic of `dane-policyctl rollover` (contract: dane/tools/rollover.hpp, docs/rollover.md).
// file-size: one pure decision procedure (~630 lines); its steps share the anonymous-namespace helpers, and
// splitting it would only export them. The authority facts' own pure helpers live in rollover_propagation.cpp.
#include "dane/tools/rollover.hpp"
#include "dane/core/text.hpp"
#include "dane/tools/prober.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace dane::tools {

namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

bool contains(const std::vector<TlsaRecord>& records, const TlsaRecord& record) {
  return std::find(records.begin(), records.end(), record) != records.end();
}

void add_unique(std::vector<std::string>& lines, std::string line) {
  if (std::find(lines.begin(), lines.end(), line) == lines.end()) {
    lines.push_back(std::move(line));
  }
}

// The published state: every published record keeps its first-seen time while it stays published.
RolloverState updated_state(const RolloverInput& in, std::vector<std::string>& notes) {
  RolloverState out;
  out.host = in.host;
  out.port = in.port;
  out.max_ttl = std::max(in.state.max_ttl, in.published.ttl);
  for (const auto& record : in.published.records) {
    std::string key = record.to_string();
    bool duplicate = std::any_of(out.records.begin(), out.records.end(),
                                 [&](const RolloverRecordSeen& seen) { return seen.tlsa == key; });
    if (duplicate) {
      continue;
    }
    RolloverRecordSeen seen{key, in.now};
    for (const auto& old : in.state.records) {
      if (old.tlsa == key) {
        if (old.first_seen > in.now) {
          notes.push_back("state: first-seen time of " + record.short_string() + " (" + format_rfc3339(old.first_seen) +
                          ") lies in the future; its clock starts again now");
        } else {
          seen.first_seen = old.first_seen;
        }
        break;
      }
    }
    out.records.push_back(std::move(seen));
  }
  out.servers = in.state.servers;
  if (in.authority) {
    note_authority(out, *in.authority, in.now);
  }
  return out;
}

std::optional<sys_seconds> first_seen_of(const RolloverState& state, const TlsaRecord& record) {
  std::string key = record.to_string();
  for (const auto& seen : state.records) {
    if (seen.tlsa == key) {
      return seen.first_seen;
    }
  }
  return std::nullopt;
}

struct ServerSummary {
  std::vector<const ServerObservation*> current, next, other, unknown;
  bool all_next() const { return !next.empty() && current.empty() && other.empty() && unknown.empty(); }
};

ServerSummary summarize(const std::vector<ServerObservation>& servers) {
  ServerSummary summary;
  for (const auto& server : servers) {
    switch (server.presented) {
    case Presented::Current:
      summary.current.push_back(&server);
      break;
    case Presented::Next:
      summary.next.push_back(&server);
      break;
    case Presented::Other:
      summary.other.push_back(&server);
      break;
    case Presented::Unknown:
      summary.unknown.push_back(&server);
      break;
    }
  }
  return summary;
}

std::string labels(const std::vector<const ServerObservation*>& servers) {
  std::vector<std::string> out;
  for (const auto* server : servers) {
    out.push_back(endpoint(server->address, server->port));
  }
  return join(out, ", ");
}

std::string unknown_details(const std::vector<const ServerObservation*>& servers) {
  std::vector<std::string> out;
  for (const auto* server : servers) {
    const std::string detail = server->detail.empty() ? "" : " (" + server->detail + ")";
    out.push_back(endpoint(server->address, server->port) + detail);
  }
  return join(out, ", ");
}

// ---- the steps of decide_rollover(), in the order they apply ----

// How a decision ends: the step, why it was refused (None otherwise) and the message.
struct Outcome {
  RolloverStep step = RolloverStep::Refuse;
  RolloverRefusal refusal = RolloverRefusal::None;
  std::string message;
};

Outcome refused(RolloverRefusal refusal, std::string message) {
  return Outcome{RolloverStep::Refuse, refusal, std::move(message)};
}

// Same certificate twice, or a TLSA answer that is not DNSSEC-Secure: nothing can be planned.
std::optional<Outcome> untrusted_inputs(const RolloverInput& in, const std::string& tlsa_name) {
  // Nothing to roll at all: the two files hold one certificate.
  if (in.current.cert_sha256 == in.next.cert_sha256) {
    return refused(RolloverRefusal::SameKey,
                   "nothing to roll: --current and --next are the same certificate (SHA-256 " + in.current.cert_sha256 +
                       ")");
  }
  // Only a validated answer is trusted; a DNS problem is temporary (exit 3), an unsigned zone is not.
  switch (in.published.security) {
  case DnsSecurity::Failed:
    return refused(RolloverRefusal::DnsFailed,
                   "TLSA lookup for " + tlsa_name + " failed (" +
                       (in.published.reason.empty() ? std::string("no answer") : in.published.reason) +
                       "): nothing is known about the published records; try again later");
  case DnsSecurity::Bogus:
    return refused(RolloverRefusal::DnssecBogus,
                   "TLSA RRset at " + tlsa_name + " is DNSSEC-bogus (" +
                       (in.published.reason.empty() ? std::string("validation failed") : in.published.reason) +
                       "): DANE senders cannot use it now; repair the zone's signatures/DS before rolling");
  case DnsSecurity::Insecure:
    return refused(RolloverRefusal::Insecure,
                   "TLSA RRset at " + tlsa_name +
                       " is not DNSSEC-signed (insecure): senders ignore it, DANE is not in effect; sign the "
                       "zone first");
  case DnsSecurity::Secure:
    break;
  }
  return std::nullopt;
}

// Sorts the usable published records into d.current_records / d.next_records; notes the rest.
void sort_published(const RolloverInput& in, RolloverDecision& d) {
  std::vector<TlsaRecord> neither;
  for (const auto& record : in.published.records) {
    if (smtp_usability(record) != TlsaUsability::Usable) {
      d.notes.push_back("ignored unusable record " + record.short_string() + ": " +
                        describe(smtp_usability(record), record));
      continue;
    }
    const bool c = in.current.matches(record);
    const bool n = in.next.matches(record);
    if (c && !contains(d.current_records, record)) {
      d.current_records.push_back(record);
    }
    if (n && !contains(d.next_records, record)) {
      d.next_records.push_back(record);
    }
    if (!c && !n && !contains(neither, record)) {
      neither.push_back(record);
    }
  }
  for (const auto& record : neither) {
    d.notes.push_back("published record matching neither certificate (left alone): " +
                      zone_line(in.host, in.port, record));
  }
}

// A live server with a third key, published records matching neither file, or one key in both files.
std::optional<Outcome> inconsistent_inputs(const RolloverInput& in, RolloverDecision& d, const ServerSummary& servers) {
  if (!servers.other.empty()) {
    std::vector<std::string> seen;
    for (const auto* server : servers.other) {
      seen.push_back(endpoint(server->address, server->port) + " presents SPKI SHA-256 " +
                     (server->detail.empty() ? std::string("?") : server->detail));
    }
    return refused(RolloverRefusal::ServerOtherKey,
                   "the live server presents a certificate that is neither --current nor --next (" + join(seen, "; ") +
                       "): check which certificate is installed and which files you passed");
  }
  if (in.servers.empty()) {
    d.notes.push_back("no probe of the live server ran");
  } else if (!servers.unknown.empty()) {
    d.notes.push_back("could not see what the server presents at " + unknown_details(servers.unknown));
  }
  if (d.current_records.empty() && d.next_records.empty()) {
    std::vector<std::string> published;
    for (const auto& record : in.published.records) {
      published.push_back(record.to_string());
    }
    return refused(RolloverRefusal::MatchesNeither,
                   "no usable published record at " + d.tlsa_name +
                       " matches the current or the next certificate (published: " + join(published, "; ") +
                       "): the RRset or the certificate files are not what you think; fix that first");
  }
  // One key in both certificates: nothing to roll when every current record matches the next one too.
  if (ascii_lower(in.current.spki_sha256) == ascii_lower(in.next.spki_sha256)) {
    const auto& nxt = d.next_records;
    const bool covered = std::all_of(d.current_records.begin(), d.current_records.end(),
                                     [&](const TlsaRecord& r) { return contains(nxt, r); });
    if (covered) {
      return refused(RolloverRefusal::SameKey,
                     "nothing to roll: the next certificate has the same public key as the current one and every "
                     "published record that matches the current certificate matches it too; installing it needs "
                     "no TLSA change");
    }
    d.notes.push_back("the next certificate has the current key, but published records with selector 0 "
                      "(full certificate) or of a CA change: rolling those");
  }
  return std::nullopt;
}

// A record to publish: its zone line (once) and, for --publish, the record itself.
void add_next_record(const RolloverInput& in, RolloverDecision& d, const TlsaRecord& record) {
  if (!contains(d.add_records, record)) {
    d.add_records.push_back(record);
  }
  add_unique(d.add_lines, zone_line(in.host, in.port, record));
}

// Step 1's zone lines: a partner of each current record in the next file, else 3 S M of the next leaf;
// alternatives 2 1 1 of the next issuer and 3 1 1 of the next key.
void suggest_next_records(const RolloverInput& in, RolloverDecision& d) {
  std::vector<std::string> missing_issuer;
  for (const auto& record : d.current_records) {
    auto partner = in.next.find(record.usage, record.selector, record.mtype);
    if (partner) {
      add_next_record(in, d, *partner);
    } else {
      missing_issuer.push_back(record.short_string());
    }
  }
  if (!missing_issuer.empty()) {
    d.notes.push_back("no DANE-TA partner for " + join(missing_issuer, ", ") +
                      ": the --next file holds no certificate that issued the next leaf (pass its chain file)");
  }
  if (d.add_lines.empty()) {
    auto partner = in.next.find(TlsaUsage::DaneEe, d.current_records.front().selector, d.current_records.front().mtype);
    if (partner) {
      add_next_record(in, d, *partner);
    }
  }
  // Alternatives: 2 1 1 of the next leaf's issuer when it is in the chain file, and 3 1 1 of the
  // leaf when the primary suggestion is a DANE-TA record.
  if (auto ta = in.next.find(TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)) {
    std::string line = zone_line(in.host, in.port, *ta);
    if (std::find(d.add_lines.begin(), d.add_lines.end(), line) == d.add_lines.end()) {
      d.alternative_lines.push_back(line + "   ; DANE-TA of the issuer: only if the server sends the issuer "
                                           "certificate in its chain");
    }
  }
  if (auto ee = in.next.find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)) {
    std::string line = zone_line(in.host, in.port, *ee);
    if (std::find(d.add_lines.begin(), d.add_lines.end(), line) == d.add_lines.end()) {
      d.alternative_lines.push_back(line + "   ; DANE-EE of the next key");
    }
  }
}

// Step 1: the next certificate's record is not published yet.
Outcome publish_step(const RolloverInput& in, RolloverDecision& d, const ServerSummary& servers) {
  suggest_next_records(in, d);
  if (!servers.next.empty()) {
    return refused(RolloverRefusal::LiveKeyUnpublished,
                   "the server at " + labels(servers.next) +
                       " already presents the next certificate, but no published record matches it: DANE senders "
                       "cannot deliver there now; publish the record(s) below immediately (or reinstall the current "
                       "certificate there)");
  }
  return Outcome{RolloverStep::Publish, RolloverRefusal::None,
                 "publish the next certificate's record at " + d.tlsa_name +
                     " next to the current one (keep the current record), then run again; swapping becomes safe " +
                     format_duration(d.required_wait) + " after it is first seen"};
}

// Only the next certificate's record is published: done when the server shows the next key everywhere.
Outcome old_record_gone(const RolloverInput& in, RolloverDecision& d, const ServerSummary& servers) {
  if (servers.all_next()) {
    return Outcome{RolloverStep::Done, RolloverRefusal::None,
                   "rollover complete: only the next certificate's record is published at " + d.tlsa_name +
                       " and the server presents the next certificate"};
  }
  if (!servers.current.empty()) {
    for (const auto& record : in.current.leaf) {
      if (record.selector == TlsaSelector::Spki && record.mtype == TlsaMatchingType::Sha2_256) {
        d.add_lines.push_back(zone_line(in.host, in.port, record));
      }
    }
    return refused(RolloverRefusal::LiveKeyUnpublished,
                   "the server at " + labels(servers.current) +
                       " still presents the current certificate, but no published record matches it any more: DANE "
                       "senders cannot deliver there now; install the next certificate there now, or publish the "
                       "current record again");
  }
  return refused(RolloverRefusal::Unconfirmed,
                 "the current certificate's record is gone from " + d.tlsa_name +
                     ", but the probe could not confirm that the server presents the next certificate" +
                     (servers.unknown.empty() ? std::string() : " (" + unknown_details(servers.unknown) + ")") +
                     "; check the server by hand");
}

// The authoritative servers' part of the wait (input.authority): a lagging server keeps the step at `wait`;
// a check that could not run refuses a swap (exit 3); otherwise the wait counts from the moment the last
// server first served the set, when that is later than `start`.
std::optional<Outcome> authority_gate(const RolloverInput& in, RolloverDecision& d, sys_seconds& start) {
  if (!in.authority) {
    return std::nullopt;
  }
  const AuthorityCheck& check = *in.authority;
  if (check.security != DnsSecurity::Secure) {
    if (in.now - start >= d.required_wait) {
      return refused(check.security == DnsSecurity::Bogus ? RolloverRefusal::DnssecBogus : RolloverRefusal::DnsFailed,
                     "cannot check the authoritative servers for " + d.tlsa_name + " (" + check.error +
                         "): swapping is safe only once every one of them serves the next record; try again later");
    }
    d.notes.push_back("could not check the authoritative servers: " + check.error);
    return std::nullopt;
  }
  const std::vector<std::string> lagging = check.lagging();
  if (check.servers.empty() || !lagging.empty()) {
    d.remaining_wait = d.required_wait;
    d.safe_at = in.now + d.required_wait;
    const std::string who =
        check.servers.empty() ? "no address found for any NS host of " + check.zone : join(lagging, "; ");
    return Outcome{RolloverStep::Wait, RolloverRefusal::None,
                   "not every authoritative server of " + check.zone +
                       " serves the intended TLSA RRset with a valid signature yet (lagging: " + who +
                       "); swapping becomes safe " + format_duration(d.required_wait) +
                       " after the last one does (at the earliest " + format_rfc3339(*d.safe_at) + ")"};
  }
  std::optional<sys_seconds> latest;
  for (const auto& seen : d.state.servers) {
    if (!latest || seen.first_seen > *latest) {
      latest = seen.first_seen;
    }
  }
  d.last_server_seen = latest;
  if (latest && *latest > start) {
    start = *latest;
    d.safe_at = start + d.required_wait;
  }
  return std::nullopt;
}

// Both records published since `first`: wait, swap, or (once the server presents the next key) remove.
Outcome both_published(const RolloverInput& in, RolloverDecision& d, const ServerSummary& servers, sys_seconds first) {
  if (auto gated = authority_gate(in, d, first)) {
    return std::move(*gated);
  }
  const seconds wait_for = d.required_wait;
  const auto elapsed = in.now - first;
  if (elapsed < wait_for) {
    d.remaining_wait = wait_for - elapsed;
    if (!servers.next.empty()) {
      d.notes.push_back("warning: " + labels(servers.next) +
                        " already presents the next certificate although the next record is not established yet: "
                        "senders that cached the old RRset may fail there until " +
                        format_rfc3339(*d.safe_at) + "; keep the current record until then");
    }
    return Outcome{RolloverStep::Wait, RolloverRefusal::None,
                   "both records are published; wait " + format_duration(*d.remaining_wait) + " more (until " +
                       format_rfc3339(*d.safe_at) + ": next record " +
                       (d.last_server_seen ? "served by every authoritative server since " : "first seen ") +
                       format_rfc3339(first) + ", wait max(TTL " + std::to_string(d.state.max_ttl) + "s, interval " +
                       format_duration(in.interval) + ") = " + format_duration(wait_for) +
                       ") before installing the next certificate"};
  }
  if (servers.all_next()) {
    for (const auto& record : d.current_records) {
      if (!contains(d.next_records, record)) {
        d.remove_lines.push_back(zone_line(in.host, in.port, record));
        d.remove_records.push_back(record);
      }
    }
    if (d.remove_lines.empty()) {
      return Outcome{RolloverStep::Done, RolloverRefusal::None,
                     "rollover complete: the server presents the next certificate and every published record that "
                     "matched the current one matches the next one too"};
    }
    return Outcome{RolloverStep::Remove, RolloverRefusal::None,
                   "the server presents the next certificate; delete the old record(s) below from " + d.tlsa_name +
                       ", then run again"};
  }
  if (!servers.next.empty()) {
    d.notes.push_back(labels(servers.next) + " already present(s) the next certificate; " + labels(servers.current) +
                      " still present(s) the current one");
  }
  return Outcome{RolloverStep::Swap, RolloverRefusal::None,
                 "safe to install the next certificate now: its record has been published since " +
                     format_rfc3339(first) + " (>= " + format_duration(wait_for) +
                     "); keep the current record until the server presents the next certificate, then run again"};
}

// The whole procedure; fills `d` (records, lines, notes, state, waits) on the way.
Outcome decide_steps(const RolloverInput& in, RolloverDecision& d) {
  if (auto ended = untrusted_inputs(in, d.tlsa_name)) {
    return std::move(*ended);
  }
  d.state = updated_state(in, d.notes);
  for (const auto& bad : in.published.malformed) {
    d.notes.push_back("ignored malformed TLSA RDATA: " + bad);
  }
  if (!in.published.exists || in.published.records.empty()) {
    if (auto first_record = in.next.find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)) {
      d.add_lines.push_back(zone_line(in.host, in.port, *first_record));
    }
    return refused(RolloverRefusal::NoTlsa,
                   "no TLSA RRset is published at " + d.tlsa_name +
                       " (DNSSEC-proven absence): DANE is not in use for this host, there is nothing to roll; to "
                       "start using DANE, publish the record below for the certificate you install");
  }
  sort_published(in, d);
  const ServerSummary servers = summarize(in.servers);
  if (auto ended = inconsistent_inputs(in, d, servers)) {
    return std::move(*ended);
  }
  d.required_wait = std::max<seconds>(seconds(d.state.max_ttl), in.interval);
  if (d.next_records.empty()) {
    return publish_step(in, d, servers);
  }
  // When was a record matching the next certificate first seen (the earliest, it keeps counting)?
  std::optional<sys_seconds> first;
  for (const auto& record : d.next_records) {
    auto seen = first_seen_of(d.state, record);
    if (seen && (!first || *seen < *first)) {
      first = seen;
    }
  }
  if (!first) {
    first = in.now; // cannot happen: every published record is in the updated state
  }
  d.next_first_seen = first;
  d.safe_at = *first + d.required_wait;
  if (d.current_records.empty()) {
    return old_record_gone(in, d, servers);
  }
  return both_published(in, d, servers, *first);
}

} // namespace

std::string to_string(RolloverStep step) {
  switch (step) {
  case RolloverStep::Publish:
    return "publish";
  case RolloverStep::Wait:
    return "wait";
  case RolloverStep::Swap:
    return "swap";
  case RolloverStep::Remove:
    return "remove";
  case RolloverStep::Done:
    return "done";
  case RolloverStep::Refuse:
    return "refuse";
  }
  return "refuse";
}

std::string to_string(RolloverRefusal refusal) {
  switch (refusal) {
  case RolloverRefusal::None:
    return "";
  case RolloverRefusal::SameKey:
    return "same-key";
  case RolloverRefusal::DnsFailed:
    return "dns-failed";
  case RolloverRefusal::DnssecBogus:
    return "dnssec-bogus";
  case RolloverRefusal::Insecure:
    return "insecure";
  case RolloverRefusal::NoTlsa:
    return "no-tlsa";
  case RolloverRefusal::MatchesNeither:
    return "matches-neither";
  case RolloverRefusal::ServerOtherKey:
    return "server-other-key";
  case RolloverRefusal::LiveKeyUnpublished:
    return "live-key-unpublished";
  case RolloverRefusal::Unconfirmed:
    return "unconfirmed";
  }
  return "";
}

std::string to_string(Presented presented) {
  switch (presented) {
  case Presented::Current:
    return "current";
  case Presented::Next:
    return "next";
  case Presented::Other:
    return "other";
  case Presented::Unknown:
    return "unknown";
  }
  return "unknown";
}

bool CertificateRecords::matches(const TlsaRecord& record) const {
  return contains(leaf, record) || contains(issuer, record) || contains(other_cas, record);
}

std::optional<TlsaRecord> CertificateRecords::find(TlsaUsage usage, TlsaSelector selector,
                                                   TlsaMatchingType mtype) const {
  const auto& pool = usage == TlsaUsage::DaneEe ? leaf : issuer;
  for (const auto& record : pool) {
    if (record.usage == usage && record.selector == selector && record.mtype == mtype) {
      return record;
    }
  }
  return std::nullopt;
}

Presented classify_presented(std::string_view cert_sha256, std::string_view spki_sha256,
                             const CertificateRecords& current, const CertificateRecords& next) {
  const std::string cert = ascii_lower(cert_sha256);
  const std::string spki = ascii_lower(spki_sha256);
  if (cert.empty() && spki.empty()) {
    return Presented::Unknown;
  }
  if (!cert.empty()) {
    if (cert == ascii_lower(next.cert_sha256)) {
      return Presented::Next;
    }
    if (cert == ascii_lower(current.cert_sha256)) {
      return Presented::Current;
    }
  }
  if (!spki.empty()) {
    const bool same_key = ascii_lower(current.spki_sha256) == ascii_lower(next.spki_sha256);
    // With one key in both certificates only the certificate digest can tell them apart; a third
    // certificate for that key counts as the current one (the next one is not installed yet).
    if (spki == ascii_lower(current.spki_sha256)) {
      return Presented::Current;
    }
    if (!same_key && spki == ascii_lower(next.spki_sha256)) {
      return Presented::Next;
    }
  }
  return Presented::Other;
}

PublishedRrset published_from_answer(const Answer& answer) {
  PublishedRrset out;
  out.security = answer.security;
  out.reason = answer.reason;
  out.ttl = answer.ttl;
  out.exists = answer.havedata && !answer.nxdomain && !answer.rdata.empty();
  out.canonname = answer.canonname;
  for (const auto& rdata : answer.rdata) {
    auto record = parse_tlsa_rdata(rdata);
    if (record) {
      out.records.push_back(std::move(*record));
    } else {
      out.malformed.push_back(to_hex(rdata) + " (" + record.error() + ")");
    }
  }
  return out;
}

int rollover_exit_code(RolloverStep step, RolloverRefusal refusal) {
  switch (step) {
  case RolloverStep::Swap:
  case RolloverStep::Done:
    return 0;
  case RolloverStep::Publish:
  case RolloverStep::Wait:
  case RolloverStep::Remove:
    return 4;
  case RolloverStep::Refuse:
    return refusal == RolloverRefusal::DnsFailed || refusal == RolloverRefusal::DnssecBogus ? 3 : 1;
  }
  return 1;
}

std::string zone_line(std::string_view host, std::uint16_t port, const TlsaRecord& record) {
  return "_" + std::to_string(port) + "._tcp." + std::string(host) + ". IN TLSA " + record.to_string();
}

std::string format_duration(std::chrono::seconds duration) {
  long long total = duration.count();
  if (total <= 0) {
    return "0s";
  }
  const long long h = total / 3600;
  const long long m = (total % 3600) / 60;
  const long long s = total % 60;
  std::string out;
  auto part = [&](long long value, const char* unit) {
    if (value > 0) {
      if (!out.empty()) {
        out += ' ';
      }
      out += std::to_string(value) + unit;
    }
  };
  part(h, "h");
  part(m, "m");
  part(s, "s");
  return out;
}

RolloverDecision decide_rollover(const RolloverInput& in) {
  RolloverDecision d;
  d.tlsa_name = "_" + std::to_string(in.port) + "._tcp." + in.host + ".";
  d.state = in.state;
  d.state.host = in.host;
  d.state.port = in.port;
  Outcome outcome = decide_steps(in, d);
  d.step = outcome.step;
  d.refusal = outcome.refusal;
  d.exit_code = rollover_exit_code(outcome.step, outcome.refusal);
  d.message = std::move(outcome.message);
  return d;
}

} // namespace dane::tools
