// The real dane-policyd as systemd runs it, without a running systemd:
//   * under exactly the CapabilityBoundingSet=, NoNewPrivileges= and UMask= of
//     contrib/systemd/dane-policyd.service (setpriv), started twice with the same socket and
//     verdict log, each time reopening the log on SIGHUP after it was moved away;
//   * socket activation, through systemd-socket-activate and through LISTEN_FDS handed over by
//     hand (names, several sockets, wrong sockets);
//   * sd_notify: READY=1, STATUS=, RELOADING=1, STOPPING=1 on a datagram socket the test owns;
//   * logging once: with stderr connected to "the journal" (JOURNAL_STREAM) every message goes
//     to syslog (a test socket at /dev/log in a private mount namespace) once, none to stderr;
//     in the foreground otherwise, to stderr only; --log-level.
// No DNS server is needed: the resolver refuses every name locally (lookups answer TEMP at once,
// nothing leaves the machine), and the counters ("stats") need no DNS at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "files.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

// The [Service] settings of the shipped unit (last value of each key wins, as in systemd).
std::map<std::string, std::string> read_service_section(const std::string& unit = "dane-policyd.service") {
  std::map<std::string, std::string> out;
  std::string section;
  for (const auto& raw : read_text_lines(std::string(DANE_SOURCE_DIR) + "/contrib/systemd/" + unit)) {
    std::string line = raw;
    if (line.empty() || line[0] == '#' || line[0] == ';') {
      continue;
    }
    if (line[0] == '[') {
      section = line;
      continue;
    }
    auto eq = line.find('=');
    if (section == "[Service]" && eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) {
    out.push_back(w);
  }
  return out;
}

// Bit numbers of the capabilities a unit may plausibly name (linux/capability.h).
std::optional<int> capability_number(const std::string& name) {
  static const std::map<std::string, int> k_caps = {{"CAP_CHOWN", 0},           {"CAP_DAC_OVERRIDE", 1},
                                                    {"CAP_DAC_READ_SEARCH", 2}, {"CAP_FOWNER", 3},
                                                    {"CAP_FSETID", 4},          {"CAP_KILL", 5},
                                                    {"CAP_SETGID", 6},          {"CAP_SETUID", 7},
                                                    {"CAP_SETPCAP", 8},         {"CAP_NET_BIND_SERVICE", 10},
                                                    {"CAP_NET_ADMIN", 12},      {"CAP_NET_RAW", 13},
                                                    {"CAP_IPC_LOCK", 14},       {"CAP_SYS_CHROOT", 18},
                                                    {"CAP_SYS_ADMIN", 21},      {"CAP_SYS_RESOURCE", 24}};
  auto it = k_caps.find(name);
  return it == k_caps.end() ? std::nullopt : std::optional<int>(it->second);
}

std::string status_field(pid_t pid, const std::string& field) {
  for (const auto& line : read_text_lines("/proc/" + std::to_string(pid) + "/status")) {
    if (line.rfind(field + ":", 0) == 0) {
      auto value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return {};
}

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET, or for /dev/log.
class DatagramListener {
public:
  explicit DatagramListener(const std::string& path) : m_path(path) {
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
      ADD_FAILURE() << "bind " << path << ": " << std::strerror(errno);
    }
    ::chmod(path.c_str(), 0777); // the daemon sends after dropping root
  }
  ~DatagramListener() {
    ::close(m_fd);
    ::unlink(m_path.c_str());
  }
  DatagramListener(const DatagramListener&) = delete;
  DatagramListener& operator=(const DatagramListener&) = delete;

  // Waits for a datagram with the line `line` (e.g. "READY=1"); every datagram read is kept in
  // messages(). False when none came within the limit.
  bool wait_for_line(const std::string& line, std::chrono::seconds limit = 30s) {
    return wait_for(
        [&](const std::string& message) {
          std::istringstream in(message);
          std::string l;
          while (std::getline(in, l)) {
            if (l == line) {
              return true;
            }
          }
          return false;
        },
        limit);
  }
  // Reads every datagram already queued, without waiting (a sender that has exited has
  // delivered all of its datagrams: unix datagrams are queued at once).
  void drain() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(m_fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        return;
      }
      m_messages.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }
  // How many datagrams read so far contain `text`.
  std::size_t count(const std::string& text) const {
    return static_cast<std::size_t>(std::count_if(
        m_messages.begin(), m_messages.end(), [&](const std::string& m) { return m.find(text) != std::string::npos; }));
  }
  const std::vector<std::string>& messages() const { return m_messages; }
  std::string all() const {
    std::string out;
    for (const auto& m : m_messages) {
      out += m + "\n---\n";
    }
    return out;
  }

private:
  bool wait_for(const std::function<bool(const std::string&)>& match, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char buf[4096];
      ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n <= 0) {
        continue;
      }
      std::string message(buf, static_cast<std::size_t>(n));
      m_messages.push_back(message);
      if (match(message)) {
        return true;
      }
    }
  }

  std::string m_path;
  int m_fd = -1;
  std::vector<std::string> m_messages;
};

class SystemdUnit : public ::testing::Test {
protected:
  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "the systemd tests start the daemon as root, as the unit does");
    // Directories as systemd makes them for the unit: root-owned, mode 0755.
    ::chmod(m_dir.path().c_str(), 0755);
    for (const char* sub : {"run", "logs", "state"}) {
      std::string p = m_dir.path() + "/" + sub;
      ::mkdir(p.c_str(), 0755);
      ::chmod(p.c_str(), 0755);
    }
    std::ofstream(refuse_conf()) << "server:\n  local-zone: \".\" refuse\n";
  }

  std::string path(const std::string& name) const { return m_dir.path() + "/" + name; }
  std::string refuse_conf() const { return path("refuse.conf"); }
  std::string socket_path() const { return path("run/socketmap"); }
  std::string verdict_log() const { return path("logs/verdicts.jsonl"); }

  std::vector<std::string> offline_args() const {
    return {"--unbound-config", refuse_conf(), "--dns-timeout", "2", "--tempfail-ttl", "0"};
  }

  static Expected<std::string> query(const std::string& socket, const std::string& name, const std::string& key) {
    auto c = RawClient::unix_socket(socket);
    if (!c) {
      return make_error(c.error());
    }
    SocketmapClient client(std::move(*c));
    return client.query(name, key);
  }

  TempDir m_dir{"systemd"};
};

// ---- The unit's capability set ----------------------------------------------------------------

TEST_F(SystemdUnit, StartsTwiceUnderTheUnitsCapabilitiesAndReopensTheVerdictLogAfterAMove) {
  DANE_REQUIRE_OR_SKIP(!find_program("setpriv").empty(), "setpriv (util-linux) is not installed");
  auto unit = read_service_section();
  // The test starts the daemon the way the unit does: as root, dropping privileges itself. A unit
  // that names a user must be run differently; make this test do that when the unit changes.
  ASSERT_EQ(unit.count("User"), 0u) << "the unit now sets User=; teach this test to start it that way";
  ASSERT_EQ(unit.count("DynamicUser"), 0u);
  ASSERT_EQ(unit.count("AmbientCapabilities"), 0u);

  auto caps = words(unit["CapabilityBoundingSet"]);
  ASSERT_FALSE(caps.empty()) << "the unit has no CapabilityBoundingSet=";
  std::string bounding = "-all";
  unsigned long long expected_mask = 0;
  for (const auto& cap : caps) {
    auto number = capability_number(cap);
    ASSERT_TRUE(number) << "unknown capability in the unit: " << cap;
    expected_mask |= 1ULL << *number;
    std::string lower = cap.substr(4);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    bounding += ",+" + lower;
  }
  // As systemd does for LogsDirectory= and StateDirectory=: root's directories, named in the environment.
  std::vector<std::string> prefix = {"env", "LOGS_DIRECTORY=" + path("logs"), "STATE_DIRECTORY=" + path("state")};
  if (unit.count("UMask") != 0) {
    prefix.insert(prefix.end(), {"sh", "-c", "umask " + unit["UMask"] + " && exec \"$@\"", "sh"});
  }
  prefix.insert(prefix.end(), {"setpriv", "--bounding-set", bounding});
  if (unit["NoNewPrivileges"] == "yes" || unit["NoNewPrivileges"] == "true") {
    prefix.push_back("--no-new-privs");
  }

  std::vector<std::string> args = {"--socketmap", "unix:" + socket_path(), "--verdict-log", verdict_log(), "--mode",
                                   "pinned",      "--state-dir",           path("state")};
  auto offline = offline_args();
  args.insert(args.end(), offline.begin(), offline.end());

  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE("start " + std::to_string(round));
    auto d = DaemonProcess::start(args, 60s, prefix);
    ASSERT_TRUE(d) << d.error();
    // setpriv really applied the unit's set.
    EXPECT_EQ(std::stoull(status_field((*d)->pid(), "CapBnd"), nullptr, 16), expected_mask);
    EXPECT_NE((*d)->output().find("ready:"), std::string::npos);

    auto stats = query(socket_path(), "stats", "all");
    ASSERT_TRUE(stats) << stats.error();
    EXPECT_EQ(stats->rfind("OK {", 0), 0u) << *stats;

    const std::string before = "before-" + std::to_string(round) + ".example";
    auto answer = query(socket_path(), "tlspolicy", before);
    ASSERT_TRUE(answer) << answer.error();
    EXPECT_EQ(answer->rfind("TEMP", 0), 0u) << *answer; // refused DNS is a failure, never NOTFOUND
    ASSERT_TRUE(wait_until([&] { return read_text_file(verdict_log()).find(before) != std::string::npos; }))
        << (*d)->output();

    // logrotate without "create": move the file away, SIGHUP; the daemon (now the run user)
    // creates a new file, and the next line goes there.
    const std::string rotated = verdict_log() + "." + std::to_string(round);
    ASSERT_EQ(::rename(verdict_log().c_str(), rotated.c_str()), 0);
    (*d)->signal(SIGHUP);
    ASSERT_TRUE((*d)->wait_for_output("reopened verdict log")) << (*d)->output();
    const std::string after = "after-" + std::to_string(round) + ".example";
    answer = query(socket_path(), "tlspolicy", after);
    ASSERT_TRUE(answer) << answer.error();
    ASSERT_TRUE(wait_until([&] { return read_text_file(verdict_log()).find(after) != std::string::npos; }))
        << (*d)->output();
    EXPECT_EQ(read_text_file(rotated).find(after), std::string::npos);
    EXPECT_NE(read_text_file(rotated).find(before), std::string::npos);
    // No start-up warning about the directory, no failed reopen, no missing permission.
    for (const char* bad : {"cannot", "reopen failed", "Permission denied", "not permitted"}) {
      EXPECT_EQ((*d)->output().find(bad), std::string::npos) << (*d)->output();
    }

    struct stat st {};
    ASSERT_EQ(::stat(verdict_log().c_str(), &st), 0);
    EXPECT_NE(st.st_uid, 0u) << "the new verdict log belongs to the run user";
    EXPECT_EQ((*d)->stop(), 0) << (*d)->output();
  }
}

// ---- Socket activation --------------------------------------------------------------------------

TEST_F(SystemdUnit, SocketActivatedBySystemdSocketActivateAnswersOnThePassedSocketAndLeavesIt) {
  DANE_REQUIRE_OR_SKIP(!find_program("systemd-socket-activate").empty(), "systemd-socket-activate is not installed");
  // systemd-socket-activate listens, and starts the daemon on the first connection: that first
  // client must get its answer from the daemon started for it.
  std::atomic<bool> done{false};
  std::string first_reply;
  std::thread first([&] {
    wait_until([&] { return ::access(socket_path().c_str(), F_OK) == 0; });
    auto r = query(socket_path(), "stats", "all");
    first_reply = r ? *r : "error: " + r.error();
    done = true;
  });
  auto args = offline_args();
  // The config names the same path as the socket unit (as the shipped example does): served by the
  // passed socket, not bound a second time.
  args.insert(args.end(), {"--socketmap", "unix:" + socket_path()});
  auto d = DaemonProcess::start(args, 60s,
                                {find_program("systemd-socket-activate"), "-l", socket_path(), "--fdname=socketmap"});
  first.join();
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(first_reply.rfind("OK {", 0), 0u) << first_reply;

  const std::string out = (*d)->output();
  EXPECT_NE(out.find("serving socketmap unix:" + socket_path() + " (socket-activated)"), std::string::npos) << out;
  EXPECT_EQ(out.find("/run/dane-policyd"), std::string::npos) << "no default socket when one was passed: " << out;
  auto answer = query(socket_path(), "tlspolicy", "example.com");
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(answer->rfind("TEMP", 0), 0u) << *answer;

  EXPECT_EQ((*d)->stop(), 0) << (*d)->output();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0) << "the daemon removed the socket systemd created";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

class HandedOverSockets : public SystemdUnit {
protected:
  // Starts the daemon with `fds` handed over as systemd does: at 3, 4, ..., with LISTEN_FDS,
  // LISTEN_FDNAMES and LISTEN_PID (= the daemon's own pid).
  Expected<std::unique_ptr<DaemonProcess>> start_with(const std::vector<int>& fds, const std::string& names,
                                                      std::vector<std::string> args) {
    auto offline = offline_args();
    args.insert(args.end(), offline.begin(), offline.end());
    DaemonOptions options;
    options.listen_fds = fds;
    options.listen_fdnames = names;
    return DaemonProcess::start(args, options);
  }

  static int tcp_listener(std::uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    port = ntohs(sin.sin_port);
    return fd;
  }

  static int unix_listener(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    return fd;
  }
};

TEST_F(HandedOverSockets, NamesPickTheProtocolOfEachSocket) {
  std::uint16_t port = 0;
  int tcp = tcp_listener(port);
  const std::string policy_path = path("run/policy");
  int policy = unix_listener(policy_path);
  auto d = start_with({tcp, policy}, "tcp-table:policy-service", {});
  ::close(tcp);
  ::close(policy);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ((*d)->tcp_port("tcp_table"), port) << (*d)->output();
  EXPECT_EQ((*d)->output().find("/run/dane-policyd"), std::string::npos) << (*d)->output();

  auto t = RawClient::tcp("127.0.0.1", port);
  ASSERT_TRUE(t) << t.error();
  TcpTableClient table(std::move(*t));
  auto reply = table.get("example.com");
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->rfind("400 ", 0), 0u) << *reply; // TEMP in tcp_table words

  auto p = RawClient::unix_socket(policy_path);
  ASSERT_TRUE(p) << p.error();
  PolicyClient client(std::move(*p));
  auto action = client.ask_recipient("someone@example.com");
  ASSERT_TRUE(action) << action.error();
  EXPECT_EQ(*action, "DUNNO"); // the policy service spoke, not socketmap

  EXPECT_EQ((*d)->stop(), 0);
  struct stat st {};
  EXPECT_EQ(::lstat(policy_path.c_str(), &st), 0) << "the daemon removed a socket it did not create";
}

TEST_F(HandedOverSockets, UnnamedSocketIsSocketmap) {
  const std::string sock = path("run/unnamed");
  int fd = unix_listener(sock);
  // Without LISTEN_FDNAMES sd_listen_fds_with_names reports "unknown".
  auto d = start_with({fd}, "", {"--log-level", "debug"});
  ::close(fd);
  ASSERT_TRUE(d) << d.error();
  EXPECT_NE((*d)->output().find("dane-policyd: debug: socket activation: fd 3 named 'unknown'"), std::string::npos)
      << (*d)->output();
  auto r = query(sock, "stats", "all");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rfind("OK {", 0), 0u) << *r;
  EXPECT_EQ((*d)->stop(), 0);
}

TEST_F(HandedOverSockets, ANonListeningSocketIsRefusedWithAClearError) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto d = start_with({pair[0]}, "socketmap", {});
  ::close(pair[0]);
  ::close(pair[1]);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("fd 3, name 'socketmap'"), std::string::npos) << d.error();
  EXPECT_NE(d.error().find("not a listening stream socket"), std::string::npos) << d.error();
}

TEST_F(HandedOverSockets, AnUnknownNameIsRefusedNamingIt) {
  int fd = unix_listener(path("run/typo"));
  auto d = start_with({fd}, "sockmap", {});
  ::close(fd);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("unknown socket name 'sockmap'"), std::string::npos) << d.error();
}

// Several instances (dane-policyd@.service + dane-policyd-fleet.socket): systemd hands the same
// listening socket to each; both daemons serve it, and when one stops the other goes on alone.
TEST_F(HandedOverSockets, OneSocketSharedByTwoDaemons) {
  const std::string sock = path("run/shared");
  int fd = unix_listener(sock);
  auto a = start_with({fd}, "socketmap", {});
  auto b = start_with({fd}, "socketmap", {});
  ::close(fd);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  std::set<long> pids;
  for (int i = 0; i < 400 && pids.size() < 2; ++i) {
    auto r = query(sock, "stats", "all");
    ASSERT_TRUE(r && r->rfind("OK {", 0) == 0) << (r ? *r : r.error());
    pids.insert(nlohmann::json::parse(r->substr(3))["pid"].get<long>());
  }
  EXPECT_EQ(pids.size(), 2u) << "both instances accept on the shared socket";
  EXPECT_EQ((*a)->stop(), 0);
  auto r = query(sock, "stats", "all");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(nlohmann::json::parse(r->substr(3))["pid"].get<long>(), static_cast<long>((*b)->pid()));
  EXPECT_EQ((*b)->stop(), 0);
  struct stat st {};
  EXPECT_EQ(::lstat(sock.c_str(), &st), 0) << "the socket belongs to the service manager";
}

// The template for several instances runs under exactly the hardening of the main unit.
TEST(SystemdUnits, TheInstanceTemplateHasTheMainUnitsHardening) {
  auto main_unit = read_service_section();
  auto instance = read_service_section("dane-policyd@.service");
  ASSERT_FALSE(instance.empty());
  for (const auto& [key, value] : main_unit) {
    if (key == "ExecStart") {
      EXPECT_EQ(instance[key].rfind(value + " ", 0), 0u) << "the template adds options: " << instance[key];
      continue;
    }
    EXPECT_EQ(instance[key], value) << key;
  }
  EXPECT_EQ(instance["Sockets"], "dane-policyd-fleet.socket");
  EXPECT_NE(instance["ExecStart"].find("--cache-file /var/lib/dane-policyd/cache-%i"), std::string::npos);
}

// ---- sd_notify ----------------------------------------------------------------------------------

TEST_F(SystemdUnit, NotifiesReadyReloadingAndStopping) {
  DatagramListener notify(path("notify"));
  auto args = offline_args();
  args.insert(args.end(), {"--socketmap", "unix:" + socket_path(), "--verdict-log", verdict_log()});
  DaemonOptions options;
  options.env = {{"NOTIFY_SOCKET", path("notify")}};
  auto d = DaemonProcess::start(args, options);
  ASSERT_TRUE(d) << d.error();
  ASSERT_TRUE(notify.wait_for_line("READY=1")) << notify.all();
  EXPECT_NE(notify.all().find("STATUS=serving socketmap unix:" + socket_path() + "; mode native"), std::string::npos)
      << notify.all();
  // Ready means serving, as the unprivileged user.
  auto r = query(socket_path(), "stats", "all");
  ASSERT_TRUE(r) << r.error();
  EXPECT_NE(status_field((*d)->pid(), "Uid").rfind("0\t", 0), 0u) << "READY=1 before the privilege drop";

  (*d)->signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for_line("RELOADING=1")) << notify.all();
  ASSERT_TRUE(notify.wait_for_line("READY=1")) << notify.all();
  EXPECT_NE(notify.all().find("MONOTONIC_USEC="), std::string::npos) << notify.all();

  (*d)->signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for_line("STOPPING=1")) << notify.all();
  EXPECT_NE(notify.all().find("STATUS=stopping: draining"), std::string::npos) << notify.all();
  EXPECT_EQ((*d)->stop(), 0);
}

// ---- Logging once -------------------------------------------------------------------------------

// Starts PREFIX... dane-policyd --foreground ARGS... with stdout/stderr going to `output`, the
// notification socket `notify`, and, when `journal` is set, JOURNAL_STREAM naming that file, as
// systemd does for StandardError=journal. It does not wait for the "ready:" line (under the journal
// it goes to syslog): callers wait for READY=1 on `notify`.
Expected<std::unique_ptr<DaemonProcess>> start_service(const std::vector<std::string>& args, const std::string& output,
                                                       const std::string& notify, bool journal,
                                                       const std::vector<std::string>& prefix = {}) {
  DaemonOptions options;
  options.output_path = output;
  options.env = {{"NOTIFY_SOCKET", notify}};
  options.journal_stream = journal;
  options.wait_ready = false;
  options.prefix = prefix;
  return DaemonProcess::start(args, options);
}

// syslog(3) writes to /dev/log: in a private mount namespace the test puts its own datagram
// socket there (a tmpfs over /dev keeps the usual device nodes, bound from the real /dev), so
// the messages the daemon sends to syslog can be counted. The machine's /dev is not touched.
std::vector<std::string> private_dev_log_prefix(const std::string& scratch, const std::string& socket) {
  const std::string script =
      "set -e; mkdir -p \"$1/olddev\"; mount --rbind /dev \"$1/olddev\"; mount -t tmpfs -o mode=0755 tmpfs /dev; "
      "for n in null zero full random urandom tty; do touch /dev/$n; mount --bind \"$1/olddev/$n\" /dev/$n; done; "
      "ln -s \"$2\" /dev/log; shift 2; exec \"$@\"";
  return {"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", scratch, socket};
}

TEST_F(SystemdUnit, UnderTheJournalEveryMessageGoesToSyslogOnceAndNotToStderr) {
  DANE_REQUIRE_OR_SKIP(!find_program("unshare").empty(), "unshare (util-linux) is not installed");
  for (bool journal : {true, false}) {
    SCOPED_TRACE(journal ? "stderr is the journal" : "stderr is a plain file");
    DatagramListener notify(path("notify"));
    DatagramListener syslog(path("syslog"));
    auto args = offline_args();
    args.insert(args.begin(), {"--socketmap", "unix:" + socket_path()});
    const std::string output = path(journal ? "journal.out" : "plain.out");
    auto run = start_service(args, output, path("notify"), journal,
                             private_dev_log_prefix(path(journal ? "ns-journal" : "ns-plain"), path("syslog")));
    ASSERT_TRUE(run) << run.error();
    ASSERT_TRUE(notify.wait_for_line("READY=1")) << read_text_file(output);
    auto r = query(socket_path(), "tlspolicy", "example.com"); // logs a summary line
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ((*run)->stop(), 0);
    syslog.drain();
    const std::string text = read_text_file(output);
    if (journal) {
      // Everything went to syslog (which the journal stores), once; stderr stayed silent.
      EXPECT_EQ(syslog.count("stopped"), 1u) << syslog.all();
      EXPECT_EQ(syslog.count("ready: mode native"), 1u) << syslog.all();
      EXPECT_EQ(syslog.count("verdict destination=\"example.com\""), 1u) << syslog.all();
      EXPECT_NE(syslog.all().find("dane-policyd["), std::string::npos) << syslog.all(); // ident with pid
      EXPECT_EQ(text.find("dane-policyd:"), std::string::npos) << text;
    } else {
      // stderr a plain file (a terminal or pipe alike): the messages are there, and syslog gets none.
      EXPECT_EQ(text.find("dane-policyd: ready:"), text.rfind("dane-policyd: ready:")) << text;
      EXPECT_NE(text.find("dane-policyd: ready:"), std::string::npos) << text;
      EXPECT_NE(text.find("verdict destination=\"example.com\""), std::string::npos) << text;
      EXPECT_EQ(syslog.count("dane-policyd"), 0u) << syslog.all();
    }
  }
}

TEST_F(SystemdUnit, LogLevelWarningDropsInfoLines) {
  DatagramListener notify(path("notify"));
  auto args = offline_args();
  args.insert(args.begin(), {"--socketmap", "unix:" + socket_path(), "--log-level", "warning"});
  auto run = start_service(args, path("out"), path("notify"), false);
  ASSERT_TRUE(run) << run.error();
  ASSERT_TRUE(notify.wait_for_line("READY=1")) << read_text_file(path("out"));
  auto r = query(socket_path(), "stats", "all");
  ASSERT_TRUE(r) << r.error();
  // A garbled request is a warning: it is written.
  auto raw = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(raw) << raw.error();
  raw->send("xyz");
  raw->wait_closed();
  EXPECT_EQ((*run)->stop(), 0);
  const std::string text = read_text_file(path("out"));
  EXPECT_EQ(text.find("ready:"), std::string::npos) << text;  // info
  EXPECT_EQ(text.find("SIGTERM"), std::string::npos) << text; // info
  EXPECT_NE(text.find("dane-policyd: warning: bad socketmap request"), std::string::npos) << text;
}

TEST_F(SystemdUnit, LogToStderrWithoutForegroundIsAUsageError) {
  auto r = run_process(
      {dane_policyd_path(), "--config", "/dev/null", "--log-to", "stderr", "--socketmap", "unix:" + socket_path()},
      30s);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--log-to stderr"), std::string::npos) << r.output;
  r = run_process({dane_policyd_path(), "--config", "/dev/null", "--foreground", "--log-to", "journal"}, 30s);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--log-to"), std::string::npos) << r.output;
}

} // namespace
} // namespace dane::test
