// dane-policyctl verify — verify a PEM chain against TLSA records, offline (docs/design.md §5).
//
//   dane-policyctl verify --tlsa "U S M HEX" [--tlsa ...] --chain FILE [--name NAME ...] [--time UNIX] [--json]
//
// Uses dane::verify_chain (OpenSSL's DANE engine, SMTP semantics). Says which record
// matched at which depth, or why each usable record did not; lists unusable records.
// Exit 0 verified, 1 not verified (also: only a DANE-TA record matched and no --name was
// given, so the names RFC 7672 §3.2.2 requires could not be checked), 2 bad input
// (unreadable/non-PEM chain, a TLSA string that does not parse, no usable record given, bad option).
#include <algorithm>
#include <charconv>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/x509.h>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/verifier/match.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::ctl {
namespace {

namespace po = boost::program_options;

constexpr std::string_view k_usage_text = "usage: dane-policyctl verify --tlsa \"U S M HEX\" [--tlsa ...] --chain FILE "
                                          "[--name NAME ...] [--time UNIX] [--json]\n";

// RFC 7672 §3.2.2: a DANE-TA chain is only authenticated when the server certificate also matches a
// reference identifier (the MX host name, the next-hop domain). Without --name those checks cannot be
// made, so a chain whose only authority is a DANE-TA record is not reported as verified: it is "not
// verified" (exit 1), failure "names-not-checked", and the reason says what to add. DANE-EE matches
// do not depend on names (RFC 7672 §3.1.1) and stay verified.
bool names_unchecked_dane_ta(const Verdict& verdict) {
  return verdict.status == MatchStatus::Verified && !verdict.names_checked && verdict.matched &&
         verdict.matched->usage == TlsaUsage::DaneTa;
}

void refuse_unchecked_names(Verdict& verdict) {
  verdict.reason = usage_name(verdict.matched->usage) + " " + verdict.matched->short_string() + " matched at depth " +
                   std::to_string(verdict.depth) +
                   ", but no --name was given, so the certificate names were not checked (RFC 7672 §3.2.2 requires "
                   "them for DANE-TA): give the MX host name and the next-hop domain with --name";
  verdict.status = MatchStatus::NotVerified;
  verdict.matched.reset();
  verdict.depth = -1;
}

int fail(const std::string& message) {
  std::cerr << "dane-policyctl verify: " << message << "\n";
  return k_exit_usage;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return "";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

nlohmann::json to_json(const Verdict& verdict, const CertChain& chain, const std::vector<std::string>& names,
                       const std::optional<std::time_t>& when, bool names_unchecked) {
  nlohmann::json out;
  out["verified"] = verdict.status == MatchStatus::Verified;
  out["status"] = to_string(verdict.status);
  out["failure"] = names_unchecked ? "names-not-checked" : to_string(verdict.failure);
  out["reason"] = verdict.reason;
  out["matched"] = verdict.matched ? nlohmann::json(verdict.matched->to_string()) : nlohmann::json(nullptr);
  out["matched_usage"] = verdict.matched ? nlohmann::json(usage_name(verdict.matched->usage)) : nlohmann::json(nullptr);
  out["depth"] = verdict.depth >= 0 ? nlohmann::json(verdict.depth) : nlohmann::json(nullptr);
  out["x509_error"] = verdict.x509_error;
  out["x509_error_text"] = verdict.x509_error != 0 ? nlohmann::json(X509_verify_cert_error_string(verdict.x509_error))
                                                   : nlohmann::json(nullptr);
  out["error_depth"] = verdict.error_depth >= 0 ? nlohmann::json(verdict.error_depth) : nlohmann::json(nullptr);
  out["names"] = names;
  out["names_checked"] = verdict.names_checked;
  out["time"] = when ? nlohmann::json(static_cast<long long>(*when)) : nlohmann::json(nullptr);
  nlohmann::json records = nlohmann::json::array();
  for (const auto& r : verdict.records) {
    records.push_back({{"tlsa", r.record.to_string()},
                       {"usage", usage_name(r.record.usage)},
                       {"usable", r.result != RecordResult::Unusable},
                       {"result", to_string(r.result)},
                       {"depth", r.depth >= 0 ? nlohmann::json(r.depth) : nlohmann::json(nullptr)},
                       {"failure", to_string(r.failure)},
                       {"note", r.note}});
  }
  out["records"] = records;
  nlohmann::json certs = nlohmann::json::array();
  for (std::size_t i = 0; i < chain.certs.size(); ++i) {
    certs.push_back({{"depth", i},
                     {"subject", name_text(X509_get_subject_name(chain.certs[i].get()))},
                     {"issuer", name_text(X509_get_issuer_name(chain.certs[i].get()))}});
  }
  out["chain"] = certs;
  return out;
}

void print_text(const Verdict& verdict, std::ostream& out) {
  if (verdict.status == MatchStatus::Verified) {
    out << verdict.reason << "\n";
  } else {
    out << "Not verified: " << verdict.reason << "\n";
  }
  for (const auto& r : verdict.records) {
    out << "  " << usage_name(r.record.usage) << " " << r.record.short_string() << ": " << r.note << "\n";
  }
  bool any_dane_ta = std::any_of(verdict.records.begin(), verdict.records.end(), [](const RecordOutcome& r) {
    return r.record.usage == TlsaUsage::DaneTa && r.result != RecordResult::Unusable;
  });
  if (!verdict.names_checked && any_dane_ta) {
    out << "note: no --name given; DANE-TA certificate names are not checked\n";
  }
}

// The records, reference names and time of the command line, checked.
Expected<Ok> fill_input(const po::variables_map& vm, MatchInput& input) {
  for (const auto& text : vm["tlsa"].as<std::vector<std::string>>()) {
    auto record = parse_tlsa(text);
    if (!record) {
      return make_error("--tlsa '" + text + "': " + record.error());
    }
    input.tlsa.push_back(std::move(*record));
  }
  if (vm.count("name") != 0) {
    for (const auto& name : vm["name"].as<std::vector<std::string>>()) {
      if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos) {
        return make_error("--name '" + name + "' is not a host name");
      }
      input.reference_names.push_back(name);
    }
  }
  if (vm.count("time") != 0) {
    const std::string& text = vm["time"].as<std::string>();
    long long value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
      return make_error("--time '" + text + "' is not a UNIX time (seconds since 1970)");
    }
    input.time = static_cast<std::time_t>(value);
  }
  return Ok{};
}

int exit_status(const Verdict& verdict) {
  switch (verdict.status) {
  case MatchStatus::Verified:
    return k_exit_ok;
  case MatchStatus::NotVerified:
    return k_exit_negative;
  case MatchStatus::NoUsableRecords:
    std::cerr << "dane-policyctl verify: no usable TLSA record given (only DANE-TA(2) and DANE-EE(3) records with a "
                 "known selector and matching type and well-formed data are usable for SMTP)\n";
    return k_exit_usage;
  }
  return k_exit_usage;
}

} // namespace

int cmd_verify(int argc, char** argv) {
  po::options_description options("dane-policyctl verify options");
  options.add_options()("help,h", "show this help")("tlsa", po::value<std::vector<std::string>>(),
                                                    "a TLSA record \"U S M HEX\" (repeatable)")(
      "chain", po::value<std::string>(), "PEM file with the server's chain, leaf first")(
      "name", po::value<std::vector<std::string>>(),
      "reference name for DANE-TA name checks (repeatable; without one a DANE-TA match is not verified)")(
      "time", po::value<std::string>(),
      "verification time, seconds since 1970 (default: now)")("json", "print one JSON object");
  auto parsed = parse_command_line(argc, argv, options, "stray");
  if (!parsed) {
    std::cerr << "dane-policyctl verify: " << parsed.error() << "\n" << k_usage_text;
    return k_exit_usage;
  }
  const po::variables_map& vm = *parsed;
  if (vm.count("help") != 0) {
    std::cout << k_usage_text << options;
    return k_exit_ok;
  }
  if (vm.count("stray") != 0) {
    std::cerr << "dane-policyctl verify: unexpected argument '" << vm["stray"].as<std::vector<std::string>>().front()
              << "' (records go in --tlsa \"U S M HEX\", the chain in --chain FILE)\n"
              << k_usage_text;
    return k_exit_usage;
  }
  if (vm.count("tlsa") == 0) {
    std::cerr << "dane-policyctl verify: at least one --tlsa \"U S M HEX\" is required\n" << k_usage_text;
    return k_exit_usage;
  }
  if (vm.count("chain") == 0) {
    std::cerr << "dane-policyctl verify: --chain FILE is required\n" << k_usage_text;
    return k_exit_usage;
  }

  MatchInput input;
  if (auto filled = fill_input(vm, input); !filled) {
    return fail(filled.error());
  }
  auto chain = load_pem_chain_file(vm["chain"].as<std::string>());
  if (!chain) {
    return fail(chain.error());
  }
  input.chain = &*chain;

  Verdict verdict = verify_chain(input);
  const bool names_unchecked = names_unchecked_dane_ta(verdict);
  if (names_unchecked) {
    refuse_unchecked_names(verdict);
  }
  if (vm.count("json") != 0) {
    std::cout << to_json(verdict, *chain, input.reference_names, input.time, names_unchecked).dump(2) << "\n";
  } else {
    print_text(verdict, std::cout);
  }
  return exit_status(verdict);
}

} // namespace dane::ctl
