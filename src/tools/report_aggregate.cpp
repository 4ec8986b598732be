// Per-destination aggregation of verdict logs for dane-policyctl report (the Postfix-log side is
// report_maillog_join.cpp; both fill the same Aggregator).
#include <algorithm>
#include <iterator>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"
#include "report_aggregate_detail.hpp"

namespace dane::tools::report {

using detail::epoch_at;
using detail::host_history;
using detail::k_max_warnings_per_file;

namespace {

bool dane_class(const std::string& policy) {
  return policy == "dane-only" || policy == "dane" || policy == "fingerprint" || policy == "secure" ||
         policy == "encrypt";
}

// "3 1 1 0123456789abcdef..." -> "3 1 1 01234567...89abcdef" (TLSA data logged head...tail).
std::string short_tlsa(const std::string& record) {
  auto sp = record.rfind(' ');
  if (sp == std::string::npos || record.size() - sp - 1 <= 20) {
    return record;
  }
  std::string hex = record.substr(sp + 1);
  return record.substr(0, sp + 1) + hex.substr(0, 8) + "..." + hex.substr(hex.size() - 8);
}

std::string join_short(const std::vector<std::string>& records) {
  if (records.empty()) {
    return "(none)";
  }
  std::string out;
  for (const auto& r : records) {
    if (!out.empty()) {
      out += ", ";
    }
    out += short_tlsa(r);
  }
  return out;
}

void note_change(DestinationSummary& d, TimePoint t, std::string kind, std::string detail) {
  if (!d.last_change || t >= d.last_change->time) {
    d.last_change = PolicyChange{t, std::move(kind), std::move(detail)};
  }
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::uint64_t fnv_lower(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return mix(h);
}

// Makes `records` the set in force at `hist` from time t: the entry of an equal set seen before, else
// a new one. Returns false when it already was in force.
// `sts` (null for a TLSA set) names the MTA-STS policy whose lines `records` are.
bool switch_epoch(HostHistory& hist, const std::vector<std::string>& records, TimePoint t,
                  const StsVerdict* sts = nullptr) {
  const bool is_sts = sts != nullptr;
  auto same = [&](const TlsaEpoch& e) {
    return e.sts == is_sts && e.records == records && (!is_sts || e.sts_domain == sts->domain);
  };
  if (!hist.epochs.empty() && same(hist.epochs[hist.current])) {
    return false;
  }
  std::uint32_t index = 0;
  while (index < hist.epochs.size() && !same(hist.epochs[index])) {
    ++index;
  }
  if (index == hist.epochs.size()) {
    TlsaEpoch& e = hist.epochs.emplace_back();
    e.records = records;
    e.first = t;
    if (is_sts) {
      e.sts = true;
      e.sts_domain = sts->domain;
      e.sts_mode = sts->mode;
      e.sts_mx = sts->mx;
    }
  }
  hist.current = index;
  hist.timeline.emplace_back(t, index);
  return true;
}

// True when the DNS answers for the host were conclusive and gave no DNSSEC-validated TLSA records
// (secure NODATA/NXDOMAIN, or insecure). The verdict log's host `status` says so directly
// ("no-tlsa", "insecure"); without it, an insecure answer or a secure empty RRset. A failed lookup
// is not "no records": it is dnssec-invalid.
bool lacks_validated_tlsa(const HostVerdict& h) {
  if (!h.status.empty()) {
    return h.status == "no-tlsa" || h.status == "insecure";
  }
  return h.dnssec == "insecure" || (h.dnssec == "secure" && h.tlsa.empty());
}

// Why an evaluation failed (LAST-FAILURE, TLSRPT failure-reason-code): its reason. A monitor-mode one
// always begins with "monitor mode"; for a would-be TEMP it is "monitor mode, would answer 'TEMP
// ...'" (the daemon's reason repeats the TEMP text after it).
std::string failure_reason(const Verdict& v) {
  if (v.monitored && v.would_policy == "tempfail" && !v.would_answer.empty()) {
    return "monitor mode, would answer '" + v.would_answer + "'";
  }
  const std::string& text = !v.reason.empty() ? v.reason : v.monitored ? v.would_answer : v.answer;
  if (v.monitored && text.rfind("monitor mode", 0) != 0) {
    return "monitor mode, not enforced: " + text;
  }
  return text;
}

// Outcome counts, current policy, last failure and policy changes of one evaluation. A monitor-mode
// evaluation counts as what it would have answered (Verdict::counted_policy).
void count_evaluation(DestinationSummary& d, const Verdict& v) {
  const std::string& policy = v.counted_policy();
  ++d.evaluations;
  if (v.cached) {
    ++d.cached;
  }
  if (v.monitored) {
    ++d.monitored;
  }
  if (policy == "dane-only") {
    ++d.counts.dane_only;
  } else if (policy == "dane") {
    ++d.counts.dane;
  } else if (policy == "fingerprint" || policy == "secure" || policy == "encrypt") {
    ++d.counts.pinned;
  } else if (policy == "notfound") {
    ++d.counts.notfound;
  } else {
    ++d.counts.tempfail;
  }
  if (d.policy.empty() || v.time >= d.policy_time) {
    d.policy = policy;
    d.policy_time = v.time;
    d.policy_monitored = v.monitored;
  }
  if (policy == "tempfail" && v.time >= d.last_failure_time) {
    d.last_failure = failure_reason(v);
    d.last_failure_time = v.time;
  }

  // Policy changes (tempfail is a failure, not a policy).
  if (policy != "tempfail") {
    if (!d.stable_policy.empty() && d.stable_policy != policy) {
      ++d.policy_changes;
      std::string kind = "policy";
      if (dane_class(d.stable_policy) && !dane_class(policy)) {
        d.lost_dane = true;
        kind = "lost-dane";
      } else if (!dane_class(d.stable_policy) && dane_class(policy)) {
        d.gained_dane = true;
        kind = "gained-dane";
      }
      note_change(d, v.time, kind, d.stable_policy + " -> " + policy);
    }
    d.stable_policy = policy;
    d.stable_policy_time = v.time;
  }
}

// The TLSA set in force at `hist` from time t, from one host of a verdict line (a change is noted).
// `scratch` keeps its buffers between lines.
void update_tlsa_set(DestinationSummary& d, HostHistory& hist, const HostVerdict& h, const std::string& name,
                     TimePoint t, bool probe_line, std::vector<std::string>& scratch) {
  // Only conclusive DNS answers say what the TLSA set is. Fast path: same set as before. A probe
  // line only fills in a host not seen before (its evaluation fell outside --since): it may be
  // written after a newer evaluation and must not flip the TLSA set back.
  const bool conclusive = h.dnssec == "secure" || h.dnssec == "insecure";
  static const std::uint64_t k_empty_set_hash = tlsa_set_hash({});
  const std::uint64_t set_hash = h.dnssec == "secure" ? tlsa_set_hash(h.tlsa) : k_empty_set_hash;
  if (conclusive && !(hist.epochs.size() > 0 && hist.records_hash == set_hash) &&
      (!probe_line || hist.epochs.empty())) {
    std::vector<std::string>& records = scratch;
    records.resize(h.dnssec == "secure" ? h.tlsa.size() : 0);
    for (std::size_t i = 0; i < records.size(); ++i) {
      records[i] = h.tlsa[i];
      ascii_lower_in_place(records[i]);
    }
    if (records.size() > 1) {
      std::sort(records.begin(), records.end());
      records.erase(std::unique(records.begin(), records.end()), records.end());
    }
    const bool first_set = hist.epochs.empty();
    std::string before = first_set ? std::string() : join_short(hist.epochs[hist.current].records);
    if (switch_epoch(hist, records, t) && !first_set) {
      ++d.tlsa_changes;
      note_change(d, t, "tlsa", name + ": " + before + " -> " + join_short(records));
    }
    hist.records_hash = tlsa_set_hash(hist.epochs[hist.current].records);
  }
}

// Hash of an STS policy's lines, apart from any TLSA set's (HostHistory::records_hash).
std::uint64_t sts_set_hash(const std::vector<std::string>& lines) {
  return mix(tlsa_set_hash(lines) ^ 0x5354535631ULL); // "STSv1"
}

// The MTA-STS policy of the verdict line is in force at `hist` from time t (the host has no usable
// TLSA records: DANE first). A probe line only fills in a host not seen before, as for TLSA sets.
void update_sts_set(HostHistory& hist, const StsVerdict& sts, TimePoint t, bool probe_line) {
  const std::uint64_t hash = sts_set_hash(sts.policy_string);
  if ((!hist.epochs.empty() && hist.records_hash == hash) || (probe_line && !hist.epochs.empty())) {
    return;
  }
  switch_epoch(hist, sts.policy_string, t, &sts);
  hist.records_hash = hash;
}

// An MTA-STS enforce policy that no MX host matched: the daemon answered TEMP (naming the patterns),
// so Postfix deferred the mail; each host outside the policy is a validation-failure of the policy.
void count_sts_refusal(HostHistory& hist, const Verdict& v, const std::string& policy) {
  if (policy != "tempfail" || v.sts.mode != "enforce") {
    return;
  }
  TlsaEpoch& e = epoch_at(hist, v.time);
  if (!e.sts) {
    return;
  }
  ++e.from_probes.failed;
  ++e.from_probes.failures[FailureKey{"validation-failure", "", failure_reason(v), v.monitored}];
}

// Probe and DNS outcomes of one host of a verdict line, counted into the TLSA epoch in force.
void count_host_outcomes(DestinationSummary& d, HostHistory& hist, const HostVerdict& h, const std::string& name,
                         const Verdict& v, const std::string& policy, bool dane_required) {
  // RFC 8460 failure details from a monitor-mode evaluation say what enforcement would have failed
  // (FailureKey::monitored, and a reason that begins "monitor mode": see failure_reason()).
  const char* const monitor_prefix = v.monitored ? "monitor mode, not enforced: " : "";
  const bool probe_line = v.event == "probe";
  if (!probe_line && (h.dnssec == "bogus" || h.dnssec == "error")) {
    TlsaEpoch& e = epoch_at(hist, v.time);
    ++e.from_probes.failed;
    ++e.from_probes.failures[FailureKey{"dnssec-invalid", "", failure_reason(v), v.monitored}];
  }
  if (dane_required && lacks_validated_tlsa(h)) {
    TlsaEpoch& e = epoch_at(hist, v.time);
    ++e.from_probes.failed;
    std::string why = monitor_prefix + policy + " policy, but no DNSSEC-validated TLSA records for " + h.name +
                      (h.dnssec == "insecure" ? " (insecure)" : "");
    ++e.from_probes.failures[FailureKey{"dane-required", "", std::move(why), v.monitored}];
  }
  for (const auto& a : h.addresses) {
    if (a.result == "pass") {
      ++epoch_at(hist, v.time).from_probes.successful;
      continue;
    }
    ++d.probe_failures;
    if (v.time >= d.last_failure_time) {
      d.last_failure = name + "[" + a.address + "]:" + std::to_string(a.port) + ": " + a.result;
      d.last_failure_time = v.time;
    }
    if (a.result == "connect-failed") {
      continue; // no TLS session was attempted: not a TLSRPT session
    }
    TlsaEpoch& e = epoch_at(hist, v.time);
    ++e.from_probes.failed;
    ++e.from_probes.failures[FailureKey{tlsrpt_result_type_for_probe(a.result), a.address, a.result}];
  }
}

} // namespace

namespace detail {

HostHistory& host_history(DestinationSummary& d, const std::string& name, std::uint64_t hash) {
  for (auto& h : d.hosts) {
    if (h.name_hash == hash && h.name == name) {
      return h;
    }
  }
  HostHistory& h = d.hosts.emplace_back();
  h.name = name;
  h.name_hash = hash;
  return h;
}

HostHistory& host_history(DestinationSummary& d, const std::string& name) {
  return host_history(d, name, name_hash(name));
}

TlsaEpoch& epoch_at(HostHistory& h, TimePoint t) {
  if (h.epochs.empty()) {
    h.epochs.emplace_back().first = t;
    h.timeline.emplace_back(t, 0);
    h.current = 0;
    return h.epochs.back();
  }
  // The last change at or before t; before the first change, the first set.
  auto it =
      std::upper_bound(h.timeline.begin(), h.timeline.end(), t,
                       [](TimePoint value, const std::pair<TimePoint, std::uint32_t>& e) { return value < e.first; });
  return h.epochs[it == h.timeline.begin() ? h.timeline.front().second : std::prev(it)->second];
}

bool warn_read_error(const std::string& path, const LineReader& reader, const WarningSink& warn) {
  if (reader.error().empty()) {
    return false;
  }
  warn(path + ":" + std::to_string(reader.line_number() + 1) + ": malformed input, stopped reading: " + reader.error());
  return true;
}

std::string too_long_text() {
  return "line longer than " + std::to_string(k_max_line_bytes) + " bytes, skipped";
}

void warn_not_shown(const std::string& path, std::size_t shown, std::uint64_t malformed_in_file,
                    const WarningSink& warn) {
  if (shown > k_max_warnings_per_file) {
    warn(path + ": " + std::to_string(shown - k_max_warnings_per_file) + " more malformed lines not shown (" +
         std::to_string(malformed_in_file) + " in this file)");
  }
}

} // namespace detail

std::uint64_t name_hash(std::string_view lowercase_name) {
  return fnv_lower(lowercase_name);
}

std::uint64_t tlsa_set_hash(const std::vector<std::string>& records) {
  std::uint64_t sum = 0;
  for (const auto& r : records) {
    sum += fnv_lower(r);
  }
  return mix(sum + records.size());
}

bool Filter::accepts_time(TimePoint t) const {
  return (!since || t >= *since) && (!until || t <= *until);
}

int DestinationSummary::severity() const {
  bool tls_trouble = maillog.verify_failures > 0 || maillog.deferred_4_7_5 > 0;
  if (policy == "tempfail" || probe_failures > 0 || tls_trouble) {
    return 3;
  }
  if (lost_dane || changed()) {
    return 2;
  }
  if (counts.tempfail > 0) {
    return 1;
  }
  return 0;
}

Aggregator::Aggregator(Filter filter) : m_filter(std::move(filter)) {}

DestinationSummary& Aggregator::destination(Entry& entry, const std::string& name) {
  if (!entry.summary) {
    entry.summary = std::make_unique<DestinationSummary>();
    entry.summary->destination = name;
  }
  return *entry.summary;
}

DestinationSummary& Aggregator::destination(const std::string& name) {
  return destination(m_destinations[name], name);
}

const DestinationSummary* Aggregator::find(const std::string& name) const {
  auto it = m_destinations.find(name);
  return it == m_destinations.end() ? nullptr : it->second.summary.get();
}

void Aggregator::add_verdict(const Verdict& v) {
  // One hash lookup per line. Joins need every destination's MX hosts, also for destinations the
  // filter excludes; the host index is touched only for host names new to this destination.
  auto it = m_destinations.find(v.destination);
  if (it == m_destinations.end()) {
    it = m_destinations.emplace(v.destination, Entry{}).first;
  }
  Entry& entry = it->second;
  for (const auto& h : v.hosts) {
    const std::uint64_t hash = fnv_lower(h.name);
    if (std::find(entry.indexed_hosts.begin(), entry.indexed_hosts.end(), hash) == entry.indexed_hosts.end()) {
      entry.indexed_hosts.push_back(hash);
      m_scratch_name = h.name;
      ascii_lower_in_place(m_scratch_name);
      m_host_index.try_emplace(m_scratch_name, v.destination);
    }
  }
  if ((m_filter.domain && v.destination != *m_filter.domain) || !m_filter.accepts_time(v.time)) {
    ++m_stats.filtered;
    return;
  }
  if (!m_stats.earliest || v.time < *m_stats.earliest) {
    m_stats.earliest = v.time;
  }
  if (!m_stats.latest || v.time > *m_stats.latest) {
    m_stats.latest = v.time;
  }
  DestinationSummary& d = destination(entry, v.destination);
  note_event(d, v.time);
  // A probe line (dane-policyd --probe) repeats the facts of the evaluation it followed and adds
  // the probe results: it is not an evaluation (no outcome, no policy change), only probe outcomes.
  const bool probe_line = v.event == "probe";
  if (probe_line) {
    ++d.probes;
    ++m_stats.probe_lines;
  } else {
    count_evaluation(d, v);
    if (v.monitored) {
      ++m_stats.monitor_lines;
    }
  }
  const std::string& policy = v.counted_policy();

  // RFC 7672 §6 / RFC 8460 §4.3.2.1 dane-required: the answer makes Postfix require DANE at every
  // MX host (dane-only, or a pinned fingerprint/secure policy), yet this host has no DNSSEC-validated
  // TLSA records. (The daemon's own decision table never answers so for a fresh evaluation; the
  // check keeps such a line from counting as a clean DANE session.)
  // An MTA-STS policy answers "secure match=..." too, but requires PKIX, not DANE, at hosts without TLSA.
  const bool sts_policy = v.sts.has_policy();
  const bool dane_required =
      !probe_line && !sts_policy && (policy == "dane-only" || policy == "fingerprint" || policy == "secure");
  // The MX lookup itself failed (bogus, SERVFAIL, timeout): no host to blame, so the failure is the
  // destination's own (the host with an empty name: a TLSRPT policy without mx-host).
  if (!probe_line && !v.cached && policy == "tempfail" && v.hosts.empty()) {
    const std::string why = failure_reason(v);
    TlsaEpoch& e = epoch_at(host_history(d, std::string()), v.time);
    ++e.from_probes.failed;
    ++e.from_probes.failures[FailureKey{tlsrpt_result_type_for_text(why), "", why, v.monitored}];
  }
  for (const auto& h : v.hosts) {
    m_scratch_name = h.name;
    ascii_lower_in_place(m_scratch_name);
    const std::string& name = m_scratch_name;
    HostHistory& hist = host_history(d, name, fnv_lower(name));
    const bool conclusive = h.dnssec == "secure" || h.dnssec == "insecure";
    if (sts_policy && conclusive && lacks_validated_tlsa(h)) {
      update_sts_set(hist, v.sts, v.time, probe_line);
    } else {
      update_tlsa_set(d, hist, h, name, v.time, probe_line, m_scratch_records);
    }
    if (v.cached) {
      continue; // a cache hit repeats an earlier evaluation: no new session, no new probe
    }
    count_host_outcomes(d, hist, h, name, v, policy, dane_required);
    if (sts_policy && !probe_line) {
      count_sts_refusal(hist, v, policy);
    }
  }
}

void Aggregator::note_event(DestinationSummary& d, TimePoint t) {
  if (!d.seen || t < d.first_seen) {
    d.first_seen = t;
  }
  if (!d.seen || t > d.last_seen) {
    d.last_seen = t;
  }
  d.seen = true;
}

bool Aggregator::read_verdict_file(const std::string& path, const WarningSink& warn) {
  auto reader = LineReader::open(path);
  if (!reader) {
    ++m_stats.unreadable;
    warn("cannot read " + reader.error());
    return false;
  }
  ++m_stats.files;
  std::size_t shown = 0;
  std::uint64_t malformed_here = 0;
  std::string_view line;
  auto& r = **reader;
  Verdict v; // reused: its strings keep their capacity from line to line
  while (r.next(line)) {
    ++m_stats.lines;
    std::string problem;
    if (r.last_line_too_long()) {
      problem = detail::too_long_text();
    } else if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      problem = "empty line";
    } else {
      auto st = parse_verdict_line(line, v);
      if (st) {
        ++m_stats.usable_lines;
        add_verdict(v);
        continue;
      }
      problem = st.error();
    }
    ++m_stats.malformed;
    ++malformed_here;
    if (shown++ < k_max_warnings_per_file) {
      warn(path + ":" + std::to_string(r.line_number()) + ": malformed verdict line" +
           (r.last_line_unterminated() ? " (truncated last line, no newline)" : "") + ": " + problem);
    }
  }
  if (detail::warn_read_error(path, r, warn)) {
    ++m_stats.malformed;
    ++m_stats.read_errors;
    ++malformed_here;
  }
  detail::warn_not_shown(path, shown, malformed_here, warn);
  return true;
}

std::vector<const DestinationSummary*> Aggregator::sorted() const {
  std::vector<const DestinationSummary*> out;
  out.reserve(m_destinations.size());
  for (const auto& [name, e] : m_destinations) {
    if (e.summary) {
      out.push_back(e.summary.get());
    }
  }
  std::sort(out.begin(), out.end(), [](const DestinationSummary* a, const DestinationSummary* b) {
    int sa = a->severity(), sb = b->severity();
    if (sa != sb) {
      return sa > sb;
    }
    return a->destination < b->destination;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

std::optional<TimePoint> verdict_stamp(std::string_view line) {
  constexpr std::string_view k_key = "\"time\"";
  auto pos = line.find(k_key);
  if (pos == std::string_view::npos) {
    return std::nullopt;
  }
  pos = line.find('"', pos + k_key.size());
  if (pos == std::string_view::npos) {
    return std::nullopt;
  }
  auto end = line.find('"', pos + 1);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  auto t = parse_rfc3339(line.substr(pos + 1, end - pos - 1));
  return t ? std::optional<TimePoint>(*t) : std::nullopt;
}

std::vector<std::string> plan_input_order(const std::vector<std::string>& paths, const StampFn& stamp) {
  struct Item {
    std::string path;
    std::optional<TimePoint> first;
    std::size_t index;
  };
  std::vector<Item> items;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (std::any_of(items.begin(), items.end(), [&](const Item& it) { return it.path == paths[i]; })) {
      continue;
    }
    Item item{paths[i], std::nullopt, i};
    if (auto reader = LineReader::open(paths[i])) {
      std::string_view line;
      for (int n = 0; n < 100 && (*reader)->next(line); ++n) {
        if (auto t = stamp(line)) {
          item.first = t;
          break;
        }
      }
    }
    items.push_back(std::move(item));
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.first && b.first) {
      return *a.first < *b.first;
    }
    return a.first.has_value() && !b.first.has_value();
  });
  std::vector<std::string> out;
  for (auto& it : items) {
    out.push_back(std::move(it.path));
  }
  return out;
}

} // namespace dane::tools::report
