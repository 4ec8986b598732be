// dane-policyctl report — summarise dane-policyd verdict logs (and Postfix logs); RFC 8460 export.
// Thin wiring over dane/tools/report.hpp (docs/design.md §5, §6).
#include <iostream>
#include <map>
#include <optional>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "dane/tools/report.hpp"

namespace dane::ctl {

namespace {

namespace rp = dane::tools::report;

constexpr const char* k_usage =
    "usage: dane-policyctl report [--domain D] [--since TIME] [--until TIME] [--maillog FILE ...]\n"
    "                      [--json | --tlsrpt [--organization NAME] [--contact ADDR]] LOGFILE...\n";

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

struct Args {
  std::map<std::string, std::string> values; // single-valued options
  std::vector<std::string> maillogs;
  std::vector<std::string> logs;
  bool json = false;
  bool tlsrpt = false;
  bool help = false;
};

constexpr const char* k_help =
    "  --domain D           only destination D (exact next-hop name as logged)\n"
    "  --since TIME         from TIME: RFC 3339, YYYY-MM-DD, or an age such as 30m, 24h, 7d\n"
    "  --until TIME         up to TIME (same forms)\n"
    "  --maillog FILE       Postfix log (syslog, RFC 3339 syslog or maillog_file; plain or gzip);\n"
    "                       repeatable\n"
    "  --json               machine-readable summary\n"
    "  --tlsrpt             RFC 8460 aggregate report(s): one object with --domain, else an array\n"
    "                       with one report per policy domain\n"
    "  --organization NAME  TLSRPT organization-name (default: this host's name)\n"
    "  --contact ADDR       TLSRPT contact-info (default: postmaster@HOSTNAME)\n"
    "  LOGFILE...           verdict logs (plain or gzip, rotated files in any order)\n";

// Options may be given as "--name value" or "--name=value"; "--" ends the options.
Expected<Args> parse_args(int argc, char** argv) {
  Args a;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      a.logs.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "--json" || name == "--tlsrpt" || name == "--help" || name == "-h") {
      if (value) {
        return make_error("option " + name + " takes no value");
      }
      (name == "--json" ? a.json : name == "--tlsrpt" ? a.tlsrpt : a.help) = true;
      continue;
    }
    if (name != "--domain" && name != "--since" && name != "--until" && name != "--maillog" &&
        name != "--organization" && name != "--contact") {
      return make_error("unknown option '" + name + "'");
    }
    if (!value) {
      if (i + 1 >= argc) {
        return make_error("option " + name + " needs a value");
      }
      value = argv[++i];
    }
    if (name == "--maillog") {
      a.maillogs.push_back(*value);
    } else if (!a.values.emplace(name.substr(2), *value).second) {
      return make_error("option " + name + " given twice");
    }
  }
  return a;
}

std::optional<std::string> option(const Args& args, const char* name) {
  auto it = args.values.find(name);
  return it == args.values.end() ? std::nullopt : std::optional<std::string>(it->second);
}

// --domain, --since and --until; an error names the option.
Expected<rp::Filter> filter_from(const Args& args, rp::TimePoint now) {
  rp::Filter filter;
  if (auto d = option(args, "domain")) {
    filter.domain = *d;
    if (filter.domain->empty()) {
      return make_error("--domain: empty destination");
    }
  }
  for (const char* name : {"since", "until"}) {
    auto text = option(args, name);
    if (!text) {
      continue;
    }
    auto t = rp::parse_time_arg(*text, now);
    if (!t) {
      return make_error(std::string("--") + name + ": " + t.error());
    }
    (std::string_view(name) == "since" ? filter.since : filter.until) = *t;
  }
  if (filter.since && filter.until && *filter.since > *filter.until) {
    return make_error("--since is later than --until");
  }
  return filter;
}

// Reads every verdict log and Postfix log, each set in time order, with warnings on stderr.
void read_inputs(rp::Aggregator& agg, const Args& args, rp::TimePoint now) {
  rp::WarningSink warn = [](const std::string& msg) {
    if (msg.rfind("cannot read ", 0) == 0) {
      std::cerr << "dane-policyctl report: " << msg << "\n";
    } else {
      std::cerr << msg << "\n";
    }
  };
  for (const auto& path : rp::plan_input_order(args.logs, rp::verdict_stamp)) {
    agg.read_verdict_file(path, warn);
  }
  rp::MaillogOptions mopts;
  mopts.reference = now;
  if (!args.maillogs.empty()) {
    rp::MaillogPrefixParser stamp_parser(mopts);
    auto stamp = [&stamp_parser](std::string_view line) -> std::optional<rp::TimePoint> {
      auto p = stamp_parser.parse(line);
      return p ? std::optional<rp::TimePoint>(p->time) : std::nullopt;
    };
    for (const auto& path : rp::plan_input_order(args.maillogs, stamp)) {
      agg.read_maillog_file(path, mopts, warn);
    }
    agg.finish_maillog();
  }
}

// The RFC 8460 report(s): one object for --domain, else an array with one per policy domain.
void print_tlsrpt(const rp::Aggregator& agg, const Args& args, const rp::Filter& filter) {
  rp::TlsrptOptions topts;
  const std::string host = host_name();
  topts.organization = option(args, "organization").value_or(host);
  topts.contact = option(args, "contact").value_or("postmaster@" + host);
  if (filter.domain) {
    const auto* d = agg.find(*filter.domain);
    if (d == nullptr) {
      // No evaluation of D in the period: an empty report for it is still a valid answer.
      rp::DestinationSummary empty;
      empty.destination = *filter.domain;
      std::cout << rp::build_tlsrpt(agg, empty, topts).dump(2) << "\n";
    } else {
      std::cout << rp::build_tlsrpt(agg, *d, topts).dump(2) << "\n";
    }
  } else {
    rp::write_tlsrpt_all(agg, topts, std::cout);
  }
}

} // namespace

int cmd_report(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr << "dane-policyctl report: " << parsed.error() << "\n" << k_usage;
    return k_exit_usage;
  }
  const Args& args = *parsed;
  if (args.help) {
    std::cout << k_usage << "\n" << k_help;
    return k_exit_ok;
  }
  if (args.json && args.tlsrpt) {
    std::cerr << "dane-policyctl report: --json and --tlsrpt exclude each other\n" << k_usage;
    return k_exit_usage;
  }
  if (args.logs.empty() && args.maillogs.empty()) {
    std::cerr << "dane-policyctl report: no LOGFILE given\n" << k_usage;
    return k_exit_usage;
  }
  const rp::TimePoint now = rp::now_utc();
  auto filter = filter_from(args, now);
  if (!filter) {
    std::cerr << "dane-policyctl report: " << filter.error() << "\n";
    return k_exit_usage;
  }
  rp::Aggregator agg(*filter);
  read_inputs(agg, args, now);
  const auto& st = agg.stats();
  if (st.files + st.maillog_files == 0) {
    std::cerr << "dane-policyctl report: no input could be read\n";
    return k_exit_usage;
  }
  const std::uint64_t malformed = st.malformed + st.maillog_malformed;
  if (st.usable_lines == 0 && malformed > 0) {
    std::cerr << "dane-policyctl report: no input line could be read (" << malformed
              << " malformed line(s) or read error(s), see above)\n";
    return k_exit_usage;
  }
  if (malformed > 0) {
    std::cerr << "dane-policyctl report: " << malformed << " malformed line(s) skipped (see above)\n";
  }
  if (args.tlsrpt) {
    print_tlsrpt(agg, args, *filter);
  } else if (args.json) {
    std::cout << rp::render_json(agg).dump(2) << "\n";
  } else {
    std::cout << rp::render_table(agg);
  }
  if (st.read_errors > 0) {
    // What was read is summarised above, but a file that could not be read to its end (a truncated
    // or corrupt gzip file, a read error) is an input error: the summary is incomplete.
    std::cerr << "dane-policyctl report: " << st.read_errors
              << " file(s) could not be read to the end (truncated or corrupt, see above)\n";
    return k_exit_usage;
  }
  return k_exit_ok;
}

} // namespace dane::ctl
