// Unit tests of the per-protocol encoders of a typed answer (src/policy/answer.cpp): for every
// PolicyKind and every --policy-failure-action, the socketmap, tcp_table and policy-delegation bytes,
// pinned to what dane-policyd sent before the encoders existed (socketmap text re-parsed per protocol).
// Also the one TEMP builder and the one parent-key rule.
#include <gtest/gtest.h>

#include "dane/policy/answer.hpp"
#include "dane/policy/codecs.hpp"
#include "dane/policy/policy_engine.hpp"

namespace dane::policyd {
namespace {

struct EncodingRow {
  std::string name;
  PolicyAnswer answer;
  std::string socketmap;
  std::string tcp_table;
  std::string policy; // with the default failure action (DUNNO)
};

std::vector<EncodingRow> encoding_rows() {
  return {
      {"DaneOnly", make_answer(PolicyKind::DaneOnly, "dane-only", "every MX host has usable TLSA"), "12:OK dane-only,",
       "200 dane-only\n", "action=DUNNO\n\n"},
      {"Dane", make_answer(PolicyKind::Dane, "dane", "some hosts"), "7:OK dane,", "200 dane\n", "action=DUNNO\n\n"},
      {"Encrypt", make_answer(PolicyKind::Encrypt, "encrypt", "all unusable"), "10:OK encrypt,", "200 encrypt\n",
       "action=DUNNO\n\n"},
      {"Fingerprint", make_answer(PolicyKind::Fingerprint, "fingerprint match=aa|bb", "pins"),
       "26:OK fingerprint match=aa|bb,", "200 fingerprint%20match=aa|bb\n", "action=DUNNO\n\n"},
      {"Secure", make_answer(PolicyKind::Secure, "secure tafile=/var/lib/x/ta-1.pem match=a.test:mx.a.test", "ta"),
       "59:OK secure tafile=/var/lib/x/ta-1.pem match=a.test:mx.a.test,",
       "200 secure%20tafile=/var/lib/x/ta-1.pem%20match=a.test:mx.a.test\n", "action=DUNNO\n\n"},
      {"NotFound", make_answer(PolicyKind::NotFound, {}, "no TLSA"), "9:NOTFOUND ,", "500 not%20found\n",
       "action=DUNNO\n\n"},
      {"TempFail", temp_answer("MX lookup for a.test bogus"), "37:TEMP 4.7.5 MX lookup for a.test bogus,",
       "400 4.7.5%20MX%20lookup%20for%20a.test%20bogus\n", "action=DUNNO\n\n"},
  };
}

class AnswerEncodings : public ::testing::TestWithParam<EncodingRow> {};

TEST_P(AnswerEncodings, EachProtocolGetsItsBytes) {
  const EncodingRow& row = GetParam();
  const AnswerView view = view_of(row.answer);
  EXPECT_EQ(encode_socketmap(view), row.socketmap);
  EXPECT_EQ(encode_socketmap(view), encode_socketmap_answer(row.answer.answer)) << "the codec's text encoder";
  EXPECT_EQ(encode_tcp_table(view), row.tcp_table);
  std::string warning;
  EXPECT_EQ(encode_policy_delegation(view, "a.test", PolicyDelegationOptions{}, &warning), row.policy);
  EXPECT_EQ(warning.empty(), row.answer.policy != PolicyKind::TempFail) << warning;
}

TEST_P(AnswerEncodings, TextIsThePayloadWithoutItsStatus) {
  const EncodingRow& row = GetParam();
  const AnswerView view = view_of(row.answer);
  auto reply = parse_socketmap_answer(row.answer.answer);
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(view.text(), reply->data);
  EXPECT_EQ(reply->status == SocketmapStatus::Ok, is_ok(row.answer.policy));
  EXPECT_EQ(row.answer.would_answer, row.answer.answer);
}

INSTANTIATE_TEST_SUITE_P(Kinds, AnswerEncodings, ::testing::ValuesIn(encoding_rows()),
                         [](const auto& row) { return row.param.name; });

// --policy-failure-action: only TEMP answers are affected; every other kind is DUNNO whatever the action.
struct ActionRow {
  std::string name;
  PolicyFailureAction action;
  std::string temp_action; // for temp_answer("MX bogus") and destination a.test
  bool warns;
};

class FailureActions : public ::testing::TestWithParam<ActionRow> {};

TEST_P(FailureActions, TempFollowsTheActionOthersAreDunno) {
  const ActionRow& row = GetParam();
  PolicyDelegationOptions options{row.action, "X-DANE-Policy"};
  std::string warning;
  PolicyAnswer temp = temp_answer("MX bogus");
  EXPECT_EQ(policy_action(view_of(temp), "a.test", options, &warning), row.temp_action);
  EXPECT_EQ(encode_policy_delegation(view_of(temp), "a.test", options), "action=" + row.temp_action + "\n\n");
  if (row.warns) {
    EXPECT_EQ(warning,
              "policy-tempfail destination=a.test action=DUNNO (DANE policy for a.test unavailable: MX bogus)");
  } else {
    EXPECT_EQ(warning, "");
  }
  for (const EncodingRow& other : encoding_rows()) {
    if (other.answer.policy != PolicyKind::TempFail) {
      std::string none;
      EXPECT_EQ(policy_action(view_of(other.answer), "a.test", options, &none), "DUNNO") << other.name;
      EXPECT_EQ(none, "") << other.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Actions, FailureActions,
    ::testing::Values(
        ActionRow{"Dunno", PolicyFailureAction::Dunno, "DUNNO", true},
        ActionRow{"DeferIfPermit", PolicyFailureAction::DeferIfPermit,
                  "DEFER_IF_PERMIT 4.7.5 DANE policy for a.test unavailable: MX bogus", false},
        ActionRow{"Warn", PolicyFailureAction::Warn, "WARN DANE policy for a.test unavailable: MX bogus", false},
        ActionRow{"Prepend", PolicyFailureAction::Prepend, "PREPEND X-DANE-Policy: tempfail a.test (MX bogus)", false}),
    [](const auto& row) { return row.param.name; });

TEST(AnswerEncodings, PolicyActionCannotInjectAttributes) {
  PolicyAnswer temp = temp_answer("bad\nname=value");
  PolicyDelegationOptions options{PolicyFailureAction::Warn, ""};
  EXPECT_EQ(encode_policy_delegation(view_of(temp), "a.test", options),
            "action=WARN DANE policy for a.test unavailable: bad name=value\n\n");
}

TEST(AnswerEncodings, OverLongOkBecomesTempNeverACutPolicy) {
  PolicyAnswer big = make_answer(PolicyKind::Fingerprint, "fingerprint match=" + std::string(200000, 'a'), "big");
  std::string socketmap = encode_socketmap(view_of(big));
  EXPECT_TRUE(socketmap.starts_with("34:TEMP reply too long (200021 bytes),")) << socketmap.substr(0, 60);
  PolicyAnswer wide = make_answer(PolicyKind::Fingerprint, "fingerprint match=" + std::string(5000, 'a'), "wide");
  EXPECT_TRUE(encode_tcp_table(view_of(wide)).starts_with("400 reply%20too%20long")) << encode_tcp_table(view_of(wide));
}

TEST(TempBuilder, OneTextForDnsAndInternalFailures) {
  PolicyAnswer a = temp_answer("internal error: resolver exploded");
  EXPECT_EQ(a.policy, PolicyKind::TempFail);
  EXPECT_EQ(a.answer, "TEMP 4.7.5 internal error: resolver exploded");
  EXPECT_EQ(a.reason, "internal error: resolver exploded");
  EXPECT_EQ(a.would_answer, a.answer);
  DestinationFacts f;
  f.next_hop = *parse_next_hop("example.test");
  f.outcome = DestinationOutcome::TempFail;
  f.reason = "MX lookup bogus";
  for (Mode mode : {Mode::Native, Mode::Pinned}) {
    PolicyAnswer d = decide(f, mode);
    EXPECT_EQ(d.answer, temp_answer("MX lookup bogus").answer) << to_string(mode);
  }
  EXPECT_EQ(decide(f, Mode::Monitor).would_answer, temp_answer("MX lookup bogus").answer);
}

TEST(ParentKeyRule, OneAnswerInEveryMode) {
  EXPECT_TRUE(is_parent_key(".example.com"));
  EXPECT_FALSE(is_parent_key("example.com"));
  EXPECT_FALSE(is_parent_key("[.example.com]"));
  EXPECT_FALSE(is_parent_key(""));
  const PolicyAnswer& p = parent_key_answer();
  EXPECT_EQ(p.policy, PolicyKind::NotFound);
  EXPECT_EQ(p.answer, "NOTFOUND ");
  EXPECT_EQ(p.would_answer, "NOTFOUND ");
  DestinationFacts f;
  f.next_hop = *parse_next_hop(".example.com");
  ASSERT_TRUE(f.next_hop.parent_key);
  f.outcome = DestinationOutcome::NotDane;
  f.reason = "the verifier's words";
  for (Mode mode : {Mode::Native, Mode::Pinned, Mode::Monitor}) {
    PolicyAnswer d = decide(f, mode);
    EXPECT_EQ(d.answer, p.answer) << to_string(mode);
    EXPECT_EQ(d.reason, p.reason) << to_string(mode);
    EXPECT_EQ(d.would_answer, p.would_answer) << to_string(mode);
  }
}

} // namespace
} // namespace dane::policyd
