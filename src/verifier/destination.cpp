// RFC 7672 §2.2 destination evaluation (see dane/destination.hpp and docs/design.md §3).
//
// Three rounds of concurrent lookups: the MX RRset (skipped for "[host]" keys), then A and
// AAAA of every MX host at once, then every TLSA candidate (and, for aliases whose target
// is insecure, the CNAME at the original name) at once. One deadline is shared by all rounds.
// Each round is a pair of pure functions (the queries to ask; what their answers mean);
// DestinationRounds (destination_rounds.hpp) strings them together without any I/O, and the
// asynchronous engine (destination_engine.cpp) drives it over Resolver::resolve_async.
#include "dane/verifier/destination.hpp"
#include "dane/core/text.hpp"
#include "destination_rounds.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

namespace dane {

std::string to_string(HostStatus status) {
  switch (status) {
  case HostStatus::DaneUsable:
    return "dane";
  case HostStatus::TlsaUnusable:
    return "unusable";
  case HostStatus::NoTlsa:
    return "no-tlsa";
  case HostStatus::Insecure:
    return "insecure";
  case HostStatus::Failed:
    return "failed";
  }
  return "failed";
}

std::string to_string(DestinationOutcome outcome) {
  switch (outcome) {
  case DestinationOutcome::NotDane:
    return "not-dane";
  case DestinationOutcome::DaneOnly:
    return "dane-only";
  case DestinationOutcome::Dane:
    return "dane";
  case DestinationOutcome::Encrypt:
    return "encrypt";
  case DestinationOutcome::TempFail:
    return "tempfail";
  }
  return "tempfail";
}

namespace {

using Clock = std::chrono::steady_clock;

std::string describe_failure(const std::string& what, const Answer& a) {
  if (a.security == DnsSecurity::Bogus) {
    return what + " bogus: " + a.reason;
  }
  return what + " failed: " + (a.reason.empty() ? std::string("error") : a.reason);
}

bool is_error(const Answer& a) {
  return a.security == DnsSecurity::Bogus || a.security == DnsSecurity::Failed;
}

// Worse of two security states: Failed/Bogus > Insecure > Secure.
int rank(DnsSecurity s) {
  switch (s) {
  case DnsSecurity::Secure:
    return 0;
  case DnsSecurity::Insecure:
    return 1;
  case DnsSecurity::Bogus:
    return 2;
  case DnsSecurity::Failed:
    return 3;
  }
  return 3;
}
DnsSecurity worst(DnsSecurity a, DnsSecurity b) {
  return rank(a) >= rank(b) ? a : b;
}

std::string tlsa_owner_for(std::uint16_t port, const std::string& base) {
  return "_" + std::to_string(port) + "._tcp." + base;
}

// Work state for one host between the rounds.
struct HostWork {
  HostResult result;
  bool decided = false;                // status final after the address round
  std::vector<std::string> candidates; // TLSA base candidates, in order
  bool needs_cname_check = false;      // alias whose target's addresses are insecure
  // The CNAME expansion (result.canonname) came from secure address lookups, so it may serve as a
  // reference identifier; a name learned through an insecure expansion never does (RFC 7672 §3.2.2).
  bool expansion_secure = false;
  std::size_t cname_query = 0;
  std::vector<std::size_t> tlsa_queries; // parallel to candidates
};

void fail_host(HostWork& w, DnsSecurity security, std::string reason) {
  w.result.status = HostStatus::Failed;
  w.result.dnssec = security;
  w.result.reason = std::move(reason);
  w.decided = true;
}

void use_ttl(std::uint32_t& ttl, const Answer& a) {
  if (a.ttl != 0 && (ttl == 0 || a.ttl < ttl)) {
    ttl = a.ttl;
  }
}

// Round 2 result for one TLSA candidate: records (secure with data) or absence.
void apply_tlsa(HostWork& w, const Answer& tlsa, const std::string& base, std::uint16_t port) {
  HostResult& h = w.result;
  h.tlsa_base = base;
  h.tlsa_owner = tlsa_owner_for(port, base);
  use_ttl(h.ttl, tlsa);
  std::size_t usable = 0;
  std::vector<std::string> problems;
  for (const auto& rdata : tlsa.rdata) {
    auto record = parse_tlsa_rdata(rdata);
    if (!record) {
      problems.push_back("malformed record: " + record.error());
      continue;
    }
    auto usability = smtp_usability(*record);
    if (usability == TlsaUsability::Usable) {
      ++usable;
    } else {
      problems.push_back(describe(usability, *record));
    }
    h.tlsa.push_back(std::move(*record));
  }
  if (usable > 0) {
    h.status = HostStatus::DaneUsable;
    h.reason = std::to_string(usable) + " usable TLSA record" + (usable == 1 ? "" : "s") + " at " + h.tlsa_owner;
    if (!problems.empty()) {
      h.reason += " (" + std::to_string(problems.size()) + " unusable ignored)";
    }
  } else {
    h.status = HostStatus::TlsaUnusable;
    h.reason = "every TLSA record at " + h.tlsa_owner + " is unusable";
    for (const auto& p : problems) {
      h.reason += "; " + p;
    }
    h.reason += ": TLS required, no authentication";
  }
}

// A candidate's answer without records: why there is no TLSA there.
std::string absence(const Answer& a, const std::string& owner) {
  if (a.security == DnsSecurity::Insecure) {
    return "TLSA lookup for " + owner + " insecure";
  }
  return std::string("no TLSA records at ") + owner + (a.nxdomain ? " (secure NXDOMAIN)" : " (secure NODATA)");
}

// The first candidate with secure TLSA records decides the host (RFC 7672 §2.2.3). Its `dnssec` then
// describes the lookups that decided it: the address (or alias) state and that secure TLSA answer;
// a candidate passed over (secure denial or insecure, RFC 7672 §2.2.2) stays visible in the reason
// only. Without records anywhere, every candidate's state counts.
void decide_tlsa(HostWork& w, const std::vector<Answer>& answers, std::uint16_t port) {
  HostResult& h = w.result;
  std::string why_none;
  DnsSecurity passed_over = DnsSecurity::Secure;
  for (std::size_t c = 0; c < w.candidates.size(); ++c) {
    const Answer& a = answers[w.tlsa_queries[c]];
    std::string owner = tlsa_owner_for(port, w.candidates[c]);
    if (is_error(a)) {
      // A lookup error at a candidate is an error: no fall-back (RFC 7672 §2.2.3).
      h.tlsa_base = w.candidates[c];
      h.tlsa_owner = owner;
      fail_host(w, a.security, describe_failure("TLSA lookup for " + owner, a));
      return;
    }
    if (a.security == DnsSecurity::Secure && a.havedata) {
      h.dnssec = worst(h.dnssec, DnsSecurity::Secure);
      apply_tlsa(w, a, w.candidates[c], port);
      if (!why_none.empty()) {
        h.reason = why_none + "; " + h.reason; // e.g. "TLSA lookup for _25._tcp.<target> insecure; 1 usable ..."
      }
      return;
    }
    use_ttl(h.ttl, a);
    why_none += (why_none.empty() ? "" : "; ") + absence(a, owner);
    passed_over = worst(passed_over, a.security);
  }
  h.dnssec = worst(h.dnssec, passed_over);
  h.tlsa_base = w.candidates.back();
  h.tlsa_owner = tlsa_owner_for(port, h.tlsa_base);
  h.status = HostStatus::NoTlsa;
  h.reason = why_none + ": no DANE for " + h.name;
}

void aggregate(DestinationFacts& facts) {
  const auto& hosts = facts.hosts;
  const std::string what = facts.next_hop.bracketed ? "host" : "MX host";
  auto count = [&](HostStatus s) {
    return static_cast<std::size_t>(
        std::count_if(hosts.begin(), hosts.end(), [&](const HostResult& h) { return h.status == s; }));
  };
  std::size_t total = hosts.size();
  std::size_t usable = count(HostStatus::DaneUsable);
  std::size_t unusable = count(HostStatus::TlsaUnusable);
  std::size_t failed = count(HostStatus::Failed);
  if (total == 0) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = "no " + what + "s";
  } else if (failed == total) {
    facts.outcome = DestinationOutcome::TempFail;
    facts.reason = (total == 1 ? "the " + what : "every " + what) + " failed: " + hosts.front().reason;
  } else if (usable == total) {
    facts.outcome = DestinationOutcome::DaneOnly;
    facts.reason = total == 1 ? "the " + what + " has usable TLSA records"
                              : "all " + std::to_string(total) + " " + what + "s have usable TLSA records";
  } else if (unusable == total) {
    facts.outcome = DestinationOutcome::Encrypt;
    facts.reason = (total == 1 ? "the " + what + " has" : "every " + what + " has") +
                   " TLSA records but none is usable: TLS required without authentication";
  } else if (usable == 0 && unusable == 0 && failed == 0) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = total == 1 ? "the " + what + " has no TLSA records" : "no " + what + " has TLSA records";
  } else {
    facts.outcome = DestinationOutcome::Dane;
    facts.reason = std::to_string(usable) + " of " + std::to_string(total) + " " + what + "s have usable TLSA records";
    if (unusable > 0) {
      facts.reason += ", " + std::to_string(unusable) + " only unusable ones";
    }
    if (failed > 0) {
      facts.reason += ", " + std::to_string(failed) + " failed";
    }
  }
}

} // namespace

namespace {

using HostList = std::vector<std::pair<std::string, std::uint16_t>>; // name, MX preference

// Keys that never have a DANE policy (malformed, parent-domain, IP literal): fills facts and returns true.
bool settle_without_dns(DestinationFacts& facts, std::string_view key) {
  auto parsed = parse_next_hop(key);
  if (!parsed) {
    facts.next_hop.key = std::string(key);
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = parsed.error();
    return true;
  }
  facts.next_hop = *parsed;
  const NextHop& hop = facts.next_hop;
  if (hop.parent_key) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = "parent-domain key '" + hop.key + "': no policy for parent domains";
    return true;
  }
  if (hop.ip_literal) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = "next hop " + hop.key + " is an IP address: DANE needs a host name";
    return true;
  }
  return false;
}

// Adds the exchanges of a secure MX RRset to hosts (in preference order); false (facts settled) on a
// malformed record or a null MX.
bool collect_mx_hosts(DestinationFacts& facts, const Answer& mx, HostList& hosts) {
  const std::string& domain = facts.next_hop.domain;
  if (!mx.havedata) {
    hosts.emplace_back(domain, 0); // implicit MX (RFC 5321 §5.1)
  }
  for (const auto& rdata : mx.rdata) {
    auto record = parse_mx_rdata(rdata);
    if (!record) {
      facts.outcome = DestinationOutcome::TempFail;
      facts.reason = "malformed MX record for " + domain + ": " + record.error();
      return false;
    }
    if (record->exchange == "." || record->exchange.empty()) {
      facts.outcome = DestinationOutcome::NotDane;
      facts.reason = domain + " has a null MX (RFC 7505): it accepts no mail";
      return false;
    }
    bool seen = std::any_of(hosts.begin(), hosts.end(), [&](const auto& h) { return h.first == record->exchange; });
    if (!seen) {
      hosts.emplace_back(record->exchange, record->preference);
    }
  }
  std::stable_sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return true;
}

// Round 0: the MX RRset (RFC 7672 §2.2.1), unless the key names a host ("[host]": it is the only host).
std::optional<Query> mx_query(const DestinationFacts& facts, HostList& hosts) {
  const NextHop& hop = facts.next_hop;
  if (hop.bracketed) {
    hosts.emplace_back(hop.domain, 0);
    return std::nullopt;
  }
  return Query{hop.domain, RrType::Mx};
}

// Round 0's answer. False when it settles the destination (facts filled).
bool apply_mx(DestinationFacts& facts, const Answer& mx, HostList& hosts) {
  const NextHop& hop = facts.next_hop;
  facts.mx_security = mx.security;
  facts.ttl = mx.ttl;
  if (mx.security == DnsSecurity::Secure && !mx.canonname.empty()) {
    facts.reference_names.push_back(mx.canonname); // only a secure expansion names the server (§3.2.2)
  }
  if (is_error(mx)) {
    facts.outcome = DestinationOutcome::TempFail;
    facts.reason = describe_failure("MX lookup for " + hop.domain, mx);
    return false;
  }
  if (mx.security == DnsSecurity::Insecure) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = std::string(mx.nxdomain ? "NXDOMAIN for " : "MX RRset of ") + hop.domain +
                   " is insecure (not DNSSEC-signed): no DANE";
    return false;
  }
  if (mx.nxdomain) {
    facts.outcome = DestinationOutcome::NotDane;
    facts.reason = hop.domain + " does not exist (secure NXDOMAIN)";
    return false;
  }
  return collect_mx_hosts(facts, mx, hosts);
}

// Round 1 for one host: its A and AAAA answers decide whether it can have TLSA records and where to look.
void classify_host_addresses(HostWork& w, const Answer& a, const Answer& aaaa) {
  HostResult& h = w.result;
  use_ttl(h.ttl, a);
  use_ttl(h.ttl, aaaa);
  h.canonname = !a.canonname.empty() ? a.canonname : aaaa.canonname;
  if (is_error(a) || is_error(aaaa)) {
    const Answer& bad = is_error(a) ? a : aaaa;
    fail_host(w, bad.security,
              describe_failure("address lookup (" + to_string(bad.query.type) + ") for " + h.name, bad));
    return;
  }
  for (const Answer* ans : {&a, &aaaa}) {
    for (const auto& rdata : ans->rdata) {
      if (auto text = parse_address_rdata(ans->query.type, rdata)) {
        h.addresses.push_back(*text);
      }
    }
  }
  bool secure = a.security == DnsSecurity::Secure && aaaa.security == DnsSecurity::Secure;
  if (secure) {
    h.dnssec = DnsSecurity::Secure;
    if (h.addresses.empty()) {
      h.status = HostStatus::NoTlsa;
      h.reason = "no address records for " + h.name + " (secure denial): no connection possible";
      w.decided = true;
      return;
    }
    if (!h.canonname.empty()) {
      w.expansion_secure = true;
      w.candidates.push_back(h.canonname); // expanded name first (RFC 7672 §2.2.3)
    }
    w.candidates.push_back(h.name);
  } else if (!h.canonname.empty()) {
    w.needs_cname_check = true; // a secure alias into an insecure zone keeps its own name
    w.candidates.push_back(h.name);
  } else {
    h.dnssec = DnsSecurity::Insecure;
    h.status = HostStatus::Insecure;
    h.reason = "address records of " + h.name + " are insecure (not DNSSEC-signed): no DANE for this host";
    w.decided = true;
  }
}

// Round 1: A and AAAA of every host at once (RFC 7672 §2.2.2).
std::vector<Query> address_queries(const HostList& hosts) {
  std::vector<Query> queries;
  for (const auto& [name, pref] : hosts) {
    queries.push_back({name, RrType::A});
    queries.push_back({name, RrType::Aaaa});
  }
  return queries;
}

std::vector<HostWork> apply_addresses(const HostList& hosts, const std::vector<Answer>& addr) {
  std::vector<HostWork> work(hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    work[i].result.name = hosts[i].first;
    work[i].result.preference = hosts[i].second;
    classify_host_addresses(work[i], addr.at(2 * i), addr.at(2 * i + 1));
  }
  return work;
}

// Round 2: every TLSA candidate, and the CNAME of aliases into insecure zones, at once.
std::vector<Query> tlsa_queries(std::uint16_t port, std::vector<HostWork>& work) {
  std::vector<Query> queries;
  for (auto& w : work) {
    if (w.decided) {
      continue;
    }
    if (w.needs_cname_check) {
      w.cname_query = queries.size();
      queries.push_back({w.result.name, RrType::Cname});
    }
    for (const auto& base : w.candidates) {
      w.tlsa_queries.push_back(queries.size());
      queries.push_back({tlsa_owner_for(port, base), RrType::Tlsa});
    }
  }
  return queries;
}

void apply_tlsa_round(std::uint16_t port, std::vector<HostWork>& work, const std::vector<Answer>& round2) {
  for (auto& w : work) {
    if (w.decided) {
      continue;
    }
    HostResult& h = w.result;
    if (w.needs_cname_check) {
      const Answer& cname = round2.at(w.cname_query);
      if (is_error(cname)) {
        fail_host(w, cname.security, describe_failure("CNAME lookup for " + h.name, cname));
        continue;
      }
      if (cname.security != DnsSecurity::Secure || !cname.havedata) {
        h.dnssec = DnsSecurity::Insecure;
        h.status = HostStatus::Insecure;
        h.reason = "address records of " + h.name + " (alias of " + h.canonname +
                   ") are insecure and the alias is not secure: no DANE for this host";
        continue;
      }
      h.dnssec = DnsSecurity::Secure;
    }
    decide_tlsa(w, round2, port);
  }
}

// Moves the hosts into facts (the smallest non-zero TTL wins) and derives the destination's outcome.
// For a "[host]" key the host is the next-hop domain: its CNAME expansion joins the reference
// identifiers only when the address lookups through it were secure (RFC 7672 §3.2.2).
void finish(DestinationFacts& facts, std::vector<HostWork>& work) {
  if (facts.next_hop.bracketed && !work.empty() && work.front().expansion_secure) {
    facts.reference_names.push_back(work.front().result.canonname);
  }
  for (auto& w : work) {
    if (facts.ttl == 0 || (w.result.ttl != 0 && w.result.ttl < facts.ttl)) {
      facts.ttl = w.result.ttl == 0 ? facts.ttl : w.result.ttl;
    }
    facts.hosts.push_back(std::move(w.result));
  }
  if (facts.next_hop.bracketed && !facts.hosts.empty()) {
    const HostResult& h = facts.hosts.front();
    facts.mx_security = h.status == HostStatus::Failed     ? h.dnssec
                        : h.status == HostStatus::Insecure ? DnsSecurity::Insecure
                                                           : DnsSecurity::Secure;
  }
  aggregate(facts);
}

} // namespace

namespace detail {

struct DestinationRounds::Hosts {
  HostList hosts;
  std::vector<HostWork> work;
};

DestinationRounds::DestinationRounds(std::string_view key) : m_hosts(std::make_unique<Hosts>()) {
  if (settle_without_dns(m_facts, key)) {
    return;
  }
  m_facts.reference_names.push_back(m_facts.next_hop.domain);
  if (auto query = mx_query(m_facts, m_hosts->hosts)) {
    m_queries = {*query};
    m_stage = Stage::Mx;
  } else {
    ask_addresses();
  }
}

DestinationRounds::~DestinationRounds() = default;

void DestinationRounds::apply(const std::vector<Answer>& answers) {
  switch (m_stage) {
  case Stage::Mx:
    if (apply_mx(m_facts, answers.at(0), m_hosts->hosts)) {
      ask_addresses();
    } else {
      m_stage = Stage::Done;
    }
    break;
  case Stage::Addresses:
    m_hosts->work = apply_addresses(m_hosts->hosts, answers);
    ask_tlsa();
    break;
  case Stage::Tlsa:
    apply_tlsa_round(m_facts.next_hop.port, m_hosts->work, answers);
    decide();
    break;
  case Stage::Done:
    break;
  }
}

void DestinationRounds::ask_addresses() {
  m_queries = address_queries(m_hosts->hosts);
  m_stage = Stage::Addresses;
}

void DestinationRounds::ask_tlsa() {
  m_queries = tlsa_queries(m_facts.next_hop.port, m_hosts->work);
  m_stage = Stage::Tlsa;
  if (m_queries.empty()) {
    decide(); // every host was decided by its addresses
  }
}

void DestinationRounds::decide() {
  finish(m_facts, m_hosts->work);
  m_queries.clear();
  m_stage = Stage::Done;
}

} // namespace detail

} // namespace dane
