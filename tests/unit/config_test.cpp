// Unit tests of dane-policyd's settings table, command line and config file
// (src/daemon/include/dane/daemon/settings.hpp).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dane/daemon/check_config.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/verifier/dns.hpp"
#include "test_env.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

// Parses a command line; `default_config` stands in for the built-in default path ("": none),
// so that no test ever reads the machine's own /etc/dane-policyd/dane-policyd.conf.
Expected<ParsedCommandLine> parse(std::vector<std::string> args, const std::string& default_config = "") {
  args.insert(args.begin(), "dane-policyd");
  std::vector<const char*> argv;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), default_config);
}

// A private temporary directory, removed with everything in it.
class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/dane-config-test-XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }
  std::string file(const std::string& name, const std::string& text) const {
    std::string p = m_path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string dir(const std::string& name) const {
    std::string p = m_path + "/" + name;
    std::filesystem::create_directories(p);
    return p;
  }

private:
  std::string m_path;
};

// Expects `p` to have failed with a message containing every one of `needles`.
void expect_error(const Expected<ParsedCommandLine>& p, const std::vector<std::string>& needles) {
  ASSERT_FALSE(p) << "accepted; expected an error mentioning " << needles.front();
  for (const auto& n : needles) {
    EXPECT_NE(p.error().find(n), std::string::npos) << "'" << n << "' not in: " << p.error();
  }
}

bool contains_line_with(const std::vector<std::string>& lines, const std::vector<std::string>& needles) {
  for (const auto& line : lines) {
    bool all = true;
    for (const auto& n : needles) {
      all = all && line.find(n) != std::string::npos;
    }
    if (all) {
      return true;
    }
  }
  return false;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l + "\n";
  }
  return out;
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
  auto p = parse({"--socketmap",
                  "unix:/run/x/socketmap",
                  "--socketmap",
                  "inet:127.0.0.1:9000",
                  "--tcp-table",
                  "inet:[::1]:9001",
                  "--policy-service",
                  "inet:localhost:9002",
                  "--mode",
                  "pinned",
                  "--probe",
                  "--socket-mode",
                  "0666",
                  "--cache-size",
                  "5",
                  "--dns-timeout",
                  "3",
                  "--forwarder",
                  "127.0.0.1@53",
                  "--forwarder",
                  "::1",
                  "--policy-failure-action",
                  "defer_if_permit",
                  "--user",
                  "root"});
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
  for (const char* name : {"--config",      "--socketmap",      "--tcp-table",    "--policy-service",
                           "--mode",        "--verdict-log",    "--probe",        "--user",
                           "--foreground",  "--stdio",          "--socket-owner", "--socket-group",
                           "--socket-mode", "--unbound-config", "--forwarder",    "--trust-anchor-file",
                           "--dns-timeout", "--state-dir",      "--idle-timeout", "--cache-size"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
  auto p = parse({"--help"});
  ASSERT_TRUE(p) << p.error();
  EXPECT_TRUE(p->help);
}

// ---- The configuration file: default path, --config, what may stand there ----

TEST(ConfigFile, DefaultFileIsReadWhenPresentAndNoConfigIsGiven) {
  TempDir tmp;
  std::string def = tmp.file("default.conf", "# default\nmode = monitor\nidle-timeout = 42\n");
  auto p = parse({}, def);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->settings.config_file, def);
  EXPECT_EQ(p->settings.mode, Mode::Monitor);
  EXPECT_EQ(p->settings.idle_timeout, 42s);
  EXPECT_EQ(origin_of(*p, "idle-timeout"), def + ":3: option 'idle-timeout'");
  EXPECT_EQ(origin_of(*p, "max-connections"), "--max-connections (default)");

  // Errors in the default file name it and the line, like any config file.
  std::string bad = tmp.file("bad-default.conf", "mode = monitor\nidle-timeout = 0\n");
  expect_error(parse({}, bad), {bad + ":2", "idle-timeout", "'0'"});
}

TEST(ConfigFile, MissingDefaultFileMeansEmbeddedDefaults) {
  TempDir tmp;
  auto p = parse({}, tmp.path() + "/no-such.conf");
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->settings.config_file, "");
  EXPECT_EQ(p->settings.mode, Mode::Native);
  EXPECT_EQ(p->settings.idle_timeout, 300s);
}

TEST(ConfigFile, ExplicitConfigReplacesTheDefaultFile) {
  TempDir tmp;
  std::string def = tmp.file("default.conf", "mode = monitor\n");
  std::string mine = tmp.file("mine.conf", "mode = pinned\n");
  auto p = parse({"--config", mine}, def);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->settings.config_file, mine);
  EXPECT_EQ(p->settings.mode, Mode::Pinned);
  auto none = parse({"--config", "/dev/null"}, def);
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(none->settings.mode, Mode::Native) << "--config /dev/null reads no settings, not the default file";
  EXPECT_EQ(none->settings.config_file, "/dev/null");
}

TEST(ConfigFile, MissingExplicitConfigIsAnError) {
  TempDir tmp;
  expect_error(parse({"--config", tmp.path() + "/missing.conf"}), {tmp.path() + "/missing.conf", "cannot read"});
  expect_error(parse({"--config", ""}), {"--config", "empty"});
}

TEST(ConfigFile, DirectoryIsRefusedAsConfigFile) {
  TempDir tmp;
  std::string dir = tmp.dir("conf.d");
  expect_error(parse({"--config", dir}), {dir, "is a directory"});
  expect_error(parse({}, dir), {dir, "is a directory"}); // also at the default path
}

// ---- Values that would disable the service ----

TEST(Values, ZeroIsRefusedWhereItWouldStopTheService) {
  for (const char* option : {"idle-timeout", "max-connections", "workers", "probe-concurrency", "probe-timeout"}) {
    expect_error(parse({std::string("--") + option, "0"}), {std::string("--") + option, "'0'", "from 1"});
    TempDir tmp;
    std::string conf = tmp.file("z.conf", "mode = native\n" + std::string(option) + " = 0\n");
    expect_error(parse({"--config", conf}), {conf + ":2", std::string("'") + option + "'", "from 1"});
  }
  // 0 stays meaningful where it is documented.
  auto p = parse({"--cache-size", "0", "--tempfail-ttl", "0", "--idle-timeout", "1", "--max-connections", "1"});
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->settings.cache_size, 0u);
  EXPECT_EQ(p->settings.idle_timeout, 1s);
  EXPECT_EQ(p->settings.max_connections, 1u);
}

TEST(Values, StatsNameMustNotShadowThePolicyMap) {
  for (const char* name : {"dane", "tlspolicy", "TLSPolicy"}) {
    expect_error(parse({"--stats-name", name}), {"--stats-name", name, "policy map"});
  }
  expect_error(parse({"--stats-name", ""}), {"--stats-name", "empty"});
  expect_error(parse({"--stats-name", "two words"}), {"--stats-name", "two words"});
  expect_error(parse({"--stats-name", "a:b"}), {"--stats-name", "a:b"});
  TempDir tmp;
  std::string conf = tmp.file("s.conf", "\nstats-name = dane\n");
  expect_error(parse({"--config", conf}), {conf + ":2", "stats-name", "dane"});
  auto ok = parse({"--stats-name", "counters"});
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->settings.stats_name, "counters");
}

TEST(Values, FingerprintDigestMustBeOneTheDaemonAndPostfixKnow) {
  expect_error(parse({"--fingerprint-digest", "sha257"}), {"--fingerprint-digest", "sha257", "unknown digest"});
  expect_error(parse({"--fingerprint-digest", ""}), {"--fingerprint-digest"});
  TempDir tmp;
  std::string conf = tmp.file("d.conf", "fingerprint-digest = nope\n");
  expect_error(parse({"--config", conf}), {conf + ":1", "fingerprint-digest", "nope"});
  for (const char* name : {"sha256", "sha1", "sha512"}) {
    auto p = parse({"--fingerprint-digest", name});
    ASSERT_TRUE(p) << name << ": " << p.error();
    EXPECT_EQ(p->settings.fingerprint_digest, name);
  }
  auto upper = parse({"--fingerprint-digest", "SHA256"});
  ASSERT_TRUE(upper) << upper.error();
  EXPECT_EQ(upper->settings.fingerprint_digest, "sha256") << "stored as the lowercase name the policy engine uses";
}

TEST(Values, DirectoryIsRefusedAsTrustAnchorOrUnboundConfig) {
  TempDir tmp;
  std::string dir = tmp.dir("not-a-file");
  expect_error(parse({"--trust-anchor-file", dir}), {"--trust-anchor-file " + dir, "is a directory"});
  expect_error(parse({"--unbound-config", dir}), {"--unbound-config " + dir, "is a directory"});
  std::string conf = tmp.file("r.conf", "mode = native\ntrust-anchor-file = " + dir + "\n");
  expect_error(parse({"--config", conf}), {conf + ":2", "trust-anchor-file", "is a directory"});
  conf = tmp.file("u.conf", "unbound-config = " + dir + "\n");
  expect_error(parse({"--config", conf}), {conf + ":1", "unbound-config", "is a directory"});
}

TEST(Values, ResolverRefusesDirectoriesItself) {
  // The library check (src/verifier/dns.cpp) for callers that build a ResolverConfig by hand:
  // libunbound would spin on a directory trust anchor and exit the process on a directory config.
  TempDir tmp;
  ResolverConfig anchor;
  anchor.trust_anchor_file = tmp.dir("anchor-dir");
  auto a = make_unbound_resolver(anchor);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("--trust-anchor-file " + anchor.trust_anchor_file + ": is a directory"), std::string::npos)
      << a.error();
  ResolverConfig config;
  config.unbound_config = tmp.dir("config-dir");
  auto c = make_unbound_resolver(config);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("--unbound-config " + config.unbound_config + ": is a directory"), std::string::npos)
      << c.error();
}

TEST(Values, CommandLineErrorsStartWithTheOption) {
  auto p = parse({"--mode", "strict"});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().rfind("--mode: ", 0), 0u) << p.error();
}

// ---- check_config(): what needs the system ----

// An unbound configuration that never sends a packet (every name refused locally).
std::string offline_unbound_conf(const TempDir& tmp) {
  return tmp.file("unbound.conf", "server:\n  local-zone: \".\" refuse\n");
}

TEST(CheckConfig, GoodConfigurationHasNoProblems) {
  TempDir tmp;
  std::string conf = tmp.file("good.conf", "mode = pinned\n"
                                           "socketmap = unix:" +
                                               tmp.path() +
                                               "/run/socketmap\n"
                                               "policy-service = unix:" +
                                               tmp.path() +
                                               "/run/policy\n"
                                               "tcp-table = inet:127.0.0.1:0\n"
                                               "verdict-log = " +
                                               tmp.path() +
                                               "/verdicts.jsonl\n"
                                               "state-dir = " +
                                               tmp.path() +
                                               "/state/sub\n"
                                               "user = root\n"
                                               "socket-owner = root\n"
                                               "socket-group = root\n"
                                               "unbound-config = " +
                                               offline_unbound_conf(tmp) + "\n");
  auto p = parse({"--config", conf});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  EXPECT_TRUE(problems.empty()) << joined(problems);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_check_config(*p, out, err), 0);
  EXPECT_EQ(out.str(), conf + ": configuration OK\n");
  EXPECT_EQ(err.str(), "");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/run")) << "the check creates nothing";
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/state"));
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/verdicts.jsonl"));
}

TEST(CheckConfig, LiveSocketIsNotAProblem) {
  TempDir tmp;
  std::string path = tmp.path() + "/live.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto p = parse({"--config", "/dev/null", "--user", "root", "--socketmap", "unix:" + path, "--unbound-config",
                  offline_unbound_conf(tmp)});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  ::close(fd);
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

TEST(CheckConfig, EveryProblemNamesFileLineAndOption) {
  TempDir tmp;
  std::string plain = tmp.file("plain-file", "x");
  std::string conf = tmp.file("bad.conf", "# problems, one per line\n"
                                          "user = no-such-user-dane-test\n"
                                          "socket-group = no-such-group-dane-test\n"
                                          "verdict-log = " +
                                              tmp.path() +
                                              "/missing-dir/verdicts.jsonl\n"
                                              "state-dir = " +
                                              plain +
                                              "\n"
                                              "socketmap = unix:" +
                                              plain +
                                              "\n"
                                              "trust-anchor-file = " +
                                              tmp.path() + "/missing.key\n");
  auto p = parse({"--config", conf, "--socket-owner", "no-such-owner-dane-test"});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  const std::string all = joined(problems);
  EXPECT_TRUE(contains_line_with(problems, {conf + ":2: option 'user'", "no-such-user-dane-test"})) << all;
  EXPECT_TRUE(contains_line_with(problems, {conf + ":3: option 'socket-group'", "no-such-group-dane-test"})) << all;
  EXPECT_TRUE(contains_line_with(problems, {conf + ":4: option 'verdict-log'", "missing-dir", "does not exist"}))
      << all;
  EXPECT_TRUE(contains_line_with(problems, {conf + ":5: option 'state-dir'", "not a directory"})) << all;
  EXPECT_TRUE(contains_line_with(problems, {conf + ":6: option 'socketmap'", "not a socket"})) << all;
  EXPECT_TRUE(contains_line_with(problems, {conf + ":7: option 'trust-anchor-file'", "missing.key"})) << all;
  EXPECT_TRUE(contains_line_with(problems, {"--socket-owner: ", "no-such-owner-dane-test"})) << all;
  EXPECT_EQ(problems.size(), 7u) << all;

  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(run_check_config(*p, out, err), 2);
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("7 problems in " + conf), std::string::npos) << err.str();
}

TEST(CheckConfig, VerdictLogAndStateDirMustBeUsable) {
  TempDir tmp;
  std::string dir = tmp.dir("log-is-a-dir");
  auto p = parse({"--config", "/dev/null", "--user", "root", "--unbound-config", offline_unbound_conf(tmp),
                  "--verdict-log", dir, "--state-dir", tmp.file("state-file", "")});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  EXPECT_TRUE(contains_line_with(problems, {"--verdict-log: ", dir, "is a directory"})) << joined(problems);
  EXPECT_TRUE(contains_line_with(problems, {"--state-dir: ", "not a directory"})) << joined(problems);
  EXPECT_EQ(problems.size(), 2u) << joined(problems);
}

TEST(CheckConfig, UnboundConfigTheResolverCannotReadIsAProblem) {
  TempDir tmp;
  std::string conf = tmp.file("c.conf", "unbound-config = " + tmp.path() + "/nope.conf\n");
  auto p = parse({"--config", conf, "--user", "root"});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  EXPECT_TRUE(contains_line_with(problems, {conf + ":1: option 'unbound-config'", "nope.conf", "cannot read"}))
      << joined(problems);
}

TEST(CheckConfig, DefaultUserMustExist) {
  // The default run user is dane-policyd, else nobody; a machine without either needs --user.
  DANE_REQUIRE_OR_SKIP(::getpwnam("nobody") != nullptr || ::getpwnam("dane-policyd") != nullptr,
                       "needs user nobody or dane-policyd");
  TempDir tmp;
  auto p = parse({"--config", "/dev/null", "--unbound-config", offline_unbound_conf(tmp)});
  ASSERT_TRUE(p) << p.error();
  auto problems = check_config(*p);
  EXPECT_FALSE(contains_line_with(problems, {"--user"})) << joined(problems);
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
