#include "test_env.hpp"

#include <cstdlib>
#include <string_view>

#include <unistd.h>

namespace dane::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

bool is_root() {
  return ::geteuid() == 0;
}

std::string find_program(const std::string& name) {
  std::string path;
  if (const char* env = std::getenv("PATH")) {
    path = env;
  }
  path += ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::string_view rest = path;
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (dir.empty()) {
      continue;
    }
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

} // namespace dane::test
