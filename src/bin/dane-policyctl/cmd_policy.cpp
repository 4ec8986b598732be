// dane-policyctl policy DESTINATION [resolver options] [--mode native|pinned|monitor] [--json]
//
// DNS only: evaluates DESTINATION exactly as dane-policyd does (same lookup keys: "domain",
// "[host]", "[host]:port", parent keys ".domain") and prints the socketmap answer and why,
// host by host. Exit codes (docs/design.md §5): 0 an answer was determined (NOTFOUND included),
// 3 the answer is TEMP, 2 bad input (unknown option, malformed key, unusable resolver options).
#include <iostream>

#include <boost/program_options.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/policy/ta_file.hpp"

namespace po = boost::program_options;

namespace dane::ctl {
namespace {

void print_text(std::ostream& out, const DestinationFacts& facts, const policyd::PolicyAnswer& answer,
                policyd::Mode mode) {
  out << "destination: " << facts.next_hop.key << "\n";
  out << "answer:      " << answer.answer << "\n";
  if (answer.would_answer != answer.answer) {
    out << "would answer: " << answer.would_answer << " (" << policyd::to_string(mode) << " mode)\n";
  }
  out << "policy:      " << policyd::to_string(answer.policy) << "\n";
  out << "reason:      " << answer.reason << "\n";
  for (const auto& h : facts.hosts) {
    out << "host " << h.name;
    if (!facts.next_hop.bracketed) {
      out << " (MX preference " << h.preference << ")";
    }
    out << ": " << to_string(h.status) << ", dnssec " << to_string(h.dnssec) << "\n";
    if (!h.canonname.empty()) {
      out << "  alias of:  " << h.canonname << "\n";
    }
    if (!h.addresses.empty()) {
      out << "  addresses:";
      for (const auto& a : h.addresses) {
        out << " " << a;
      }
      out << "\n";
    }
    if (!h.tlsa_base.empty()) {
      out << "  tlsa_base: " << h.tlsa_base << " (" << h.tlsa_owner << ")\n";
    }
    for (const auto& r : h.tlsa) {
      out << "  TLSA " << r.to_string() << (smtp_usability(r) == TlsaUsability::Usable ? "" : "  [unusable]") << "\n";
    }
    out << "  why:       " << h.reason << "\n";
  }
}

} // namespace

int cmd_policy(int argc, char** argv) {
  po::options_description visible("dane-policyctl policy DESTINATION [options]\n\n"
                                  "Prints the answer dane-policyd would give for DESTINATION (a Postfix TLS policy\n"
                                  "lookup key: domain, [host], [host]:port, .parent) and why, host by host.\n"
                                  "Exit: 0 answer determined (NOTFOUND included), 3 TEMP, 2 bad input.\n\nOptions");
  visible.add_options()
      ("help,h", "show this help")
      ("mode", po::value<std::string>()->default_value("native"), "native, pinned or monitor")
      ("fingerprint-digest", po::value<std::string>()->default_value("sha256"),
       "pinned mode: Postfix's smtp_tls_fingerprint_digest")
      ("ta-dir", po::value<std::string>()->value_name("DIR"),
       "pinned mode: write trust-anchor files for DANE-TA records (2 x 0) here and answer 'secure'")
      ("json", "print one JSON object (docs/design.md §6 fields)");
  policyd::add_resolver_options(visible);
  auto parsed = parse_command_line(argc, argv, visible, "destination");
  if (!parsed) {
    std::cerr << "dane-policyctl policy: " << parsed.error() << "\n";
    return k_exit_usage;
  }
  const po::variables_map& values = *parsed;
  if (values.count("help") != 0) {
    std::cout << visible << "\n";
    return k_exit_ok;
  }
  auto destinations = values.count("destination") != 0 ? values["destination"].as<std::vector<std::string>>()
                                                        : std::vector<std::string>{};
  if (destinations.size() != 1) {
    std::cerr << "dane-policyctl policy: exactly one DESTINATION is required (see --help)\n";
    return k_exit_usage;
  }
  const std::string& destination = destinations.front();
  auto mode = policyd::parse_mode(values["mode"].as<std::string>());
  if (!mode) {
    std::cerr << "dane-policyctl policy: --mode: " << mode.error() << "\n";
    return k_exit_usage;
  }
  if (auto hop = parse_next_hop(destination); !hop) {
    std::cerr << "dane-policyctl policy: " << hop.error() << "\n";
    return k_exit_usage;
  }
  auto config = policyd::resolver_config_from(values);
  if (!config) {
    std::cerr << "dane-policyctl policy: " << config.error() << "\n";
    return k_exit_usage;
  }
  auto resolver = make_unbound_resolver(*config);
  if (!resolver) {
    std::cerr << "dane-policyctl policy: " << resolver.error() << "\n";
    return k_exit_usage;
  }
  DestinationFacts facts = evaluate_destination(**resolver, destination);
  policyd::PinnedOptions pinned;
  pinned.fingerprint_digest = values["fingerprint-digest"].as<std::string>();
  if (values.count("ta-dir") != 0) {
    std::string dir = values["ta-dir"].as<std::string>();
    pinned.ta_file = [dir](const DestinationFacts& f) { return policyd::write_ta_file(f, dir); };
  }
  policyd::PolicyAnswer answer = policyd::decide(facts, *mode, pinned);
  if (values.count("json") != 0) {
    nlohmann::json j = policyd::to_json(facts, answer);
    j["mode"] = policyd::to_string(*mode);
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(std::cout, facts, answer, *mode);
  }
  return answer.answer.rfind("TEMP", 0) == 0 ? k_exit_temp : k_exit_ok;
}

} // namespace dane::ctl
