// RFC 8460 (SMTP TLS Reporting) aggregate reports from dane-policyctl report's summaries.
//
// Field names follow RFC 8460 §4.4; result types §4.3. One report per policy domain (destination);
// inside it one policy per (MX host, TLSA set in force): "tlsa" with the records as policy-string, or
// "no-policy-found" for a host without usable DANE records; and one "sts" policy per MTA-STS policy
// (enforce or testing) that was in force at hosts without TLSA records (DANE first, RFC 8461 §2),
// with its policy lines as policy-string and its mx patterns as mx-host (RFC 8460 §4.3). Session counts come from the
// Postfix log when one was read, else from the daemon's evaluations and probe results in the verdict log; the report
// says which (additional-information, a data: URI as RFC 8460 wants a URI there). Failures of monitor-mode evaluations
// (would-be failures, not enforced) are marked in failure-reason-code and additional-information, never with fields RFC
// 8460 does not define.
#include <algorithm>
#include <iterator>
#include <ostream>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"

namespace dane::tools::report {

namespace {

using nlohmann::json;

bool contains(const std::string& hay, std::string_view needle) {
  return hay.find(needle) != std::string::npos;
}

// RFC 3986 data: URI with percent-encoding of everything but unreserved characters.
std::string data_uri(std::string_view text) {
  std::string out = "data:,";
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      append_percent_escape(out, c);
    }
  }
  return out;
}

// "[mx.example.com]:2525" -> "mx.example.com"
std::string policy_domain(const std::string& destination) {
  if (!destination.empty() && destination.front() == '[') {
    auto rb = destination.find(']');
    if (rb != std::string::npos) {
      return destination.substr(1, rb - 1);
    }
  }
  return destination;
}

std::string compact_time(TimePoint t) {
  std::string s = format_rfc3339(t - t % k_usec_per_sec);
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '-' || c == ':'; }), s.end());
  return s;
}

// The "policies" list of one report: one entry per (MX host, TLSA set) and one per MTA-STS policy.
class PolicyList {
public:
  PolicyList(std::string domain, bool from_maillog, std::string info, std::string monitor_info)
      : m_domain(std::move(domain)), m_from_maillog(from_maillog), m_info(std::move(info)),
        m_monitor_info(std::move(monitor_info)) {}

  void add(const HostHistory& h, const TlsaEpoch& e) {
    const SessionCounts& c = m_from_maillog ? e.from_maillog : e.from_probes;
    if (e.sts) {
      add_sts(h, e, c);
      return;
    }
    json policy;
    policy["policy-type"] = e.records.empty() ? "no-policy-found" : "tlsa";
    if (!e.records.empty()) {
      policy["policy-string"] = e.records;
    }
    policy["policy-domain"] = m_domain;
    if (!h.name.empty()) {
      policy["mx-host"] = json::array({h.name});
    }
    json details = json::array();
    failure_details(h, c, details);
    json entry;
    entry["policy"] = std::move(policy);
    entry["summary"] = {{"total-successful-session-count", c.successful}, {"total-failure-session-count", c.failed}};
    entry["failure-details"] = std::move(details);
    m_policies.push_back(std::move(entry));
  }

  // The per-host policies, then the MTA-STS ones.
  json take() {
    for (auto& entry : m_sts_entries) {
      m_policies.push_back(std::move(entry));
    }
    m_sts_entries.clear();
    return std::move(m_policies);
  }

private:
  // An MTA-STS policy is one policy of the domain whatever the MX host (RFC 8460 §4.3: mx-host holds
  // its patterns): the sessions of every host it was in force at are summed into one entry, in the
  // order the policies are first met; failure details keep the receiving host.
  void add_sts(const HostHistory& h, const TlsaEpoch& e, const SessionCounts& c) {
    auto it = std::find_if(m_sts_keys.begin(), m_sts_keys.end(), [&](const TlsaEpoch* k) {
      return k->records == e.records && k->sts_domain == e.sts_domain;
    });
    if (it == m_sts_keys.end()) {
      m_sts_keys.push_back(&e);
      json policy = {{"policy-type", "sts"},
                     {"policy-string", e.records},
                     {"policy-domain", e.sts_domain.empty() ? m_domain : e.sts_domain},
                     {"mx-host", e.sts_mx}};
      m_sts_entries.push_back({{"policy", std::move(policy)},
                               {"summary", {{"total-successful-session-count", 0}, {"total-failure-session-count", 0}}},
                               {"failure-details", json::array()}});
      it = std::prev(m_sts_keys.end());
    }
    json& entry = m_sts_entries[static_cast<std::size_t>(it - m_sts_keys.begin())];
    auto& summary = entry["summary"];
    summary["total-successful-session-count"] =
        summary["total-successful-session-count"].get<std::uint64_t>() + c.successful;
    summary["total-failure-session-count"] = summary["total-failure-session-count"].get<std::uint64_t>() + c.failed;
    failure_details(h, c, entry["failure-details"]);
  }

  void failure_details(const HostHistory& h, const SessionCounts& c, json& details) const {
    for (const auto& [key, count] : c.failures) {
      json fd;
      fd["result-type"] = key.result_type;
      if (!h.name.empty()) {
        fd["receiving-mx-hostname"] = h.name;
      }
      if (!key.receiving_ip.empty()) {
        fd["receiving-ip"] = key.receiving_ip;
      }
      fd["failed-session-count"] = count;
      if (!key.reason.empty()) {
        fd["failure-reason-code"] = key.reason;
      }
      fd["additional-information"] = key.monitored ? m_monitor_info : m_info;
      details.push_back(std::move(fd));
    }
  }

  std::string m_domain;
  bool m_from_maillog;
  std::string m_info, m_monitor_info;
  json m_policies = json::array();
  std::vector<json> m_sts_entries;
  std::vector<const TlsaEpoch*> m_sts_keys;
};

} // namespace

std::string tlsrpt_result_type_for_probe(std::string_view result) {
  if (result == "tlsa-mismatch") {
    return "tlsa-invalid";
  }
  if (result == "name-mismatch") {
    return "certificate-host-mismatch";
  }
  if (result == "cert-expired") {
    return "certificate-expired";
  }
  if (result == "starttls-not-offered") {
    return "starttls-not-supported";
  }
  if (result == "cert-untrusted") {
    return "certificate-not-trusted";
  }
  // "mx-mismatch" (an MX host outside the MTA-STS policy's patterns), "tls-failed", ...
  return "validation-failure";
}

std::string tlsrpt_result_type_for_text(std::string_view text) {
  const std::string t = ascii_lower(text);
  // Postfix's dane-only level (smtp_tls_policy.c) defers with "no TLSA records found" when the MX
  // host has none, and "non DNSSEC destination" when the MX host's lookup was not DNSSEC-validated:
  // DANE was required, no validated TLSA records were there (RFC 8460 §4.3.2.1 dane-required).
  if (contains(t, "no tlsa records found") || contains(t, "non dnssec destination")) {
    return "dane-required";
  }
  // The resolver gave no valid answer: Postfix's "TLSA lookup error for mx:25", or the policy
  // table's TEMP text ("MX lookup for d bogus: ...", "TLSA lookup for _25._tcp.mx failed: timeout").
  if (contains(t, "tlsa lookup error") ||
      (contains(t, "lookup for ") &&
       (contains(t, " bogus") || contains(t, " failed") || contains(t, "timeout") || contains(t, "servfail")))) {
    return "dnssec-invalid";
  }
  if (contains(t, "expired")) {
    return "certificate-expired";
  }
  if (contains(t, "hostname mismatch") || contains(t, "name mismatch") || contains(t, "does not match")) {
    return "certificate-host-mismatch";
  }
  if (contains(t, "tlsa") || contains(t, "dane")) {
    return "tlsa-invalid";
  }
  if (contains(t, "not offered") || contains(t, "starttls")) {
    return "starttls-not-supported";
  }
  if (contains(t, "dnssec") || contains(t, "bogus")) {
    return "dnssec-invalid";
  }
  if (contains(t, "untrusted") || contains(t, "not trusted") || contains(t, "unable to get local issuer") ||
      contains(t, "self-signed") || contains(t, "self signed")) {
    return "certificate-not-trusted";
  }
  return "validation-failure";
}

json build_tlsrpt(const Aggregator& aggregator, const DestinationSummary& d, const TlsrptOptions& options) {
  const auto& stats = aggregator.stats();
  const auto& filter = aggregator.filter();
  const bool from_maillog = aggregator.maillog_used();
  TimePoint now = now_utc();
  TimePoint start = options.start ? *options.start : filter.since ? *filter.since : stats.earliest.value_or(now);
  TimePoint end = options.end ? *options.end : filter.until ? *filter.until : stats.latest.value_or(now);
  const std::string domain = policy_domain(d.destination);
  const std::string source =
      from_maillog ? "session counts from the Postfix log (TLS sessions, certificate verification failures, 4.7.5 "
                     "deferrals) read by dane-policyctl report --maillog"
                   : "session counts from dane-policyd probe results in the verdict log (no Postfix log given)";
  const std::string info = data_uri(source);
  // A failure seen while dane-policyd ran in monitor mode: the DNS answers (or the missing TLSA
  // records) were real, but Postfix was told NOTFOUND and did not enforce DANE, so no session was
  // refused for it. It is reported, as MTA-STS "testing" mode failures are (RFC 8461 §5), so the
  // receiving domain learns what enforcement would break; RFC 8460's schema has no field for it, so
  // failure-reason-code starts with "monitor mode" and additional-information says so.
  const std::string monitor_info =
      data_uri("dane-policyd in monitor mode: Postfix was told NOTFOUND and did not enforce DANE; this failure is "
               "what enforcement would have caused (" +
               source + ")");

  PolicyList list{domain, from_maillog, info, monitor_info};
  std::vector<const HostHistory*> hosts;
  for (const auto& h : d.hosts) {
    hosts.push_back(&h);
  }
  std::sort(hosts.begin(), hosts.end(), [](const HostHistory* a, const HostHistory* b) { return a->name < b->name; });
  for (const auto* h : hosts) {
    for (const auto& e : h->epochs) {
      list.add(*h, e);
    }
  }
  json policies = list.take();

  json report;
  report["organization-name"] = options.organization;
  report["date-range"] = {{"start-datetime", format_rfc3339(start - start % k_usec_per_sec)},
                          {"end-datetime", format_rfc3339(end - end % k_usec_per_sec)}};
  report["contact-info"] = options.contact;
  report["report-id"] = compact_time(start) + "_" + compact_time(end) + "_" + domain;
  report["policies"] = std::move(policies);
  // Not an RFC 8460 field: receivers ignore it; people reading the JSON see where the counts came from.
  report["additional-information"] = info;
  return report;
}

namespace {

std::vector<const DestinationSummary*> by_name(const Aggregator& aggregator) {
  std::vector<const DestinationSummary*> dests = aggregator.sorted();
  std::sort(dests.begin(), dests.end(),
            [](const DestinationSummary* a, const DestinationSummary* b) { return a->destination < b->destination; });
  return dests;
}

} // namespace

json build_tlsrpt_all(const Aggregator& aggregator, const TlsrptOptions& options) {
  json out = json::array();
  for (const auto* d : by_name(aggregator)) {
    out.push_back(build_tlsrpt(aggregator, *d, options));
  }
  return out;
}

void write_tlsrpt_all(const Aggregator& aggregator, const TlsrptOptions& options, std::ostream& out) {
  const auto dests = by_name(aggregator);
  if (dests.empty()) {
    out << "[]\n";
    return;
  }
  out << "[\n";
  for (std::size_t i = 0; i < dests.size(); ++i) {
    out << build_tlsrpt(aggregator, *dests[i], options).dump(2) << (i + 1 < dests.size() ? ",\n" : "\n");
  }
  out << "]\n";
}

} // namespace dane::tools::report
