// EvaluationBudget and destination_zone (src/daemon/include/dane/daemon/admission.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "dane/daemon/admission.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

TEST(EvaluationBudget, PerZoneLimitRefusesOnlyThatZone) {
  EvaluationBudget budget(10, 2);
  EXPECT_EQ(budget.admit("dead.test"), Admission::Admitted);
  EXPECT_EQ(budget.admit("dead.test"), Admission::Admitted);
  EXPECT_EQ(budget.admit("dead.test"), Admission::FullZone);
  EXPECT_EQ(budget.admit("other.test"), Admission::Admitted);
  EXPECT_EQ(budget.in_flight(), 3u) << "a refusal takes no slot";
  budget.release("dead.test");
  EXPECT_EQ(budget.admit("dead.test"), Admission::Admitted) << "a released slot is free again";
}

TEST(EvaluationBudget, TotalLimitRefusesEveryZone) {
  EvaluationBudget budget(3, 2);
  EXPECT_EQ(budget.admit("a.test"), Admission::Admitted);
  EXPECT_EQ(budget.admit("b.test"), Admission::Admitted);
  EXPECT_EQ(budget.admit("c.test"), Admission::Admitted);
  EXPECT_EQ(budget.admit("d.test"), Admission::FullTotal);
  budget.admit_unlimited("");
  EXPECT_EQ(budget.in_flight(), 4u) << "no-DNS evaluations are never refused, but counted";
  budget.release("");
  budget.release("a.test");
  EXPECT_EQ(budget.admit("d.test"), Admission::Admitted);
}

TEST(EvaluationBudget, WaitIdleReturnsWhenTheLastOneEnds) {
  EvaluationBudget budget(3, 3);
  EXPECT_TRUE(budget.wait_idle(0ms));
  ASSERT_EQ(budget.admit("a.test"), Admission::Admitted);
  EXPECT_FALSE(budget.wait_idle(10ms));
  std::thread ender([&] { budget.release("a.test"); });
  EXPECT_TRUE(budget.wait_idle(60s));
  ender.join();
}

TEST(DestinationZone, RegisteredDomainApproximation) {
  EXPECT_EQ(destination_zone("example.com"), "example.com");
  EXPECT_EQ(destination_zone("mail.example.com"), "example.com");
  EXPECT_EQ(destination_zone("d1.dead.test"), "dead.test");
  EXPECT_EQ(destination_zone("[mx.example.com]:2525"), "example.com");
  EXPECT_EQ(destination_zone("example.com:2525"), "example.com");
  EXPECT_EQ(destination_zone(".example.com"), "example.com");
  EXPECT_EQ(destination_zone("example.com."), "example.com");
  EXPECT_EQ(destination_zone("shop.example.co.uk"), "example.co.uk") << "a country's second level";
  EXPECT_EQ(destination_zone("example.com.au"), "example.com.au");
  EXPECT_EQ(destination_zone("co.uk"), "co.uk");
  EXPECT_EQ(destination_zone("a.b.example.de"), "example.de") << "not a listed second level";
  EXPECT_EQ(destination_zone("localhost"), "localhost");
  EXPECT_EQ(destination_zone(""), "");
}

} // namespace
} // namespace dane::policyd
