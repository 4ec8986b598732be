// dane-policyd — parse options, run the daemon (everything else lives in policyd/src).
#include <iostream>

#include "dane/policyd/daemon.hpp"
#include "dane/policyd/settings.hpp"

int main(int argc, char** argv) {
  using namespace dane::policyd;
  auto parsed = parse_command_line(argc, argv);
  if (!parsed) {
    std::cerr << "dane-policyd: error: " << parsed.error() << "\n"
              << "Try 'dane-policyd --help'.\n";
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
  return run_daemon(std::move(parsed->settings));
}
