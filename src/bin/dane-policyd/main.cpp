// dane-policyd — parse options, then check the configuration or run the daemon (everything
// else lives in the dane_daemon library, src/daemon).
#include <exception>
#include <iostream>

#include "dane/daemon/check_config.hpp"
#include "dane/daemon/daemon.hpp"
#include "dane/daemon/settings.hpp"

namespace {

int run(int argc, char** argv) {
  using namespace dane::policyd;
  auto parsed = parse_command_line(argc, argv);
  if (!parsed) {
    if (requests_check_config(argc, argv)) {
      // The checker's format: the message itself starts with FILE:LINE or --OPTION.
      std::cerr << parsed.error() << "\n"
                << "dane-policyd: configuration check failed\n";
    } else {
      std::cerr << "dane-policyd: error: " << parsed.error() << "\n"
                << "Try 'dane-policyd --help'.\n";
    }
    return k_exit_usage;
  }
  if (parsed->help) {
    std::cout << help_text();
    return k_exit_ok;
  }
  if (parsed->version) {
    std::cout << "dane-policyd " << k_version << "\n";
    return k_exit_ok;
  }
  if (parsed->check_config) {
    return run_check_config(*parsed, std::cout, std::cerr);
  }
  return run_daemon(std::move(parsed->settings));
}

} // namespace

int main(int argc, char** argv) {
  // run_daemon keeps its own error boundaries around sessions and jobs; this is the last one, for a failure
  // during start-up (for instance std::bad_alloc): say what happened and exit 1 (start-up failure) rather than abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "dane-policyd: fatal: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "dane-policyd: fatal: unknown exception\n";
  }
  return dane::policyd::k_exit_failure;
}
