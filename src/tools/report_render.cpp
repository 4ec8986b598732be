// Table and JSON rendering of dane-policyctl report summaries.
#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dane/tools/report.hpp"

namespace dane::tools::report {

namespace {

std::string change_marks(const DestinationSummary& d) {
  std::string out;
  auto add = [&](const char* s) {
    if (!out.empty()) {
      out += ",";
    }
    out += s;
  };
  if (d.lost_dane) {
    add("lost-dane");
  }
  if (d.gained_dane) {
    add("gained-dane");
  }
  if (d.policy_changes > 0 && !d.lost_dane && !d.gained_dane) {
    add("policy");
  }
  if (d.tlsa_changes > 0) {
    add("tlsa");
  }
  return out.empty() ? "-" : out;
}

// The most recent failure from either source.
std::string last_failure(const DestinationSummary& d) {
  std::string text = d.last_failure;
  TimePoint t = d.last_failure_time;
  if (!d.maillog.last_verify_failure.empty() && (text.empty() || d.maillog.last_verify_failure_time >= t)) {
    text = "postfix: " + d.maillog.last_verify_failure;
    t = d.maillog.last_verify_failure_time;
  }
  if (!d.maillog.last_deferral.empty() && (text.empty() || d.maillog.last_deferral_time > t)) {
    text = "postfix deferred: " + d.maillog.last_deferral;
  }
  return text.empty() ? "-" : text;
}

std::string time_or_dash(const DestinationSummary& d, TimePoint t) {
  return !d.seen ? "-" : format_rfc3339(t - t % k_usec_per_sec);
}

// The latest evaluation's policy, with "(monitor)" right after it (one word per cell) when that
// evaluation was only monitored: the policy is then what enforcement would have answered.
std::string policy_cell(const DestinationSummary& d) {
  if (d.policy.empty()) {
    return "-";
  }
  return d.policy_monitored ? d.policy + "(monitor)" : d.policy;
}

std::string mark(const DestinationSummary& d) {
  switch (d.severity()) {
  case 3:
    return "!";
  case 2:
    return "*";
  case 1:
    return "~";
  default:
    return " ";
  }
}

// The rows (the first is the header) in columns two spaces apart, without trailing blanks.
void print_aligned(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(width[i] - row[i].size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out << line << "\n";
  }
}

// The line counts under the table, and what the optional columns mean when they are shown.
void print_totals(const Aggregator& aggregator, std::size_t destinations, std::ostream& out) {
  const bool with_maillog = aggregator.maillog_used();
  const bool with_monitor = aggregator.stats().monitor_lines > 0;
  const auto& s = aggregator.stats();
  out << "\n"
      << destinations << " destination(s); " << s.lines << " verdict line(s) in " << s.files << " file(s), "
      << s.malformed << " malformed, " << s.filtered << " outside --domain/--since/--until";
  if (s.probe_lines > 0) {
    out << "; " << s.probe_lines << " of them probe line(s) (probe results, not evaluations)";
  }
  if (with_maillog) {
    out << "; " << s.maillog_lines << " Postfix log line(s) in " << s.maillog_files << " file(s), "
        << s.maillog_malformed << " malformed, " << s.maillog_used << " smtp line(s) used";
    if (s.maillog_unjoined > 0) {
      out << ", " << s.maillog_unjoined << " TLS session(s) not joined to a destination (shown as [mxhost])";
    }
  }
  if (s.maillog_unattributed > 0) {
    out << "\n"
        << s.maillog_unattributed
        << " Postfix 4.7.5 deferral(s) not attributed to any destination (no recipient domain, no relay); latest "
        << format_rfc3339(s.last_unattributed_time - s.last_unattributed_time % k_usec_per_sec) << ": "
        << s.last_unattributed;
  }
  if (with_monitor) {
    out << "\n"
        << s.monitor_lines
        << " evaluation(s) made in monitor mode (MONITORED): Postfix was told NOTFOUND; they are counted, and marked, "
           "as what enforcement would have answered (POLICY \"tempfail(monitor)\": mail would have been deferred)";
  }
}

} // namespace

std::string render_table(const Aggregator& aggregator) {
  const bool with_maillog = aggregator.maillog_used();
  // Monitor-mode evaluations count as what they would have answered; the MONITORED column (shown
  // when any were read) says how many of a destination's evaluations were only monitored.
  const bool with_monitor = aggregator.stats().monitor_lines > 0;
  std::vector<std::string> header = {"", "DESTINATION", "POLICY", "EVALS"};
  if (with_monitor) {
    header.emplace_back("MONITORED");
  }
  for (const char* h : {"FIRST-SEEN", "LAST-SEEN", "DANE-ONLY", "DANE", "PINNED", "NOTFOUND", "TEMPFAIL", "CHANGED"}) {
    header.emplace_back(h);
  }
  if (with_maillog) {
    for (const char* h : {"VERIFIED", "TRUSTED", "UNTRUSTED", "ANON", "VERIFY-FAIL", "DEFER-4.7.5"}) {
      header.emplace_back(h);
    }
  }
  header.emplace_back("LAST-FAILURE");
  std::vector<std::vector<std::string>> rows;
  rows.push_back(header);
  for (const auto* d : aggregator.sorted()) {
    std::vector<std::string> row = {mark(*d), d->destination, policy_cell(*d), std::to_string(d->evaluations)};
    if (with_monitor) {
      row.push_back(std::to_string(d->monitored));
    }
    for (std::string cell :
         {time_or_dash(*d, d->first_seen), time_or_dash(*d, d->last_seen), std::to_string(d->counts.dane_only),
          std::to_string(d->counts.dane), std::to_string(d->counts.pinned), std::to_string(d->counts.notfound),
          std::to_string(d->counts.tempfail), change_marks(*d)}) {
      row.push_back(std::move(cell));
    }
    if (with_maillog) {
      const auto& m = d->maillog;
      for (auto n : {m.verified, m.trusted, m.untrusted, m.anonymous, m.verify_failures, m.deferred_4_7_5}) {
        row.push_back(std::to_string(n));
      }
    }
    row.push_back(last_failure(*d));
    rows.push_back(std::move(row));
  }
  std::ostringstream out;
  print_aligned(rows, out);
  print_totals(aggregator, rows.size() - 1, out);
  out << "\nmarks: ! failing (TEMP now, or would be in monitor mode; failed probes or Postfix TLS failures)  "
         "* policy or TLSA set changed  ~ temporary failures earlier\n";
  return out.str();
}

namespace {

// One destination of `report --json`: the pinned fields, in their documented order.
nlohmann::json destination_json(const DestinationSummary& d) {
  using nlohmann::json;
  json j;
  j["destination"] = d.destination;
  j["policy"] = d.policy.empty() ? json(nullptr) : json(d.policy);
  j["evaluations"] = d.evaluations;
  j["policy_monitored"] = d.policy_monitored;
  j["cached"] = d.cached;
  j["monitored"] = d.monitored;
  j["probes"] = d.probes;
  j["first_seen"] = !d.seen ? json(nullptr) : json(format_rfc3339(d.first_seen));
  j["last_seen"] = !d.seen ? json(nullptr) : json(format_rfc3339(d.last_seen));
  j["counts"] = {{"dane-only", d.counts.dane_only},
                 {"dane", d.counts.dane},
                 {"pinned", d.counts.pinned},
                 {"notfound", d.counts.notfound},
                 {"tempfail", d.counts.tempfail}};
  j["probe_failures"] = d.probe_failures;
  j["last_failure"] = d.last_failure.empty()
                          ? json(nullptr)
                          : json{{"time", format_rfc3339(d.last_failure_time)}, {"reason", d.last_failure}};
  json changes = {{"policy_changes", d.policy_changes},
                  {"tlsa_changes", d.tlsa_changes},
                  {"lost_dane", d.lost_dane},
                  {"gained_dane", d.gained_dane}};
  changes["last"] = d.last_change ? json{{"time", format_rfc3339(d.last_change->time)},
                                         {"kind", d.last_change->kind},
                                         {"detail", d.last_change->detail}}
                                  : json(nullptr);
  j["changed"] = d.changed();
  j["changes"] = std::move(changes);
  j["severity"] = d.severity();
  json hosts = json::array();
  for (const auto& h : d.hosts) {
    if (h.name.empty() || h.epochs.empty()) {
      continue;
    }
    hosts.push_back({{"name", h.name}, {"tlsa", h.epochs[h.current].records}, {"tlsa_sets_seen", h.epochs.size()}});
  }
  j["hosts"] = std::move(hosts);
  if (d.has_maillog) {
    const auto& m = d.maillog;
    j["maillog"] = {
        {"verified", m.verified},
        {"trusted", m.trusted},
        {"untrusted", m.untrusted},
        {"anonymous", m.anonymous},
        {"verification_failures", m.verify_failures},
        {"deferred_4_7_5", m.deferred_4_7_5},
        {"last_verification_failure", m.last_verify_failure.empty() ? json(nullptr) : json(m.last_verify_failure)},
        {"last_deferral", m.last_deferral.empty() ? json(nullptr) : json(m.last_deferral)}};
  } else {
    j["maillog"] = nullptr;
  }
  return j;
}

} // namespace

nlohmann::json render_json(const Aggregator& aggregator) {
  using nlohmann::json;
  json dests = json::array();
  for (const auto* d : aggregator.sorted()) {
    dests.push_back(destination_json(*d));
  }
  const auto& s = aggregator.stats();
  json out;
  out["destinations"] = std::move(dests);
  out["input"] = {{"files", s.files},
                  {"unreadable", s.unreadable},
                  {"lines", s.lines},
                  {"malformed", s.malformed},
                  {"filtered", s.filtered},
                  {"probe_lines", s.probe_lines},
                  {"monitor_lines", s.monitor_lines},
                  {"maillog_files", s.maillog_files},
                  {"maillog_lines", s.maillog_lines},
                  {"maillog_malformed", s.maillog_malformed},
                  {"maillog_used", s.maillog_used},
                  {"maillog_unjoined", s.maillog_unjoined},
                  {"maillog_unattributed", s.maillog_unattributed}};
  out["unattributed"] = {
      {"deferred_4_7_5", s.maillog_unattributed},
      {"last_deferral", s.last_unattributed.empty()
                            ? json(nullptr)
                            : json{{"time", format_rfc3339(s.last_unattributed_time)}, {"text", s.last_unattributed}}}};
  const auto& f = aggregator.filter();
  out["filter"] = {{"domain", f.domain ? json(*f.domain) : json(nullptr)},
                   {"since", f.since ? json(format_rfc3339(*f.since)) : json(nullptr)},
                   {"until", f.until ? json(format_rfc3339(*f.until)) : json(nullptr)}};
  return out;
}

} // namespace dane::tools::report
