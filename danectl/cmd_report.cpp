// danectl report — not implemented yet (placeholder owned by its issue).
#include <iostream>

#include "commands.hpp"

namespace dane::ctl {

int cmd_report(int /*argc*/, char** /*argv*/) {
  std::cerr << "danectl report: not implemented yet\n";
  return k_exit_usage;
}

} // namespace dane::ctl
