// Integration tests of what the real dane-policyd does with its files when started as root
// (docs/hardening.md "Files", owned_files.hpp, verdict_log.hpp): a symbolic link or a root-only
// file at the --verdict-log path, a root-only --state-dir; rotation by real logrotate (create
// and copytruncate); a verdict log on a small tmpfs that fills up; a verdict log deleted while
// the daemon runs; client bytes in the daemon's log lines. DNS comes from the DNSSEC rig; the
// daemon drops to user nobody.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include <grp.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dns_rig.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_tlsa = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::unique_ptr<DnsRig> s_rig;

struct FileState {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
  std::string content;
};

FileState file_state(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return FileState{st.st_uid, st.st_gid, st.st_mode, S_ISREG(st.st_mode) ? read_text_file(path) : std::string()};
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// Every line of `path` is a JSON object; returns how many (and fails the test on a corrupt one).
std::size_t count_json_lines(const std::string& path) {
  const std::string text = read_text_file(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the file ends inside a line";
  EXPECT_EQ(text.find('\0'), std::string::npos) << "NUL bytes in " << path;
  std::size_t n = 0;
  for (const auto& line : read_text_lines(path)) {
    try {
      auto j = nlohmann::json::parse(line);
      EXPECT_TRUE(j.is_object() && j.contains("destination")) << line;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "corrupt line in " << path << ": '" << line << "': " << e.what();
    }
    ++n;
  }
  return n;
}

class DaemonFiles : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"example.test", std::string("@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA ") + k_tlsa + "\n"});
    if (auto st = s_rig->start(); !st) {
      ADD_FAILURE() << st.error();
      s_rig.reset();
    }
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "these tests start the daemon as root with --user nobody");
    struct passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    m_nobody_uid = pw->pw_uid;
    m_nobody_gid = pw->pw_gid;
    ::chmod(m_dir.path().c_str(), 0755);
    // The verdict log's directory belongs to the run user (as systemd's LogsDirectory does once
    // the daemon took it); the secrets below live beside it, root's.
    ASSERT_EQ(::mkdir(logs_dir().c_str(), 0755), 0);
    ASSERT_EQ(::chown(logs_dir().c_str(), m_nobody_uid, m_nobody_gid), 0);
  }

  void TearDown() override {
    if (m_mounted) {
      ::umount2(logs_dir().c_str(), MNT_DETACH);
    }
  }

  std::string logs_dir() const { return m_dir.file("logs"); }
  std::string verdict_log() const { return logs_dir() + "/verdicts.jsonl"; }
  std::string socket_path() const { return m_dir.file("socketmap"); }

  std::vector<std::string> daemon_args(std::vector<std::string> extra) const {
    std::vector<std::string> args = s_rig->cli_args(5);
    args.insert(args.end(), {"--socketmap", "unix:" + socket_path(), "--user", "nobody", "--log-to", "stderr"});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> extra) {
    auto d = DaemonProcess::start(daemon_args(std::move(extra)));
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  // Runs the daemon expecting a start-up failure: its exit code and output.
  ProcessResult start_failing(std::vector<std::string> extra) const {
    std::vector<std::string> argv = {dane_policyd_path(), "--foreground", "--config", "/dev/null"};
    auto args = daemon_args(std::move(extra));
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, 60s, true);
  }

  Expected<std::string> query(const std::string& key) const {
    auto c = RawClient::unix_socket(socket_path());
    if (!c) {
      return make_error(c.error());
    }
    SocketmapClient client(std::move(*c));
    return client.query("tlspolicy", key);
  }

  // `count` lookups of distinct names (each one evaluated: one verdict line each).
  void lookups(const std::string& tag, int count) const {
    auto c = RawClient::unix_socket(socket_path());
    ASSERT_TRUE(c) << c.error();
    SocketmapClient client(std::move(*c));
    for (int i = 0; i < count; ++i) {
      auto r = client.query("tlspolicy", tag + std::to_string(i) + ".example.test");
      ASSERT_TRUE(r) << r.error();
    }
  }

  nlohmann::json stats() const {
    auto c = RawClient::unix_socket(socket_path());
    if (!c) {
      return {};
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("stats", "all");
    if (!r || r->rfind("OK ", 0) != 0) {
      return {};
    }
    return nlohmann::json::parse(r->substr(3));
  }

  void write_logrotate_config(const std::string& style) const {
    struct group* gr = ::getgrgid(m_nobody_gid);
    const std::string group = gr != nullptr ? gr->gr_name : std::to_string(m_nobody_gid);
    std::ofstream(m_dir.file("logrotate.conf"))
        << verdict_log() << " {\n  rotate 2\n  nocompress\n  missingok\n  su root root\n"
        << (style == "create" ? "  create 0640 nobody " + group + "\n" : "  copytruncate\n") << "}\n";
  }

  ProcessResult logrotate() const {
    return run_process(
        {find_program("logrotate"), "-f", "-s", m_dir.file("logrotate.state"), m_dir.file("logrotate.conf")}, 60s,
        true);
  }

  DaemonTempDir m_dir{"dane-daemon-files"};
  uid_t m_nobody_uid = 0;
  gid_t m_nobody_gid = 0;
  bool m_mounted = false;
};

// ---- Finding 1: symbolic links, root's files and directories are never handed over -------------

TEST_F(DaemonFiles, SymlinkAtTheVerdictLogPathIsRefusedAndItsTargetUntouched) {
  const std::string secret = m_dir.file("secret");
  write_text_file_or_throw(secret, "root only\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(secret.c_str(), verdict_log().c_str()), 0);
  const FileState before = file_state(secret);

  auto r = start_failing({"--verdict-log", verdict_log()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(verdict_log() + ": is a symbolic link"), std::string::npos) << r.output;
  const FileState after = file_state(secret);
  EXPECT_EQ(after.uid, 0u) << "the symlink's target was re-owned";
  EXPECT_EQ(after.gid, before.gid);
  EXPECT_EQ(after.mode, before.mode);
  EXPECT_EQ(after.content, "root only\n");
}

TEST_F(DaemonFiles, AnExistingRootOnlyVerdictLogIsWrittenButNotReowned) {
  write_text_file_or_throw(verdict_log(), "");
  ASSERT_EQ(::chmod(verdict_log().c_str(), 0600), 0);
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  EXPECT_NE(d->output().find("is root's and the run user may not open it"), std::string::npos) << d->output();
  ASSERT_TRUE(query("example.test"));
  EXPECT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 1; })) << d->output();
  const FileState after = file_state(verdict_log());
  EXPECT_EQ(after.uid, 0u) << "root's verdict log was given to the run user";
  EXPECT_EQ(after.gid, 0u);
  EXPECT_EQ(after.mode & 07777, 0600u);
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonFiles, AHardLinkAtTheVerdictLogPathIsRefused) {
  const std::string secret = m_dir.file("secret");
  write_text_file_or_throw(secret, "root only\n");
  ASSERT_EQ(::link(secret.c_str(), verdict_log().c_str()), 0);
  auto r = start_failing({"--verdict-log", verdict_log()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("hard links"), std::string::npos) << r.output;
  EXPECT_EQ(read_text_file(secret), "root only\n");
}

TEST_F(DaemonFiles, ARootOnlyStateDirIsRefusedAndLeftAsItWas) {
  const std::string state = m_dir.file("state");
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  auto r = start_failing({"--mode", "pinned", "--state-dir", state});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--state-dir " + state + ": the run user"), std::string::npos) << r.output;
  const FileState after = file_state(state);
  EXPECT_EQ(after.uid, 0u) << "an existing directory was re-owned";
  EXPECT_EQ(after.mode & 07777, 0700u) << "an existing directory's mode was changed";
}

TEST_F(DaemonFiles, ASymlinkedStateDirIsRefused) {
  const std::string real = m_dir.file("real");
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(real.c_str(), m_dir.file("state").c_str()), 0);
  auto r = start_failing({"--mode", "pinned", "--state-dir", m_dir.file("state")});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a symbolic link"), std::string::npos) << r.output;
  EXPECT_EQ(file_state(real).uid, 0u);
  EXPECT_EQ(file_state(real).mode & 07777, 0700u);
}

TEST_F(DaemonFiles, AStateDirTheDaemonCreatesIsGivenToTheRunUser) {
  const std::string state = m_dir.file("new/state");
  auto d = start({"--mode", "pinned", "--state-dir", state});
  ASSERT_TRUE(d);
  const FileState made = file_state(state);
  EXPECT_EQ(made.uid, m_nobody_uid);
  EXPECT_EQ(made.mode & 07777, 0755u);
  EXPECT_EQ(file_state(m_dir.file("new")).uid, 0u) << "a parent made on the way stays root's";
  EXPECT_EQ(d->stop(), 0);
}

// ---- Item 2: real logrotate, both styles --------------------------------------------------------

TEST_F(DaemonFiles, LogrotateCreateThenSighupMovesEveryLaterLineToTheNewFile) {
  DANE_REQUIRE_OR_SKIP(!find_program("logrotate").empty(), "logrotate is not installed");
  write_logrotate_config("create");
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  lookups("before", 5);
  ASSERT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 5; })) << d->output();
  auto r = logrotate();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  d->signal(SIGHUP); // logrotate's postrotate does this in the shipped configuration
  ASSERT_TRUE(d->wait_for_output("reopened verdict log")) << d->output();
  lookups("after", 7);
  EXPECT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 7; })) << d->output();
  EXPECT_EQ(count_json_lines(verdict_log() + ".1"), 5u);
  EXPECT_EQ(count_json_lines(verdict_log()), 7u);
  EXPECT_EQ(read_text_file(verdict_log()).find("before"), std::string::npos);
  EXPECT_EQ(file_state(verdict_log()).uid, m_nobody_uid);
  EXPECT_EQ(d->output().find("reopen failed"), std::string::npos) << d->output();
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonFiles, LogrotateCopytruncateLeavesNoHoleAndLinesContinue) {
  DANE_REQUIRE_OR_SKIP(!find_program("logrotate").empty(), "logrotate is not installed");
  write_logrotate_config("copytruncate");
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  lookups("before", 5);
  ASSERT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 5; })) << d->output();
  auto r = logrotate();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lookups("after", 7);
  EXPECT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 7; })) << d->output();
  // O_APPEND: the next line starts at the new end (0), not at the old offset (a NUL-filled hole).
  EXPECT_EQ(count_json_lines(verdict_log()), 7u);
  EXPECT_EQ(count_json_lines(verdict_log() + ".1"), 5u);
  EXPECT_EQ(read_text_file(verdict_log()).rfind("{", 0), 0u);
  EXPECT_EQ(d->stop(), 0);
}

// ---- Finding 3: a full disk, a deleted file -----------------------------------------------------

TEST_F(DaemonFiles, AFullDiskCountsAndWarnsAboutLostLinesAndLeavesNoCorruptLine) {
  ASSERT_EQ(::mount("tmpfs", logs_dir().c_str(), "tmpfs", 0, "size=64k,mode=0755"), 0) << std::strerror(errno);
  m_mounted = true;
  ASSERT_EQ(::chown(logs_dir().c_str(), m_nobody_uid, m_nobody_gid), 0);
  // Leave about 3 pages free: room for a few dozen lines of the ~50 asked for.
  const std::string filler = logs_dir() + "/filler";
  write_text_file_or_throw(filler, std::string(13 * 4096, 'x'));
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  constexpr int k_first = 80;
  lookups("full", k_first);
  std::size_t lost = 0;
  std::size_t present = 0;
  ASSERT_TRUE(wait_until([&] {
    lost = stats().value("log_write_errors", 0u);
    present = read_text_lines(verdict_log()).size();
    return lost + present == k_first;
  })) << "lost "
      << lost << " present " << present << "\n"
      << d->output();
  EXPECT_GT(lost, 0u) << "the disk never filled up; make the filler bigger";
  EXPECT_GT(present, 0u);
  EXPECT_TRUE(d->wait_for_output("write failed (No space left on device)")) << d->output();
  EXPECT_EQ(stats().value("log_dropped", 1u), 0u) << "the queue never overflowed: log_dropped means that";

  ASSERT_EQ(::unlink(filler.c_str()), 0); // space returns
  constexpr int k_then = 10;
  lookups("again", k_then);
  EXPECT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == present + k_then; })) << d->output();
  EXPECT_EQ(count_json_lines(verdict_log()), present + k_then);
  EXPECT_EQ(stats().value("log_write_errors", 0u), lost);
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonFiles, ADeletedVerdictLogIsRecreatedByTheNextVerdict) {
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  ASSERT_TRUE(query("example.test"));
  ASSERT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 1; })) << d->output();
  ASSERT_EQ(::unlink(verdict_log().c_str()), 0);
  lookups("deleted", 3);
  EXPECT_TRUE(wait_until([&] { return read_text_lines(verdict_log()).size() == 3; })) << d->output();
  EXPECT_EQ(count_json_lines(verdict_log()), 3u);
  EXPECT_EQ(file_state(verdict_log()).uid, m_nobody_uid);
  EXPECT_TRUE(d->wait_for_output("was deleted; opened it anew")) << d->output();
  EXPECT_EQ(d->stop(), 0);
}

// ---- Finding 7: client bytes in log lines -------------------------------------------------------

TEST_F(DaemonFiles, ClientBytesInTheDestinationAreEscapedInTheLogLine) {
  auto d = start({"--verdict-log", verdict_log()});
  ASSERT_TRUE(d);
  const std::string key = "a\xff\x1b[31m\"x\\.example.test";
  ASSERT_TRUE(query(key));
  ASSERT_TRUE(d->wait_for_output("verdict destination=")) << d->output();
  EXPECT_EQ(d->stop(), 0);
  const std::string out = d->output();
  for (char c : out) {
    const auto u = static_cast<unsigned char>(c);
    ASSERT_TRUE((u >= 0x20 && u < 0x7f) || u == '\n') << "byte " << int(u) << " in the daemon's log:\n" << out;
  }
  EXPECT_NE(out.find("verdict destination=\"a%FF%1B[31m%22x%5C.example.test\""), std::string::npos) << out;
}

} // namespace
} // namespace dane::test
