// dane-policyctl tlsrpt-send — deliver yesterday's (or --since/--until) RFC 8460 reports to the
// policy domains that ask for them. Option wiring over dane/tools/tlsrpt_send.hpp; the HTTPS POST is
// dane::sts::https_request_blocking (PKIX-validated, no redirects).
#include <csignal>
#include <iostream>
#include <netdb.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/sts/https_client.hpp"
#include "dane/tools/report.hpp"
#include "dane/tools/tlsrpt_send.hpp"

namespace po = boost::program_options;

namespace dane::ctl {

namespace {

namespace ts = dane::tools::tlsrpt;

// This host's fully qualified name: gethostname(), completed through the name service (/etc/hosts)
// when it has no dot.
std::string host_fqdn() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  std::string name = buf;
  if (name.find('.') != std::string::npos) {
    return name;
  }
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) == 0 && res != nullptr) {
    if (res->ai_canonname != nullptr && std::string_view(res->ai_canonname).find('.') != std::string_view::npos) {
      name = res->ai_canonname;
    }
    freeaddrinfo(res);
  }
  return name;
}

po::options_description describe() {
  po::options_description visible(
      "dane-policyctl tlsrpt-send [options] LOGFILE...\n\n"
      "Builds one RFC 8460 aggregate report per policy domain from the verdict logs (and Postfix logs)\n"
      "for a UTC window (default: yesterday), and delivers it to the rua URIs of the domain's\n"
      "_smtp._tls TXT record: mailto: through sendmail(1), https: by POST. What was delivered is\n"
      "remembered; a re-run sends nothing twice and retries what failed.\n"
      "Exit: 0 delivered (or nothing to send), 1 a delivery failed, 2 bad input, 3 a TXT lookup failed.\n\n"
      "Options");
  visible.add_options()("help,h", "show this help")("since", po::value<std::string>()->value_name("TIME"),
                                                    "window start: RFC 3339, YYYY-MM-DD or an age (24h, 7d)")(
      "until", po::value<std::string>()->value_name("TIME"), "window end (exclusive; same forms)")(
      "dry-run", "print what would be sent (to whom, sizes, the JSON); send nothing, write no state")(
      "maillog", po::value<std::vector<std::string>>()->value_name("FILE"), "Postfix log; repeatable")(
      "state-dir", po::value<std::string>()->default_value("/var/lib/dane-policyd")->value_name("DIR"),
      "where DIR/tlsrpt-sent.json remembers what was delivered")(
      "sendmail", po::value<std::string>()->default_value("/usr/sbin/sendmail")->value_name("PATH"),
      "the sendmail(1) program for mailto: (run as PATH -oi -f FROM -- TO)")(
      "submitter", po::value<std::string>()->value_name("NAME"), "TLS-Report-Submitter (default: this host's FQDN)")(
      "from", po::value<std::string>()->value_name("ADDR"), "sender address (default: noreply-tlsrpt@SUBMITTER)")(
      "contact-info", po::value<std::string>()->value_name("ADDR"),
      "report contact-info (default: postmaster@SUBMITTER)")(
      "organization", po::value<std::string>()->value_name("NAME"),
      "organization-name (default: SUBMITTER)")("ca-file", po::value<std::string>()->value_name("FILE"),
                                                "PEM trust store for https: collectors (default: the system's)")(
      "rate-limit", po::value<double>()->default_value(5)->value_name("N"),
      "at most N deliveries per second (a token bucket)");
  policyd::add_resolver_options(visible);
  return visible;
}

std::string value_or(const po::variables_map& v, const char* name, const std::string& fallback) {
  return v.count(name) != 0 ? v[name].as<std::string>() : fallback;
}

// --since/--until; the default window is yesterday's UTC day.
Expected<Ok> window_from(const po::variables_map& v, ts::SendOptions& o) {
  const UnixMicros now = now_unix_micros();
  std::tie(o.begin, o.end) = ts::yesterday_utc(now);
  for (const char* name : {"since", "until"}) {
    if (v.count(name) == 0) {
      continue;
    }
    auto t = tools::report::parse_time_arg(v[name].as<std::string>(), now);
    if (!t) {
      return make_error(std::string("--") + name + ": " + t.error());
    }
    (std::string_view(name) == "since" ? o.begin : o.end) = *t;
  }
  if (o.begin >= o.end) {
    return make_error("the window is empty (--since is not before --until)");
  }
  return Ok{};
}

Expected<ts::SendOptions> send_options(const po::variables_map& v) {
  ts::SendOptions o;
  if (auto w = window_from(v, o); !w) {
    return make_error(w.error());
  }
  o.logs = v.count("log") != 0 ? v["log"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (v.count("maillog") != 0) {
    o.maillogs = v["maillog"].as<std::vector<std::string>>();
  }
  if (o.logs.empty() && o.maillogs.empty()) {
    return make_error("no LOGFILE given");
  }
  o.dry_run = v.count("dry-run") != 0;
  o.state_dir = v["state-dir"].as<std::string>();
  o.submitter = value_or(v, "submitter", host_fqdn());
  o.from = value_or(v, "from", "noreply-tlsrpt@" + o.submitter);
  o.contact = value_or(v, "contact-info", "postmaster@" + o.submitter);
  o.organization = value_or(v, "organization", o.submitter);
  o.rate_limit = v["rate-limit"].as<double>();
  if (!(o.rate_limit >= 1)) {
    return make_error("--rate-limit must be at least 1");
  }
  if (o.from.empty() || o.from.front() == '-') {
    return make_error("--from: not an address");
  }
  return o;
}

ts::HttpsPoster https_poster(const std::string& ca_file) {
  return [ca_file](const ts::HttpsPost& p) -> Expected<Ok> {
    sts::HttpsRequest r;
    r.method = "POST";
    r.host = p.host;
    r.addresses = p.addresses;
    r.port = p.port;
    r.target = p.target;
    r.headers = {{"Content-Type", "application/tlsrpt+gzip"}};
    r.body = p.body;
    r.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    sts::HttpsResult result = sts::https_request_blocking(ca_file, std::move(r));
    if (!result.ok()) {
      return make_error(result.error);
    }
    const unsigned status = result.response ? result.response->status : 0;
    if (status < 200 || status > 299) {
      return make_error("the collector answered HTTP " + std::to_string(status));
    }
    return Ok{};
  };
}

} // namespace

int cmd_tlsrpt_send(int argc, char** argv) {
  const po::options_description visible = describe();
  auto parsed = parse_command_line(argc, argv, visible, "log");
  if (!parsed) {
    std::cerr << "dane-policyctl tlsrpt-send: " << parsed.error() << "\n";
    return k_exit_usage;
  }
  const po::variables_map& values = *parsed;
  if (values.count("help") != 0) {
    std::cout << visible << "\n";
    return k_exit_ok;
  }
  auto options = send_options(values);
  if (!options) {
    std::cerr << "dane-policyctl tlsrpt-send: " << options.error() << " (see --help)\n";
    return k_exit_usage;
  }
  auto config = policyd::resolver_config_from(values);
  if (!config) {
    std::cerr << "dane-policyctl tlsrpt-send: " << config.error() << "\n";
    return k_exit_usage;
  }
  auto resolver = make_unbound_resolver(*config);
  if (!resolver) {
    std::cerr << "dane-policyctl tlsrpt-send: " << resolver.error() << "\n";
    return k_exit_usage;
  }
  std::signal(SIGPIPE, SIG_IGN); // a sendmail that exits early is an error status, not our death
  return ts::run_tlsrpt_send(*options, **resolver, ts::sendmail_sender(values["sendmail"].as<std::string>()),
                             https_poster(value_or(values, "ca-file", "")), std::cout, std::cerr);
}

} // namespace dane::ctl
