// libFuzzer target: the configuration-file parser of dane-policyd (src/daemon/settings.cpp, reached through
// parse_command_line with `--config FILE`, as the daemon and `dane-policyd --check-config` read it). The
// input is the file's text; it is written to an in-memory file (memfd) whose /proc/self/fd path is given
// as --config, so the whole path runs unchanged: the line syntax, the option table, value conversion,
// the resolver options and the cross-option checks.
// Properties beyond "no crash, no sanitizer report": an error is non-empty, a single line, and names where
// it comes from (the config file's path, or an option name for a cross-option check); parsing the same
// text twice gives the same result (no hidden state between parses).
#include <string>
#include <sys/mman.h>
#include <unistd.h>

#include "dane/daemon/settings.hpp"
#include "fuzz_check.hpp"

namespace {

// One memfd for the whole run, rewritten for each input.
int config_fd() {
  static const int fd = ::memfd_create("dane-policyd.conf", MFD_CLOEXEC);
  return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = config_fd();
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(dane::fuzz::rewrite_file(fd, data, size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const char* argv[] = {"dane-policyd", "--config", path.c_str(), nullptr};

  auto first = dane::policyd::parse_command_line(3, argv, "");
  if (!first) {
    const std::string& e = first.error();
    FUZZ_CHECK(!e.empty());
    FUZZ_CHECK(e.find('\n') == std::string::npos);
    FUZZ_CHECK(e.find(path) != std::string::npos || e.find('\'') != std::string::npos || e.find("--") == 0);
  }
  auto second = dane::policyd::parse_command_line(3, argv, "");
  FUZZ_CHECK(first.has_value() == second.has_value());
  if (!first) {
    FUZZ_CHECK(first.error() == second.error());
  } else {
    FUZZ_CHECK(first->settings.config_file == path);
    FUZZ_CHECK(first->origins == second->origins);
  }
  return 0;
}
