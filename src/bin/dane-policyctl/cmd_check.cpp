// dane-policyctl check — DNS evaluation (as `dane-policyctl policy`) plus a live STARTTLS probe of every
// address (A and AAAA) of every MX host that publishes TLSA records (--all: of every host).
//
//   dane-policyctl check DESTINATION [resolver options] [--port N] [--all] [--json]
//                 [--probe-timeout SECONDS] [--helo NAME]
//
// Exit codes (docs/design.md §5): 0 every probed address passes (or nothing needed probing);
// 1 any probe fails (starttls-not-offered included); 2 usage or input error; 3 temporary DNS
// failure (the answer is TEMP, or some host's DNS lookups failed while every probe passed).
// This file parses the options and prints; what to probe and the verdict are run_check()
// (dane/tools/check.hpp).
// gcc 12 reports a false -Wnull-dereference inside Boost.Program_options' typed_value<>::notify
// (boost::any_cast) when optimising; silence it for this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/tools/check.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"
#include "sts_lookup.hpp"

namespace po = boost::program_options;

namespace dane::ctl {
namespace {

using tools::CheckOutcome;
using tools::CheckSettings;
using tools::HostCheck;

struct CheckOptions {
  std::string destination;
  bool json = false;
  CheckSettings settings;
  ResolverConfig resolver;
  std::string state_dir; // --mta-sts: the daemon's --state-dir (its mta-sts store, read only); "" = none
};

po::options_description describe_options() {
  po::options_description description("dane-policyctl check DESTINATION [options]");
  description.add_options()              //
      ("help,h", "describe the options") //
      ("port", po::value<unsigned>()->value_name("PORT"),
       "probe this port instead of the destination's (25, or the port of a [host]:port key)") //
      ("all", "also probe MX hosts that publish no TLSA records")                             //
      ("json", "print one JSON object (the policy object; each host has `addresses`)")        //
      ("probe-timeout", po::value<double>()->default_value(10.0, "10")->value_name("SECONDS"),
       "time limit for each step of a probe (connect, greeting, EHLO, STARTTLS, handshake)")             //
      ("helo", po::value<std::string>()->value_name("NAME"), "name sent with EHLO (default: localhost)") //
      ("mta-sts", "a destination without DANE whose MTA-STS policy is enforce or testing: probe every MX "
                  "address with PKIX validation of the MX name, and check the policy's mx patterns") //
      ("mta-sts-ca-file", po::value<std::string>()->value_name("FILE"),
       "CAs trusted for the policy fetch and the MX certificates (default: the system's trust store)") //
      ("state-dir", po::value<std::string>()->value_name("DIR"),
       "with --mta-sts: dane-policyd's --state-dir, whose stored policies are read (never written)");
  policyd::add_resolver_options(description);
  return description;
}

// Returns the options, or an error message (exit 2).
Expected<CheckOptions> parse_options(int argc, char** argv, bool& help) {
  po::options_description description = describe_options();
  auto parsed = parse_command_line(argc, argv, description, "destination");
  if (!parsed) {
    return make_error(parsed.error());
  }
  const po::variables_map& values = *parsed;
  if (values.count("help") != 0) {
    help = true;
    std::cout << description << "\n"
              << "Exit codes: 0 every probed address passes, 1 any probe fails, 2 usage or input error,\n"
              << "3 temporary DNS failure.\n";
    return CheckOptions{};
  }
  CheckOptions options;
  if (values.count("destination") == 0) {
    return make_error("missing DESTINATION (a domain, [host] or [host]:port)");
  }
  const auto& destinations = values["destination"].as<std::vector<std::string>>();
  if (destinations.size() != 1) {
    return make_error("exactly one DESTINATION expected, got " + std::to_string(destinations.size()));
  }
  options.destination = destinations.front();
  if (values.count("port") != 0) {
    unsigned port = values["port"].as<unsigned>();
    if (port == 0 || port > 65535) {
      return make_error("--port " + std::to_string(port) + ": must be a number from 1 to 65535");
    }
    options.settings.port = static_cast<std::uint16_t>(port);
  }
  options.settings.all = values.count("all") != 0;
  options.json = values.count("json") != 0;
  double seconds = values["probe-timeout"].as<double>();
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > 3600) {
    return make_error("--probe-timeout: must be more than 0 and at most 3600 seconds");
  }
  options.settings.probe_timeout = std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000)));
  if (values.count("helo") != 0) {
    std::string& helo = options.settings.helo;
    helo = values["helo"].as<std::string>();
    if (helo.empty() || helo.find_first_of(" \t\r\n") != std::string::npos) {
      return make_error("--helo '" + helo + "': must be a host name without white space");
    }
  }
  if (values.count("mta-sts") != 0) {
    const std::string ca_file =
        values.count("mta-sts-ca-file") != 0 ? values["mta-sts-ca-file"].as<std::string>() : std::string();
    if (!ca_file.empty() && !std::ifstream(ca_file)) {
      return make_error("--mta-sts-ca-file " + ca_file + ": cannot be read");
    }
    options.settings.mta_sts_ca_file = ca_file;
    options.state_dir = values.count("state-dir") != 0 ? values["state-dir"].as<std::string>() : std::string();
  }
  auto resolver = policyd::resolver_config_from(values);
  if (!resolver) {
    return make_error(resolver.error());
  }
  options.resolver = *resolver;
  return options;
}

void print_report(std::ostream& out, const ProbeReport& report) {
  out << "  " << tools::endpoint(report.address, report.port) << " " << to_string(report.result) << ": "
      << report.reason << "\n";
  if (!report.tls_version.empty()) {
    out << "    TLS: " << report.tls_version << " " << report.cipher << "\n";
  }
  if (!report.chain_pem.empty()) {
    out << "    leaf: " << report.leaf_subject;
    if (!report.leaf_san.empty()) {
      out << "; SAN";
      for (std::size_t i = 0; i < report.leaf_san.size(); ++i) {
        out << (i == 0 ? " " : ", ") << report.leaf_san[i];
      }
    }
    out << "\n    valid " << report.leaf_not_before << " .. " << report.leaf_not_after << "; SPKI SHA-256 "
        << report.leaf_spki_sha256 << "; chain of " << report.chain_pem.size() << "\n";
  }
}

void print_human(std::ostream& out, const CheckOutcome& outcome) {
  const DestinationFacts& facts = outcome.facts;
  const policyd::PolicyAnswer& answer = outcome.answer;
  const std::vector<HostCheck>& checks = outcome.hosts;
  out << "destination: " << facts.next_hop.key << "\n";
  out << "policy: " << policyd::to_string(answer.policy) << " (" << answer.answer << ")\n";
  out << "reason: " << answer.reason << "\n";
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    const HostResult& host = facts.hosts[i];
    const HostCheck& check = checks[i];
    out << "host " << host.name;
    if (!facts.next_hop.bracketed) {
      out << " (MX " << host.preference << ")";
    }
    out << ": dnssec " << to_string(host.dnssec) << ", status " << to_string(host.status);
    if (!host.tlsa_base.empty()) {
      out << ", TLSA base " << host.tlsa_base;
    }
    out << "\n";
    if (!host.reason.empty()) {
      out << "  " << host.reason << "\n";
    }
    for (const auto& record : host.tlsa) {
      out << "  TLSA " << record.to_string();
      if (auto usability = smtp_usability(record); usability != TlsaUsability::Usable) {
        out << " (" << describe(usability, record) << ")";
      }
      out << "\n";
    }
    for (const auto& warning : check.warnings) {
      out << "  warning: " << warning << "\n";
    }
    if (!check.probed) {
      out << "  " << check.note << "\n";
    }
    for (const auto& report : check.reports) {
      print_report(out, report);
    }
  }
  out << "verdict: " << to_string(outcome.verdict.result) << ": " << outcome.verdict.text << "\n";
}

// One JSON object: the policy object (as `dane-policyctl policy --json`), each host with its probes.
void print_json(std::ostream& out, const CheckOutcome& outcome) {
  const DestinationFacts& facts = outcome.facts;
  auto hook = [&](const HostResult& host, nlohmann::json& object) {
    // The hook sees the elements of facts.hosts; find this one's checks.
    std::size_t index = facts.hosts.size();
    for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
      if (&facts.hosts[i] == &host) {
        index = i;
      }
    }
    for (std::size_t i = 0; index == facts.hosts.size() && i < facts.hosts.size(); ++i) {
      if (facts.hosts[i].name == host.name) {
        index = i;
      }
    }
    object["addresses"] = nlohmann::json::array();
    if (index == facts.hosts.size()) {
      return;
    }
    const HostCheck& check = outcome.hosts[index];
    object["probed"] = check.probed;
    for (const auto& report : check.reports) {
      object["addresses"].push_back(policyd::probe_to_json(report, policyd::ProbeJson::Detailed));
    }
    object["warnings"] = check.warnings;
    if (!check.probed) {
      object["note"] = check.note;
    }
  };
  const tools::CheckVerdict& verdict = outcome.verdict;
  nlohmann::json json = policyd::to_json(facts, outcome.answer, hook);
  json["verdict"] = {{"result", to_string(verdict.result)},
                     {"text", verdict.text},
                     {"probed", verdict.probed},
                     {"failed", verdict.failed}};
  out << json.dump(2) << "\n";
}

} // namespace

int cmd_check(int argc, char** argv) {
  bool help = false;
  auto options = parse_options(argc, argv, help);
  if (help) {
    return k_exit_ok;
  }
  if (!options) {
    std::cerr << "dane-policyctl check: " << options.error() << "\n"
              << "usage: dane-policyctl check DESTINATION [resolver options] [--port 25] [--all] [--json]\n";
    return k_exit_usage;
  }
  if (auto next_hop = parse_next_hop(options->destination); !next_hop) {
    std::cerr << "dane-policyctl check: bad DESTINATION '" << options->destination << "': " << next_hop.error() << "\n";
    return k_exit_usage;
  }
  auto resolver = make_unbound_resolver(options->resolver);
  if (!resolver) {
    std::cerr << "dane-policyctl check: " << resolver.error() << "\n";
    return k_exit_usage;
  }
  DestinationFacts facts = evaluate_destination(**resolver, options->destination);
  if (const auto& ca_file = options->settings.mta_sts_ca_file) {
    add_sts_blocking(**resolver, facts, *ca_file, options->state_dir.empty() ? "" : options->state_dir + "/mta-sts",
                     true);
  }
  CheckOutcome outcome = tools::run_check(std::move(facts), options->settings, tools::live_prober());
  if (options->json) {
    print_json(std::cout, outcome);
    for (const auto& check : outcome.hosts) {
      for (const auto& warning : check.warnings) {
        std::cerr << "dane-policyctl check: warning: " << warning << "\n";
      }
    }
  } else {
    print_human(std::cout, outcome);
  }
  return outcome.verdict.exit_code;
}

} // namespace dane::ctl
