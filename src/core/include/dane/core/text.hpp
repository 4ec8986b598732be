// dane/core/text.hpp — making untrusted bytes safe to show in error messages and log lines.
//
// Lookup keys, TLSA text and protocol payloads come from outside; an error that
// quotes them must not let a newline forge a second log line or a control byte
// reach a terminal. quote_untrusted() keeps printable ASCII as it is and writes
// every other byte (and '%' itself, so the coding is unambiguous) as %XX, the
// coding Postfix's tcp_table uses; a space is kept or coded, as asked. Long input is cut at `max` characters of
// output (never inside a %XX triple) and marked with "...".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dane {

// Whether a space stays as it is (readable messages) or becomes %20 (a token that must not
// contain spaces, such as a tcp_table key or a word in a protocol error).
enum class Spaces { Keep, Code };

std::string quote_untrusted(std::string_view bytes, std::size_t max = 160, Spaces spaces = Spaces::Keep);

// Replaces control bytes (< 0x20 and 0x7f) in place by '?': the last line of
// defence for text that is about to become one log line.
void scrub_control_bytes(std::string& text);

} // namespace dane
