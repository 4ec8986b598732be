// The MTA-STS model (RFC 8461): tables of good and bad TXT records (§3.1), TXT RDATA, policy files
// (§3.2) and MX patterns (§4.1). Every bad case also checks that the error names what was wrong.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dane/verifier/mta_sts.hpp"

namespace {

using dane::StsMode;

struct TxtCase {
  std::string record;
  bool ok;
  std::string expect; // the id when ok, a piece of the error otherwise
};

TEST(MtaSts, Rfc8461_3_1_TxtRecordTable) {
  const std::vector<TxtCase> cases = {
      {"v=STSv1; id=20160831085700Z;", true, "20160831085700Z"},
      {"v=STSv1;id=abc", true, "abc"},
      {"v=STSv1 ;\tid=abc ; ", true, "abc"},
      {"v=STSv1; id=12345678901234567890123456789012", true, "12345678901234567890123456789012"},
      {"v=STSv1; id=abc; ext-1=some.value", true, "abc"},
      {"v=STSv1; ext=value; id=abc", true, "abc"}, // §3.1: id and extensions in any order
      {"v=STSv1; id=123456789012345678901234567890123", false, "1 to 32"},
      {"v=STSv1; id=abc-def", false, "1 to 32"},
      {"v=STSv1; id=", false, "1 to 32"},
      {"v=STSv1; id=a; id=b", false, "more than one id"},
      {"v=STSv1;", false, "no id"},
      {"v=STSv1", false, "no id"},
      {"v=STSv1 id=abc", false, "separated by ';'"},
      {"v=STSv1; id=abc;; ext=1", false, "not name=value"},
      {" v=STSv1; id=abc", false, "does not start"},
      {"v=stsv1; id=abc", false, "does not start"},
      {"v=STSv1; ID=abc", false, "has no id"},
      {"v=STSv1; id=abc; _ext=1", false, "extension name"},
      {"v=STSv1; id=abc; ext=", false, "invalid value"},
      {"v=STSv1; id=abc; ext=a=b", false, "invalid value"},
      {"v=STSv1; id=abc; noequals", false, "not name=value"},
      {"v=STSv1; id=abc\n", false, "1 to 32"},
      {"v=STSv1; id=ab\x01", false, "1 to 32"},
  };
  for (const TxtCase& c : cases) {
    SCOPED_TRACE(c.record);
    auto txt = dane::parse_sts_txt(c.record);
    ASSERT_EQ(txt.has_value(), c.ok) << (txt ? txt->id : txt.error());
    if (c.ok) {
      EXPECT_EQ(txt->id, c.expect);
    } else {
      EXPECT_NE(txt.error().find(c.expect), std::string::npos) << txt.error();
    }
  }
}

TEST(MtaSts, Rfc8461_3_1_SelectsTheOneStsRecord) {
  auto one = dane::select_sts_txt({"v=spf1 -all", "v=STSv1; id=one;", "v=STSv10; id=x"});
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(one->id, "one");
  auto none = dane::select_sts_txt({"v=spf1 -all"});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("no v=STSv1"), std::string::npos);
  EXPECT_FALSE(dane::select_sts_txt({}));
  auto two = dane::select_sts_txt({"v=STSv1; id=one", "v=STSv1; id=two"});
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().find("more than one"), std::string::npos);
  // The selected record is parsed strictly.
  auto bad = dane::select_sts_txt({"v=STSv1; id=not-valid"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("1 to 32"), std::string::npos);
}

TEST(MtaSts, TxtRdataTable) {
  using Bytes = std::vector<std::uint8_t>;
  auto ok = dane::parse_txt_rdata(Bytes{3, 'a', 'b', 'c', 2, 'd', 'e'});
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(*ok, "abcde");
  auto empty_string = dane::parse_txt_rdata(Bytes{0});
  ASSERT_TRUE(empty_string);
  EXPECT_EQ(*empty_string, "");
  EXPECT_FALSE(dane::parse_txt_rdata(Bytes{}));
  auto overrun = dane::parse_txt_rdata(Bytes{4, 'a', 'b'});
  ASSERT_FALSE(overrun);
  EXPECT_NE(overrun.error().find("runs past the end"), std::string::npos) << overrun.error();
  EXPECT_FALSE(dane::parse_txt_rdata(Bytes{1, 'a', 5, 'b'}));
}

struct PolicyCase {
  std::string body;
  bool ok;
  std::string expect; // a piece of the error when !ok
};

TEST(MtaSts, Rfc8461_3_2_PolicyTable) {
  const std::string head = "version: STSv1\n";
  const std::vector<PolicyCase> cases = {
      {head + "mode: enforce\nmx: mail.example.com\nmax_age: 86400\n", true, ""},
      {"version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 604800\r\n", true, ""},
      {head + "mode:none\nmax_age:0", true, ""},
      {head + "mode: enforce\nmx: a.example\t \nmax_age: 31557600\nfoo: bar baz\n\n", true, ""},
      {head + "max_age: 1\nmx: A.Example\nmx: *.b.example\nmode: enforce\n", true, ""},
      {"", false, "empty policy"},
      {"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n", false, "line 1: the first line"},
      {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", false, "line 1"},
      {head + "mode: enforce\nmx: a.example\n", false, "no max_age"},
      {head + "mx: a.example\nmax_age: 1\n", false, "no mode"},
      {head + "mode: enforce\nmax_age: 1\n", false, "has no mx"},
      {head + "mode: testing\nmax_age: 1\n", false, "has no mx"},
      {head + "mode: Enforce\nmx: a.example\nmax_age: 1\n", false, "line 2: mode"},
      {head + "mode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n", false, "line 3: duplicate mode"},
      {head + "version: STSv1\nmode: none\nmax_age: 1\n", false, "line 2: duplicate version"},
      {head + "mode: none\nmax_age: 1\nmax_age: 2\n", false, "line 4: duplicate max_age"},
      {head + "mode: none\nmax_age: 31557601\n", false, "larger than 31557600"},
      {head + "mode: none\nmax_age: 12345678901\n", false, "1 to 10 digits"},
      {head + "mode: none\nmax_age: -1\n", false, "1 to 10 digits"},
      {head + "mode: none\nmax_age: 1d\n", false, "1 to 10 digits"},
      {head + "mode: enforce\nmx: *.*.example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: a..example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: a.example.\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: -a.example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: a_b.example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: mail*.example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: enforce\nmx: " + std::string(64, 'a') + ".example\nmax_age: 1\n", false, "line 3: mx"},
      {head + "mode: none\n\nmax_age: 1\n", false, "line 3"},
      {head + "mode none\nmax_age: 1\n", false, "line 2: 'mode none' is not"},
      {head + "mode : none\nmax_age: 1\n", false, "line 2: key"},
      {head + " mode: none\nmax_age: 1\n", false, "line 2: key"},
      {head + "mode:\nmax_age: 1\n", false, "line 2: key 'mode' has no value"},
      {head + "mode: none\rmax_age: 1\n", false, "line 2"},
      {head + "mode: none\nmax_age: 1\nnote: caf\xc3\xa9\n", false, "line 4: value of 'note'"},
      {head + "mode: none\nmax_age: 1\n" + std::string(70000, '#') + "\n", false, "larger than 65536"},
  };
  for (const PolicyCase& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 200));
    auto policy = dane::parse_sts_policy(c.body);
    ASSERT_EQ(policy.has_value(), c.ok) << (policy ? std::string("accepted") : policy.error());
    if (!c.ok) {
      EXPECT_NE(policy.error().find(c.expect), std::string::npos) << policy.error();
    }
  }
}

TEST(MtaSts, Rfc8461_3_2_PolicyFields) {
  const std::string body = "version: STSv1\r\nmode: enforce\r\nmx: Mail.Example.com\r\nmx: *.example.net\r\n"
                           "max_age: 604800\r\n";
  auto policy = dane::parse_sts_policy(body);
  ASSERT_TRUE(policy) << policy.error();
  EXPECT_EQ(policy->mode, StsMode::Enforce);
  EXPECT_EQ(policy->mx, (std::vector<std::string>{"mail.example.com", "*.example.net"}));
  EXPECT_EQ(policy->max_age, 604800U);
  EXPECT_EQ(policy->text, body);
  EXPECT_EQ(dane::sts_policy_lines(body),
            (std::vector<std::string>{"version: STSv1", "mode: enforce", "mx: Mail.Example.com", "mx: *.example.net",
                                      "max_age: 604800"}));
  EXPECT_EQ(dane::to_string(StsMode::Testing), "testing");
  EXPECT_EQ(dane::to_string(dane::StsSource::Cached), "cached");
}

struct MatchCase {
  std::string pattern;
  std::string host;
  bool match;
};

TEST(MtaSts, Rfc8461_4_1_MxPatternTable) {
  const std::vector<MatchCase> cases = {
      {"mail.example.com", "mail.example.com", true},
      {"mail.example.com", "MAIL.Example.COM", true},
      {"mail.example.com", "mail.example.com.", true},
      {"mail.example.com.", "mail.example.com", true},
      {"mail.example.com", "mx.example.com", false},
      {"mail.example.com", "a.mail.example.com", false},
      {"*.example.com", "mx1.example.com", true},
      {"*.example.com", "MX1.EXAMPLE.COM.", true},
      {"*.Example.com", "mx1.example.com", true},
      {"*.example.com", "example.com", false},
      {"*.example.com", "a.b.example.com", false},
      {"*.example.com", ".example.com", false},
      {"*.example.com", "mx1.example.org", false},
      {"*.example.com", "mx1xexample.com", false},
      {"*.example.com", "mx1.notexample.com", false},
      {"", "mx1.example.com", false},
      {"*.", "a", false},
      {"mx1.example.com", "", false},
  };
  for (const MatchCase& c : cases) {
    SCOPED_TRACE(c.pattern + " vs " + c.host);
    EXPECT_EQ(dane::sts_mx_matches(c.pattern, c.host), c.match);
  }
  dane::StsPolicy policy;
  policy.mx = {"mx1.example.com", "*.example.net"};
  EXPECT_TRUE(dane::sts_mx_allowed(policy, "a.example.net"));
  EXPECT_TRUE(dane::sts_mx_allowed(policy, "mx1.example.com"));
  EXPECT_FALSE(dane::sts_mx_allowed(policy, "mx2.example.com"));
}

} // namespace
