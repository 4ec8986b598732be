// dane-policyctl rollover — where an operator stands in a safe certificate/key rollover (docs/design.md §5).
//
// Thin wiring: read both certificate files, let gather_rollover_facts() look up _PORT._tcp.HOST
// TLSA (+ the host's addresses) with DNSSEC and probe the live server, then let the pure
// decide_rollover() (dane/tools/rollover.hpp) say the step; keep its state file; print text or --json.
// With --publish (+ --tsig-key, --update-server) the publish/remove step is sent as a DNS UPDATE by
// publish_by_update() (dane/tools/dns_update.hpp): a refused update exits 1, no answer / changed RRset 3.
// Unless --no-authoritative-check, every authoritative server of the zone is asked directly
// (check_authoritative(), dane/tools/rollover_authority.hpp) before the decision, and again after an
// applied update; decide_rollover() holds `swap` back while one of them lags.
// Exit codes (pinned): 0 swap now / done, 4 act or wait (publish, wait, remove),
// 1 refused as unsafe, 2 usage or input error, 3 temporary DNS failure.
// gcc 12 reports a false -Wnull-dereference inside Boost.Program_options' typed_value::notify
// (boost::any_cast) when optimising; silence it for this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/core/text.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/tools/dns_update.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/tools/rollover_authority.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/probe.hpp"

namespace po = boost::program_options;

namespace dane::ctl {

namespace {

using tools::Presented;
using tools::RolloverDecision;
using tools::RolloverInput;

constexpr double k_max_interval_hours = 24.0 * 366;

bool is_ip_literal(const std::string& text) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, text.c_str(), buf) == 1 || ::inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// A host name: LDH labels (underscore tolerated), 1-63 octets each, at most 253 in all; lowercased,
// trailing dot removed. IP literals are refused: TLSA records live under a name.
Expected<std::string> normalize_host(std::string host) {
  host = ascii_lower(host);
  if (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  if (host.empty() || host.size() > 253) {
    return make_error("--host: '" + host + "' is not a host name");
  }
  if (is_ip_literal(host)) {
    return make_error("--host " + host +
                      ": give the MX host name, not an address (TLSA records live at _PORT._tcp.NAME)");
  }
  std::size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) {
        return make_error("--host " + host + ": empty label");
      }
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return make_error("--host " + host + ": invalid character '" + std::string(1, c) + "'");
    }
    if (++label > 63) {
      return make_error("--host " + host + ": label longer than 63 octets");
    }
  }
  return host;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

void print_usage(std::ostream& out, const po::options_description& options) {
  out << "usage: dane-policyctl rollover --current CERT --next CERT --host MXHOST [--port 25] [--interval HOURS]\n"
         "                        [--state-file FILE] [--address IP ...] [--no-probe] [--json] [resolver options]\n"
         "                        [--publish --tsig-key FILE [--update-server ADDR[@PORT]]] "
         "[--no-authoritative-check]\n\n"
         "Says where a TLSA/certificate rollover stands: publish the next record, wait, swap the\n"
         "certificate, remove the old record, done; or refuses with the reason.\n"
         "Exit: 0 swap now or done, 4 act or wait first, 1 refused as unsafe, 2 usage/input error,\n"
         "3 temporary DNS failure (or, with --publish, an update server that did not answer or a changed RRset;\n"
         "an update the server refused is 1).\n\n"
      << options;
}

std::vector<std::string> record_strings(const std::vector<TlsaRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    out.push_back(r.to_string());
  }
  return out;
}

nlohmann::ordered_json optional_time(const std::optional<std::chrono::sys_seconds>& t) {
  return t ? nlohmann::ordered_json(dane::format_rfc3339(*t)) : nlohmann::ordered_json(nullptr);
}

// The `update` object of --json (null when no update was sent in this run).
nlohmann::ordered_json update_json(const tools::PublishReport& u) {
  if (!u.attempted) {
    return nullptr;
  }
  return {{"action", to_string(u.action)}, {"zone", u.zone},      {"server", u.server},
          {"records", u.records},          {"ok", u.ok},          {"rcode", u.rcode},
          {"tsig_error", u.tsig_error},    {"message", u.message}};
}

// When the state says `server` first served the checked set (null: it does not serve it signed).
nlohmann::ordered_json server_first_seen(const RolloverDecision& d, const tools::AuthorityCheck& check,
                                         const tools::AuthoritativeServer& server) {
  const std::string rrset = tools::rrset_key(check.intended);
  for (const auto& seen : d.state.servers) {
    if (seen.name == server.name && seen.address == server.address && seen.rrset == rrset) {
      return dane::format_rfc3339(seen.first_seen);
    }
  }
  return nullptr;
}

// The `authoritative_servers` list of --json (empty when the check did not run).
nlohmann::ordered_json authority_json(const RolloverInput& in, const RolloverDecision& d) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  if (!in.authority) {
    return list;
  }
  for (const auto& s : in.authority->servers) {
    list.push_back({{"name", s.name},
                    {"address", s.address},
                    {"serial", s.serial ? nlohmann::ordered_json(*s.serial) : nlohmann::ordered_json(nullptr)},
                    {"serves_intended", s.serves_intended},
                    {"signature_valid", s.signature == tools::AuthSignature::Valid},
                    {"signature", to_string(s.signature)},
                    {"first_seen", server_first_seen(d, *in.authority, s)},
                    {"ttl", s.ttl},
                    {"records", record_strings(s.records)},
                    {"detail", s.detail}});
  }
  return list;
}

void print_json(std::ostream& out, const RolloverInput& in, const RolloverDecision& d, const std::string& state_file,
                const tools::PublishReport& update) {
  nlohmann::ordered_json j;
  j["step"] = to_string(d.step);
  j["refusal"] = d.refusal == tools::RolloverRefusal::None ? nlohmann::ordered_json(nullptr)
                                                           : nlohmann::ordered_json(to_string(d.refusal));
  j["exit_code"] = d.exit_code;
  j["message"] = d.message;
  j["host"] = in.host;
  j["port"] = in.port;
  j["tlsa_name"] = d.tlsa_name;
  j["dnssec"] = to_string(in.published.security);
  j["dns_reason"] = in.published.reason;
  j["ttl"] = in.published.ttl;
  j["published"] = record_strings(in.published.records);
  j["current_records"] = record_strings(d.current_records);
  j["next_records"] = record_strings(d.next_records);
  j["current_spki_sha256"] = in.current.spki_sha256;
  j["next_spki_sha256"] = in.next.spki_sha256;
  j["add"] = d.add_lines;
  j["alternatives"] = d.alternative_lines;
  j["remove"] = d.remove_lines;
  j["interval_seconds"] = in.interval.count();
  j["required_wait_seconds"] = d.required_wait.count();
  j["remaining_wait_seconds"] =
      d.remaining_wait ? nlohmann::ordered_json(d.remaining_wait->count()) : nlohmann::ordered_json(nullptr);
  j["next_first_seen"] = optional_time(d.next_first_seen);
  j["safe_at"] = optional_time(d.safe_at);
  j["now"] = dane::format_rfc3339(in.now);
  j["servers"] = nlohmann::ordered_json::array();
  for (const auto& s : in.servers) {
    j["servers"].push_back(
        {{"address", s.address}, {"port", s.port}, {"presents", to_string(s.presented)}, {"detail", s.detail}});
  }
  j["authoritative_checked"] = in.authority && in.authority->security == DnsSecurity::Secure;
  j["authoritative_zone"] = in.authority ? in.authority->zone : std::string();
  j["authoritative_error"] = in.authority ? in.authority->error : std::string();
  j["authoritative_intended"] = in.authority ? record_strings(in.authority->intended) : std::vector<std::string>{};
  j["authoritative_servers"] = authority_json(in, d);
  j["last_server_seen"] = optional_time(d.last_server_seen);
  j["notes"] = d.notes;
  j["state_file"] = state_file;
  j["update"] = update_json(update);
  out << j.dump(2) << "\n";
}

// The authoritative servers, one line each, and the lagging ones named.
void print_authority_text(std::ostream& out, const RolloverInput& in) {
  if (!in.authority) {
    return;
  }
  const tools::AuthorityCheck& check = *in.authority;
  if (check.security != DnsSecurity::Secure) {
    out << "authoritative servers: not checked (" << check.error << ")\n";
    return;
  }
  out << "authoritative servers of " << check.zone << " (intended set: " << tools::rrset_key(check.intended) << "):\n";
  for (const auto& s : check.servers) {
    out << "  " << s.name << " " << (s.address.empty() ? "-" : s.address) << ": serial "
        << (s.serial ? std::to_string(*s.serial) : "?") << ", "
        << (s.serves_intended ? "serves the intended set" : "does NOT serve the intended set") << ", signature "
        << to_string(s.signature) << (s.detail.empty() ? "" : " (" + s.detail + ")") << "\n";
  }
  const auto lagging = check.lagging();
  if (!lagging.empty()) {
    out << "lagging authoritative servers: " << join(lagging, "; ") << "\n";
  }
}

void print_text(std::ostream& out, const RolloverInput& in, const RolloverDecision& d, const std::string& state_file,
                const tools::PublishReport& update) {
  out << "step: " << to_string(d.step);
  if (d.refusal != tools::RolloverRefusal::None) {
    out << " (" << to_string(d.refusal) << ")";
  }
  out << "\n" << d.message << "\n";
  out << "\nTLSA " << d.tlsa_name << ": DNSSEC " << to_string(in.published.security);
  if (!in.published.reason.empty()) {
    out << " (" << in.published.reason << ")";
  }
  if (in.published.security == DnsSecurity::Secure) {
    out << ", TTL " << in.published.ttl << "s";
  }
  out << "\n";
  for (const auto& r : in.published.records) {
    const bool c = std::find(d.current_records.begin(), d.current_records.end(), r) != d.current_records.end();
    const bool n = std::find(d.next_records.begin(), d.next_records.end(), r) != d.next_records.end();
    out << "  published: " << r.to_string()
        << (c && n ? "  (matches both)"
            : c    ? "  (current)"
            : n    ? "  (next)"
                   : "")
        << "\n";
  }
  for (const auto& s : in.servers) {
    out << "  server " << s.address << " port " << s.port << ": presents the " << to_string(s.presented)
        << (s.presented == Presented::Unknown ? " certificate (" + s.detail + ")" : " certificate") << "\n";
  }
  print_authority_text(out, in);
  if (!d.add_lines.empty()) {
    out << (d.step == tools::RolloverStep::Publish ? "\nadd to the zone (keep the current record):\n"
                                                   : "\nadd to the zone:\n");
    for (const auto& l : d.add_lines) {
      out << "  " << l << "\n";
    }
  }
  if (!d.alternative_lines.empty()) {
    out << "\nor, alternatively:\n";
    for (const auto& l : d.alternative_lines) {
      out << "  " << l << "\n";
    }
  }
  if (!d.remove_lines.empty()) {
    out << "\ndelete from the zone:\n";
    for (const auto& l : d.remove_lines) {
      out << "  " << l << "\n";
    }
  }
  if (update.attempted) {
    out << "\nupdate: " << update.message << "\n";
  }
  if (d.remaining_wait) {
    // While an authoritative server lags, the time is a lower bound: the clock starts when it catches up.
    const bool lagging = in.authority && in.authority->security == DnsSecurity::Secure &&
                         (in.authority->servers.empty() || !in.authority->lagging().empty());
    out << "\nwait: " << (lagging ? "at least " : "") << tools::format_duration(*d.remaining_wait) << " more, until "
        << (lagging ? "at the earliest " : "") << dane::format_rfc3339(*d.safe_at) << "\n";
  }
  if (!d.notes.empty()) {
    out << "\n";
    for (const auto& n : d.notes) {
      out << "note: " << n << "\n";
    }
  }
  out << "\nstate file: " << state_file << "\n";
}

// Everything one run needs, from the options (no DNS, no state file read yet).
struct RolloverRun {
  RolloverInput in; // host, port, interval, both certificates
  tools::RolloverGather gather;
  ResolverConfig resolver;
  std::string state_file;
  bool json = false;
  std::optional<tools::RolloverPublish> publish; // --publish
  bool authoritative_check = true;               // false: --no-authoritative-check
};

int fail(const std::string& message) {
  std::cerr << "dane-policyctl rollover: " << message << "\n";
  return k_exit_usage;
}

// The host, port and timing options of a run; an error names the option.
Status read_target_options(const po::variables_map& vm, RolloverRun& run) {
  auto host = normalize_host(vm["host"].as<std::string>());
  if (!host) {
    return make_error(host.error());
  }
  run.in.host = *host;
  const unsigned port = vm["port"].as<unsigned>();
  if (port == 0 || port > 65535) {
    return make_error("--port " + std::to_string(port) + ": must be from 1 to 65535");
  }
  run.in.port = static_cast<std::uint16_t>(port);
  const double hours = vm["interval"].as<double>();
  if (!std::isfinite(hours) || hours < 0 || hours > k_max_interval_hours) {
    return make_error("--interval " + std::to_string(hours) + ": must be from 0 to 8784 hours");
  }
  run.in.interval = std::chrono::seconds(std::llround(hours * 3600));
  const double probe_seconds = vm["probe-timeout"].as<double>();
  if (!std::isfinite(probe_seconds) || probe_seconds <= 0 || probe_seconds > 600) {
    return make_error("--probe-timeout " + std::to_string(probe_seconds) +
                      ": must be more than 0 and at most 600 seconds");
  }
  run.gather.probe_timeout = std::chrono::milliseconds(std::llround(probe_seconds * 1000));
  if (vm.count("address") != 0) {
    run.gather.addresses = vm["address"].as<std::vector<std::string>>();
    for (const auto& a : run.gather.addresses) {
      if (!is_ip_literal(a)) {
        return make_error("--address " + a + ": not an IPv4 or IPv6 address");
      }
    }
  }
  run.gather.probe = vm.count("no-probe") == 0;
  return Ok{};
}

// --publish, --tsig-key, --update-server: the key is read and checked now (a bad key file is exit 2).
Status read_publish_options(const po::variables_map& vm, RolloverRun& run) {
  const bool publish = vm.count("publish") != 0;
  if (!publish) {
    if (vm.count("tsig-key") != 0 || vm.count("update-server") != 0) {
      return make_error("--tsig-key and --update-server need --publish");
    }
    return Ok{};
  }
  if (vm.count("tsig-key") == 0) {
    return make_error("--publish needs --tsig-key FILE");
  }
  auto key = tools::load_tsig_key_file(vm["tsig-key"].as<std::string>());
  if (!key) {
    return make_error("--tsig-key " + key.error());
  }
  tools::RolloverPublish p;
  p.key = std::move(*key);
  if (vm.count("update-server") != 0) {
    auto server = tools::parse_update_server(vm["update-server"].as<std::string>());
    if (!server) {
      return make_error(server.error());
    }
    p.server = *server;
  }
  p.timeout = run.resolver.timeout;
  run.publish = std::move(p);
  return Ok{};
}

Expected<RolloverRun> run_from_options(const po::variables_map& vm) {
  RolloverRun run;
  if (auto target = read_target_options(vm, run); !target) {
    return make_error(target.error());
  }
  auto resolver_config = policyd::resolver_config_from(vm);
  if (!resolver_config) {
    return make_error(resolver_config.error());
  }
  run.resolver = *resolver_config;
  auto current = tools::certificate_records_from_file(vm["current"].as<std::string>());
  if (!current) {
    return make_error("--current: " + current.error());
  }
  auto next = tools::certificate_records_from_file(vm["next"].as<std::string>());
  if (!next) {
    return make_error("--next: " + next.error());
  }
  run.in.current = std::move(*current);
  run.in.next = std::move(*next);
  run.state_file =
      vm.count("state-file") != 0
          ? vm["state-file"].as<std::string>()
          : tools::default_state_path(run.in.host, run.in.port, env("XDG_STATE_HOME"), env("HOME"), ::geteuid() == 0);
  if (run.state_file.empty()) {
    return make_error("--state-file: empty file name");
  }
  run.json = vm.count("json") != 0;
  run.authoritative_check = vm.count("no-authoritative-check") == 0;
  if (auto publish = read_publish_options(vm, run); !publish) {
    return make_error(publish.error());
  }
  return run;
}

// The RRset an applied update leaves: publish adds the next records, remove deletes the old ones.
std::vector<TlsaRecord> set_after_update(const RolloverInput& in, const RolloverDecision& d) {
  std::vector<TlsaRecord> out;
  for (const auto& r : in.published.records) {
    if (d.step != tools::RolloverStep::Remove ||
        std::find(d.remove_records.begin(), d.remove_records.end(), r) == d.remove_records.end()) {
      out.push_back(r);
    }
  }
  if (d.step == tools::RolloverStep::Publish) {
    for (const auto& r : d.add_records) {
      if (std::find(out.begin(), out.end(), r) == out.end()) {
        out.push_back(r);
      }
    }
  }
  return out;
}

// After an applied update: asks every authoritative server for the new set, again every half second while
// some lag, for at most min(--dns-timeout, 5 s) (the primary's NOTIFY usually brings the secondaries in
// that time), and records in the state which of them serve it (their clocks start now).
void recheck_after_update(RolloverRun& run, RolloverDecision& d, const std::string& owner, Resolver& resolver) {
  RolloverInput& in = run.in;
  const auto intended = set_after_update(in, d);
  const auto until = std::chrono::steady_clock::now() +
                     std::min<std::chrono::milliseconds>(run.resolver.timeout, std::chrono::seconds(5));
  for (;;) {
    in.authority = tools::check_authoritative(owner, intended, resolver, run.resolver.timeout);
    const bool all = in.authority->security == DnsSecurity::Secure && in.authority->lagging().empty();
    if (all || std::chrono::steady_clock::now() >= until) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  in.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  tools::note_authority(d.state, *in.authority, in.now);
}

// Reads the state, gathers DNS and probe facts, decides, keeps the state and prints.
int run_rollover(RolloverRun& run) {
  RolloverInput& in = run.in;
  auto loaded = tools::load_state(run.state_file, in.host, in.port);
  if (!loaded.warning.empty()) {
    std::cerr << "dane-policyctl rollover: warning: " << loaded.warning << "\n";
  }
  in.state = std::move(loaded.state);
  auto resolver = make_unbound_resolver(run.resolver);
  if (!resolver) {
    return fail(resolver.error());
  }
  if (auto gathered = tools::gather_rollover_facts(in, run.gather, **resolver, tools::live_prober()); !gathered) {
    return fail(gathered.error());
  }
  // The name that holds the records: the owner, or the target of its CNAME (the zone asked is that name's).
  const std::string owner =
      in.published.canonname.empty() ? "_" + std::to_string(in.port) + "._tcp." + in.host : in.published.canonname;
  if (run.authoritative_check && in.published.security == DnsSecurity::Secure && in.published.exists) {
    in.authority = tools::check_authoritative(owner, in.published.records, **resolver, run.resolver.timeout);
  }
  in.now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  RolloverDecision d = tools::decide_rollover(in);
  if (!loaded.warning.empty()) {
    d.notes.insert(d.notes.begin(), loaded.warning);
  }
  tools::PublishReport update;
  if (run.publish) {
    update = tools::publish_by_update(in, d, *run.publish, **resolver);
    if (update.attempted && !update.ok) {
      d.exit_code = update.temporary ? k_exit_temp : k_exit_negative;
    }
    if (update.ok && run.authoritative_check) {
      recheck_after_update(run, d, owner, **resolver);
    }
  }
  int exit_code = d.exit_code;
  std::string save_error;
  if (!(d.state == in.state) || !loaded.warning.empty()) {
    if (auto saved = tools::save_state(run.state_file, d.state); !saved) {
      save_error = saved.error();
      exit_code = k_exit_usage;
    }
  }
  if (run.json) {
    print_json(std::cout, in, d, run.state_file, update);
  } else {
    print_text(std::cout, in, d, run.state_file, update);
  }
  if (update.attempted && !update.ok) {
    std::cerr << "dane-policyctl rollover: " << update.message << "\n";
  }
  if (!save_error.empty()) {
    std::cerr << "dane-policyctl rollover: " << save_error
              << " (without it the wait clock cannot advance; use --state-file)\n";
  }
  return exit_code;
}

} // namespace

int cmd_rollover(int argc, char** argv) {
  po::options_description options("rollover options");
  // clang-format off
  options.add_options()
      ("help,h", "show this help")
      ("current", po::value<std::string>()->value_name("CERT"),
       "PEM file of the certificate installed now (a chain file also gives its CA records)")
      ("next", po::value<std::string>()->value_name("CERT"),
       "PEM file of the certificate to install next (leaf first; include the issuer for a 2 1 1 suggestion)")
      ("host", po::value<std::string>()->value_name("MXHOST"), "MX host name whose TLSA records roll")
      ("port", po::value<unsigned>()->default_value(25), "TCP port (TLSA name _PORT._tcp.MXHOST, probed port)")
      ("interval", po::value<double>()->default_value(24.0, "24")->value_name("HOURS"),
       "confirmation interval: minimum time the next record must be published before the swap "
       "(the RRset TTL, when longer, wins)")
      ("state-file", po::value<std::string>()->value_name("FILE"),
       "where to keep when each record was first seen (default $XDG_STATE_HOME/dane-policyd/rollover/"
       "HOST_PORT.json, or /var/lib/dane-policyd/rollover/HOST_PORT.json for root)")
      ("address", po::value<std::vector<std::string>>()->composing()->value_name("IP"),
       "probe this address instead of the host's A/AAAA records (repeatable)")
      ("no-probe", "do not probe the live server (then `remove` and `done` cannot be confirmed)")
      ("probe-timeout", po::value<double>()->default_value(10.0, "10")->value_name("SECONDS"),
       "time limit for each step of the STARTTLS probe")
      ("json", "print one JSON object (field `step`: publish, wait, swap, remove, done or refuse)")
      ("publish", "perform the publish and remove steps as TSIG-signed DNS UPDATEs (RFC 2136)")
      ("tsig-key", po::value<std::string>()->value_name("FILE"),
       "TSIG key for --publish (`key \"NAME\" { algorithm hmac-sha256; secret \"...\"; };`)")
      ("update-server", po::value<std::string>()->value_name("ADDR[@PORT]"),
       "send updates here (default: the address of the zone's SOA MNAME)")
      ("no-authoritative-check",
       "do not ask the zone's authoritative servers directly (then the wait counts from the resolver's "
       "view alone: a lagging secondary goes unnoticed)");
  // clang-format on
  policyd::add_resolver_options(options);

  auto parsed = parse_command_line(argc, argv, options, "");
  if (!parsed) {
    std::cerr << "dane-policyctl rollover: " << parsed.error() << "\n";
    print_usage(std::cerr, options);
    return k_exit_usage;
  }
  const po::variables_map& vm = *parsed;
  if (vm.count("help") != 0) {
    print_usage(std::cout, options);
    return k_exit_ok;
  }
  for (const char* required : {"current", "next", "host"}) {
    if (vm.count(required) == 0) {
      std::cerr << "dane-policyctl rollover: --" << required << " is required\n";
      print_usage(std::cerr, options);
      return k_exit_usage;
    }
  }
  auto run = run_from_options(vm);
  if (!run) {
    return fail(run.error());
  }
  return run_rollover(*run);
}

} // namespace dane::ctl
