// dane-policyd — parse options, then check the configuration or run the daemon (everything
// else lives in policyd/src).
#include <iostream>

#include "dane/daemon/check_config.hpp"
#include "dane/daemon/daemon.hpp"
#include "dane/daemon/settings.hpp"

int main(int argc, char** argv) {
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
