// parse_next_hop(): Postfix's TLS-policy lookup keys (see dane/verifier/destination.hpp).
#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "dane/core/text.hpp"
#include "dane/verifier/destination.hpp"

namespace dane {
namespace {

bool is_ipv4_literal(std::string_view name) {
  int labels = 0;
  std::size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 3 ||
        !std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++labels;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return labels == 4;
}

Status check_host_name(std::string_view name) {
  if (name.empty()) {
    return make_error("empty domain name");
  }
  if (name.size() > 253) {
    return make_error("domain name longer than 253 characters");
  }
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) {
      return make_error("empty label in '" + quote_untrusted(name) + "'");
    }
    if (label.size() > 63) {
      return make_error("label longer than 63 characters in '" + quote_untrusted(name) + "'");
    }
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) {
        return make_error("character '" + quote_untrusted(std::string_view(&c, 1)) + "' not allowed in domain name '" +
                          quote_untrusted(name) + "'");
      }
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return Ok{};
}

} // namespace

Expected<NextHop> parse_next_hop(std::string_view key) {
  NextHop hop;
  hop.key = std::string(key);
  std::string text = ascii_lower(key);
  if (text.empty()) {
    return make_error("empty lookup key");
  }
  std::string host;
  std::string port_text;
  bool has_port = false;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) {
      return make_error("missing ']' in '" + quote_untrusted(hop.key) + "'");
    }
    host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return make_error("unexpected text after ']' in '" + quote_untrusted(hop.key) + "'");
      }
      port_text = rest.substr(1);
      has_port = true;
    }
    hop.bracketed = true;
  } else {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    if (!host.empty() && host.front() == '.') {
      hop.parent_key = true;
      host.erase(0, 1);
    }
  }
  if (has_port) {
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return make_error("bad port '" + quote_untrusted(port_text) + "' in '" + quote_untrusted(hop.key) + "'");
    }
    hop.port = static_cast<std::uint16_t>(port);
  }
  if (hop.bracketed && (host.rfind("ipv6:", 0) == 0 || is_ipv4_literal(host))) {
    hop.domain = host;
    hop.ip_literal = true;
    return hop;
  }
  if (host.size() > 1 && host.back() == '.') {
    host.pop_back();
  }
  if (auto ok = check_host_name(host); !ok) {
    return make_error("malformed lookup key '" + quote_untrusted(hop.key) + "': " + ok.error());
  }
  hop.domain = host;
  return hop;
}

} // namespace dane
