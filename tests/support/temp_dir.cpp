// Private temporary directories for tests (see temp_dir.hpp).
#include "temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <sys/stat.h>

namespace dane::test {
namespace {

std::string without_dane_prefix(const std::string& tag) {
  return tag.rfind("dane-", 0) == 0 ? tag.substr(5) : tag;
}

} // namespace

TempDir::TempDir(const std::string& tag) {
  std::string pattern = "/tmp/dane-" + tag + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  m_path = buf.data();
  ::chmod(m_path.c_str(), 0755);
}

TempDir::~TempDir() {
  if (m_keep || m_path.empty() || std::getenv("DANE_KEEP_TEST_DIRS") != nullptr ||
      std::getenv("DANE_KEEP_DAEMON_DIR") != nullptr) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

DaemonTempDir::DaemonTempDir(const std::string& tag) : TempDir(without_dane_prefix(tag)) {}

} // namespace dane::test
