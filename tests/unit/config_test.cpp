// Unit tests of dane-policyd's settings table, command line and config file
// (policyd/include/dane/policyd/settings.hpp).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "dane/policyd/settings.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

Expected<ParsedCommandLine> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "dane-policyd");
  std::vector<const char*> argv;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

class ConfigFile {
public:
  explicit ConfigFile(const std::string& text) {
    char tmpl[] = "/tmp/dane-policyd-conf-XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    ::close(fd);
    m_path = tmpl;
    std::ofstream(m_path) << text;
  }
  ~ConfigFile() { ::unlink(m_path.c_str()); }
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

TEST(Settings, DefaultsAreTheDocumentedOnes) {
  auto p = parse({});
  ASSERT_TRUE(p) << p.error();
  const Settings& s = p->settings;
  EXPECT_EQ(s.mode, Mode::Native);
  EXPECT_FALSE(s.probe);
  EXPECT_FALSE(s.foreground);
  EXPECT_EQ(s.stdio, StdioProtocol::None);
  EXPECT_EQ(s.socket_mode, 0660u);
  EXPECT_EQ(s.state_dir, "/var/lib/dane-policyd");
  EXPECT_EQ(s.resolver.timeout, 10s);
  EXPECT_TRUE(s.socketmap.empty());
  Settings d = s;
  apply_embedded_defaults(d);
  ASSERT_EQ(d.socketmap.size(), 1u);
  EXPECT_EQ(d.socketmap[0].path, "/run/dane-policyd/socketmap");
}

TEST(Settings, EmbeddedDefaultListenerOnlyWhenNoneIsGiven) {
  auto p = parse({"--tcp-table", "inet:127.0.0.1:0"});
  ASSERT_TRUE(p) << p.error();
  apply_embedded_defaults(p->settings);
  EXPECT_TRUE(p->settings.socketmap.empty());
  auto q = parse({"--stdio", "socketmap"});
  ASSERT_TRUE(q) << q.error();
  apply_embedded_defaults(q->settings);
  EXPECT_TRUE(q->settings.socketmap.empty());
  EXPECT_EQ(q->settings.stdio, StdioProtocol::Socketmap);
}

TEST(Settings, CommandLineOptionsAreTyped) {
  auto p = parse({"--socketmap", "unix:/run/x/socketmap", "--socketmap", "inet:127.0.0.1:9000", "--tcp-table",
                  "inet:[::1]:9001", "--policy-service", "inet:localhost:9002", "--mode", "pinned", "--probe",
                  "--socket-mode", "0666", "--cache-size", "5", "--dns-timeout", "3", "--forwarder", "127.0.0.1@53",
                  "--forwarder", "::1", "--policy-failure-action", "defer_if_permit", "--user", "root"});
  ASSERT_TRUE(p) << p.error();
  const Settings& s = p->settings;
  ASSERT_EQ(s.socketmap.size(), 2u);
  EXPECT_EQ(s.socketmap[0].kind, Endpoint::Kind::Unix);
  EXPECT_EQ(s.socketmap[1].kind, Endpoint::Kind::Inet);
  EXPECT_EQ(s.socketmap[1].host, "127.0.0.1");
  EXPECT_EQ(s.socketmap[1].port, 9000);
  ASSERT_EQ(s.tcp_table.size(), 1u);
  EXPECT_EQ(s.tcp_table[0].host, "::1");
  EXPECT_EQ(s.tcp_table[0].port, 9001);
  EXPECT_EQ(s.policy_service[0].host, "localhost");
  EXPECT_EQ(s.mode, Mode::Pinned);
  EXPECT_TRUE(s.probe);
  EXPECT_EQ(s.socket_mode, 0666u);
  EXPECT_EQ(s.cache_size, 5u);
  EXPECT_EQ(s.resolver.timeout, 3s);
  EXPECT_EQ(s.resolver.forwarders, (std::vector<std::string>{"127.0.0.1@53", "::1"}));
  EXPECT_EQ(s.policy_failure_action, PolicyFailureAction::DeferIfPermit);
  EXPECT_EQ(s.user, "root");
}

TEST(Settings, BadCommandLineValuesNameTheOption) {
  auto p = parse({"--mode", "strict"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("--mode"), std::string::npos) << p.error();
  EXPECT_NE(p.error().find("strict"), std::string::npos) << p.error();

  p = parse({"--socket-mode", "999"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("--socket-mode"), std::string::npos) << p.error();

  p = parse({"--tcp-table", "unix:/x"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("--tcp-table"), std::string::npos) << p.error();

  p = parse({"--no-such-option"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("no-such-option"), std::string::npos) << p.error();

  p = parse({"--dns-timeout", "0"});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("--dns-timeout"), std::string::npos) << p.error();

  p = parse({"--cache-min-ttl", "100", "--cache-max-ttl", "10"});
  ASSERT_FALSE(p);
}

TEST(Settings, ConfigFileUsesTheSameNamesAndCommandLineWins) {
  ConfigFile conf("# dane-policyd.conf\n"
                  "mode = monitor\n"
                  "\n"
                  "socketmap = unix:/run/a/socketmap\n"
                  "socketmap = inet:127.0.0.1:7000\n"
                  "probe = yes\n"
                  "verdict-log = /var/log/dane.jsonl\n"
                  "  ; a comment\n"
                  "idle-timeout = 42\n"
                  "unbound-config = /etc/dane/unbound.conf\n"
                  "forwarder = 127.0.0.1@5353\n"
                  "forwarder = ::1\n"
                  "dns-timeout = 4\n");
  auto p = parse({"--config", conf.path(), "--mode", "pinned"});
  ASSERT_TRUE(p) << p.error();
  const Settings& s = p->settings;
  EXPECT_EQ(s.mode, Mode::Pinned) << "command line beats the file";
  ASSERT_EQ(s.socketmap.size(), 2u);
  EXPECT_EQ(s.socketmap[0].path, "/run/a/socketmap");
  EXPECT_EQ(s.socketmap[1].port, 7000);
  EXPECT_TRUE(s.probe);
  EXPECT_EQ(s.verdict_log, "/var/log/dane.jsonl");
  EXPECT_EQ(s.idle_timeout, 42s);
  EXPECT_EQ(s.resolver.unbound_config, "/etc/dane/unbound.conf");
  EXPECT_EQ(s.resolver.forwarders, (std::vector<std::string>{"127.0.0.1@5353", "::1"}));
  EXPECT_EQ(s.resolver.timeout, 4s);
  EXPECT_EQ(s.config_file, conf.path());
  auto q = parse({"--config", conf.path(), "--dns-timeout", "2", "--forwarder", "127.0.0.2"});
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ(q->settings.resolver.timeout, 2s) << "command line beats the file";
  EXPECT_EQ(q->settings.resolver.forwarders, (std::vector<std::string>{"127.0.0.2"}));
}

TEST(Settings, ConfigFileErrorsNameFileLineAndOption) {
  {
    ConfigFile conf("mode = native\nsocket-mode = rw\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":2"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("socket-mode"), std::string::npos) << p.error();
  }
  {
    ConfigFile conf("\n\nmodez = native\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":3"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("unknown option 'modez'"), std::string::npos) << p.error();
  }
  {
    ConfigFile conf("mode native\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":1"), std::string::npos) << p.error();
  }
  {
    ConfigFile conf("probe = maybe\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":1"), std::string::npos) << p.error();
  }
  {
    ConfigFile conf("mode = native\n\ndns-timeout = soon\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":3"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("dns-timeout"), std::string::npos) << p.error();
  }
  {
    ConfigFile conf("forwarder = not-an-address\n");
    auto p = parse({"--config", conf.path()});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find(conf.path() + ":1"), std::string::npos) << p.error();
    EXPECT_NE(p.error().find("forwarder"), std::string::npos) << p.error();
  }
  {
    auto p = parse({"--config", "/nonexistent/dane-policyd.conf"});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find("/nonexistent/dane-policyd.conf"), std::string::npos) << p.error();
  }
}

TEST(Settings, HelpListsEveryPinnedOption) {
  std::string help = help_text();
  for (const char* name :
       {"--config", "--socketmap", "--tcp-table", "--policy-service", "--mode", "--verdict-log", "--probe", "--user",
        "--foreground", "--stdio", "--socket-owner", "--socket-group", "--socket-mode", "--unbound-config",
        "--forwarder", "--trust-anchor-file", "--dns-timeout", "--state-dir", "--idle-timeout", "--cache-size"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
  auto p = parse({"--help"});
  ASSERT_TRUE(p) << p.error();
  EXPECT_TRUE(p->help);
}

TEST(Endpoint, ParsesUnixAndInetForms) {
  auto u = parse_endpoint("unix:/run/dane-policyd/socketmap");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->kind, Endpoint::Kind::Unix);
  EXPECT_EQ(u->path, "/run/dane-policyd/socketmap");
  auto i = parse_endpoint("inet:[::1]:10025");
  ASSERT_TRUE(i) << i.error();
  EXPECT_EQ(i->host, "::1");
  EXPECT_EQ(i->port, 10025);
  EXPECT_FALSE(parse_endpoint("unix:relative/path"));
  EXPECT_FALSE(parse_endpoint("inet:127.0.0.1"));
  EXPECT_FALSE(parse_endpoint("inet:127.0.0.1:70000"));
  EXPECT_FALSE(parse_endpoint("tcp:127.0.0.1:25"));
}

} // namespace
} // namespace dane::policyd
