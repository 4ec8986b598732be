// Unit tests of the pure rollover step logic (dane/tools/rollover.hpp) over fake certificates
// (synthetic record sets), plus the state file round trip and corruption handling.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include "dane/tools/rollover.hpp"
#include "dane/verifier/pem.hpp"

namespace dane::tools {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::sys_seconds;

const sys_seconds k_now{seconds(1'800'000'000)}; // 2027-01-15T08:00:00Z

// Record data derived from a seed byte: distinct per (seed, selector, mtype).
std::vector<std::uint8_t> fake_data(std::uint8_t seed, std::uint8_t selector, std::uint8_t mtype) {
  std::size_t len = mtype == 1 ? 32 : mtype == 2 ? 64 : 48;
  std::vector<std::uint8_t> out(len, seed);
  out[0] = selector;
  out[1] = mtype;
  return out;
}

std::vector<TlsaRecord> fake_records(std::uint8_t seed, std::uint8_t usage) {
  std::vector<TlsaRecord> out;
  for (std::uint8_t s = 0; s <= 1; ++s) {
    for (std::uint8_t m = 0; m <= 2; ++m) {
      out.push_back(TlsaRecord{TlsaUsage{usage}, TlsaSelector{s}, TlsaMatchingType{m}, fake_data(seed, s, m)});
    }
  }
  return out;
}

// A fake certificate: leaf key `key`, certificate `cert`, issuer `issuer` (0 = not in the file).
CertificateRecords fake_cert(std::uint8_t key, std::uint8_t cert, std::uint8_t issuer) {
  CertificateRecords out;
  // Selector 1 records depend on the key, selector 0 on the certificate.
  for (std::uint8_t m = 0; m <= 2; ++m) {
    out.leaf.push_back(TlsaRecord{TlsaUsage::DaneEe, TlsaSelector::Cert, TlsaMatchingType{m}, fake_data(cert, 0, m)});
  }
  for (std::uint8_t m = 0; m <= 2; ++m) {
    out.leaf.push_back(TlsaRecord{TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType{m}, fake_data(key, 1, m)});
  }
  if (issuer != 0) {
    out.issuer = fake_records(issuer, 2);
  }
  out.cert_sha256 = std::string(64, 'c') + std::to_string(cert);
  out.spki_sha256 = to_hex(fake_data(key, 1, 1));
  return out;
}

TlsaRecord rec(const CertificateRecords& c, std::uint8_t u, std::uint8_t s, std::uint8_t m) {
  auto r = c.find(TlsaUsage{u}, TlsaSelector{s}, TlsaMatchingType{m});
  EXPECT_TRUE(r.has_value());
  return r.value_or(TlsaRecord{});
}

PublishedRrset secure(std::vector<TlsaRecord> records, std::uint32_t ttl = 3600) {
  PublishedRrset p;
  p.security = DnsSecurity::Secure;
  p.exists = !records.empty();
  p.ttl = ttl;
  p.records = std::move(records);
  return p;
}

ServerObservation server(Presented presented, std::string address = "192.0.2.1") {
  return ServerObservation{std::move(address), 25, presented, presented == Presented::Unknown ? "connect failed" : ""};
}

class RolloverTest : public ::testing::Test {
protected:
  RolloverInput input() {
    RolloverInput in;
    in.host = "mx.example.test";
    in.port = 25;
    in.current = m_current;
    in.next = m_next;
    in.now = k_now;
    in.interval = hours(24);
    in.state.host = in.host;
    in.state.port = 25;
    return in;
  }
  // State in which `records` were first seen `ago` before now.
  static RolloverState seen(const std::vector<TlsaRecord>& records, seconds ago, std::uint32_t max_ttl = 3600) {
    RolloverState st;
    st.host = "mx.example.test";
    st.port = 25;
    st.max_ttl = max_ttl;
    for (const auto& r : records) {
      st.records.push_back({r.to_string(), k_now - ago});
    }
    return st;
  }
  std::string line(const TlsaRecord& r) { return "_25._tcp.mx.example.test. IN TLSA " + r.to_string(); }

  CertificateRecords m_current = fake_cert(0x11, 0x21, 0x31);
  CertificateRecords m_next = fake_cert(0x12, 0x22, 0x32);
};

// ---- names and exit codes (docs/design.md §5) ----

TEST(RolloverNames, StepSpellingsArePinned) {
  EXPECT_EQ(to_string(RolloverStep::Publish), "publish");
  EXPECT_EQ(to_string(RolloverStep::Wait), "wait");
  EXPECT_EQ(to_string(RolloverStep::Swap), "swap");
  EXPECT_EQ(to_string(RolloverStep::Remove), "remove");
  EXPECT_EQ(to_string(RolloverStep::Done), "done");
  EXPECT_EQ(to_string(RolloverStep::Refuse), "refuse");
}

TEST(RolloverNames, ExitCodesFollowDesign) {
  EXPECT_EQ(rollover_exit_code(RolloverStep::Swap, RolloverRefusal::None), 0);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Done, RolloverRefusal::None), 0);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Publish, RolloverRefusal::None), 4);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Wait, RolloverRefusal::None), 4);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Remove, RolloverRefusal::None), 4);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Refuse, RolloverRefusal::MatchesNeither), 1);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Refuse, RolloverRefusal::Insecure), 1);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Refuse, RolloverRefusal::DnsFailed), 3);
  EXPECT_EQ(rollover_exit_code(RolloverStep::Refuse, RolloverRefusal::DnssecBogus), 3);
}

TEST(RolloverNames, DurationsAndTimes) {
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(seconds(-5)), "0s");
  EXPECT_EQ(format_duration(seconds(59)), "59s");
  EXPECT_EQ(format_duration(seconds(3661)), "1h 1m 1s");
  EXPECT_EQ(format_duration(hours(24)), "24h");
  EXPECT_EQ(format_rfc3339(k_now), "2027-01-15T08:00:00Z");
  EXPECT_EQ(zone_line("mx.example.test", 2525,
                      TlsaRecord{TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256, {0xab, 0xcd}}),
            "_2525._tcp.mx.example.test. IN TLSA 3 1 1 abcd");
}

// ---- refusals before anything else ----

TEST_F(RolloverTest, SameCertificateIsNothingToRoll) {
  auto in = input();
  in.next = in.current;
  in.published = secure({rec(m_current, 3, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::SameKey);
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.message.find("same certificate"), std::string::npos) << d.message;
}

TEST_F(RolloverTest, DnsFailureIsTemporaryAndKeepsState) {
  auto in = input();
  in.published.security = DnsSecurity::Failed;
  in.published.reason = "SERVFAIL";
  in.state = seen({rec(m_next, 3, 1, 1)}, hours(1));
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::DnsFailed);
  EXPECT_EQ(d.exit_code, 3);
  EXPECT_NE(d.message.find("SERVFAIL"), std::string::npos) << d.message;
  EXPECT_EQ(d.state, in.state);
}

TEST_F(RolloverTest, BogusIsTemporaryRefusal) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.published.security = DnsSecurity::Bogus;
  in.published.reason = "signature expired";
  in.state = seen({rec(m_current, 3, 1, 1)}, hours(100));
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::DnssecBogus);
  EXPECT_EQ(d.exit_code, 3);
  EXPECT_NE(d.message.find("signature expired"), std::string::npos) << d.message;
  EXPECT_EQ(d.state, in.state) << "a bogus RRset must not start any clock";
}

TEST_F(RolloverTest, InsecureIsRefusedAsUnsafe) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1)});
  in.published.security = DnsSecurity::Insecure;
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::Insecure);
  EXPECT_EQ(d.exit_code, 1);
}

TEST_F(RolloverTest, NoTlsaPublished) {
  auto in = input();
  in.published = secure({});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.refusal, RolloverRefusal::NoTlsa);
  EXPECT_EQ(d.exit_code, 1);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 3, 1, 1)));
}

TEST_F(RolloverTest, PublishedRrsetMatchesNeither) {
  auto in = input();
  auto stranger = fake_cert(0x55, 0x56, 0);
  in.published = secure({rec(stranger, 3, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::MatchesNeither);
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.message.find(rec(stranger, 3, 1, 1).to_string()), std::string::npos) << d.message;
}

TEST_F(RolloverTest, UnusableRecordsDoNotCountAsMatches) {
  auto in = input();
  auto pkix = rec(m_current, 3, 1, 1);
  pkix.usage = TlsaUsage::PkixEe; // PKIX-EE of the current key: unusable for SMTP
  in.published = secure({pkix});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.refusal, RolloverRefusal::MatchesNeither);
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes[0].find("unusable"), std::string::npos) << d.notes[0];
}

TEST_F(RolloverTest, SameKeyWithSpkiRecordsIsNothingToRoll) {
  auto in = input();
  in.next = fake_cert(0x11, 0x29, 0x31); // new certificate, same key
  in.published = secure({rec(m_current, 3, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::SameKey);
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.message.find("same public key"), std::string::npos) << d.message;
}

TEST_F(RolloverTest, SameKeyWithFullCertificateRecordStillRolls) {
  auto in = input();
  in.next = fake_cert(0x11, 0x29, 0x31);
  in.published = secure({rec(m_current, 3, 0, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(in.next, 3, 0, 1)));
}

// ---- step 1: publish ----

TEST_F(RolloverTest, PublishPrintsSameParametersAndIssuerAlternative) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1)});
  in.servers = {server(Presented::Current)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  EXPECT_EQ(d.exit_code, 4);
  EXPECT_EQ(d.tlsa_name, "_25._tcp.mx.example.test.");
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 3, 1, 1)));
  ASSERT_EQ(d.alternative_lines.size(), 1u);
  EXPECT_EQ(d.alternative_lines[0].rfind(line(rec(m_next, 2, 1, 1)), 0), 0u) << d.alternative_lines[0];
  EXPECT_TRUE(d.remove_lines.empty());
  EXPECT_EQ(d.required_wait, hours(24));
  // The current record starts its clock.
  ASSERT_EQ(d.state.records.size(), 1u);
  EXPECT_EQ(d.state.records[0].tlsa, rec(m_current, 3, 1, 1).to_string());
  EXPECT_EQ(d.state.records[0].first_seen, k_now);
  EXPECT_EQ(d.state.max_ttl, 3600u);
}

TEST_F(RolloverTest, PublishKeepsSelectorAndMatchingTypeOfCurrentRecord) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 0, 2)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 3, 0, 2)));
}

TEST_F(RolloverTest, PublishWithoutIssuerInChainHasNoTaAlternative) {
  auto in = input();
  in.next = fake_cert(0x12, 0x22, 0);
  in.published = secure({rec(m_current, 3, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_TRUE(d.alternative_lines.empty());
}

TEST_F(RolloverTest, PublishForDaneTaCurrentSuggestsNextIssuerAndLeafAlternative) {
  auto in = input();
  in.published = secure({rec(m_current, 2, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 2, 1, 1)));
  ASSERT_EQ(d.alternative_lines.size(), 1u);
  EXPECT_EQ(d.alternative_lines[0].rfind(line(rec(m_next, 3, 1, 1)), 0), 0u);
}

TEST_F(RolloverTest, PublishForDaneTaCurrentFallsBackToLeafWithoutIssuer) {
  auto in = input();
  in.next = fake_cert(0x12, 0x22, 0);
  in.published = secure({rec(m_current, 2, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(in.next, 3, 1, 1)));
  bool noted = false;
  for (const auto& n : d.notes) {
    noted = noted || n.find("no DANE-TA partner") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST_F(RolloverTest, PublishGivesAPartnerForEveryCurrentRecord) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_current, 2, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.add_lines.size(), 2u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 3, 1, 1)));
  EXPECT_EQ(d.add_lines[1], line(rec(m_next, 2, 1, 1)));
  EXPECT_TRUE(d.alternative_lines.empty());
}

TEST_F(RolloverTest, NextKeyLiveButUnpublishedIsRefused) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1)});
  in.servers = {server(Presented::Next)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::LiveKeyUnpublished);
  EXPECT_EQ(d.exit_code, 1);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_next, 3, 1, 1)));
}

TEST_F(RolloverTest, ServerPresentingAThirdCertificateIsRefused) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(48));
  in.servers = {server(Presented::Current, "192.0.2.1"), server(Presented::Other, "192.0.2.2")};
  in.servers[1].detail = "abcd";
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::ServerOtherKey);
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.message.find("192.0.2.2:25 presents SPKI SHA-256 abcd"), std::string::npos) << d.message;
}

// ---- step 2: wait, and its boundaries ----

TEST_F(RolloverTest, FirstRunSeeingBothWaitsTheWholeInterval) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 300);
  in.state = seen({rec(m_current, 3, 1, 1)}, hours(1000), 300);
  in.servers = {server(Presented::Current)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  EXPECT_EQ(d.exit_code, 4);
  ASSERT_TRUE(d.remaining_wait.has_value());
  EXPECT_EQ(*d.remaining_wait, hours(24));
  ASSERT_TRUE(d.safe_at.has_value());
  EXPECT_EQ(*d.safe_at, k_now + hours(24));
  ASSERT_TRUE(d.next_first_seen.has_value());
  EXPECT_EQ(*d.next_first_seen, k_now);
  ASSERT_EQ(d.state.records.size(), 2u);
  EXPECT_EQ(d.state.records[0].first_seen, k_now - hours(1000)) << "the current record keeps its time";
  EXPECT_EQ(d.state.records[1].first_seen, k_now);
  EXPECT_NE(d.message.find("24h"), std::string::npos) << d.message;
}

TEST_F(RolloverTest, WaitOneSecondBeforeIntervalBoundary) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 300);
  in.state = seen(in.published.records, hours(24) - seconds(1), 300);
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  ASSERT_TRUE(d.remaining_wait.has_value());
  EXPECT_EQ(*d.remaining_wait, seconds(1));
  EXPECT_NE(d.message.find("wait 1s more"), std::string::npos) << d.message;
}

TEST_F(RolloverTest, SwapExactlyAtIntervalBoundary) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 300);
  in.state = seen(in.published.records, hours(24), 300);
  in.servers = {server(Presented::Current)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap);
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_FALSE(d.remaining_wait.has_value());
  EXPECT_TRUE(d.add_lines.empty());
  EXPECT_TRUE(d.remove_lines.empty());
}

TEST_F(RolloverTest, TtlLongerThanIntervalGovernsTheWait) {
  auto in = input();
  in.interval = hours(1);
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 7200);
  in.state = seen(in.published.records, seconds(7199), 7200);
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  EXPECT_EQ(d.required_wait, seconds(7200));
  EXPECT_EQ(*d.remaining_wait, seconds(1));
  in.state = seen(in.published.records, seconds(7200), 7200);
  EXPECT_EQ(decide_rollover(in).step, RolloverStep::Swap);
}

TEST_F(RolloverTest, LargestTtlSeenCountsAfterTtlWasLowered) {
  auto in = input();
  in.interval = seconds(0);
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 60);
  in.state = seen(in.published.records, seconds(600), 86400); // the TTL used to be a day
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  EXPECT_EQ(d.required_wait, seconds(86400));
  EXPECT_EQ(d.state.max_ttl, 86400u);
}

TEST_F(RolloverTest, ZeroIntervalStillWaitsForTheTtl) {
  auto in = input();
  in.interval = seconds(0);
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, 300);
  in.state = seen(in.published.records, seconds(299), 300);
  EXPECT_EQ(decide_rollover(in).step, RolloverStep::Wait);
  in.state = seen(in.published.records, seconds(300), 300);
  EXPECT_EQ(decide_rollover(in).step, RolloverStep::Swap);
}

TEST_F(RolloverTest, RecordThatDisappearedStartsItsClockAgain) {
  auto in = input();
  // Run 1: next record long established.
  // Run 2: it vanished from the RRset: the state forgets it.
  in.state = seen({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, hours(48));
  in.published = secure({rec(m_current, 3, 1, 1)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Publish);
  ASSERT_EQ(d.state.records.size(), 1u);
  // Run 3: it is back; the wait restarts.
  auto again = input();
  again.state = d.state;
  again.now = k_now + seconds(10);
  again.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  auto d3 = decide_rollover(again);
  EXPECT_EQ(d3.step, RolloverStep::Wait);
  EXPECT_EQ(*d3.remaining_wait, hours(24));
}

TEST_F(RolloverTest, FutureFirstSeenIsResetToNow) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, -hours(5)); // five hours in the future
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  EXPECT_EQ(*d.remaining_wait, hours(24));
  EXPECT_EQ(d.state.records[1].first_seen, k_now);
  bool noted = false;
  for (const auto& n : d.notes) {
    noted = noted || n.find("in the future") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST_F(RolloverTest, EarliestOfSeveralNextRecordsCounts) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1), rec(m_next, 2, 1, 1)});
  in.state = seen({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)}, hours(30));
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap);
  EXPECT_EQ(*d.next_first_seen, k_now - hours(30));
}

TEST_F(RolloverTest, EarlySwapWaitsWithWarning) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(2));
  in.servers = {server(Presented::Next)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait);
  EXPECT_EQ(*d.remaining_wait, hours(22));
  bool warned = false;
  for (const auto& n : d.notes) {
    warned = warned || n.find("warning:") != std::string::npos;
  }
  EXPECT_TRUE(warned);
}

// ---- step 3: swap ----

TEST_F(RolloverTest, SwapWithoutProbeResult) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(25));
  in.servers = {server(Presented::Unknown)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap);
  EXPECT_EQ(d.exit_code, 0);
  bool noted = false;
  for (const auto& n : d.notes) {
    noted = noted || n.find("connect failed") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST_F(RolloverTest, PartlySwappedServerSetIsStillSwap) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(25));
  in.servers = {server(Presented::Next, "192.0.2.1"), server(Presented::Current, "192.0.2.2")};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap);
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes.back().find("192.0.2.2:25 still present"), std::string::npos) << d.notes.back();
}

// ---- step 4: remove, done ----

TEST_F(RolloverTest, RemoveOldRecordOnceServerPresentsNextKey) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(25));
  in.servers = {server(Presented::Next, "192.0.2.1"), server(Presented::Next, "2001:db8::1")};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Remove);
  EXPECT_EQ(d.exit_code, 4);
  ASSERT_EQ(d.remove_lines.size(), 1u);
  EXPECT_EQ(d.remove_lines[0], line(rec(m_current, 3, 1, 1)));
}

TEST_F(RolloverTest, ServerStillPresentingOldKeyAfterWaitIsSwapNotRemove) {
  auto in = input();
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(100));
  in.servers = {server(Presented::Current)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap);
  EXPECT_TRUE(d.remove_lines.empty());
}

TEST_F(RolloverTest, DoneWhenOldRecordGoneAndServerPresentsNextKey) {
  auto in = input();
  in.published = secure({rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(30));
  in.servers = {server(Presented::Next)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Done);
  EXPECT_EQ(d.exit_code, 0);
}

TEST_F(RolloverTest, SharedDaneTaRecordNeedsNoRemoval) {
  auto in = input();
  in.next = fake_cert(0x12, 0x22, 0x31); // same issuer as the current certificate
  in.published = secure({rec(m_current, 2, 1, 1)});
  in.state = seen(in.published.records, hours(30));
  in.servers = {server(Presented::Next)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Done);
  EXPECT_TRUE(d.remove_lines.empty());
}

TEST_F(RolloverTest, OldRecordGoneWhileServerPresentsOldKeyIsRefused) {
  auto in = input();
  in.published = secure({rec(m_next, 3, 1, 1)});
  in.state = seen(in.published.records, hours(30));
  in.servers = {server(Presented::Current)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::LiveKeyUnpublished);
  EXPECT_EQ(d.exit_code, 1);
  ASSERT_EQ(d.add_lines.size(), 1u);
  EXPECT_EQ(d.add_lines[0], line(rec(m_current, 3, 1, 1)));
}

TEST_F(RolloverTest, OldRecordGoneButProbeFailedIsUnconfirmed) {
  auto in = input();
  in.published = secure({rec(m_next, 3, 1, 1)});
  in.servers = {server(Presented::Unknown)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse);
  EXPECT_EQ(d.refusal, RolloverRefusal::Unconfirmed);
  EXPECT_EQ(d.exit_code, 1);
  in.servers.clear(); // no probe at all
  EXPECT_EQ(decide_rollover(in).refusal, RolloverRefusal::Unconfirmed);
}

TEST_F(RolloverTest, UnrelatedPublishedRecordsAreLeftAlone) {
  auto in = input();
  auto backup = fake_cert(0x77, 0x78, 0);
  in.published = secure({rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1), rec(backup, 3, 1, 1)});
  in.state = seen(in.published.records, hours(25));
  in.servers = {server(Presented::Next)};
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Remove);
  ASSERT_EQ(d.remove_lines.size(), 1u);
  EXPECT_EQ(d.remove_lines[0], line(rec(m_current, 3, 1, 1)));
  bool noted = false;
  for (const auto& n : d.notes) {
    noted = noted || n.find("left alone") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

// ---- probe classification and DNS answer conversion ----

TEST_F(RolloverTest, ClassifyPresentedLeaf) {
  EXPECT_EQ(classify_presented(m_next.cert_sha256, "", m_current, m_next), Presented::Next);
  EXPECT_EQ(classify_presented("", m_next.spki_sha256, m_current, m_next), Presented::Next);
  EXPECT_EQ(classify_presented("", m_current.spki_sha256, m_current, m_next), Presented::Current);
  EXPECT_EQ(classify_presented("ff", "ee", m_current, m_next), Presented::Other);
  EXPECT_EQ(classify_presented("", "", m_current, m_next), Presented::Unknown);
  // Same key in both: only the certificate digest tells them apart.
  auto same_key_next = fake_cert(0x11, 0x29, 0x31);
  EXPECT_EQ(classify_presented(same_key_next.cert_sha256, same_key_next.spki_sha256, m_current, same_key_next),
            Presented::Next);
  EXPECT_EQ(classify_presented("", same_key_next.spki_sha256, m_current, same_key_next), Presented::Current);
}

TEST(RolloverAnswer, PublishedFromAnswerParsesRdata) {
  Answer a;
  a.security = DnsSecurity::Secure;
  a.havedata = true;
  a.ttl = 600;
  a.rdata = {{3, 1, 1, 0xaa, 0xbb}, {3, 1}};
  auto p = published_from_answer(a);
  EXPECT_EQ(p.security, DnsSecurity::Secure);
  EXPECT_TRUE(p.exists);
  EXPECT_EQ(p.ttl, 600u);
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0].to_string(), "3 1 1 aabb");
  ASSERT_EQ(p.malformed.size(), 1u);
  Answer nodata;
  nodata.security = DnsSecurity::Secure;
  EXPECT_FALSE(published_from_answer(nodata).exists);
}

// ---- state file ----

class RolloverStateFile : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rollover-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
  std::string m_dir;
};

RolloverState sample_state() {
  RolloverState st;
  st.host = "mx.example.test";
  st.port = 2525;
  st.max_ttl = 3600;
  st.records.push_back({"3 1 1 " + std::string(64, 'a'), k_now - hours(3)});
  st.records.push_back({"2 1 1 " + std::string(64, 'b'), k_now});
  return st;
}

TEST_F(RolloverStateFile, SerializeParseRoundTrip) {
  auto st = sample_state();
  auto text = serialize_state(st);
  EXPECT_NE(text.find("\"first_seen_utc\": \"2027-01-15T05:00:00Z\""), std::string::npos) << text;
  auto back = parse_state(text);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, st);
}

TEST_F(RolloverStateFile, SaveLoadRoundTripCreatesDirectoriesAtomically) {
  auto st = sample_state();
  std::string path = m_dir + "/a/b/mx.example.test_2525.json";
  auto saved = save_state(path, st);
  ASSERT_TRUE(saved.has_value()) << saved.error();
  auto loaded = load_state(path, "mx.example.test", 2525);
  EXPECT_EQ(loaded.warning, "");
  EXPECT_EQ(loaded.state, st);
  // Overwrite: still exactly one file, no temporary left behind.
  st.max_ttl = 7200;
  ASSERT_TRUE(save_state(path, st).has_value());
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(m_dir + "/a/b")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(load_state(path, "mx.example.test", 2525).state.max_ttl, 7200u);
}

TEST_F(RolloverStateFile, MissingFileIsAFreshStartWithoutWarning) {
  auto loaded = load_state(m_dir + "/none.json", "mx.example.test", 25);
  EXPECT_EQ(loaded.warning, "");
  EXPECT_TRUE(loaded.state.records.empty());
  EXPECT_EQ(loaded.state.host, "mx.example.test");
}

TEST_F(RolloverStateFile, CorruptFilesAreAFreshStartWithWarning) {
  const std::string good = serialize_state(sample_state());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", "not valid JSON"},
      {"", "not valid JSON"},
      {good.substr(0, good.size() / 2), "not valid JSON"}, // truncated write
      {"[1,2]", "not a JSON object"},
      {R"({"version":2,"host":"mx.example.test","port":2525,"max_ttl":1,"records":[]})", "version"},
      {R"({"version":1,"port":2525,"max_ttl":1,"records":[]})", "host"},
      {R"({"version":1,"host":"mx.example.test","port":0,"max_ttl":1,"records":[]})", "port"},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":-1,"records":[]})", "max_ttl"},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":1,"records":{}})", "records"},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":1,"records":[{"tlsa":"3 1 1 zz","first_seen":1800000000}]})",
       "record \"3 1 1 zz\""},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":1,"records":[{"tlsa":"3 1 1 aa","first_seen":"x"}]})",
       "first_seen"},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":1,"records":[{"tlsa":"3 1 1 aa","first_seen":5}]})",
       "before the year 2000"},
      {R"({"version":1,"host":"mx.example.test","port":2525,"max_ttl":1,"records":[{"tlsa":"3 1 1 aa","first_seen":1800000000},{"tlsa":"3 1 1 AA","first_seen":1800000000}]})",
       "listed twice"},
  };
  for (const auto& [text, why] : cases) {
    std::string path = m_dir + "/state.json";
    write(path, text);
    auto loaded = load_state(path, "mx.example.test", 2525);
    EXPECT_NE(loaded.warning.find("is corrupt"), std::string::npos) << text << " -> " << loaded.warning;
    EXPECT_NE(loaded.warning.find(why), std::string::npos) << text << " -> " << loaded.warning;
    EXPECT_TRUE(loaded.state.records.empty()) << text;
    EXPECT_EQ(loaded.state.host, "mx.example.test");
    EXPECT_EQ(loaded.state.port, 2525);
  }
}

TEST_F(RolloverStateFile, StateOfAnotherHostIsNotUsed) {
  std::string path = m_dir + "/state.json";
  ASSERT_TRUE(save_state(path, sample_state()).has_value());
  auto loaded = load_state(path, "mx2.example.test", 2525);
  EXPECT_NE(loaded.warning.find("belongs to mx.example.test port 2525"), std::string::npos) << loaded.warning;
  EXPECT_TRUE(loaded.state.records.empty());
  EXPECT_NE(load_state(path, "mx.example.test", 25).warning, "");
}

TEST_F(RolloverStateFile, UnwritablePathFailsNamingIt) {
  std::string blocker = m_dir + "/file";
  write(blocker, "x");
  auto saved = save_state(blocker + "/sub/state.json", sample_state());
  ASSERT_FALSE(saved.has_value());
  EXPECT_NE(saved.error().find(blocker), std::string::npos) << saved.error();
}

TEST_F(RolloverStateFile, DecisionStateSurvivesTheFile) {
  // The state decide_rollover() returns is what the next run reads back.
  RolloverInput in;
  in.host = "mx.example.test";
  in.current = fake_cert(1, 2, 3);
  in.next = fake_cert(4, 5, 6);
  in.now = k_now;
  in.published = secure({rec(in.current, 3, 1, 1), rec(in.next, 3, 1, 1)});
  auto d = decide_rollover(in);
  ASSERT_EQ(d.step, RolloverStep::Wait);
  std::string path = m_dir + "/s.json";
  ASSERT_TRUE(save_state(path, d.state).has_value());
  RolloverInput later = in;
  later.state = load_state(path, "mx.example.test", 25).state;
  later.now = k_now + hours(24);
  EXPECT_EQ(decide_rollover(later).step, RolloverStep::Swap);
}

TEST(RolloverStatePath, DefaultLocations) {
  EXPECT_EQ(default_state_path("mx.example.test", 25, "/x/state", "/home/u", true),
            "/x/state/dane-policyd/rollover/mx.example.test_25.json");
  EXPECT_EQ(default_state_path("mx.example.test", 25, "", "/root", true),
            "/var/lib/dane-policyd/rollover/mx.example.test_25.json");
  EXPECT_EQ(default_state_path("mx.example.test", 587, "", "/home/u", false),
            "/home/u/.local/state/dane-policyd/rollover/mx.example.test_587.json");
  EXPECT_EQ(default_state_path("mx.example.test", 25, "relative", "/home/u", false),
            "/home/u/.local/state/dane-policyd/rollover/mx.example.test_25.json");
}

} // namespace
} // namespace dane::tools

// ---- certificate_records over the fixture PKI (tests/data/pki) ----
namespace dane::tools {
namespace {

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

std::string sha256_hex(const std::vector<std::uint8_t>& der) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(std::span<const std::uint8_t>(md, len));
}

TEST(RolloverCertificates, ChainFileGivesLeafIssuerAndFurtherCas) {
  auto full = certificate_records_from_file(pki("leaf-p256.fullchain.pem"));
  ASSERT_TRUE(full.has_value()) << full.error();
  EXPECT_EQ(full->leaf.size(), 6u);
  EXPECT_EQ(full->issuer.size(), 6u);
  EXPECT_EQ(full->other_cas.size(), 6u);

  // Independent computations: X509_digest for the certificate, i2d_PUBKEY for the SPKI.
  auto certs = load_pem_chain_file(pki("leaf-p256.crt"));
  ASSERT_TRUE(certs.has_value()) << certs.error();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ASSERT_EQ(X509_digest(certs->certs[0].get(), EVP_sha256(), md, &len), 1);
  EXPECT_EQ(full->cert_sha256, to_hex(std::span<const std::uint8_t>(md, len)));
  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(X509_get0_pubkey(certs->certs[0].get()), &der);
  ASSERT_GT(der_len, 0);
  std::vector<std::uint8_t> spki(der, der + der_len);
  OPENSSL_free(der);
  EXPECT_EQ(full->spki_sha256, sha256_hex(spki));
  ASSERT_TRUE(full->find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256).has_value());
  EXPECT_EQ(to_hex(full->find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)->data),
            full->spki_sha256);

  // The issuer is the intermediate: its 2 0 1 is the SHA-256 of int.crt.
  auto ints = load_pem_chain_file(pki("int.crt"));
  ASSERT_TRUE(ints.has_value());
  ASSERT_EQ(X509_digest(ints->certs[0].get(), EVP_sha256(), md, &len), 1);
  ASSERT_TRUE(full->find(TlsaUsage::DaneTa, TlsaSelector::Cert, TlsaMatchingType::Sha2_256).has_value());
  EXPECT_EQ(to_hex(full->find(TlsaUsage::DaneTa, TlsaSelector::Cert, TlsaMatchingType::Sha2_256)->data),
            to_hex(std::span<const std::uint8_t>(md, len)));

  auto alone = certificate_records_from_file(pki("leaf-p256.crt"));
  ASSERT_TRUE(alone.has_value());
  EXPECT_TRUE(alone->issuer.empty());
  EXPECT_FALSE(alone->find(TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256).has_value());
  EXPECT_EQ(alone->spki_sha256, full->spki_sha256);
}

TEST(RolloverCertificates, TwoLeavesOfOneIssuerShareTheirTaRecords) {
  auto p256 = certificate_records_from_file(pki("leaf-p256.chain.pem"));
  auto rsa = certificate_records_from_file(pki("leaf-rsa.chain.pem"));
  ASSERT_TRUE(p256.has_value() && rsa.has_value());
  EXPECT_NE(p256->spki_sha256, rsa->spki_sha256);
  EXPECT_EQ(p256->find(TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256),
            rsa->find(TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256));
  EXPECT_FALSE(rsa->matches(*p256->find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)));
  EXPECT_TRUE(rsa->matches(*p256->find(TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256)));
  EXPECT_EQ(classify_presented("", rsa->spki_sha256, *p256, *rsa), Presented::Next);
}

TEST(RolloverCertificates, BadFilesAreErrorsNamingTheFile) {
  auto missing = certificate_records_from_file(pki("no-such.pem"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("no-such.pem"), std::string::npos);
  auto key_only = certificate_records_from_file(pki("leaf-p256.key"));
  ASSERT_FALSE(key_only.has_value());
  EXPECT_NE(key_only.error().find("no certificate found"), std::string::npos) << key_only.error();
  auto broken = parse_pem_chain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(broken.has_value());
  EXPECT_NE(broken.error().find("not a valid certificate"), std::string::npos) << broken.error();
}

// ---- propagation at every authoritative server (input.authority) ----

AuthoritativeServer auth_server(std::string name, std::string address, const std::vector<TlsaRecord>& records,
                                AuthSignature signature = AuthSignature::Valid, std::uint32_t ttl = 3600) {
  AuthoritativeServer s;
  s.name = std::move(name);
  s.address = std::move(address);
  s.answered = true;
  s.serial = 7;
  s.records = records;
  s.ttl = ttl;
  s.signature = signature;
  return s;
}

AuthorityCheck authority(const std::vector<TlsaRecord>& intended, std::vector<AuthoritativeServer> servers) {
  AuthorityCheck check;
  check.security = DnsSecurity::Secure;
  check.zone = "example.test";
  check.intended = intended;
  for (auto& s : servers) {
    s.serves_intended = rrset_key(s.records) == rrset_key(intended);
  }
  check.servers = std::move(servers);
  return check;
}

// Both records published for two days (interval 24 h passed), but the secondary still serves the old set:
// `wait`, naming it, never `swap`.
TEST_F(RolloverTest, LaggingSecondaryKeepsWaitAfterTheInterval) {
  auto in = input();
  const std::vector<TlsaRecord> both = {rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)};
  in.published = secure(both);
  in.state = seen(both, hours(48));
  in.servers = {server(Presented::Current)};
  in.authority = authority(both, {auth_server("ns1.example.test", "192.0.2.53", both),
                                  auth_server("ns2.example.test", "192.0.2.54", {rec(m_current, 3, 1, 1)})});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait) << d.message;
  EXPECT_EQ(d.exit_code, 4);
  EXPECT_NE(d.message.find("ns2.example.test 192.0.2.54"), std::string::npos) << d.message;
  EXPECT_EQ(d.message.find("ns1.example.test"), std::string::npos) << d.message;
  ASSERT_EQ(d.state.servers.size(), 1u);
  EXPECT_EQ(d.state.servers[0].name, "ns1.example.test");
  EXPECT_EQ(d.state.servers[0].first_seen, k_now);
}

// A server serving the set without a valid RRSIG lags too.
TEST_F(RolloverTest, BadlySignedServerKeepsWait) {
  auto in = input();
  const std::vector<TlsaRecord> both = {rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)};
  in.published = secure(both);
  in.state = seen(both, hours(48));
  in.authority = authority(both, {auth_server("ns1.example.test", "192.0.2.53", both),
                                  auth_server("ns2.example.test", "192.0.2.54", both, AuthSignature::Invalid)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait) << d.message;
  EXPECT_NE(d.message.find("ns2.example.test"), std::string::npos) << d.message;
}

// Every server serves it, the last one since 1 h only: the wait (max(TTL, 24 h)) counts from that moment.
TEST_F(RolloverTest, WaitCountsFromTheLastAuthoritativeServer) {
  auto in = input();
  const std::vector<TlsaRecord> both = {rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)};
  in.published = secure(both);
  in.state = seen(both, hours(48));
  in.state.servers = {{"ns1.example.test", "192.0.2.53", rrset_key(both), k_now - hours(48)},
                      {"ns2.example.test", "192.0.2.54", rrset_key(both), k_now - hours(1)}};
  in.authority = authority(
      both, {auth_server("ns1.example.test", "192.0.2.53", both), auth_server("ns2.example.test", "192.0.2.54", both)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Wait) << d.message;
  ASSERT_TRUE(d.last_server_seen.has_value());
  EXPECT_EQ(*d.last_server_seen, k_now - hours(1));
  ASSERT_TRUE(d.remaining_wait.has_value());
  EXPECT_EQ(*d.remaining_wait, hours(23));
  EXPECT_EQ(d.safe_at, k_now + hours(23));
  // The clocks are kept, not restarted.
  EXPECT_EQ(d.state.servers, in.state.servers);

  in.state.servers[1].first_seen = k_now - hours(24);
  d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Swap) << d.message;
}

// The TTL the authoritative servers serve counts even when the resolver's (decremented) TTL is small.
TEST_F(RolloverTest, AuthoritativeTtlRaisesTheWait) {
  auto in = input();
  in.interval = seconds(0);
  const std::vector<TlsaRecord> both = {rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)};
  in.published = secure(both, 10);
  in.state = seen(both, seconds(600), 10);
  in.state.servers = {{"ns1.example.test", "192.0.2.53", rrset_key(both), k_now - seconds(600)}};
  in.authority = authority(both, {auth_server("ns1.example.test", "192.0.2.53", both, AuthSignature::Valid, 3600)});
  auto d = decide_rollover(in);
  EXPECT_EQ(d.state.max_ttl, 3600u);
  EXPECT_EQ(d.required_wait, seconds(3600));
  EXPECT_EQ(d.step, RolloverStep::Wait) << d.message;
}

// The check could not run (NS/DNSKEY lookup failed): no swap, a temporary refusal once the wait is over.
TEST_F(RolloverTest, FailedAuthorityCheckNeverSwaps) {
  auto in = input();
  const std::vector<TlsaRecord> both = {rec(m_current, 3, 1, 1), rec(m_next, 3, 1, 1)};
  in.published = secure(both);
  in.state = seen(both, hours(48));
  AuthorityCheck failed;
  failed.security = DnsSecurity::Failed;
  failed.error = "DNSKEY lookup of example.test error (timeout)";
  in.authority = failed;
  auto d = decide_rollover(in);
  EXPECT_EQ(d.step, RolloverStep::Refuse) << d.message;
  EXPECT_EQ(d.refusal, RolloverRefusal::DnsFailed);
  EXPECT_EQ(d.exit_code, 3);
  EXPECT_NE(d.message.find("timeout"), std::string::npos) << d.message;
}

TEST(RolloverStateServers, RoundTripAndOldFilesWithoutServersStillParse) {
  RolloverState st;
  st.host = "mx.example.test";
  st.port = 25;
  st.max_ttl = 300;
  st.servers = {{"ns1.example.test", "192.0.2.53", "3 1 1 aa, 3 1 1 bb", sys_seconds(seconds(1'800'000'000))}};
  auto parsed = parse_state(serialize_state(st));
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(*parsed, st);
  auto old = parse_state(R"({"version":1,"host":"mx.example.test","port":25,"max_ttl":300,"records":[]})");
  ASSERT_TRUE(old) << old.error();
  EXPECT_TRUE(old->servers.empty());
  auto bad = parse_state(
      R"({"version":1,"host":"h","port":25,"max_ttl":0,"records":[],"servers":[{"name":"ns1","address":"x"}]})");
  EXPECT_FALSE(bad);
}

} // namespace
} // namespace dane::tools
