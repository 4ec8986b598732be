// Unit tests of the control requests on the reserved socketmap map name
// (src/policy/include/dane/policy/control.hpp): the key grammar and who may send what.
#include <gtest/gtest.h>

#include "dane/policy/control.hpp"

namespace dane::policyd {
namespace {

TEST(ControlRequest, ParsesEveryKnownRequest) {
  EXPECT_EQ(*parse_control_request("all"), (ControlRequest{ControlVerb::Counters, {}}));
  EXPECT_EQ(*parse_control_request(""), (ControlRequest{ControlVerb::Counters, {}}));
  EXPECT_EQ(*parse_control_request("flush example.com"), (ControlRequest{ControlVerb::Flush, "example.com"}));
  EXPECT_EQ(*parse_control_request("flush [mx.example.com]:2525"),
            (ControlRequest{ControlVerb::Flush, "[mx.example.com]:2525"}));
  EXPECT_EQ(*parse_control_request("flush-all"), (ControlRequest{ControlVerb::FlushAll, {}}));
  EXPECT_EQ(*parse_control_request("verdict example.com"), (ControlRequest{ControlVerb::Verdict, "example.com"}));
}

TEST(ControlRequest, FormatIsTheInverseOfParse) {
  for (const auto& r : {ControlRequest{ControlVerb::Counters, {}}, ControlRequest{ControlVerb::Flush, "a.example"},
                        ControlRequest{ControlVerb::FlushAll, {}}, ControlRequest{ControlVerb::Verdict, ".example"}}) {
    auto parsed = parse_control_request(format_control_request(r));
    ASSERT_TRUE(parsed) << format_control_request(r) << ": " << parsed.error();
    EXPECT_EQ(*parsed, r);
  }
}

TEST(ControlRequest, RejectsWhatIsNotARequestAndSaysWhy) {
  // A Postfix table configured with the reserved name sends destinations: a loud error, never a policy.
  auto policy_lookup = parse_control_request("example.com");
  ASSERT_FALSE(policy_lookup);
  EXPECT_NE(policy_lookup.error().find("unknown control request 'example.com'"), std::string::npos);
  EXPECT_NE(policy_lookup.error().find("reserved"), std::string::npos);
  EXPECT_NE(policy_lookup.error().find("flush DESTINATION"), std::string::npos) << "lists the known requests";

  for (const char* key : {"flush", "flush ", "verdict", "flush a b", "verdict a\tb", "flush-all now", "all x"}) {
    EXPECT_FALSE(parse_control_request(key)) << "'" << key << "'";
  }
  auto binary = parse_control_request(std::string("fl\x01ush x", 8));
  ASSERT_FALSE(binary);
  EXPECT_EQ(binary.error().find('\x01'), std::string::npos) << "control bytes are not echoed";
}

TEST(ControlAccess, OnlyRootOrTheDaemonsUserOverAUnixSocket) {
  const uid_t daemon = 110;
  EXPECT_FALSE(control_refusal({ControlPeer::Kind::Unix, 0}, daemon));
  EXPECT_FALSE(control_refusal({ControlPeer::Kind::Unix, daemon}, daemon));
  auto other = control_refusal({ControlPeer::Kind::Unix, 1000}, daemon);
  ASSERT_TRUE(other);
  EXPECT_NE(other->find("uid 1000"), std::string::npos) << *other;
  EXPECT_NE(other->find("uid 110"), std::string::npos) << *other;
  EXPECT_TRUE(control_refusal({ControlPeer::Kind::Unix, std::nullopt}, daemon)) << "unknown user: refused";
  EXPECT_TRUE(control_refusal({ControlPeer::Kind::Inet, std::nullopt}, daemon));
  EXPECT_TRUE(control_refusal({ControlPeer::Kind::Inet, 0}, daemon)) << "inet is refused whatever it claims";
  EXPECT_TRUE(control_refusal({ControlPeer::Kind::Stdio, std::nullopt}, daemon));
  // A daemon left running as root serves root only.
  EXPECT_FALSE(control_refusal({ControlPeer::Kind::Unix, 0}, 0));
  EXPECT_TRUE(control_refusal({ControlPeer::Kind::Unix, 1000}, 0));
}

} // namespace
} // namespace dane::policyd
