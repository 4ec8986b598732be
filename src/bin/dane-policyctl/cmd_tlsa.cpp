// dane-policyctl tlsa — generate a TLSA record from a PEM certificate, chain or key (docs/design.md §5).
//
//   dane-policyctl tlsa [-u USAGE] [-s SELECTOR] [-m MTYPE] [--host NAME] [--port 25] [--proto tcp]
//                [--cert-index N] FILE
//
// Prints "U S M hex" (lowercase), or with --host the zone-file line
// "_PORT._PROTO.NAME. IN TLSA U S M hex". Exit 0 on success, 2 on any usage or
// input error (unreadable file, no PEM, bad option value, unknown option,
// selector 0 from a key).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/core/text.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::ctl {
namespace {

namespace po = boost::program_options;

constexpr std::string_view k_usage_text =
    "usage: dane-policyctl tlsa [-u USAGE] [-s SELECTOR] [-m MTYPE] [--host NAME] [--port 25] [--proto tcp]\n"
    "                    [--cert-index N] FILE\n";

std::optional<unsigned long> parse_number(std::string_view text) {
  unsigned long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

struct Mnemonic {
  std::string_view name;
  std::uint8_t value;
};

// A field value: a number in [0, max] or an RFC 7218 mnemonic.
Expected<std::uint8_t> parse_field(std::string_view option, std::string_view text, unsigned max,
                                   std::initializer_list<Mnemonic> names) {
  if (auto n = parse_number(text); n && *n <= max) {
    return static_cast<std::uint8_t>(*n);
  }
  std::string l = ascii_lower(text);
  for (const auto& m : names) {
    if (l == m.name) {
      return m.value;
    }
  }
  std::string allowed;
  for (const auto& m : names) {
    allowed += (allowed.empty() ? "" : ", ") + std::to_string(m.value) + " (" + std::string(m.name) + ")";
  }
  return make_error(std::string(option) + " '" + std::string(text) + "' is not valid; use one of " + allowed);
}

int fail(const std::string& message) {
  std::cerr << "dane-policyctl tlsa: " << message << "\n";
  return k_exit_usage;
}

// The checked option values of one run.
struct TlsaArgs {
  TlsaUsage usage{};
  TlsaSelector selector{};
  TlsaMatchingType mtype{};
  unsigned long port = 25;
  std::string proto;
  unsigned long index = 0;
  std::string host; // empty: print the record only
};

Expected<std::string> parse_host(const po::variables_map& vm) {
  if (vm.count("host") == 0) {
    return std::string();
  }
  std::string host = vm["host"].as<std::string>();
  while (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  if (host.empty() || host.find_first_of(" \t\r\n") != std::string::npos || host.size() > 253) {
    return make_error("--host '" + vm["host"].as<std::string>() + "' is not a host name");
  }
  return host;
}

Expected<TlsaArgs> parse_tlsa_args(const po::variables_map& vm) {
  TlsaArgs args;
  // RFC 7218 mnemonics accepted next to the numbers.
  auto usage = parse_field("usage", vm["usage"].as<std::string>(), 3,
                           {{"pkix-ta", 0}, {"pkix-ee", 1}, {"dane-ta", 2}, {"dane-ee", 3}});
  if (!usage) {
    return make_error(usage.error());
  }
  auto selector = parse_field("selector", vm["selector"].as<std::string>(), 1, {{"cert", 0}, {"spki", 1}});
  if (!selector) {
    return make_error(selector.error());
  }
  auto mtype =
      parse_field("matching type", vm["mtype"].as<std::string>(), 2, {{"full", 0}, {"sha2-256", 1}, {"sha2-512", 2}});
  if (!mtype) {
    return make_error(mtype.error());
  }
  args.usage = TlsaUsage{*usage};
  args.selector = TlsaSelector{*selector};
  args.mtype = TlsaMatchingType{*mtype};
  auto port = parse_number(vm["port"].as<std::string>());
  if (!port || *port == 0 || *port > 65535) {
    return make_error("--port '" + vm["port"].as<std::string>() + "' is not a port number (1-65535)");
  }
  args.port = *port;
  args.proto = ascii_lower(vm["proto"].as<std::string>());
  if (args.proto.empty() || !std::all_of(args.proto.begin(), args.proto.end(),
                                         [](unsigned char c) { return std::isalnum(c) != 0 || c == '-'; })) {
    return make_error("--proto '" + vm["proto"].as<std::string>() + "' is not a protocol label (tcp, udp, sctp)");
  }
  auto index = parse_number(vm["cert-index"].as<std::string>());
  if (!index) {
    return make_error("--cert-index '" + vm["cert-index"].as<std::string>() + "' is not a number (0 = first)");
  }
  args.index = *index;
  auto host = parse_host(vm);
  if (!host) {
    return make_error(host.error());
  }
  args.host = std::move(*host);
  return args;
}

// The record for the chosen certificate of the file, or for its key when it holds no certificate.
Expected<TlsaRecord> record_from_file(const std::string& file, const TlsaArgs& args) {
  auto named = [&](Expected<TlsaRecord> record) -> Expected<TlsaRecord> {
    if (!record) {
      return make_error(file + ": " + record.error());
    }
    return record;
  };
  auto bundle = load_pem_bundle_file(file);
  if (!bundle) {
    return make_error(bundle.error());
  }
  if (!bundle->certs.empty()) {
    if (args.index >= bundle->certs.size()) {
      return make_error(file + " holds " + std::to_string(bundle->certs.size()) + " certificate(s); --cert-index " +
                        std::to_string(args.index) + " is out of range (0 = first)");
    }
    return named(make_tlsa(bundle->certs[args.index].get(), args.usage, args.selector, args.mtype));
  }
  EVP_PKEY* key = !bundle->public_keys.empty()    ? bundle->public_keys.front().get()
                  : !bundle->private_keys.empty() ? bundle->private_keys.front().get()
                                                  : nullptr;
  if (key == nullptr) {
    return make_error(file + ": no certificate or key found");
  }
  if (args.index != 0) {
    return make_error("--cert-index " + std::to_string(args.index) + " given, but " + file + " holds no certificate");
  }
  if (args.selector != TlsaSelector::Spki) {
    return make_error(file + " holds a key (" + describe_key(key) +
                      "), not a certificate: a key gives only selector 1 (SPKI); selector 0 needs the certificate");
  }
  return named(make_tlsa(key, args.usage, args.selector, args.mtype));
}

} // namespace

int cmd_tlsa(int argc, char** argv) {
  po::options_description options("dane-policyctl tlsa options");
  options.add_options()("help,h", "show this help")("usage,u", po::value<std::string>()->default_value("3"),
                                                    "certificate usage 0-3 (or PKIX-TA, PKIX-EE, DANE-TA, DANE-EE)")(
      "selector,s", po::value<std::string>()->default_value("1"), "selector 0 (Cert, full certificate) or 1 (SPKI)")(
      "mtype,m", po::value<std::string>()->default_value("1"), "matching type 0 (Full), 1 (SHA2-256), 2 (SHA2-512)")(
      "host", po::value<std::string>(), "print a zone-file line for this host name")(
      "port", po::value<std::string>()->default_value("25"), "port of the TLSA owner name (with --host)")(
      "proto", po::value<std::string>()->default_value("tcp"), "protocol label of the TLSA owner name (with --host)")(
      "cert-index", po::value<std::string>()->default_value("0"), "which certificate of a chain file (0 = first)");
  auto parsed = parse_command_line(argc, argv, options, "file"); // the PEM certificate, chain or key
  if (!parsed) {
    std::cerr << "dane-policyctl tlsa: " << parsed.error() << "\n" << k_usage_text;
    return k_exit_usage;
  }
  const po::variables_map& vm = *parsed;
  if (vm.count("help") != 0) {
    std::cout << k_usage_text << options;
    return k_exit_ok;
  }
  if (vm.count("file") == 0) {
    std::cerr << "dane-policyctl tlsa: missing FILE (a PEM certificate, chain or key)\n" << k_usage_text;
    return k_exit_usage;
  }
  const auto& files = vm["file"].as<std::vector<std::string>>();
  if (files.size() != 1) {
    std::cerr << "dane-policyctl tlsa: exactly one FILE expected, got " << files.size() << "\n" << k_usage_text;
    return k_exit_usage;
  }
  const std::string& file = files.front();
  auto args = parse_tlsa_args(vm);
  if (!args) {
    return fail(args.error());
  }
  auto record = record_from_file(file, *args);
  if (!record) {
    return fail(record.error());
  }
  if (!args->host.empty()) {
    std::cout << "_" << args->port << "._" << args->proto << "." << args->host << ". IN TLSA " << record->to_string()
              << "\n";
  } else {
    std::cout << record->to_string() << "\n";
  }
  return k_exit_ok;
}

} // namespace dane::ctl
