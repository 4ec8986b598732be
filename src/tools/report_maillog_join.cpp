// The maillog join of dane-policyctl report: Postfix delivery lines attributed to the destinations
// of the verdict logs (RFC 8460 session counts against the TLSA set in force at the time).
// Split from report_aggregate.cpp (the verdict side); both fill the same Aggregator.
#include <algorithm>
#include <iterator>
#include <optional>

#include "dane/tools/report.hpp"
#include "report_aggregate_detail.hpp"

namespace dane::tools::report {

using detail::epoch_at;
using detail::host_history;
using detail::k_max_warnings_per_file;

std::string Aggregator::resolve_destination(const std::string& recipient_domain, const std::string& host,
                                            const std::string& address) const {
  if (!recipient_domain.empty() && m_destinations.count(recipient_domain) != 0) {
    return recipient_domain;
  }
  if (!host.empty()) {
    if (auto it = m_host_index.find(host); it != m_host_index.end()) {
      return it->second;
    }
  }
  if (!address.empty()) {
    if (auto it = m_host_index.find(address); it != m_host_index.end()) {
      return it->second;
    }
  }
  if (!recipient_domain.empty()) {
    return recipient_domain;
  }
  return {};
}

namespace {

// One Postfix session (TLS level, a verification failure, a 4.7.5 deferral) counted as a success or
// a failure of the policy in force at its MX host.
void count_session(TlsaEpoch& e, const std::optional<TlsEstablished>& tls, const std::optional<VerifyFailed>& verify,
                   bool deferred_4_7_5, const std::string& deferral_text, const std::string& address) {
  // DANE (a TLSA set) and an MTA-STS enforce policy: Postfix logs "Verified" when the peer passed.
  // An MTA-STS testing policy is not enforced (Postfix's level is "may"): a PKIX-trusted chain
  // ("Trusted" or better) is what the policy would have accepted as far as the log can tell.
  const bool tlsa_policy = !e.records.empty();
  const bool sts_testing = e.sts && e.sts_mode == "testing";
  const bool ok_level =
      tls && (!tlsa_policy || tls->level == TlsLevel::Verified || (sts_testing && tls->level == TlsLevel::Trusted));
  if (ok_level && !verify && !deferred_4_7_5) {
    ++e.from_maillog.successful;
    return;
  }
  ++e.from_maillog.failed;
  std::string type;
  std::string reason;
  if (verify) {
    type = tlsrpt_result_type_for_text(verify->reason);
    reason = verify->reason;
  } else if (deferred_4_7_5) {
    type = tlsrpt_result_type_for_text(deferral_text);
    reason = deferral_text;
  } else if (e.sts) {
    type = tls->level == TlsLevel::Trusted ? "certificate-host-mismatch" : "certificate-not-trusted";
    reason = to_string(tls->level) + " TLS connection where the MTA-STS policy (" + e.sts_mode +
             ") requires a PKIX-valid certificate for the MX host";
  } else {
    type = "validation-failure";
    reason = to_string(tls->level) + " TLS connection where DANE requires Verified";
  }
  ++e.from_maillog.failures[FailureKey{type, address, reason}];
}

} // namespace

void Aggregator::attribute_session(const std::string& dest_name, const PendingSession& s, bool deferred_4_7_5,
                                   const std::string& deferral_text) {
  TimePoint t = s.tls ? s.time : (s.verify ? s.verify_time : s.time);
  if ((m_filter.domain && dest_name != *m_filter.domain) || !m_filter.accepts_time(t)) {
    ++m_stats.filtered;
    return;
  }
  if (!m_stats.earliest || t < *m_stats.earliest) {
    m_stats.earliest = t;
  }
  if (!m_stats.latest || t > *m_stats.latest) {
    m_stats.latest = t;
  }
  DestinationSummary& d = destination(dest_name);
  d.has_maillog = true;
  note_event(d, t);
  std::string host, address;
  if (s.tls) {
    host = s.tls->host;
    address = s.tls->address;
    switch (s.tls->level) {
    case TlsLevel::Verified:
      ++d.maillog.verified;
      break;
    case TlsLevel::Trusted:
      ++d.maillog.trusted;
      break;
    case TlsLevel::Untrusted:
      ++d.maillog.untrusted;
      break;
    case TlsLevel::Anonymous:
      ++d.maillog.anonymous;
      break;
    }
  }
  if (s.verify) {
    host = s.verify->host;
    address = s.verify->address;
    ++d.maillog.verify_failures;
    if (s.verify_time >= d.maillog.last_verify_failure_time) {
      d.maillog.last_verify_failure =
          s.verify->host + "[" + s.verify->address + "]:" + std::to_string(s.verify->port) + ": " + s.verify->reason;
      d.maillog.last_verify_failure_time = s.verify_time;
    }
  }
  if (deferred_4_7_5) {
    ++d.maillog.deferred_4_7_5;
    if (s.time >= d.maillog.last_deferral_time) {
      d.maillog.last_deferral = deferral_text;
      d.maillog.last_deferral_time = s.time;
    }
  }
  if (host.empty()) {
    host = s.relay_host;
    address = s.relay_address;
  }
  // RFC 8460 session accounting against the TLSA set in force at that host at that time.
  count_session(epoch_at(host_history(d, host), t), s.tls, s.verify, deferred_4_7_5, deferral_text, address);
}

void Aggregator::flush_pending(const std::string& key) {
  auto it = m_pending.find(key);
  if (it == m_pending.end()) {
    return;
  }
  PendingSession s = std::move(it->second);
  m_pending.erase(it);
  const std::string& host = s.tls ? s.tls->host : s.verify->host;
  const std::string& address = s.tls ? s.tls->address : s.verify->address;
  std::string dest = resolve_destination("", host, address);
  if (dest.empty()) {
    dest = "[" + host + "]";
    ++m_stats.maillog_unjoined;
  }
  attribute_session(dest, s, false, "");
}

void Aggregator::add_maillog_line(std::string_view line, MaillogPrefixParser& parser, const std::string& where,
                                  const WarningSink& warn) {
  auto prefix = parser.parse(line);
  if (!prefix) {
    ++m_stats.maillog_malformed;
    warn(where + ": malformed log line: " + prefix.error());
    return;
  }
  if (!is_smtp_client_program(prefix->program)) {
    return;
  }
  auto msg = parse_smtp_message(prefix->text);
  if (!msg) {
    ++m_stats.maillog_malformed;
    warn(where + ": malformed postfix smtp line: " + msg.error());
    return;
  }
  if (!*msg) {
    return;
  }
  ++m_stats.maillog_used;
  std::string key = std::string(prefix->program) + "[" + std::string(prefix->pid) + "]";
  if (!std::holds_alternative<PolicyTableError>(**msg) && !std::holds_alternative<PolicyLookupFailed>(**msg) &&
      !std::holds_alternative<Delivery>(**msg)) {
    m_policy_context.erase(key); // a TLS session: the policy was found
  }
  if (auto* tls = std::get_if<TlsEstablished>(&**msg)) {
    auto it = m_pending.find(key);
    if (it != m_pending.end() && (it->second.tls || (it->second.verify && it->second.verify->host != tls->host))) {
      flush_pending(key);
    }
    PendingSession& s = m_pending[key];
    s.tls = std::move(*tls);
    s.time = prefix->time;
    return;
  }
  if (auto* vf = std::get_if<VerifyFailed>(&**msg)) {
    if (m_pending.count(key) != 0) {
      flush_pending(key);
    }
    PendingSession& s = m_pending[key];
    s.verify = std::move(*vf);
    s.verify_time = prefix->time;
    s.time = prefix->time;
    return;
  }
  if (auto* table = std::get_if<PolicyTableError>(&**msg)) {
    PolicyContext& c = m_policy_context[key];
    if (!c.queue_id.empty()) {
      c = PolicyContext{}; // a new policy lookup: the previous message's context is over
    }
    c.table_error = std::move(table->reason);
    return;
  }
  if (auto* lookup = std::get_if<PolicyLookupFailed>(&**msg)) {
    PolicyContext& c = m_policy_context[key];
    if (!c.queue_id.empty()) {
      c = PolicyContext{};
    }
    c.destination = std::move(lookup->destination);
    c.host = std::move(lookup->host);
    return;
  }
  add_delivery(key, std::get<Delivery>(**msg), prefix->time);
}

void Aggregator::add_delivery(const std::string& key, Delivery& d, TimePoint t) {
  const bool deferred_4_7_5 = d.status == "deferred" && d.dsn == "4.7.5";
  // A relay=none line after a policy-lookup warning of the same process: that warning names the MX
  // host (and next-hop), and the policy table's TEMP text says why.
  if (auto c = m_policy_context.find(key); c != m_policy_context.end()) {
    if (!c->second.queue_id.empty() && c->second.queue_id != d.queue_id) {
      m_policy_context.erase(c);
    } else if (d.relay_host.empty() && !c->second.host.empty()) {
      c->second.queue_id = d.queue_id;
      d.relay_host = c->second.host;
      if (d.recipient_domain.empty()) {
        d.recipient_domain = c->second.destination;
      }
      if (!c->second.table_error.empty()) {
        d.detail += " (policy table: " + c->second.table_error + ")";
      }
    }
  }
  std::string dest = resolve_destination(d.recipient_domain, d.relay_host, d.relay_address);
  auto it = m_pending.find(key);
  if (it != m_pending.end()) {
    const std::string& host = it->second.tls ? it->second.tls->host : it->second.verify->host;
    if (d.relay_host.empty() || d.relay_host == host) {
      PendingSession s = std::move(it->second);
      m_pending.erase(it);
      if (dest.empty()) {
        dest = "[" + host + "]";
        ++m_stats.maillog_unjoined;
      }
      attribute_session(dest, s, deferred_4_7_5, d.detail);
      return;
    }
    flush_pending(key);
  }
  if (!deferred_4_7_5) {
    return;
  }
  if (dest.empty() && !d.relay_host.empty()) {
    dest = "[" + d.relay_host + "]"; // a relay no verdict names: counted under it, as TLS sessions are
    ++m_stats.maillog_unjoined;
  }
  if (dest.empty()) {
    // Neither a recipient domain nor a relay: no destination to count it under. Counted apart.
    if (!m_filter.accepts_time(t)) {
      ++m_stats.filtered;
      return;
    }
    ++m_stats.maillog_unattributed;
    if (m_stats.last_unattributed.empty() || t >= m_stats.last_unattributed_time) {
      m_stats.last_unattributed = d.queue_id + ": " + d.detail;
      m_stats.last_unattributed_time = t;
    }
    return;
  }
  PendingSession s;
  s.time = t;
  s.relay_host = d.relay_host;
  s.relay_address = d.relay_address;
  attribute_session(dest, s, true, d.detail);
}

bool Aggregator::read_maillog_file(const std::string& path, const MaillogOptions& options, const WarningSink& warn) {
  auto reader = LineReader::open(path);
  if (!reader) {
    ++m_stats.unreadable;
    warn("cannot read " + reader.error());
    return false;
  }
  ++m_stats.maillog_files;
  MaillogPrefixParser parser(options);
  std::size_t shown = 0;
  std::uint64_t before = m_stats.maillog_malformed;
  std::string_view line;
  auto& r = **reader;
  WarningSink capped = [&](const std::string& msg) {
    if (shown++ < k_max_warnings_per_file) {
      warn(msg + (r.last_line_unterminated() ? " (truncated last line, no newline)" : ""));
    }
  };
  while (r.next(line)) {
    ++m_stats.maillog_lines;
    const std::string where = path + ":" + std::to_string(r.line_number());
    if (r.last_line_too_long()) {
      ++m_stats.maillog_malformed;
      capped(where + ": malformed log line: " + detail::too_long_text());
      continue;
    }
    if (line.empty()) {
      continue; // syslog files may hold empty lines; they carry nothing
    }
    const std::uint64_t malformed = m_stats.maillog_malformed;
    add_maillog_line(line, parser, where, capped);
    if (m_stats.maillog_malformed == malformed) {
      ++m_stats.usable_lines;
    }
  }
  if (detail::warn_read_error(path, r, warn)) {
    ++m_stats.maillog_malformed;
    ++m_stats.read_errors;
  }
  detail::warn_not_shown(path, shown, m_stats.maillog_malformed - before, warn);
  return true;
}

void Aggregator::finish_maillog() {
  m_policy_context.clear();
  std::vector<std::string> keys;
  keys.reserve(m_pending.size());
  for (const auto& [k, v] : m_pending) {
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    flush_pending(k);
  }
}

} // namespace dane::tools::report
