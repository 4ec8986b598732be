// dane-policyctl check — DNS evaluation (as `dane-policyctl policy`) plus a live STARTTLS probe of every
// address (A and AAAA) of every MX host that publishes TLSA records (--all: of every host).
//
//   dane-policyctl check DESTINATION [resolver options] [--port N] [--all] [--json]
//                 [--probe-timeout SECONDS] [--helo NAME]
//
// Exit codes (docs/design.md §5): 0 every probed address passes (or nothing needed probing);
// 1 any probe fails (starttls-not-offered included); 2 usage or input error; 3 temporary DNS
// failure (the answer is TEMP, or some host's DNS lookups failed while every probe passed).
// gcc 12 reports a false -Wnull-dereference inside Boost.Program_options' typed_value<>::notify
// (boost::any_cast) when optimising; silence it for this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/verifier/probe.hpp"

namespace po = boost::program_options;

namespace dane::ctl {
namespace {

constexpr std::size_t k_max_probes_in_flight = 8;

struct CheckOptions {
  std::string destination;
  std::optional<std::uint16_t> port;
  bool all = false;
  bool json = false;
  std::chrono::milliseconds probe_timeout{10000};
  std::string helo = "localhost";
  ResolverConfig resolver;
};

// One probed address and where it belongs.
struct PlannedProbe {
  std::size_t host = 0;
  ProbeRequest request;
};

// What check found for one host, beside the DNS facts.
struct HostCheck {
  bool probed = false;
  std::string note; // why not probed
  std::vector<std::string> warnings;
  std::vector<ProbeReport> reports;
};

po::options_description describe_options() {
  po::options_description description("dane-policyctl check DESTINATION [options]");
  description.add_options()                                                      //
      ("help,h", "describe the options")                                         //
      ("port", po::value<unsigned>()->value_name("PORT"),
       "probe this port instead of the destination's (25, or the port of a [host]:port key)") //
      ("all", "also probe MX hosts that publish no TLSA records")                            //
      ("json", "print one JSON object (the policy object; each host has `addresses`)")       //
      ("probe-timeout", po::value<double>()->default_value(10.0, "10")->value_name("SECONDS"),
       "time limit for each step of a probe (connect, greeting, EHLO, STARTTLS, handshake)") //
      ("helo", po::value<std::string>()->value_name("NAME"), "name sent with EHLO (default: localhost)");
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
    options.port = static_cast<std::uint16_t>(port);
  }
  options.all = values.count("all") != 0;
  options.json = values.count("json") != 0;
  double seconds = values["probe-timeout"].as<double>();
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > 3600) {
    return make_error("--probe-timeout: must be more than 0 and at most 3600 seconds");
  }
  options.probe_timeout = std::chrono::milliseconds(std::max<long long>(1, std::llround(seconds * 1000)));
  if (values.count("helo") != 0) {
    options.helo = values["helo"].as<std::string>();
    if (options.helo.empty() || options.helo.find_first_of(" \t\r\n") != std::string::npos) {
      return make_error("--helo '" + options.helo + "': must be a host name without white space");
    }
  }
  auto resolver = policyd::resolver_config_from(values);
  if (!resolver) {
    return make_error(resolver.error());
  }
  options.resolver = *resolver;
  return options;
}

bool has_tlsa(const HostResult& host) {
  return host.status == HostStatus::DaneUsable || host.status == HostStatus::TlsaUnusable;
}

std::vector<std::string> unique_names(std::vector<std::string> names) {
  std::vector<std::string> out;
  for (auto& name : names) {
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(std::move(name));
    }
  }
  return out;
}

std::vector<PlannedProbe> plan_probes(const DestinationFacts& facts, const CheckOptions& options,
                                      std::vector<HostCheck>& checks) {
  std::vector<PlannedProbe> plan;
  std::uint16_t port = options.port.value_or(facts.next_hop.port);
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    const HostResult& host = facts.hosts[i];
    HostCheck& check = checks[i];
    if (host.status == HostStatus::Failed && host.addresses.empty()) {
      check.note = "not probed: DNS lookups failed";
      continue;
    }
    if (!has_tlsa(host) && !options.all) {
      check.note = host.status == HostStatus::Failed ? "not probed: TLSA lookup failed (--all probes it)"
                                                     : "not probed: no TLSA records (--all probes it)";
      continue;
    }
    if (host.addresses.empty()) {
      check.note = "not probed: no addresses";
      if (has_tlsa(host)) {
        check.warnings.push_back(host.name + " publishes TLSA records but has no A or AAAA records");
      }
      continue;
    }
    check.probed = true;
    std::vector<std::string> names = {host.tlsa_base, host.name};
    names.insert(names.end(), facts.reference_names.begin(), facts.reference_names.end());
    names = unique_names(std::move(names));
    for (const auto& address : host.addresses) {
      PlannedProbe planned;
      planned.host = i;
      planned.request.address = address;
      planned.request.port = port;
      planned.request.tlsa = host.tlsa;
      planned.request.tlsa_base = host.tlsa_base.empty() ? host.name : host.tlsa_base;
      planned.request.reference_names.assign(names.begin(), names.end());
      planned.request.helo_name = options.helo;
      planned.request.timeout = options.probe_timeout;
      plan.push_back(std::move(planned));
    }
  }
  return plan;
}

// Records that would still authenticate the server after a key or certificate change: a single usable
// record never does; several records that all match only the presented leaf (3 x x of one key) do not either.
void add_rollover_warnings(const HostResult& host, HostCheck& check) {
  std::vector<TlsaRecord> usable;
  for (const auto& record : host.tlsa) {
    if (smtp_usability(record) == TlsaUsability::Usable) {
      usable.push_back(record);
    }
  }
  if (usable.size() == 1) {
    check.warnings.push_back(host.name + " publishes a single TLSA record (" + usable.front().short_string() +
                             ") with no rollover partner: a key or certificate change will break delivery; "
                             "publish the next key's record beside it (current + next) or a DANE-TA record for the "
                             "issuer (current + issuer)");
    return;
  }
  if (usable.size() < 2) {
    return;
  }
  for (const auto& report : check.reports) {
    if (report.chain_pem.empty()) {
      continue;
    }
    std::vector<X509Ptr> owned;
    for (const auto& pem : report.chain_pem) {
      BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
      X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
      if (cert) {
        owned.push_back(std::move(cert));
      }
    }
    std::vector<X509*> chain;
    for (auto& cert : owned) {
      chain.push_back(cert.get());
    }
    auto presented = policyd::certificate_records(chain);
    if (!presented) {
      continue;
    }
    bool leaf_only = std::all_of(usable.begin(), usable.end(), [&](const TlsaRecord& record) {
      return record.usage == TlsaUsage::DaneEe &&
             std::find(presented->leaf.begin(), presented->leaf.end(), record) != presented->leaf.end();
    });
    if (leaf_only) {
      check.warnings.push_back(host.name + " publishes " + std::to_string(usable.size()) +
                               " TLSA records that all match only the current key (" + report.address +
                               "): a key change will break delivery; publish the next key's record (current + "
                               "next) or a DANE-TA record for the issuer (current + issuer)");
    }
    return; // one presented chain is enough
  }
}

bool passed(const ProbeReport& report) { return report.result == ProbeResult::Pass; }

std::string endpoint(const ProbeReport& report) {
  std::string address = report.address.find(':') != std::string::npos ? "[" + report.address + "]" : report.address;
  return address + ":" + std::to_string(report.port);
}

// The final verdict, its exit code and its one-line text.
struct Verdict {
  int exit_code = k_exit_ok;
  std::string result; // "pass", "fail", "tempfail", "none"
  std::string text;
  std::size_t probed = 0;
  std::size_t failed = 0;
};

Verdict final_verdict(const DestinationFacts& facts, const std::vector<HostCheck>& checks) {
  Verdict verdict;
  std::vector<std::string> failures;
  for (const auto& check : checks) {
    for (const auto& report : check.reports) {
      ++verdict.probed;
      if (!passed(report)) {
        ++verdict.failed;
        failures.push_back(endpoint(report) + " " + to_string(report.result));
      }
    }
  }
  std::vector<std::string> dns_failed;
  for (const auto& host : facts.hosts) {
    if (host.status == HostStatus::Failed) {
      dns_failed.push_back(host.name);
    }
  }
  if (facts.outcome == DestinationOutcome::TempFail) {
    verdict.exit_code = k_exit_temp;
    verdict.result = "tempfail";
    verdict.text = "temporary DNS failure: " + facts.reason;
  } else if (verdict.failed > 0) {
    verdict.exit_code = k_exit_negative;
    verdict.result = "fail";
    verdict.text = std::to_string(verdict.failed) + " of " + std::to_string(verdict.probed) + " probed address" +
                   (verdict.probed == 1 ? "" : "es") + " failed (";
    for (std::size_t i = 0; i < failures.size(); ++i) {
      verdict.text += (i == 0 ? "" : ", ") + failures[i];
    }
    verdict.text += ")";
  } else if (!dns_failed.empty()) {
    verdict.exit_code = k_exit_temp;
    verdict.result = "tempfail";
    verdict.text = "DNS lookups failed for ";
    for (std::size_t i = 0; i < dns_failed.size(); ++i) {
      verdict.text += (i == 0 ? "" : ", ") + dns_failed[i];
    }
    if (verdict.probed > 0) {
      verdict.text += "; the " + std::to_string(verdict.probed) + " probed addresses pass";
    }
  } else if (verdict.probed == 0) {
    verdict.result = "none";
    verdict.text = "nothing to probe: " +
                   (facts.reason.empty() ? std::string("no MX host publishes TLSA records") : facts.reason);
  } else {
    verdict.result = "pass";
    verdict.text = verdict.probed == 1 ? std::string("the 1 probed address passes")
                                       : "all " + std::to_string(verdict.probed) + " probed addresses pass";
  }
  return verdict;
}

void print_report(std::ostream& out, const ProbeReport& report) {
  out << "  " << endpoint(report) << " " << to_string(report.result) << ": " << report.reason << "\n";
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

void print_human(std::ostream& out, const DestinationFacts& facts, const policyd::PolicyAnswer& answer,
                 const std::vector<HostCheck>& checks, const Verdict& verdict) {
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
  out << "verdict: " << verdict.result << ": " << verdict.text << "\n";
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
  policyd::PolicyAnswer answer = policyd::decide(facts, policyd::Mode::Native);

  std::vector<HostCheck> checks(facts.hosts.size());
  if (facts.outcome != DestinationOutcome::TempFail) {
    std::vector<PlannedProbe> plan = plan_probes(facts, *options, checks);
    std::vector<ProbeRequest> requests;
    requests.reserve(plan.size());
    for (const auto& planned : plan) {
      requests.push_back(planned.request);
    }
    std::vector<ProbeReport> reports = probe_all(requests, k_max_probes_in_flight);
    for (std::size_t i = 0; i < plan.size(); ++i) {
      checks[plan[i].host].reports.push_back(std::move(reports[i]));
    }
  } else {
    for (auto& check : checks) {
      check.note = "not probed: temporary DNS failure";
    }
  }
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    if (has_tlsa(facts.hosts[i])) {
      add_rollover_warnings(facts.hosts[i], checks[i]);
    }
  }
  Verdict verdict = final_verdict(facts, checks);

  if (options->json) {
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
      const HostCheck& check = checks[index];
      object["probed"] = check.probed;
      for (const auto& report : check.reports) {
        object["addresses"].push_back(policyd::probe_to_json(report, policyd::ProbeJson::Detailed));
      }
      object["warnings"] = check.warnings;
      if (!check.probed) {
        object["note"] = check.note;
      }
    };
    nlohmann::json out = policyd::to_json(facts, answer, hook);
    out["verdict"] = {{"result", verdict.result},
                      {"text", verdict.text},
                      {"probed", verdict.probed},
                      {"failed", verdict.failed}};
    std::cout << out.dump(2) << "\n";
  } else {
    print_human(std::cout, facts, answer, checks, verdict);
  }
  for (const auto& check : checks) {
    for (const auto& warning : check.warnings) {
      if (options->json) {
        std::cerr << "dane-policyctl check: warning: " << warning << "\n";
      }
    }
  }
  return verdict.exit_code;
}

} // namespace dane::ctl
