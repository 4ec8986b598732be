// dane-policyctl tlsrpt-send: one RFC 8460 report per policy domain, delivered to the domain's rua
// URIs (see dane/tools/tlsrpt_send.hpp for the contract).
#include <algorithm>
#include <ostream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"
#include "dane/tools/tlsrpt_send.hpp"
#include "dane/verifier/mta_sts.hpp"

namespace dane::tools::tlsrpt {

namespace {

namespace rp = dane::tools::report;
using nlohmann::json;

bool dns_failed(const Answer& a) {
  return a.security == DnsSecurity::Bogus || a.security == DnsSecurity::Failed;
}

std::string dns_why(const Answer& a) {
  return to_string(a.security) + (a.reason.empty() ? std::string() : ": " + a.reason);
}

void read_logs(rp::Aggregator& agg, const SendOptions& o, std::ostream& err) {
  rp::WarningSink warn = [&err](const std::string& msg) { err << "dane-policyctl tlsrpt-send: " << msg << "\n"; };
  for (const auto& path : rp::plan_input_order(o.logs, rp::verdict_stamp)) {
    agg.read_verdict_file(path, warn);
  }
  if (o.maillogs.empty()) {
    return;
  }
  rp::MaillogOptions mopts;
  mopts.reference = o.end;
  rp::MaillogPrefixParser stamp_parser(mopts);
  auto stamp = [&stamp_parser](std::string_view line) -> std::optional<rp::TimePoint> {
    auto p = stamp_parser.parse(line);
    return p ? std::optional<rp::TimePoint>(p->time) : std::nullopt;
  };
  for (const auto& path : rp::plan_input_order(o.maillogs, stamp)) {
    agg.read_maillog_file(path, mopts, warn);
  }
  agg.finish_maillog();
}

// One run's shared state.
class Run {
public:
  Run(const SendOptions& o, Resolver& resolver, const MailSender& mail, const HttpsPoster& https, SentState& state,
      std::ostream& out, std::ostream& err)
      : m_o(o), m_resolver(resolver), m_mail(mail), m_https(https), m_state(state), m_out(out), m_err(err),
        m_bucket(o.rate_limit) {}

  void domain(const std::string& name, const json& report) {
    auto targets = lookup(name);
    if (targets.empty()) {
      return;
    }
    const std::string text = report.dump();
    const std::string gz = gzip_compress(text);
    const std::string report_id = report["report-id"].get<std::string>();
    const std::string file = report_file_name(m_o.submitter, name, m_o.begin, m_o.end, report_id);
    bool shown = false;
    for (const auto& t : targets) {
      if (m_state.delivered(name, m_o.begin, m_o.end, t.uri)) {
        m_out << name << ": " << t.uri << ": already delivered (report-id " << report_id << ")\n";
        continue;
      }
      if (m_o.dry_run) {
        m_out << name << ": would send to " << t.uri << ": " << file << ", " << text.size() << " bytes of JSON, "
              << gz.size() << " gzip'd\n";
        if (!shown) {
          m_out << report.dump(2) << "\n";
          shown = true;
        }
        continue;
      }
      m_bucket.take();
      auto st = t.kind == RuaTarget::Kind::Mailto ? mail(name, t, report_id, file, gz) : post(t, gz);
      if (!st) {
        m_err << "dane-policyctl tlsrpt-send: " << name << ": " << t.uri << ": " << st.error() << "\n";
        m_delivery_failed = true;
        continue;
      }
      m_state.mark(name, m_o.begin, m_o.end, t.uri, report_id, now_unix_micros());
      if (auto saved = m_state.save(); !saved) {
        m_err << "dane-policyctl tlsrpt-send: " << saved.error() << "\n";
        m_delivery_failed = true;
      }
      m_out << name << ": " << t.uri << ": delivered (" << file << ", " << gz.size() << " bytes)\n";
    }
  }

  bool delivery_failed() const { return m_delivery_failed; }
  bool dns_failed_any() const { return m_dns_failed; }

private:
  std::chrono::steady_clock::time_point deadline() const {
    return std::chrono::steady_clock::now() + m_resolver.timeout();
  }

  // The usable rua targets of `domain`; empty (with the reason on stdout, or stderr for DNS failures).
  std::vector<RuaTarget> lookup(const std::string& domain) {
    Answer a = m_resolver.resolve({Query{"_smtp._tls." + domain, RrType::Txt}}, deadline()).front();
    if (dns_failed(a)) {
      m_err << "dane-policyctl tlsrpt-send: " << domain << ": _smtp._tls." << domain << " TXT lookup failed ("
            << dns_why(a) << "): no report sent\n";
      m_dns_failed = true;
      return {};
    }
    std::vector<std::string> texts;
    for (const auto& rdata : a.rdata) {
      if (auto t = parse_txt_rdata(rdata)) {
        texts.push_back(std::move(*t));
      }
    }
    if (!a.havedata || texts.empty()) {
      m_out << domain << ": no report: no _smtp._tls TXT record\n";
      return {};
    }
    auto record = select_tlsrpt_record(texts);
    if (!record) {
      m_out << domain << ": no report: " << record.error() << "\n";
      return {};
    }
    std::vector<RuaTarget> targets;
    for (const auto& uri : record->rua) {
      auto t = parse_rua(uri);
      if (!t) {
        m_out << domain << ": skipping rua " << quote_untrusted(uri) << ": " << t.error() << "\n";
        continue;
      }
      targets.push_back(std::move(*t));
    }
    if (targets.empty()) {
      m_out << domain << ": no report: no usable rua URI\n";
    }
    return targets;
  }

  Expected<Ok> mail(const std::string& domain, const RuaTarget& t, const std::string& report_id,
                    const std::string& file, const std::string& gz) {
    MailFields f;
    f.from = m_o.from;
    f.to = t.address;
    f.submitter = m_o.submitter;
    f.domain = domain;
    f.report_id = report_id;
    f.file_name = file;
    const UnixMicros now = now_unix_micros();
    f.date = rfc5322_date(now);
    f.message_id = "tlsrpt." + std::to_string(now) + "." + std::to_string(++m_sequence) + "@" + m_o.submitter;
    f.begin = m_o.begin;
    f.end = m_o.end;
    return m_mail(m_o.from, t.address, build_report_mail(f, gz));
  }

  Expected<Ok> post(const RuaTarget& t, const std::string& gz) {
    HttpsPost p;
    p.host = t.host;
    p.port = t.port;
    p.target = t.target;
    p.body = gz;
    auto answers = m_resolver.resolve({Query{t.host, RrType::A}, Query{t.host, RrType::Aaaa}}, deadline());
    for (const auto& a : answers) {
      if (dns_failed(a)) {
        return make_error("address lookup of " + t.host + " (" + to_string(a.query.type) + ") failed: " + dns_why(a));
      }
      for (const auto& rdata : a.rdata) {
        if (auto addr = parse_address_rdata(a.query.type, rdata)) {
          p.addresses.push_back(*addr);
        }
      }
    }
    if (p.addresses.empty()) {
      return make_error(t.host + " has no address");
    }
    return m_https(p);
  }

  const SendOptions& m_o;
  Resolver& m_resolver;
  const MailSender& m_mail;
  const HttpsPoster& m_https;
  SentState& m_state;
  std::ostream& m_out;
  std::ostream& m_err;
  TokenBucket m_bucket;
  bool m_delivery_failed = false;
  bool m_dns_failed = false;
  unsigned m_sequence = 0;
};

} // namespace

std::pair<UnixMicros, UnixMicros> yesterday_utc(UnixMicros now) {
  constexpr UnixMicros k_day = 86400 * k_usec_per_sec;
  const UnixMicros today = now - ((now % k_day) + k_day) % k_day;
  return {today - k_day, today};
}

int run_tlsrpt_send(const SendOptions& o, Resolver& resolver, const MailSender& mail, const HttpsPoster& https,
                    std::ostream& out, std::ostream& err) {
  rp::Filter filter;
  filter.since = o.begin;
  filter.until = o.end - 1; // the window is [begin, end); the filter's until is inclusive
  rp::Aggregator agg(filter);
  read_logs(agg, o, err);
  const auto& st = agg.stats();
  if (st.files + st.maillog_files == 0) {
    err << "dane-policyctl tlsrpt-send: no input could be read\n";
    return 2;
  }
  // Checked before anything is sent: a delivery that cannot be recorded would be sent again next run.
  if (!o.dry_run && ::access(o.state_dir.c_str(), W_OK | X_OK) != 0) {
    err << "dane-policyctl tlsrpt-send: --state-dir " << o.state_dir
        << ": not a writable directory (what was delivered could not be recorded)\n";
    return 2;
  }
  auto state = SentState::load(o.state_dir + "/tlsrpt-sent.json");
  if (!state) {
    err << "dane-policyctl tlsrpt-send: " << state.error() << "\n";
    return 2;
  }
  rp::TlsrptOptions topts;
  topts.organization = o.organization;
  topts.contact = o.contact;
  topts.start = o.begin;
  topts.end = o.end;
  std::vector<const rp::DestinationSummary*> dests = agg.sorted();
  std::sort(dests.begin(), dests.end(), [](const auto* a, const auto* b) { return a->destination < b->destination; });
  Run run(o, resolver, mail, https, *state, out, err);
  std::size_t reports = 0;
  for (const auto* d : dests) {
    if (d->destination.empty() || d->destination.front() == '[' || d->destination.front() == '.') {
      out << d->destination << ": no report: not a policy domain (a bracketed next hop or a parent domain)\n";
      continue;
    }
    json report = rp::build_tlsrpt(agg, *d, topts);
    if (report["policies"].empty()) {
      continue;
    }
    ++reports;
    run.domain(d->destination, report);
  }
  if (reports == 0) {
    out << "nothing to report between " << format_rfc3339(o.begin) << " and " << format_rfc3339(o.end) << "\n";
  }
  if (run.delivery_failed()) {
    return 1;
  }
  return run.dns_failed_any() ? 3 : 0;
}

} // namespace dane::tools::tlsrpt
