// libFuzzer target: parse_next_hop (src/verifier/destination.cpp), which turns every socketmap / tcp_table
// / policy key from Postfix into a destination. Properties: no crash; an accepted key that is not an IP
// literal yields a DNS name of at most 253 characters made of lowercase LDH/underscore labels of 1..63
// characters with no trailing dot, and a port from 1 to 65535; a rejected key has a non-empty error.
#include <string>

#include "dane/verifier/destination.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view key(reinterpret_cast<const char*>(data), size);
  auto hop = dane::parse_next_hop(key);
  if (!hop) {
    FUZZ_CHECK(!hop.error().empty());
    return 0;
  }
  FUZZ_CHECK(hop->key == key);
  FUZZ_CHECK(hop->port != 0);
  if (hop->ip_literal) {
    FUZZ_CHECK(hop->bracketed);
    return 0;
  }
  const std::string& d = hop->domain;
  FUZZ_CHECK(!d.empty() && d.size() <= 253 && d.back() != '.' && d.front() != '.');
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      FUZZ_CHECK(label > 0);
      label = 0;
      continue;
    }
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    ++label;
    FUZZ_CHECK(label <= 63);
  }
  FUZZ_CHECK(!(hop->bracketed && hop->parent_key));
  return 0;
}
