// dane/core/text.hpp — small text helpers every component shares: ASCII case folding, joining,
// hex, %XX escapes, and making untrusted bytes safe to show in error messages and log lines.
//
// Lookup keys, TLSA text and protocol payloads come from outside; an error that
// quotes them must not let a newline forge a second log line or a control byte
// reach a terminal. quote_untrusted() keeps printable ASCII as it is and writes
// every other byte (and '%' itself, so the coding is unambiguous) as %XX, the
// coding Postfix's tcp_table uses; a space is kept or coded, as asked. Long input is cut at `max` characters of
// output (never inside a %XX triple) and marked with "...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"

namespace dane {

// Whether a space stays as it is (readable messages) or becomes %20 (a token that must not
// contain spaces, such as a tcp_table key or a word in a protocol error).
enum class Spaces { Keep, Code };

std::string quote_untrusted(std::string_view bytes, std::size_t max = 160, Spaces spaces = Spaces::Keep);

// Replaces control bytes (< 0x20 and 0x7f) in place by '?': the last line of
// defence for text that is about to become one log line.
void scrub_control_bytes(std::string& text);

// A value of a key="value" log line: quote_untrusted()'s coding (printable ASCII and spaces as
// they are, every other byte and '%' as %XX) that also codes '"' (%22) and '\\' (%5C), so the
// value cannot end early or forge another key, between double quotes. Cut at `max` bytes of
// coded text like quote_untrusted(). The one escape for client-supplied bytes in log lines.
std::string quote_log_value(std::string_view bytes, std::size_t max = 512);

// Replaces every byte outside printable ASCII (0x20-0x7e) in place by '?': the last line of
// defence of the daemon's log writer (a log line is printable ASCII, whatever reached it).
void scrub_to_printable_ascii(std::string& text);

// ASCII lower case (DNS names, option values); bytes >= 0x80 are left as they are, whatever the locale.
std::string ascii_lower(std::string_view text);
char ascii_lower(char c);
// The same, in place (inline: it runs on every request's key and every report line's host names).
inline void ascii_lower_in_place(std::string& text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
}
// "a, b, c" for join(items, ", "); "" for no items.
std::string join(const std::vector<std::string>& items, std::string_view separator);

// Hex digit value (0-15) of 0-9, a-f, A-F; -1 for any other character.
int hex_digit_value(char c);
// Lower-case hex of `bytes`.
std::string to_hex(std::span<const std::uint8_t> bytes);
// Bytes from hex (either case); white space between digits is ignored. Errors name the
// offending character and its offset, or an odd digit count.
Expected<std::vector<std::uint8_t>> from_hex(std::string_view hex);
// Appends "%XX" (upper-case hex) for `c`: the escape of Postfix's tcp_table and of RFC 3986.
void append_percent_escape(std::string& out, unsigned char c);

} // namespace dane
