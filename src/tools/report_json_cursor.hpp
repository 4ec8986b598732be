// src/tools/report_json_cursor.hpp — the JSON scanner under the verdict-log line parser (report_verdict.cpp).
//
// Input: one line of text, untrusted (a verdict log may be damaged or written by anyone who can write it).
// A pull scanner, no DOM: the parser asks for the next token (a string, a number, a literal) or skips a
// value, so a million-line log is read in seconds. Full JSON syntax is checked: strings with escapes
// including \uXXXX surrogate pairs, numbers, literals, nesting up to k_max_depth levels.
// Failure modes: the reading methods answer false on a syntax error; none reads past the end of the line.
// Internal to dane_tools (not under include/): only report_verdict.cpp uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dane::tools::report::detail {

constexpr int k_max_depth = 64;

class Cursor {
public:
  explicit Cursor(std::string_view s) : m_s(s) {}

  void ws() {
    while (m_pos < m_s.size() &&
           (m_s[m_pos] == ' ' || m_s[m_pos] == '\t' || m_s[m_pos] == '\r' || m_s[m_pos] == '\n')) {
      ++m_pos;
    }
  }
  bool at_end() {
    ws();
    return m_pos >= m_s.size();
  }
  char peek() {
    ws();
    return m_pos < m_s.size() ? m_s[m_pos] : '\0';
  }
  bool eat(char c) {
    if (peek() == c) {
      ++m_pos;
      return true;
    }
    return false;
  }
  std::size_t pos() const { return m_pos; }

  // A JSON string into out (decoded). The cursor must be at the opening quote.
  bool string(std::string& out) {
    if (!eat('"')) {
      return false;
    }
    out.clear();
    for (;;) {
      // Fast path: copy a run of plain characters.
      std::size_t start = m_pos;
      while (m_pos < m_s.size() && m_s[m_pos] != '"' && m_s[m_pos] != '\\' &&
             static_cast<unsigned char>(m_s[m_pos]) >= 0x20) {
        ++m_pos;
      }
      out.append(m_s.data() + start, m_pos - start);
      if (m_pos >= m_s.size()) {
        return false;
      }
      char c = m_s[m_pos++];
      if (c == '"') {
        return true;
      }
      if (c != '\\') {
        return false; // control character inside a string
      }
      if (m_pos >= m_s.size()) {
        return false;
      }
      char e = m_s[m_pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        unsigned cp = 0;
        if (!hex4(cp)) {
          return false;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo = 0;
          if (m_pos + 1 >= m_s.size() || m_s[m_pos] != '\\' || m_s[m_pos + 1] != 'u') {
            return false;
          }
          m_pos += 2;
          if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) {
            return false;
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        utf8(cp, out);
        break;
      }
      default:
        return false;
      }
    }
  }

  bool literal(std::string_view word) {
    ws();
    if (m_s.substr(m_pos, word.size()) == word) {
      m_pos += word.size();
      return true;
    }
    return false;
  }

  // A JSON number; integer_value set when it is an integer that fits.
  bool number(bool& is_integer, long long& integer_value) {
    ws();
    std::size_t start = m_pos;
    if (m_pos < m_s.size() && m_s[m_pos] == '-') {
      ++m_pos;
    }
    std::size_t int_start = m_pos;
    while (m_pos < m_s.size() && m_s[m_pos] >= '0' && m_s[m_pos] <= '9') {
      ++m_pos;
    }
    std::size_t int_len = m_pos - int_start;
    if (int_len == 0 || (int_len > 1 && m_s[int_start] == '0')) {
      return false;
    }
    is_integer = true;
    if (m_pos < m_s.size() && m_s[m_pos] == '.') {
      is_integer = false;
      ++m_pos;
      std::size_t f = m_pos;
      while (m_pos < m_s.size() && m_s[m_pos] >= '0' && m_s[m_pos] <= '9') {
        ++m_pos;
      }
      if (m_pos == f) {
        return false;
      }
    }
    if (m_pos < m_s.size() && (m_s[m_pos] == 'e' || m_s[m_pos] == 'E')) {
      is_integer = false;
      ++m_pos;
      if (m_pos < m_s.size() && (m_s[m_pos] == '+' || m_s[m_pos] == '-')) {
        ++m_pos;
      }
      std::size_t e = m_pos;
      while (m_pos < m_s.size() && m_s[m_pos] >= '0' && m_s[m_pos] <= '9') {
        ++m_pos;
      }
      if (m_pos == e) {
        return false;
      }
    }
    if (is_integer) {
      if (int_len > 15) {
        is_integer = false; // too large for the fields we read
      } else {
        long long v = 0;
        for (std::size_t i = int_start; i < int_start + int_len; ++i) {
          v = v * 10 + (m_s[i] - '0');
        }
        integer_value = m_s[start] == '-' ? -v : v;
      }
    }
    return true;
  }

  // Skips any value (validating it).
  bool skip(int depth = 0) {
    if (depth > k_max_depth) {
      return false;
    }
    char c = peek();
    if (c == '"') {
      return string(m_scratch);
    }
    if (c == '{') {
      ++m_pos;
      if (eat('}')) {
        return true;
      }
      do {
        if (peek() != '"' || !string(m_scratch) || !eat(':') || !skip(depth + 1)) {
          return false;
        }
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++m_pos;
      if (eat(']')) {
        return true;
      }
      do {
        if (!skip(depth + 1)) {
          return false;
        }
      } while (eat(','));
      return eat(']');
    }
    if (c == 't') {
      return literal("true");
    }
    if (c == 'f') {
      return literal("false");
    }
    if (c == 'n') {
      return literal("null");
    }
    bool is_int = false;
    long long v = 0;
    return number(is_int, v);
  }

private:
  bool hex4(unsigned& out) {
    if (m_pos + 4 > m_s.size()) {
      return false;
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = m_s[m_pos++];
      int digit = hex_digit_value(c);
      if (digit < 0) {
        return false;
      }
      out = (out << 4) | static_cast<unsigned>(digit);
    }
    return true;
  }
  static void utf8(unsigned cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view m_s;
  std::size_t m_pos = 0;
  std::string m_scratch;
};

} // namespace dane::tools::report::detail
