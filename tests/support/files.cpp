// Whole-file helpers for tests (see files.hpp).
#include "files.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dane::test {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> read_text_lines(const std::string& path) {
  return split_lines(read_text_file(path));
}

bool write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

void write_text_file_or_throw(const std::string& path, const std::string& text) {
  if (!write_text_file(path, text)) {
    throw std::runtime_error("cannot write " + path);
  }
}

} // namespace dane::test
