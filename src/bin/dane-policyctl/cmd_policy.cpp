// dane-policyctl policy DESTINATION [resolver options] [--mode native|pinned|monitor] [--json]
//
// DNS only: evaluates DESTINATION exactly as dane-policyd does (same lookup keys: "domain",
// "[host]", "[host]:port", parent keys ".domain") and prints the socketmap answer and why,
// host by host. With --mta-sts, a destination without DANE is looked up as the daemon's --mta-sts does
// (TXT record, the policy fetched over HTTPS with PKIX, or read from --state-dir's mta-sts store, read
// only) and the answer is the daemon's MTA-STS answer. Exit codes (docs/design.md §5): 0 an answer was determined
// (NOTFOUND included), 3 the answer is TEMP, 2 bad input (unknown option, malformed key, unusable resolver options).
#include <fstream>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/core/time.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/policy/ta_store.hpp"
#include "dane/verifier/destination.hpp"
#include "sts_lookup.hpp"

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

void print_sts(std::ostream& out, const StsFacts& sts) {
  out << "mta-sts:     " << sts.domain << ": source " << to_string(sts.source);
  if (!sts.txt_id.empty()) {
    out << ", TXT id " << sts.txt_id;
  }
  out << "\n";
  auto line = [&out](const char* label, const std::string& value) {
    if (!value.empty()) {
      out << "  " << label << value << "\n";
    }
  };
  line("txt error:   ", sts.txt_error);
  if (sts.policy) {
    out << "  policy:      " << sts.policy_id << ", mode " << to_string(sts.policy->mode) << ", max_age "
        << sts.policy->max_age << "\n";
    for (const auto& m : sts.policy->mx) {
      out << "  mx:          " << m << "\n";
    }
  }
  line("fetched:     ", sts.fetched ? format_rfc3339(*sts.fetched) : std::string());
  line("expires:     ", sts.expires ? format_rfc3339(*sts.expires) : std::string());
  line("fetch error: ", sts.fetch_error);
  line("store error: ", sts.store_error);
}

// --state-dir, or its older name --ta-dir; "" when neither is given.
Expected<std::string> state_dir(const po::variables_map& values) {
  std::string dir = values.count("state-dir") != 0 ? values["state-dir"].as<std::string>() : std::string();
  if (values.count("ta-dir") != 0) {
    const std::string& old = values["ta-dir"].as<std::string>();
    if (!dir.empty() && old != dir) {
      return make_error("--ta-dir and --state-dir name different directories");
    }
    dir = old;
  }
  return dir;
}

// --mta-sts given: the STS step; an unreadable --mta-sts-ca-file is an error.
Status maybe_add_sts(const po::variables_map& values, Resolver& resolver, DestinationFacts& facts,
                     const std::string& state_dir) {
  if (values.count("mta-sts") == 0) {
    return Ok{};
  }
  const std::string ca_file =
      values.count("mta-sts-ca-file") != 0 ? values["mta-sts-ca-file"].as<std::string>() : std::string();
  if (!ca_file.empty() && !std::ifstream(ca_file)) {
    return make_error("--mta-sts-ca-file " + ca_file + ": cannot be read");
  }
  add_sts_blocking(resolver, facts, ca_file, state_dir.empty() ? std::string() : state_dir + "/mta-sts", false);
  return Ok{};
}

po::options_description policy_options() {
  po::options_description visible("dane-policyctl policy DESTINATION [options]\n\n"
                                  "Prints the answer dane-policyd would give for DESTINATION (a Postfix TLS policy\n"
                                  "lookup key: domain, [host], [host]:port, .parent) and why, host by host.\n"
                                  "Exit: 0 answer determined (NOTFOUND included), 3 TEMP, 2 bad input.\n\nOptions");
  visible.add_options()("help,h", "show this help")("mode", po::value<std::string>()->default_value("native"),
                                                    "native, pinned or monitor")(
      "fingerprint-digest", po::value<std::string>()->default_value("sha256"),
      "pinned mode: Postfix's smtp_tls_fingerprint_digest")(
      "state-dir", po::value<std::string>()->value_name("DIR"),
      "pinned mode: the trust-anchor store, as dane-policyd's --state-dir: DANE-TA destinations are\n"
      "answered 'secure' from anchors in their records (2 x 0) or captured by the daemon's probes")(
      "ta-dir", po::value<std::string>()->value_name("DIR"), "the same as --state-dir (older name)")(
      "mta-sts", "as dane-policyd --mta-sts: a destination without DANE gets its MTA-STS answer (policy "
                 "fetched now, or read from --state-dir's mta-sts store, which is never written)")(
      "mta-sts-ca-file", po::value<std::string>()->value_name("FILE"),
      "CAs trusted for the policy fetch (default: the system's trust store)")(
      "json", "print one JSON object (docs/design.md §6 fields)");
  policyd::add_resolver_options(visible);
  return visible;
}

} // namespace

int cmd_policy(int argc, char** argv) {
  const po::options_description visible = policy_options();
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
  auto store_dir = state_dir(values);
  if (!store_dir) {
    std::cerr << "dane-policyctl policy: " << store_dir.error() << "\n";
    return k_exit_usage;
  }
  std::optional<policyd::TrustAnchorStore> anchors;
  if (!store_dir->empty()) {
    anchors.emplace(*store_dir);
    pinned.ta_file = [&anchors](const DestinationFacts& f) { return anchors->file_for(f); };
  }
  if (auto st = maybe_add_sts(values, **resolver, facts, *store_dir); !st) {
    std::cerr << "dane-policyctl policy: " << st.error() << "\n";
    return k_exit_usage;
  }
  policyd::PolicyAnswer answer = policyd::decide(facts, *mode, pinned);
  if (values.count("json") != 0) {
    nlohmann::json j = policyd::to_json(facts, answer);
    j["mode"] = policyd::to_string(*mode);
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(std::cout, facts, answer, *mode);
    if (facts.sts) {
      print_sts(std::cout, *facts.sts);
    }
  }
  return answer.policy == policyd::PolicyKind::TempFail ? k_exit_temp : k_exit_ok;
}

} // namespace dane::ctl
