// Shared text helpers (dane/core/text.hpp).
#include "dane/core/text.hpp"

namespace dane {

namespace {
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
} // namespace

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += separator;
    }
    out += items[i];
  }
  return out;
}

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(k_digits[b >> 4]);
    out.push_back(k_digits[b & 0x0f]);
  }
  return out;
}

Expected<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  out.reserve(hex.size() / 2);
  int high = -1;
  for (std::size_t i = 0; i < hex.size(); ++i) {
    char c = hex[i];
    if (is_space(c)) {
      continue;
    }
    int v = hex_digit_value(c);
    if (v < 0) {
      return make_error("invalid hex character '" + quote_untrusted(std::string_view(&c, 1)) + "' at offset " +
                        std::to_string(i));
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>((high << 4) | v));
      high = -1;
    }
  }
  if (high >= 0) {
    return make_error("odd number of hex digits");
  }
  return out;
}

void append_percent_escape(std::string& out, unsigned char c) {
  static constexpr char k_digits[] = "0123456789ABCDEF";
  out += '%';
  out += k_digits[c >> 4];
  out += k_digits[c & 0x0f];
}

std::string quote_untrusted(std::string_view bytes, std::size_t max, Spaces spaces) {
  const bool keep_space = spaces == Spaces::Keep;
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
      append_percent_escape(out, c);
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

std::string quote_log_value(std::string_view bytes, std::size_t max) {
  std::string out = "\"";
  std::size_t coded = 0;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    const bool as_is = c >= 0x20 && c < 0x7f && c != '%' && c != '"' && c != '\\';
    const std::size_t need = as_is ? 1 : 3;
    if (coded + need > max) {
      out += "...";
      break;
    }
    coded += need;
    if (as_is) {
      out += ch;
    } else {
      append_percent_escape(out, c);
    }
  }
  out += '"';
  return out;
}

void scrub_to_printable_ascii(std::string& text) {
  for (char& ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      ch = '?';
    }
  }
}

} // namespace dane
