// danectl tlsa — not implemented yet (placeholder owned by its issue).
#include <iostream>

#include "commands.hpp"

namespace dane::ctl {

int cmd_tlsa(int /*argc*/, char** /*argv*/) {
  std::cerr << "danectl tlsa: not implemented yet\n";
  return k_exit_usage;
}

} // namespace dane::ctl
