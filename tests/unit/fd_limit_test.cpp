// The daemon's file-descriptor budget (fd_limit.hpp): --max-connections counts per listener.
// The start-up warning under a low hard limit is tested on the real daemon
// (tests/integration/daemon_connections_test.cpp, LowDescriptorLimitClosesInsteadOfHanging).
#include <gtest/gtest.h>

#include "dane/daemon/fd_limit.hpp"

namespace dane::policyd {
namespace {

TEST(FdBudget, CountsMaxConnectionsForEveryListener) {
  Settings settings;
  settings.max_connections = 100;
  settings.workers = 10;
  const std::uint64_t one = fd_budget(settings, 1);
  EXPECT_EQ(one, 100U + 2U + 256U + 40U);
  EXPECT_EQ(fd_budget(settings, 3) - one, 2U * (100U + 2U)) << "each listener has its own pool";
}

TEST(FdBudget, NoListenerCountsAsOne) {
  Settings settings;
  EXPECT_EQ(fd_budget(settings, 0), fd_budget(settings, 1));
}

TEST(FdBudget, LargestSettingsDoNotOverflow) {
  Settings settings;
  settings.max_connections = 1000000;
  settings.workers = 1024;
  EXPECT_EQ(fd_budget(settings, 100), 100U * 1000002U + 256U + 4096U);
}

} // namespace
} // namespace dane::policyd
