// Where dane-policyd's messages go (--log-to, JOURNAL_STREAM), the --log-level filter, and which
// protocol a socket passed by systemd serves (its FileDescriptorName=).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "dane/daemon/server.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {
namespace {

TEST(LogDestinations, AutoIsStderrOnlyInTheForegroundOutsideTheJournal) {
  auto d = choose_log_destinations(LogTo::Auto, /*foreground=*/true, /*stdio=*/false, /*journal=*/false);
  EXPECT_TRUE(d.to_stderr);
  EXPECT_FALSE(d.to_syslog);
}

TEST(LogDestinations, AutoIsSyslogOnlyUnderTheJournalDetachedOrWithStdio) {
  for (auto [foreground, stdio, journal] : {std::tuple{true, false, true}, std::tuple{false, false, false},
                                            std::tuple{true, true, false}, std::tuple{false, true, true}}) {
    auto d = choose_log_destinations(LogTo::Auto, foreground, stdio, journal);
    EXPECT_TRUE(d.to_syslog) << foreground << stdio << journal;
    EXPECT_FALSE(d.to_stderr) << foreground << stdio << journal;
  }
}

TEST(LogDestinations, ExplicitChoiceIsExactlyOneDestination) {
  auto e = choose_log_destinations(LogTo::Stderr, true, false, true);
  EXPECT_TRUE(e.to_stderr);
  EXPECT_FALSE(e.to_syslog);
  auto s = choose_log_destinations(LogTo::Syslog, true, false, false);
  EXPECT_FALSE(s.to_stderr);
  EXPECT_TRUE(s.to_syslog);
}

TEST(LogDestinations, JournalStreamMustNameThisStderr) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string mine = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                           std::to_string(static_cast<unsigned long long>(st.st_ino));
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderr_is_journal());
  // A JOURNAL_STREAM inherited by a process whose stderr was redirected elsewhere does not count.
  const std::string other = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                            std::to_string(static_cast<unsigned long long>(st.st_ino) + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(stderr_is_journal());
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderr_is_journal());
}

TEST(LogLevel, MessagesBelowTheLevelAreNotEnabled) {
  LogOptions o;
  o.to_syslog = false;
  o.min_severity = Severity::Warning;
  auto w = LogWriter::open(o);
  ASSERT_TRUE(w) << w.error();
  EXPECT_FALSE((*w)->enabled(Severity::Debug));
  EXPECT_FALSE((*w)->enabled(Severity::Info));
  EXPECT_TRUE((*w)->enabled(Severity::Warning));
  EXPECT_TRUE((*w)->enabled(Severity::Error));
}

TEST(ListenerNames, NamesMapToProtocols) {
  EXPECT_EQ(*protocol_for_listener_name("socketmap"), Protocol::Socketmap);
  EXPECT_EQ(*protocol_for_listener_name("tcp-table"), Protocol::TcpTable);
  EXPECT_EQ(*protocol_for_listener_name("policy-service"), Protocol::Policy);
  // No names passed ("unknown"), or systemd's default name: the socket unit's own.
  EXPECT_EQ(*protocol_for_listener_name("unknown"), Protocol::Socketmap);
  EXPECT_EQ(*protocol_for_listener_name("dane-policyd.socket"), Protocol::Socketmap);
}

TEST(ListenerNames, AnyOtherNameIsAnErrorNamingIt) {
  auto r = protocol_for_listener_name("tcp_table");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("'tcp_table'"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("socketmap, tcp-table or policy-service"), std::string::npos) << r.error();
}

} // namespace
} // namespace dane::policyd
