// Unit tests of the Postfix log side of dane-policyctl report: the three documented line formats
// (classic syslog, RFC 3339 syslog, postlogd maillog_file), the smtp(8) messages used, and the
// join of TLS sessions / verification failures / 4.7.5 deferrals to next-hop destinations.
// Fixtures: tests/data/report/maillog-*.log (+ verdicts-maillog.jsonl for the MX host join).
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dane/tools/report.hpp"

namespace rp = dane::tools::report;

namespace {

const std::string k_data = std::string(DANE_TEST_DATA_DIR) + "/report/";

rp::MaillogOptions utc_options(const char* reference = "2026-11-29T00:00:00Z") {
  rp::MaillogOptions o;
  o.reference = *dane::parse_rfc3339(reference);
  o.local_time_is_utc = true;
  return o;
}

struct Collect {
  std::vector<std::string> messages;
  rp::WarningSink sink() {
    return [this](const std::string& m) { messages.push_back(m); };
  }
};

template <typename T> const T& as(const rp::SmtpMessage& m) {
  return std::get<T>(m);
}

} // namespace

// ---- prefixes --------------------------------------------------------------------------------

TEST(MaillogPrefix, ClassicSyslogSpacePaddedDay) {
  rp::MaillogPrefixParser p(utc_options());
  auto r = p.parse("Nov  8 10:00:01 mail postfix/smtp[2101]: hello world");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(dane::format_rfc3339(r->time), "2026-11-08T10:00:01Z");
  EXPECT_EQ(r->host, "mail");
  EXPECT_EQ(r->program, "postfix/smtp");
  EXPECT_EQ(r->pid, "2101");
  EXPECT_EQ(r->text, "hello world");
}

TEST(MaillogPrefix, PostlogdZeroPaddedDayAndFraction) {
  rp::MaillogPrefixParser p(utc_options());
  auto r = p.parse("Nov 08 10:00:01 mail postfix/smtp[2101]: x");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(dane::format_rfc3339(r->time), "2026-11-08T10:00:01Z");
  auto f = p.parse("Nov 08 10:00:01.250000 mail postfix-out/smtp[7]: y");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(dane::format_rfc3339(f->time), "2026-11-08T10:00:01.250000Z");
  EXPECT_EQ(f->program, "postfix-out/smtp");
}

TEST(MaillogPrefix, Rfc3339SyslogWithOffset) {
  rp::MaillogPrefixParser p(utc_options());
  auto r = p.parse("2026-11-29T08:23:57.123456+01:00 mail postfix/smtp[42]: z");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(dane::format_rfc3339(r->time), "2026-11-29T07:23:57.123456Z");
  EXPECT_EQ(r->pid, "42");
}

TEST(MaillogPrefix, ProgramWithoutPid) {
  rp::MaillogPrefixParser p(utc_options());
  auto r = p.parse("Nov 29 07:00:00 mail kernel: [1.2] up");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->program, "kernel");
  EXPECT_EQ(r->pid, "");
  EXPECT_EQ(r->text, "[1.2] up");
}

TEST(MaillogPrefix, YearInferredFromReferenceAcrossNewYear) {
  rp::MaillogPrefixParser p(utc_options("2027-01-01T00:10:00Z"));
  auto dec = p.parse("Dec 31 23:59:59 mail postfix/smtp[1]: a");
  ASSERT_TRUE(dec);
  EXPECT_EQ(dane::format_rfc3339(dec->time), "2026-12-31T23:59:59Z");
  auto jan = p.parse("Jan  1 00:05:00 mail postfix/smtp[1]: b");
  ASSERT_TRUE(jan);
  EXPECT_EQ(dane::format_rfc3339(jan->time), "2027-01-01T00:05:00Z");
}

TEST(MaillogPrefix, ClassicStampsAreLocalTime) {
  const char* old = std::getenv("TZ");
  std::string saved = old != nullptr ? old : "";
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1); // POSIX rule: no tzdata needed
  tzset();
  rp::MaillogOptions o = utc_options();
  o.local_time_is_utc = false;
  rp::MaillogPrefixParser p(o);
  auto winter = p.parse("Nov 28 11:00:00 mail postfix/smtp[1]: a");
  auto summer = p.parse("Jul  1 12:00:00 mail postfix/smtp[1]: b");
  if (old != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  ASSERT_TRUE(winter);
  ASSERT_TRUE(summer);
  EXPECT_EQ(dane::format_rfc3339(winter->time), "2026-11-28T10:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(summer->time), "2026-07-01T10:00:00Z");
}

TEST(MaillogPrefix, JunkIsRejectedWithReason) {
  rp::MaillogPrefixParser p(utc_options());
  EXPECT_FALSE(p.parse("garbage that is no log line"));
  EXPECT_FALSE(p.parse("Nov 32 10:00:00 mail postfix/smtp[1]: x"));
  EXPECT_FALSE(p.parse("Nov 28 25:00:00 mail postfix/smtp[1]: x"));
  EXPECT_FALSE(p.parse("Nov 28 10:00:00 mail"));
  EXPECT_FALSE(p.parse("Nov 28 10:00:00 mail postfix/smtp[1 x"));
  EXPECT_FALSE(p.parse("2026-11-28T10:00:00 mail postfix/smtp[1]: no offset"));
  EXPECT_FALSE(p.parse(""));
}

// ---- smtp messages -----------------------------------------------------------------------------

TEST(MaillogSmtp, TlsEstablishedAllLevels) {
  for (auto [word, level] :
       {std::pair{"Verified", rp::TlsLevel::Verified}, std::pair{"Trusted", rp::TlsLevel::Trusted},
        std::pair{"Untrusted", rp::TlsLevel::Untrusted}, std::pair{"Anonymous", rp::TlsLevel::Anonymous}}) {
    auto m = rp::parse_smtp_message(std::string(word) +
                                    " TLS connection established to mx.example.com[192.0.2.1]:25: TLSv1.3 with cipher "
                                    "TLS_AES_256_GCM_SHA384 (256/256 bits)");
    ASSERT_TRUE(m) << m.error();
    ASSERT_TRUE(*m);
    const auto& e = as<rp::TlsEstablished>(**m);
    EXPECT_EQ(e.level, level);
    EXPECT_EQ(e.host, "mx.example.com");
    EXPECT_EQ(e.address, "192.0.2.1");
    EXPECT_EQ(e.port, 25);
    EXPECT_EQ(e.protocol, "TLSv1.3");
  }
}

TEST(MaillogSmtp, Ipv6EndpointAndPortAndCase) {
  auto m = rp::parse_smtp_message(
      "Verified TLS connection established to MX1.Example.COM[2001:db8::1]:2525: TLSv1.2 with cipher X");
  ASSERT_TRUE(m);
  const auto& e = as<rp::TlsEstablished>(**m);
  EXPECT_EQ(e.host, "mx1.example.com");
  EXPECT_EQ(e.address, "2001:db8::1");
  EXPECT_EQ(e.port, 2525);
}

TEST(MaillogSmtp, VerificationFailure) {
  auto m = rp::parse_smtp_message(
      "server certificate verification failed for mx.relay.example[192.0.2.20]:2525: num=10:certificate has expired");
  ASSERT_TRUE(m);
  const auto& v = as<rp::VerifyFailed>(**m);
  EXPECT_EQ(v.host, "mx.relay.example");
  EXPECT_EQ(v.address, "192.0.2.20");
  EXPECT_EQ(v.port, 2525);
  EXPECT_EQ(v.reason, "num=10:certificate has expired");
}

TEST(MaillogSmtp, DeliveryFields) {
  auto m = rp::parse_smtp_message(
      "5B2C33D0456: to=<Dave@Relay.Example>, orig_to=<d@x.example>, relay=mx.relay.example[192.0.2.20]:2525, "
      "delay=1.1, delays=0.01/0/1.1/0, dsn=4.7.5, status=deferred (Server certificate not verified, see log)");
  ASSERT_TRUE(m) << m.error();
  const auto& d = as<rp::Delivery>(**m);
  EXPECT_EQ(d.queue_id, "5B2C33D0456");
  EXPECT_EQ(d.recipient_domain, "relay.example");
  EXPECT_EQ(d.relay_host, "mx.relay.example");
  EXPECT_EQ(d.relay_address, "192.0.2.20");
  EXPECT_EQ(d.relay_port, 2525);
  EXPECT_EQ(d.dsn, "4.7.5");
  EXPECT_EQ(d.status, "deferred");
  EXPECT_EQ(d.detail, "Server certificate not verified, see log");
}

TEST(MaillogSmtp, DeliveryLongQueueIdRelayNoneQuotedLocalPart) {
  auto m = rp::parse_smtp_message(
      "4NqZ3d1Xy2z9sVb: to=<\"odd@local\"@example.org>, relay=none, delay=0.02, delays=0.01/0/0.01/0, dsn=4.7.5, "
      "status=deferred (client TLS configuration problem)");
  ASSERT_TRUE(m) << m.error();
  const auto& d = as<rp::Delivery>(**m);
  EXPECT_EQ(d.queue_id, "4NqZ3d1Xy2z9sVb");
  EXPECT_EQ(d.recipient_domain, "example.org");
  EXPECT_EQ(d.relay_host, "");
  EXPECT_EQ(d.detail, "client TLS configuration problem");
}

TEST(MaillogSmtp, PolicyLookupWarningAndPolicyTableError) {
  // Postfix 3.7, tests/data/report/postfix37-e2e-maillog.log
  auto lookup =
      rp::parse_smtp_message("warning: TLS policy lookup for native.test/mx.native.test: no TLSA records found");
  ASSERT_TRUE(lookup);
  ASSERT_TRUE(*lookup);
  const auto& f = as<rp::PolicyLookupFailed>(**lookup);
  EXPECT_EQ(f.destination, "native.test");
  EXPECT_EQ(f.host, "mx.native.test");
  EXPECT_EQ(f.reason, "no TLSA records found");
  auto table = rp::parse_smtp_message(
      "warning: socketmap:unix:/tmp/d/socketmap:dane socketmap server temporary error: 4.7.5 MX lookup for "
      "down.e2e.test failed: timeout");
  ASSERT_TRUE(table);
  ASSERT_TRUE(*table);
  EXPECT_EQ(as<rp::PolicyTableError>(**table).reason, "4.7.5 MX lookup for down.e2e.test failed: timeout");
}

TEST(MaillogJoin, RelayNoneDeferralTakesHostAndReasonFromThePolicyLookupWarnings) {
  rp::Aggregator agg({});
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[5]: warning: socketmap:unix:/run/d.sock:dane socketmap "
                       "server temporary error: 4.7.5 TLSA lookup for _25._tcp.mx.a.example bogus: signature expired",
                       p, "t:1", c.sink());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[5]: warning: TLS policy lookup for a.example/mx.a.example: "
                       "client TLS configuration problem",
                       p, "t:2", c.sink());
  // Two recipients of the message: both deferral lines use the context.
  for (const char* rcpt : {"u", "v"}) {
    agg.add_maillog_line(std::string("Nov 28 10:00:00 mail postfix/smtp[5]: ABCDE12345: to=<") + rcpt +
                             "@a.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (client "
                             "TLS configuration problem)",
                         p, "t:3", c.sink());
  }
  // The next message of the same process: no policy warning before it, so no context.
  agg.add_maillog_line("Nov 28 10:01:00 mail postfix/smtp[5]: BCDEF23456: to=<w@a.example>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.7.5, status=deferred (client TLS configuration problem)",
                       p, "t:4", c.sink());
  agg.finish_maillog();
  EXPECT_TRUE(c.messages.empty());
  const auto* d = agg.find("a.example");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->maillog.deferred_4_7_5, 3u);
  ++agg.stats().maillog_files; // as read_maillog_file counts a file: TLSRPT session counts from the Postfix log
  auto r = rp::build_tlsrpt(agg, *d, {});
  std::uint64_t with_host = 0, without_host = 0;
  for (const auto& pol : r["policies"]) {
    for (const auto& fd : pol["failure-details"]) {
      if (pol["policy"].contains("mx-host") && pol["policy"]["mx-host"][0] == "mx.a.example") {
        with_host += fd["failed-session-count"].get<std::uint64_t>();
        EXPECT_EQ(fd["result-type"], "dnssec-invalid") << fd.dump();
        EXPECT_EQ(fd["failure-reason-code"],
                  "client TLS configuration problem (policy table: 4.7.5 TLSA lookup for _25._tcp.mx.a.example "
                  "bogus: signature expired)");
      } else {
        without_host += fd["failed-session-count"].get<std::uint64_t>();
        EXPECT_EQ(fd["failure-reason-code"], "client TLS configuration problem");
      }
    }
  }
  EXPECT_EQ(with_host, 2u) << r.dump(2);
  EXPECT_EQ(without_host, 1u) << r.dump(2);
}

TEST(MaillogSmtp, UnusedMessagesAndMalformedOnes) {
  auto connect = rp::parse_smtp_message("connect to mx.down.example[203.0.113.9]:25: Connection refused");
  ASSERT_TRUE(connect);
  EXPECT_FALSE(*connect);
  auto other_warning = rp::parse_smtp_message("warning: database /etc/postfix/transport.db is older than source file");
  ASSERT_TRUE(other_warning);
  EXPECT_FALSE(*other_warning);
  EXPECT_FALSE(rp::parse_smtp_message("warning: TLS policy lookup for nohost: x"));
  EXPECT_FALSE(rp::parse_smtp_message("warning: TLS policy lookup for a/: x"));
  EXPECT_FALSE(rp::parse_smtp_message("Verified TLS connection established to nowhere"));
  EXPECT_FALSE(rp::parse_smtp_message("server certificate verification failed for : x"));
  EXPECT_FALSE(rp::parse_smtp_message("ABCDEF1234: to=<a@b.example>, relay=none, dsn=2.0.0"));
  EXPECT_TRUE(rp::is_smtp_client_program("postfix/smtp"));
  EXPECT_TRUE(rp::is_smtp_client_program("postfix-out/lmtp"));
  EXPECT_FALSE(rp::is_smtp_client_program("postfix/smtpd"));
  EXPECT_FALSE(rp::is_smtp_client_program("exim/smtp"));
}

// ---- join --------------------------------------------------------------------------------------

class MaillogFormats : public ::testing::TestWithParam<const char*> {};

TEST_P(MaillogFormats, SameCountsInEveryFormat) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-maillog.jsonl", c.sink()));
  const std::string path = k_data + GetParam();
  ASSERT_TRUE(agg.read_maillog_file(path, utc_options(), c.sink()));
  agg.finish_maillog();
  const auto& st = agg.stats();
  EXPECT_EQ(st.maillog_used, 18u) << "17 sessions and delivery lines, 1 TLS policy lookup warning";
  EXPECT_EQ(st.maillog_unjoined, 0u);

  const auto* ex = agg.find("example.com");
  ASSERT_NE(ex, nullptr);
  EXPECT_TRUE(ex->has_maillog);
  // Two TLS sessions (the second recipient of the first message rode the same session), plus a
  // session whose delivery line never came (joined by its MX host).
  EXPECT_EQ(ex->maillog.verified, 2u);
  EXPECT_EQ(ex->maillog.trusted, 1u);
  EXPECT_EQ(ex->maillog.untrusted, 0u);
  EXPECT_EQ(ex->maillog.verify_failures, 1u);
  EXPECT_EQ(ex->maillog.last_verify_failure, "mx1.example.com[192.0.2.2]:25: num=62:hostname mismatch");
  EXPECT_EQ(ex->maillog.deferred_4_7_5, 0u);

  // Recipient domain relay.example is not a destination: the relay host joins it to the
  // bracketed next hop the daemon evaluated.
  const auto* relay = agg.find("[mx.relay.example]:2525");
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->maillog.untrusted, 1u);
  EXPECT_EQ(relay->maillog.verified, 1u);
  EXPECT_EQ(relay->maillog.verify_failures, 1u);
  EXPECT_EQ(relay->maillog.deferred_4_7_5, 1u);
  EXPECT_EQ(relay->maillog.last_deferral, "Server certificate not verified");
  EXPECT_EQ(agg.find("relay.example"), nullptr);

  const auto* insecure = agg.find("insecure.example");
  ASSERT_NE(insecure, nullptr);
  EXPECT_EQ(insecure->maillog.anonymous, 1u);
  EXPECT_EQ(insecure->maillog.total(), 1u);

  const auto* broken = agg.find("broken.example");
  ASSERT_NE(broken, nullptr);
  EXPECT_EQ(broken->maillog.deferred_4_7_5, 1u);
  EXPECT_EQ(broken->maillog.last_deferral, "client TLS configuration problem");
  EXPECT_EQ(broken->maillog.total(), 0u);

  // Only in the Postfix log: the recipient domain is the destination.
  const auto* trusted = agg.find("trusted.example");
  ASSERT_NE(trusted, nullptr);
  EXPECT_EQ(trusted->maillog.trusted, 1u);
  EXPECT_EQ(trusted->evaluations, 0u);

  // A 4.4.1 connection deferral is not a TLS event.
  EXPECT_EQ(agg.find("down.example"), nullptr);
}

namespace {
// Row names from the file names: maillog-rfc3339.log -> Rfc3339.
std::string format_row_name(const ::testing::TestParamInfo<const char*>& row) {
  std::string name;
  bool upper = true;
  for (const char* c = row.param + std::strlen("maillog-"); *c != '\0' && *c != '.'; ++c) {
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*c))) : *c;
    upper = false;
  }
  return name;
}
} // namespace

INSTANTIATE_TEST_SUITE_P(Formats, MaillogFormats,
                         ::testing::Values("maillog-syslog.log", "maillog-rfc3339.log", "maillog-postlogd.log"),
                         format_row_name);

TEST(MaillogJoin, JunkLineIsNamedAndCounted) {
  rp::Aggregator agg({});
  Collect c;
  const std::string path = k_data + "maillog-syslog.log";
  ASSERT_TRUE(agg.read_maillog_file(path, utc_options(), c.sink()));
  EXPECT_EQ(agg.stats().maillog_lines, 26u);
  EXPECT_EQ(agg.stats().maillog_malformed, 1u);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0].rfind(path + ":26: malformed log line", 0), 0u) << c.messages[0];
}

TEST(MaillogJoin, WithoutVerdictsRecipientDomainOrBracketedHost) {
  rp::Aggregator agg({});
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[1]: Verified TLS connection established to "
                       "mx.a.example[192.0.2.1]:25: TLSv1.3 with cipher X",
                       p, "t:1", c.sink());
  agg.add_maillog_line("Nov 28 10:00:01 mail postfix/smtp[1]: ABCDE12345: to=<u@a.example>, "
                       "relay=mx.a.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)",
                       p, "t:2", c.sink());
  // A session with no delivery line and no verdict for its host: "[host]".
  agg.add_maillog_line("Nov 28 10:00:02 mail postfix/smtp[2]: Untrusted TLS connection established to "
                       "mx.b.example[192.0.2.2]:25: TLSv1.3 with cipher X",
                       p, "t:3", c.sink());
  agg.finish_maillog();
  EXPECT_TRUE(c.messages.empty());
  ASSERT_NE(agg.find("a.example"), nullptr);
  EXPECT_EQ(agg.find("a.example")->maillog.verified, 1u);
  ASSERT_NE(agg.find("[mx.b.example]"), nullptr);
  EXPECT_EQ(agg.find("[mx.b.example]")->maillog.untrusted, 1u);
  EXPECT_EQ(agg.stats().maillog_unjoined, 1u);
}

TEST(MaillogJoin, NextSessionOfSameProcessFlushesThePrevious) {
  rp::Aggregator agg({});
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[9]: Verified TLS connection established to "
                       "mx.a.example[192.0.2.1]:25: TLSv1.3 with cipher X",
                       p, "t:1", c.sink());
  agg.add_maillog_line("Nov 28 10:00:05 mail postfix/smtp[9]: Anonymous TLS connection established to "
                       "mx.c.example[192.0.2.3]:25: TLSv1.3 with cipher X",
                       p, "t:2", c.sink());
  agg.add_maillog_line("Nov 28 10:00:06 mail postfix/smtp[9]: ABCDE12345: to=<u@c.example>, "
                       "relay=mx.c.example[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)",
                       p, "t:3", c.sink());
  agg.finish_maillog();
  ASSERT_NE(agg.find("c.example"), nullptr);
  EXPECT_EQ(agg.find("c.example")->maillog.anonymous, 1u);
  EXPECT_EQ(agg.find("c.example")->maillog.verified, 0u);
  ASSERT_NE(agg.find("[mx.a.example]"), nullptr);
  EXPECT_EQ(agg.find("[mx.a.example]")->maillog.verified, 1u);
}

TEST(MaillogJoin, FiltersApplyToPostfixEvents) {
  rp::Filter f;
  f.domain = "example.com";
  f.until = *dane::parse_rfc3339("2026-11-08T10:05:00Z");
  rp::Aggregator agg(f);
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-maillog.jsonl", c.sink()));
  ASSERT_TRUE(agg.read_maillog_file(k_data + "maillog-rfc3339.log", utc_options(), c.sink()));
  agg.finish_maillog();
  auto sorted = agg.sorted();
  ASSERT_EQ(sorted.size(), 1u);
  EXPECT_EQ(sorted[0]->destination, "example.com");
  EXPECT_EQ(sorted[0]->maillog.verified, 2u);
  EXPECT_EQ(sorted[0]->maillog.trusted, 0u); // 10:10, after --until
}

// ---- nothing dropped: unattributable deferrals, times of Postfix-only destinations ------------

TEST(MaillogJoin, DeferralWithoutDomainOrRelayIsCountedAsUnattributed) {
  rp::Aggregator agg({});
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  // No '@' in to=<...> and relay=none: nothing names a destination.
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[3]: ABCDE12345: to=<postmaster>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.7.5, status=deferred (TLSA lookup error for mx.x.example:25)",
                       p, "t:1", c.sink());
  agg.add_maillog_line("Nov 28 10:00:09 mail postfix/smtp[3]: BCDEF23456: to=<root>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.7.5, status=deferred (no TLSA records found)",
                       p, "t:2", c.sink());
  // The same without a domain but with a relay: counted under "[relay]", as TLS sessions are.
  agg.add_maillog_line("Nov 28 10:00:10 mail postfix/smtp[4]: CDEF345678: to=<root>, relay=mx.y.example[192.0.2.9]:25, "
                       "delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)",
                       p, "t:3", c.sink());
  // Other deferrals (not 4.7.5) are not TLS failures: not counted at all.
  agg.add_maillog_line("Nov 28 10:00:11 mail postfix/smtp[5]: DEF4567890: to=<root>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.z.example[192.0.2.10]:25: "
                       "Connection refused)",
                       p, "t:4", c.sink());
  agg.finish_maillog();
  EXPECT_TRUE(c.messages.empty());
  EXPECT_EQ(agg.stats().maillog_unattributed, 2u);
  EXPECT_EQ(agg.stats().last_unattributed, "BCDEF23456: no TLSA records found");
  EXPECT_EQ(dane::format_rfc3339(agg.stats().last_unattributed_time), "2026-11-28T10:00:09Z");
  ASSERT_NE(agg.find("[mx.y.example]"), nullptr);
  EXPECT_EQ(agg.find("[mx.y.example]")->maillog.deferred_4_7_5, 1u);
  EXPECT_EQ(agg.stats().maillog_unjoined, 1u);
  EXPECT_EQ(agg.sorted().size(), 1u);

  auto j = rp::render_json(agg);
  EXPECT_EQ(j["unattributed"]["deferred_4_7_5"], 2);
  EXPECT_EQ(j["unattributed"]["last_deferral"]["text"], "BCDEF23456: no TLSA records found");
  EXPECT_EQ(j["input"]["maillog_unattributed"], 2);
  const std::string table = rp::render_table(agg);
  EXPECT_NE(table.find("2 Postfix 4.7.5 deferral(s) not attributed to any destination (no recipient domain, no "
                       "relay); latest 2026-11-28T10:00:09Z: BCDEF23456: no TLSA records found"),
            std::string::npos)
      << table;
}

TEST(MaillogJoin, UnattributedDeferralOutsideTimeFilterIsFiltered) {
  rp::Filter f;
  f.since = *dane::parse_rfc3339("2026-11-28T11:00:00Z");
  rp::Aggregator agg(f);
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[3]: ABCDE12345: to=<postmaster>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.7.5, status=deferred (TLSA lookup error for mx.x.example:25)",
                       p, "t:1", c.sink());
  EXPECT_EQ(agg.stats().maillog_unattributed, 0u);
  EXPECT_EQ(agg.stats().filtered, 1u);
  EXPECT_EQ(rp::render_table(agg).find("not attributed"), std::string::npos);
}

TEST(MaillogJoin, DestinationSeenOnlyInPostfixLogHasItsLineTimes) {
  rp::Aggregator agg({});
  Collect c;
  rp::MaillogPrefixParser p(utc_options());
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[1]: Untrusted TLS connection established to "
                       "mx.a.example[192.0.2.1]:25: TLSv1.3 with cipher X",
                       p, "t:1", c.sink());
  agg.add_maillog_line("Nov 28 10:00:01 mail postfix/smtp[1]: ABCDE12345: to=<u@a.example>, "
                       "relay=mx.a.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)",
                       p, "t:2", c.sink());
  agg.add_maillog_line("Nov 28 12:30:00 mail postfix/smtp[7]: BCDEF23456: to=<v@a.example>, relay=none, delay=1, "
                       "delays=0/0/1/0, dsn=4.7.5, status=deferred (non DNSSEC destination)",
                       p, "t:3", c.sink());
  agg.finish_maillog();
  const auto* d = agg.find("a.example");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->evaluations, 0u);
  EXPECT_EQ(dane::format_rfc3339(d->first_seen), "2026-11-28T10:00:00Z") << "the TLS session's line";
  EXPECT_EQ(dane::format_rfc3339(d->last_seen), "2026-11-28T12:30:00Z");
  auto j = rp::render_json(agg);
  EXPECT_EQ(j["destinations"][0]["first_seen"], "2026-11-28T10:00:00Z");
  EXPECT_EQ(j["destinations"][0]["last_seen"], "2026-11-28T12:30:00Z");
  const std::string table = rp::render_table(agg);
  EXPECT_NE(table.find("2026-11-28T10:00:00Z  2026-11-28T12:30:00Z"), std::string::npos) << table;
}

// ---- lines written by a real Postfix 3.7 (tests/integration/postfix_e2e_test.cpp) -------------

namespace {

struct Expect {
  const char* destination;
  std::uint64_t verified, trusted, untrusted, anonymous, verify_failures, deferred;
};

// Counted by hand from tests/data/report/postfix37-e2e-maillog.log (see the README there).
const Expect k_postfix37[] = {
    {"ee.e2e.test", 1, 0, 0, 0, 0, 0},         // pinned fingerprint: Verified, sent
    {"rolled.e2e.test", 0, 0, 1, 0, 1, 1},     // num=65 no matching DANE TLSA records; Untrusted; 4.7.5
    {"example.test", 1, 0, 0, 0, 0, 0},        // DANE-TA via tafile: Verified
    {"insecure.test", 0, 0, 1, 0, 0, 0},       // insecure: may level, Untrusted
    {"bogus.test", 0, 0, 1, 0, 0, 1},          // pinned: TEMP -> 4.7.5; monitor: Untrusted, sent
    {"tcp.e2e.test", 1, 0, 0, 0, 0, 0},        // tcp_table: Verified
    {"down.e2e.test", 1, 0, 0, 0, 0, 1},       // DNS down: 4.7.5; after the flush: Verified
    {"native.test", 2, 0, 1, 0, 0, 1},         // dane-only: 2 Verified; "no TLSA records found"; control Untrusted
    {"mon-rolled.e2e.test", 0, 0, 1, 0, 0, 0}, // monitor: Untrusted, sent
};

} // namespace

TEST(MaillogRealPostfix37, E2eFixtureJoinsToTheDaemonsVerdicts) {
  rp::Aggregator agg({});
  Collect c;
  for (const char* mode : {"pinned", "native", "monitor"}) {
    ASSERT_TRUE(agg.read_verdict_file(k_data + "postfix37-e2e-verdicts-" + mode + ".jsonl", c.sink()));
  }
  ASSERT_TRUE(
      agg.read_maillog_file(k_data + "postfix37-e2e-maillog.log", utc_options("2026-11-30T00:00:00Z"), c.sink()));
  agg.finish_maillog();
  EXPECT_TRUE(c.messages.empty()) << c.messages.front();
  const auto& s = agg.stats();
  EXPECT_EQ(s.lines, 11u);
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.maillog_lines, 130u);
  EXPECT_EQ(s.maillog_malformed, 0u);
  EXPECT_EQ(s.maillog_used, 31u)
      << "11 TLS sessions, 1 verification failure, 14 delivery lines, 3 policy lookup and 2 policy table warnings";
  EXPECT_EQ(s.maillog_unjoined, 0u);
  EXPECT_EQ(s.maillog_unattributed, 0u);
  ASSERT_EQ(agg.sorted().size(), std::size(k_postfix37));
  for (const auto& e : k_postfix37) {
    const auto* d = agg.find(e.destination);
    ASSERT_NE(d, nullptr) << e.destination;
    EXPECT_TRUE(d->has_maillog) << e.destination;
    EXPECT_EQ(d->maillog.verified, e.verified) << e.destination;
    EXPECT_EQ(d->maillog.trusted, e.trusted) << e.destination;
    EXPECT_EQ(d->maillog.untrusted, e.untrusted) << e.destination;
    EXPECT_EQ(d->maillog.anonymous, e.anonymous) << e.destination;
    EXPECT_EQ(d->maillog.verify_failures, e.verify_failures) << e.destination;
    EXPECT_EQ(d->maillog.deferred_4_7_5, e.deferred) << e.destination;
  }
  EXPECT_EQ(agg.find("rolled.e2e.test")->maillog.last_verify_failure,
            "mx-rolled.e2e.test[127.162.214.2]:25: num=65:no matching DANE TLSA records");
  EXPECT_EQ(agg.find("rolled.e2e.test")->maillog.last_deferral, "Server certificate not verified");
  EXPECT_EQ(agg.find("native.test")->maillog.last_deferral, "no TLSA records found");
  EXPECT_EQ(agg.find("bogus.test")->maillog.last_deferral,
            "client TLS configuration problem (policy table: 4.7.5 MX lookup for bogus.test bogus: validation failure "
            "<bogus.test. MX IN>: DS hash mismatches key from 127.0.0.1 and 127.0.0.1 for key bogus.test. while "
            "building chain of trust)");
  EXPECT_EQ(agg.find("down.e2e.test")->maillog.last_deferral,
            "client TLS configuration problem (policy table: 4.7.5 MX lookup for down.e2e.test failed: timeout)");
  // The verdict side of the same run.
  EXPECT_EQ(agg.find("native.test")->counts.dane_only, 1u);
  EXPECT_EQ(agg.find("down.e2e.test")->counts.tempfail, 1u);
  EXPECT_EQ(agg.find("down.e2e.test")->counts.pinned, 1u);
  EXPECT_EQ(agg.find("bogus.test")->counts.tempfail, 2u) << "pinned daemon: TEMP; monitor daemon: would be TEMP";
  EXPECT_EQ(agg.find("bogus.test")->counts.notfound, 0u) << "the monitor daemon's NOTFOUND is not what is counted";
  EXPECT_EQ(agg.find("bogus.test")->monitored, 1u);
  EXPECT_EQ(agg.find("bogus.test")->policy, "tempfail") << "the monitor evaluation came last";
  EXPECT_TRUE(agg.find("bogus.test")->policy_monitored);
  // First/last seen span the verdicts and the Postfix lines of each destination.
  EXPECT_EQ(dane::format_rfc3339(agg.find("native.test")->first_seen), "2026-11-29T11:00:41Z");
  EXPECT_EQ(dane::format_rfc3339(agg.find("native.test")->last_seen), "2026-11-29T11:00:51Z") << "the control delivery";
}
