// The shared resolver options (see dane/policyd/resolver_options.hpp).
// gcc 12 reports a false -Wnull-dereference inside Boost.Program_options'
// typed_value<std::string>::notify (boost::any_cast) when optimising; silence it for this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "dane/daemon/resolver_options.hpp"

#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <sys/stat.h>

namespace po = boost::program_options;

namespace dane::policyd {

void add_resolver_options(po::options_description& description) {
  description.add_options()("unbound-config", po::value<std::string>()->value_name("FILE"),
                            "unbound.conf fragment for the validating resolver (stub zones, trust anchors, ...)")(
      "forwarder", po::value<std::vector<std::string>>()->composing()->value_name("ADDR[@PORT]"),
      "forward queries to this recursive resolver (repeatable); DNSSEC is still validated locally")(
      "trust-anchor-file", po::value<std::string>()->value_name("FILE"),
      "DNSSEC trust anchor file (default /usr/share/dns/root.key)")(
      "dns-timeout", po::value<double>()->default_value(10.0, "10")->value_name("SECONDS"),
      "time limit for the DNS evaluation of one destination");
}

Status check_forwarder(const std::string& value) {
  std::string address = value;
  auto at = value.rfind('@');
  if (at != std::string::npos) {
    address = value.substr(0, at);
    std::string port_text = value.substr(at + 1);
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return make_error("--forwarder " + value + ": port '" + port_text + "' is not a number from 1 to 65535");
    }
  }
  unsigned char buf[16];
  if (::inet_pton(AF_INET, address.c_str(), buf) != 1 && ::inet_pton(AF_INET6, address.c_str(), buf) != 1) {
    return make_error("--forwarder " + value + ": '" + address + "' is not an IPv4 or IPv6 address");
  }
  return Ok{};
}

Status check_resolver_file(const std::string& option, const std::string& path) {
  if (path.empty()) {
    return make_error(option + ": empty file name");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Ok{}; // a missing or unreadable file is reported when the resolver is made
  }
  if (S_ISREG(st.st_mode)) {
    return Ok{};
  }
  const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "a device";
  return make_error(option + " " + path + ": is " + kind + ", expected a file");
}

Expected<ResolverConfig> resolver_config_from(const po::variables_map& values) {
  ResolverConfig config;
  if (values.count("unbound-config") != 0) {
    config.unbound_config = values["unbound-config"].as<std::string>();
    if (auto ok = check_resolver_file("--unbound-config", config.unbound_config); !ok) {
      return make_error(ok.error());
    }
  }
  if (values.count("forwarder") != 0) {
    config.forwarders = values["forwarder"].as<std::vector<std::string>>();
    for (const auto& forwarder : config.forwarders) {
      if (auto ok = check_forwarder(forwarder); !ok) {
        return make_error(ok.error());
      }
    }
  }
  if (values.count("trust-anchor-file") != 0) {
    config.trust_anchor_file = values["trust-anchor-file"].as<std::string>();
    if (auto ok = check_resolver_file("--trust-anchor-file", config.trust_anchor_file); !ok) {
      return make_error(ok.error());
    }
  }
  if (values.count("dns-timeout") != 0) {
    double seconds = values["dns-timeout"].as<double>();
    if (!std::isfinite(seconds) || seconds <= 0 || seconds > 3600) {
      return make_error("--dns-timeout " + std::to_string(seconds) + ": must be more than 0 and at most 3600 seconds");
    }
    config.timeout = std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000)));
    if (config.timeout.count() == 0) {
      config.timeout = std::chrono::milliseconds(1);
    }
  }
  return config;
}

} // namespace dane::policyd
