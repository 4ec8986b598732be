// Quoting of untrusted bytes for error messages and log lines (dane/text.hpp).
#include "dane/core/text.hpp"

namespace dane {

std::string quote_untrusted(std::string_view bytes, std::size_t max, Spaces spaces) {
  const bool keep_space = spaces == Spaces::Keep;
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() < max ? bytes.size() : max);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    bool plain = c > 0x20 && c < 0x7f && c != '%';
    bool as_is = plain || (keep_space && c == ' ');
    std::size_t need = as_is ? 1 : 3;
    if (out.size() + need > max) {
      out += "...";
      return out;
    }
    if (as_is) {
      out += ch;
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 0x0f];
    }
  }
  return out;
}

void scrub_control_bytes(std::string& text) {
  for (char& ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      ch = '?';
    }
  }
}

} // namespace dane
