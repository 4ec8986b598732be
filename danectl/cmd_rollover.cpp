// danectl rollover — not implemented yet (placeholder owned by its issue).
#include <iostream>

#include "commands.hpp"

namespace dane::ctl {

int cmd_rollover(int /*argc*/, char** /*argv*/) {
  std::cerr << "danectl rollover: not implemented yet\n";
  return k_exit_usage;
}

} // namespace dane::ctl
