// files.hpp — reading and writing whole small text files in tests.
//
// What it does: read_text_file() returns a file's bytes ("" when it is missing or unreadable, so
// a failure message can always print it); read_text_lines() splits a file into lines (no '\n');
// write_text_file() replaces a file's contents. Inputs are test-owned paths; nothing here is
// security code. Failure modes: reads never fail (missing -> empty); write_text_file() returns
// false when the file cannot be written, write_text_file_or_throw() throws std::runtime_error.
#pragma once

#include <string>
#include <vector>

namespace dane::test {

// A whole file's bytes ("" when missing).
std::string read_text_file(const std::string& path);
// The lines of a file, without their '\n' (none when missing).
std::vector<std::string> read_text_lines(const std::string& path);
// The lines of a text, without their '\n'.
std::vector<std::string> split_lines(const std::string& text);
// Replaces the file's contents; false when it cannot be written.
bool write_text_file(const std::string& path, const std::string& text);
// Same, throwing std::runtime_error naming the path on failure.
void write_text_file_or_throw(const std::string& path, const std::string& text);

} // namespace dane::test
