// OpenSSL error queue to text (contract: dane/verifier/openssl_error.hpp).
#include "dane/verifier/openssl_error.hpp"

#include <array>

#include <openssl/err.h>

namespace dane {

std::string openssl_error_text(std::string_view context) {
  unsigned long last = 0;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    last = code;
  }
  if (last == 0) {
    return std::string(context) + " failed without an OpenSSL error report";
  }
  if (const char* reason = ERR_reason_error_string(last); reason != nullptr) {
    return reason;
  }
  std::array<char, 256> buf{};
  ERR_error_string_n(last, buf.data(), buf.size());
  return buf.data();
}

} // namespace dane
