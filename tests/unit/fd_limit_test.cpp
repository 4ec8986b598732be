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
  EXPECT_EQ(one, 100U + 2U + 256U + 40U + 4U) << "with libunbound's limits unset: 4 probe sockets";
  settings.resolver.outgoing_range = 1000;
  settings.resolver.outgoing_tcp = 10;
  const std::uint64_t with_resolver = fd_budget(settings, 1);
  EXPECT_EQ(with_resolver, one + 1000U + 10U) << "libunbound's sockets are counted";
  EXPECT_EQ(fd_budget(settings, 3) - with_resolver, 2U * (100U + 2U)) << "each listener has its own pool";
}

TEST(FdBudget, ResolverLimitsFollowMaxEvaluationsUnlessSet) {
  Settings settings;
  settings.max_evaluations = 4096;
  size_resolver_limits(settings);
  EXPECT_EQ(settings.resolver.outgoing_range, 8192U);
  EXPECT_EQ(settings.resolver.queries_per_thread, 8192U);
  EXPECT_EQ(settings.resolver.outgoing_tcp, 64U);
  Settings small;
  small.max_evaluations = 10;
  small.resolver.queries_per_thread = 77;
  size_resolver_limits(small);
  EXPECT_EQ(small.resolver.outgoing_range, 1024U) << "never below libunbound's own default";
  EXPECT_EQ(small.resolver.queries_per_thread, 77U) << "an operator's value stays";
}

TEST(FdBudget, NoListenerCountsAsOne) {
  Settings settings;
  EXPECT_EQ(fd_budget(settings, 0), fd_budget(settings, 1));
}

TEST(FdBudget, LargestSettingsDoNotOverflow) {
  Settings settings;
  settings.max_connections = 1000000;
  settings.workers = 1024;
  settings.resolver.outgoing_range = 32768;
  settings.resolver.outgoing_tcp = 64;
  settings.probe_concurrency = 256;
  EXPECT_EQ(fd_budget(settings, 100), 100U * 1000002U + 256U + 4096U + 32768U + 64U + 256U);
}

} // namespace
} // namespace dane::policyd
