// Integration tests of the real dane-policyd binary as a server: listeners, bad input,
// concurrency, signals, privileges, stdio (a socketpair, and pipes as in a shell
// pipeline: pipelined requests, EOF, garbled input, both protocols), embedded
// defaults. DNS comes from the DNSSEC rig (signed zones served by nsd on loopback).
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/policy/codecs.hpp"
#include "dns_rig.hpp"
#include "smtp_server.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_tlsa = "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::unique_ptr<DnsRig> s_rig;

class DaemonServer : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"example.test", std::string("@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA ") + k_tlsa + "\n"});
    s_rig->add_zone({"other.test", std::string("@ MX 10 mx\nmx A 127.0.0.3\n_25._tcp.mx TLSA ") + k_tlsa + "\n"});
    s_rig->add_zone({"bogus.test", std::string("@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA ") + k_tlsa + "\n",
                     ZoneSigning::WrongDs});
    s_rig->add_lame_delegation("slow.example.test", LameKind::NoServer);
    if (auto st = s_rig->start(); !st) {
      ADD_FAILURE() << st.error();
      s_rig.reset();
    }
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon tests bind sockets as root and drop privileges");
    ::chmod(m_dir.path().c_str(), 0777);
    struct rlimit rl {};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::string socket_path(const std::string& name = "socketmap") const { return m_dir.path() + "/" + name; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> args, int dns_timeout = 5) {
    auto rig_args = s_rig->cli_args(dns_timeout);
    args.insert(args.begin(), rig_args.begin(), rig_args.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  SocketmapClient socketmap(const std::string& path) {
    auto c = RawClient::unix_socket(path);
    EXPECT_TRUE(c) << (c ? "" : c.error());
    return SocketmapClient(std::move(*c));
  }

  static nlohmann::json stats(const std::string& path) {
    auto c = RawClient::unix_socket(path);
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

  DaemonTempDir m_dir{"dane-daemon-server"};
};

// `count` socketmap lookups in one buffer, to be sent at once: even ones for `even_key`, odd ones
// for `odd_key`.
std::string pipelined_lookups(int count, const std::string& even_key, const std::string& odd_key) {
  std::string batch;
  for (int i = 0; i < count; ++i) {
    batch += *policyd::encode_socketmap_request("tlspolicy", i % 2 == 0 ? even_key : odd_key);
  }
  return batch;
}

std::string status_line(pid_t pid, const std::string& field) {
  for (const auto& line : read_text_lines("/proc/" + std::to_string(pid) + "/status")) {
    if (line.rfind(field + ":", 0) == 0) {
      return line;
    }
  }
  return {};
}

TEST_F(DaemonServer, HelpDescribesEveryOptionAndExitsZero) {
  auto r = run_process({dane_policyd_path(), "--help"}, 30s);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* o : {"--config", "--socketmap", "--tcp-table", "--policy-service", "--mode", "--verdict-log",
                        "--probe", "--user", "--foreground", "--stdio", "--socket-owner", "--socket-group",
                        "--socket-mode", "--unbound-config", "--forwarder", "--trust-anchor-file", "--dns-timeout"}) {
    EXPECT_NE(r.output.find(o), std::string::npos) << o;
  }
}

TEST_F(DaemonServer, BadOptionsExitTwoNamingTheOption) {
  auto r = run_process({dane_policyd_path(), "--foreground", "--mode", "strict"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--mode"), std::string::npos) << r.output;

  std::string conf = m_dir.path() + "/bad.conf";
  std::ofstream(conf) << "mode = native\nidle-timeout = soon\n";
  r = run_process({dane_policyd_path(), "--foreground", "--config", conf}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(conf + ":2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("idle-timeout"), std::string::npos) << r.output;
}

TEST_F(DaemonServer, UnbindableListenerIsAStartupErrorNamingIt) {
  std::string not_a_socket = m_dir.path() + "/plain-file";
  std::ofstream(not_a_socket) << "x";
  auto args = s_rig->cli_args(5);
  std::vector<std::string> argv{dane_policyd_path(), "--config",    "/dev/null",
                                "--foreground",      "--socketmap", "unix:" + not_a_socket};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv, 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(not_a_socket), std::string::npos) << r.output;
}

TEST_F(DaemonServer, ServesAllThreeProtocolsAtOnce) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--tcp-table", "inet:127.0.0.1:0", "--policy-service",
                  "unix:" + socket_path("policy"), "--policy-service", "inet:127.0.0.1:0"});
  ASSERT_TRUE(d);
  auto sm = socketmap(socket_path());
  EXPECT_EQ(*sm.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(*sm.query("tlspolicy", "other.test"), "OK dane-only") << "many requests on one connection";

  auto tcp_port = d->tcp_port("tcp_table");
  ASSERT_TRUE(tcp_port) << d->output();
  auto tc = RawClient::tcp("127.0.0.1", *tcp_port);
  ASSERT_TRUE(tc) << tc.error();
  TcpTableClient table(std::move(*tc));
  EXPECT_EQ(*table.get("example.test"), "200 dane-only");
  EXPECT_EQ(*table.get(".example.test"), "500 not found");

  auto pc = RawClient::unix_socket(socket_path("policy"));
  ASSERT_TRUE(pc) << pc.error();
  PolicyClient policy(std::move(*pc));
  EXPECT_EQ(*policy.ask_recipient("user@example.test"), "DUNNO");
  EXPECT_EQ(*policy.ask_recipient("user@Other.Test"), "DUNNO");

  auto policy_port = d->tcp_port("policy");
  ASSERT_TRUE(policy_port) << d->output();
  auto pt = RawClient::tcp("127.0.0.1", *policy_port);
  ASSERT_TRUE(pt) << pt.error();
  PolicyClient policy_tcp(std::move(*pt));
  EXPECT_EQ(*policy_tcp.ask_recipient("user@example.test"), "DUNNO");

  auto s = stats(socket_path());
  EXPECT_EQ(s["requests"]["socketmap"], 3) << "two lookups and this stats request";
  EXPECT_EQ(s["requests"]["tcp_table"], 2);
  EXPECT_EQ(s["requests"]["policy"], 3);
  EXPECT_EQ(s["evaluations"], 2) << "example.test and other.test, each evaluated once";
  EXPECT_EQ(s["cache"]["hits"], 4);
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, GarbageAndOversizedInputCloseOnlyTheirConnection) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--tcp-table", "inet:127.0.0.1:0", "--policy-service",
                  "unix:" + socket_path("policy")});
  ASSERT_TRUE(d);
  auto good = socketmap(socket_path());
  ASSERT_EQ(*good.query("tlspolicy", "example.test"), "OK dane-only");

  const std::vector<std::string> socketmap_junk = {
      "xyz:abc,",                                 // garbled length
      "99999999:",                                // oversized netstring
      "5:hello!",                                 // missing comma
      std::string("\x00\xff\x13\x37\n\r\x80", 7), // binary junk
      "10001:" + std::string(10001, 'a') + ",",   // one byte over Postfix's 10000
  };
  for (const auto& junk : socketmap_junk) {
    auto bad = RawClient::unix_socket(socket_path());
    ASSERT_TRUE(bad) << bad.error();
    ASSERT_TRUE(bad->send(junk));
    EXPECT_TRUE(bad->wait_closed()) << "junk " << policyd::printable_excerpt(junk);
    EXPECT_EQ(*good.query("tlspolicy", "example.test"), "OK dane-only") << "the other connection goes on";
  }

  auto tcp_port = d->tcp_port("tcp_table");
  ASSERT_TRUE(tcp_port);
  for (const std::string& junk : {std::string(5000, 'g'), std::string("put x y\n"), std::string("get a b\n")}) {
    auto bad = RawClient::tcp("127.0.0.1", *tcp_port);
    ASSERT_TRUE(bad) << bad.error();
    ASSERT_TRUE(bad->send(junk));
    EXPECT_TRUE(bad->wait_closed());
    EXPECT_EQ(*good.query("tlspolicy", "example.test"), "OK dane-only");
  }

  auto bad_policy = RawClient::unix_socket(socket_path("policy"));
  ASSERT_TRUE(bad_policy);
  ASSERT_TRUE(bad_policy->send("this is not an attribute\n\n"));
  auto reply = bad_policy->receive_some();
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "") << "closed without a reply";

  EXPECT_TRUE(d->running());
  auto s = stats(socket_path());
  EXPECT_EQ(s["protocol_errors"], 9);
  EXPECT_TRUE(d->wait_for_output("warning: bad socketmap request")) << d->output();
  EXPECT_TRUE(d->wait_for_output("warning: bad policy request")) << d->output();
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, HalfClosedConnectionStillGetsItsReplies) {
  auto d = start({"--socketmap", "unix:" + socket_path()});
  ASSERT_TRUE(d);
  auto c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(c);
  SocketmapClient client(std::move(*c));
  ASSERT_TRUE(client.send_query("tlspolicy", "example.test"));
  ASSERT_TRUE(client.send_query("tlspolicy", ".example.test"));
  client.raw().shutdown_write();
  EXPECT_EQ(*client.read_reply(), "OK dane-only");
  EXPECT_EQ(*client.read_reply(), "NOTFOUND ");
  EXPECT_TRUE(client.raw().wait_closed());
}

TEST_F(DaemonServer, IdleConnectionsAreClosed) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--idle-timeout", "1"});
  ASSERT_TRUE(d);
  auto c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(c);
  SocketmapClient client(std::move(*c));
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_TRUE(client.raw().wait_closed());
  // Half a request, then silence: closed too, with a warning.
  auto partial = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(partial);
  ASSERT_TRUE(partial->send("20:tlspolicy exa"));
  EXPECT_TRUE(partial->wait_closed());
  EXPECT_TRUE(d->wait_for_output("idle timeout with a partial socketmap request"));
}

TEST_F(DaemonServer, ThousandConcurrentConnections) {
  auto d = start({"--socketmap", "unix:" + socket_path()});
  ASSERT_TRUE(d);
  std::vector<SocketmapClient> clients;
  clients.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    auto c = RawClient::unix_socket(socket_path());
    ASSERT_TRUE(c) << "connection " << i << ": " << c.error();
    clients.emplace_back(std::move(*c));
  }
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_query("tlspolicy", "example.test"));
  }
  auto s = stats(socket_path());
  EXPECT_GE(s["connections"]["open"].get<int>(), 1000) << "all 1000 (plus this one) open at once";
  int ok = 0;
  for (auto& c : clients) {
    auto r = c.read_reply();
    ok += (r && *r == "OK dane-only") ? 1 : 0;
  }
  EXPECT_EQ(ok, 1000);
  // ... and every connection is still usable.
  for (std::size_t i = 0; i < clients.size(); i += 100) {
    EXPECT_EQ(*clients[i].query("tlspolicy", "other.test"), "OK dane-only");
  }
  s = stats(socket_path());
  EXPECT_EQ(s["evaluations"], 2);
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, SlowLookupDoesNotBlockOtherClients) {
  auto d = start({"--socketmap", "unix:" + socket_path()}, /*dns_timeout=*/10);
  ASSERT_TRUE(d);
  auto slow_c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(slow_c);
  SocketmapClient slow(std::move(*slow_c));
  ASSERT_TRUE(slow.send_query("tlspolicy", "host.slow.example.test"));
  // Wait until the daemon is evaluating the slow destination.
  for (int i = 0; i < 3000 && stats(socket_path())["cache"]["misses"] != 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(stats(socket_path())["cache"]["misses"], 1);
  auto fast = socketmap(socket_path());
  EXPECT_EQ(*fast.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(*fast.query("tlspolicy", "other.test"), "OK dane-only");
  // The slow one is still being evaluated: nothing has arrived on its connection.
  char byte = 0;
  EXPECT_EQ(::recv(slow.raw().fd(), &byte, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(DaemonServer, ClientSendingWithoutReadingIsPausedAndAnsweredInOrder) {
  auto d = start({"--socketmap", "unix:" + socket_path()});
  ASSERT_TRUE(d);
  auto good = socketmap(socket_path());
  ASSERT_EQ(*good.query("tlspolicy", "example.test"), "OK dane-only"); // cached from now on

  // 100000 pipelined lookups, alternating a cached answer and a parent-domain key: some 1.4 MB of
  // replies, several times what the socket buffers and the daemon's output limit hold while this
  // client reads nothing. The daemon's writes get stuck (its EPOLLOUT path) and it stops reading
  // from this client, so the sender blocks instead of the daemon buffering without bound.
  constexpr int k_requests = 100000;
  std::string batch = pipelined_lookups(k_requests, "example.test", ".example.test");
  auto flood_c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(flood_c) << flood_c.error();
  SocketmapClient flood(std::move(*flood_c));
  flood.raw().set_timeout(120s);
  std::atomic<bool> sent{false};
  std::thread sender([&] { sent = flood.raw().send(batch); });

  // Wait until the daemon stops taking requests from it (the count stands still for 600 ms).
  int stats_asked = 0;
  auto lookups = [&] {
    auto st = stats(socket_path());
    ++stats_asked;
    return st["requests"]["socketmap"].get<int>() - stats_asked - 1; // minus the stats requests and `good`'s
  };
  int last = -1;
  int still = 0;
  for (int i = 0; i < 300 && still < 3; ++i) {
    std::this_thread::sleep_for(200ms);
    int now = lookups();
    still = now == last ? still + 1 : 0;
    last = now;
  }
  EXPECT_EQ(still, 3) << "the daemon kept reading from a client that reads nothing";
  EXPECT_LT(last, k_requests) << "paused before the end of the flood";
  EXPECT_FALSE(sent.load()) << "the sender is held back by the daemon not reading";
  EXPECT_EQ(*good.query("tlspolicy", "other.test"), "OK dane-only") << "others are served meanwhile";

  // Now read: everything arrives, in order, and the sender finishes.
  int in_order = 0;
  for (int i = 0; i < k_requests; ++i) {
    auto r = flood.read_reply();
    if (!r) {
      ADD_FAILURE() << "reply " << i << ": " << r.error();
      break;
    }
    in_order += *r == (i % 2 == 0 ? "OK dane-only" : "NOTFOUND ") ? 1 : 0;
  }
  sender.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(in_order, k_requests);
  EXPECT_EQ(*flood.query("tlspolicy", "example.test"), "OK dane-only") << "the connection is still usable";
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, ClientThatNeverReadsItsAnswersIsClosedAfterTheIdleTimeout) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--idle-timeout", "1"});
  ASSERT_TRUE(d);
  ASSERT_EQ(*socketmap(socket_path()).query("tlspolicy", "example.test"), "OK dane-only"); // cached now
  std::string batch = pipelined_lookups(100000, "example.test", "example.test");
  auto flood_c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(flood_c) << flood_c.error();
  flood_c->set_timeout(120s);
  std::atomic<bool> sent{false};
  std::thread sender([&] { sent = flood_c->send(batch); });
  // Its answers pile up unread, so the daemon stops reading it; a second later it is idle and closed
  // (the only connection left open is the stats request's own).
  int open = -1;
  for (int i = 0; i < 300 && open != 1; ++i) {
    std::this_thread::sleep_for(100ms);
    open = stats(socket_path())["connections"]["open"].get<int>();
  }
  EXPECT_EQ(open, 1) << "the connection that reads nothing was closed";
  sender.join(); // the blocked send fails once the daemon has closed the connection
  EXPECT_FALSE(sent.load());
  EXPECT_TRUE(d->running());
  EXPECT_EQ(*socketmap(socket_path()).query("tlspolicy", "other.test"), "OK dane-only");
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, SigtermFinishesInFlightRequestsAndExitsZero) {
  auto d = start({"--socketmap", "unix:" + socket_path()}, /*dns_timeout=*/2);
  ASSERT_TRUE(d);
  auto c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(c);
  SocketmapClient slow(std::move(*c));
  ASSERT_TRUE(slow.send_query("tlspolicy", "host.slow.example.test"));
  for (int i = 0; i < 3000 && stats(socket_path())["cache"]["misses"] != 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(stats(socket_path())["cache"]["misses"], 1);
  d->signal(SIGTERM);
  auto reply = slow.read_reply();
  ASSERT_TRUE(reply) << reply.error() << "\n" << d->output();
  EXPECT_EQ(reply->rfind("TEMP ", 0), 0u) << *reply;
  EXPECT_TRUE(slow.raw().wait_closed());
  auto status = d->wait(60s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << d->output();
  EXPECT_NE(d->output().find("SIGTERM: stopping"), std::string::npos);
  EXPECT_FALSE(RawClient::unix_socket(socket_path())) << "no longer accepting";
}

TEST_F(DaemonServer, SighupReopensTheVerdictLog) {
  std::string log = m_dir.path() + "/verdicts.jsonl";
  auto d = start({"--socketmap", "unix:" + socket_path(), "--verdict-log", log});
  ASSERT_TRUE(d);
  auto client = socketmap(socket_path());
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  for (int i = 0; i < 3000 && read_text_lines(log).size() < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(read_text_lines(log).size(), 1u);
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  d->signal(SIGHUP);
  ASSERT_TRUE(d->wait_for_output("reopened verdict log"));
  EXPECT_EQ(*client.query("tlspolicy", "other.test"), "OK dane-only");
  for (int i = 0; i < 3000 && read_text_lines(log).size() < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto old_lines = read_text_lines(log + ".1");
  auto new_lines = read_text_lines(log);
  ASSERT_EQ(old_lines.size(), 1u);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(old_lines[0])["destination"], "example.test");
  EXPECT_EQ(nlohmann::json::parse(new_lines[0])["destination"], "other.test");
  EXPECT_TRUE(d->running());
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, DropsPrivilegesAfterBindingAsRoot) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--user", "nobody"});
  ASSERT_TRUE(d);
  struct passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  std::string uid = std::to_string(nobody->pw_uid);
  std::string gid = std::to_string(nobody->pw_gid);
  EXPECT_EQ(status_line(d->pid(), "Uid"), "Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(status_line(d->pid(), "Gid"), "Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid);
  EXPECT_EQ(status_line(d->pid(), "Groups"), "Groups:\t" + gid + " ");
  struct stat st {};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, nobody->pw_uid);
  if (struct group* postfix = ::getgrnam("postfix")) {
    EXPECT_EQ(st.st_gid, postfix->gr_gid) << "default --socket-group is postfix when it exists";
  }
  auto client = socketmap(socket_path());
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(DaemonServer, SocketOwnerGroupAndModeOptions) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--user", "root", "--socket-owner", "nobody",
                  "--socket-group", "root", "--socket-mode", "0600"});
  ASSERT_TRUE(d);
  struct stat st {};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::getpwnam("nobody")->pw_uid);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(status_line(d->pid(), "Uid"), "Uid:\t0\t0\t0\t0") << "--user root keeps root";
}

TEST_F(DaemonServer, MaxConnectionsClosesTheExcessOnly) {
  auto d = start({"--socketmap", "unix:" + socket_path(), "--max-connections", "2"});
  ASSERT_TRUE(d);
  auto a = socketmap(socket_path());
  auto b = socketmap(socket_path());
  EXPECT_EQ(*a.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(*b.query("tlspolicy", "example.test"), "OK dane-only");
  auto c = RawClient::unix_socket(socket_path());
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->wait_closed());
  EXPECT_EQ(*a.query("tlspolicy", "other.test"), "OK dane-only");
  EXPECT_TRUE(d->wait_for_output("too many connections"));
}

TEST_F(DaemonServer, DetachesWithoutForeground) {
  auto args = s_rig->cli_args(5);
  std::vector<std::string> argv{dane_policyd_path(), "--config", "/dev/null", "--socketmap", "unix:" + socket_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "the detached daemon logs to syslog only";
  nlohmann::json s;
  for (int i = 0; i < 3000 && s.is_null(); ++i) {
    s = stats(socket_path());
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(s.is_null()) << "the detached daemon serves";
  auto pid = static_cast<pid_t>(s["pid"].get<long>());
  ASSERT_GT(pid, 1);
  auto client = socketmap(socket_path());
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(client.raw().wait_closed());
  bool gone = false;
  for (int i = 0; i < 3000 && !gone; ++i) {
    std::string state = status_line(pid, "State");
    gone = state.empty() || state.find("Z") != std::string::npos;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "SIGTERM stops the detached daemon";
}

// The real daemon as Postfix's spawn(8) or a shell pipeline runs it with --stdio:
// standard input and output are two pipes (so the daemon cannot mix them up),
// standard error goes to a file (spawn(8) may connect it to the client as well, so
// the daemon must write nothing there). The destructor kills a child still running.
class StdioChild {
public:
  StdioChild(const std::vector<std::string>& args, const std::string& stderr_path) {
    std::signal(SIGPIPE, SIG_IGN); // a write after the daemon closed fails with EPIPE instead
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      return;
    }
    std::vector<std::string> argv{dane_policyd_path(), "--config", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    m_pid = ::fork();
    if (m_pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err < 0 || ::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0 ||
          ::dup2(err, STDERR_FILENO) < 0) {
        ::_exit(127);
      }
      std::vector<char*> cargv;
      for (auto& a : argv) {
        cargv.push_back(a.data());
      }
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    m_stdin = in[1];
    m_stdout = out[0];
  }
  ~StdioChild() {
    close_stdin();
    if (m_stdout >= 0) {
      ::close(m_stdout);
    }
    if (m_pid > 0 && !m_status) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  StdioChild(const StdioChild&) = delete;
  StdioChild& operator=(const StdioChild&) = delete;

  bool started() const { return m_pid > 0 && m_stdin >= 0 && m_stdout >= 0; }
  bool write(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(m_stdin, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  void close_stdin() {
    if (m_stdin >= 0) {
      ::close(m_stdin);
      m_stdin = -1;
    }
  }
  // Reads standard output until it holds at least `bytes` bytes, or EOF (then eof() is
  // true), or a generous deadline passes. Returns everything read so far.
  const std::string& read_at_least(std::size_t bytes, std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (m_out.size() < bytes && !m_eof && std::chrono::steady_clock::now() < deadline) {
      pollfd p{m_stdout, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = ::read(m_stdout, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        m_eof = true;
        break;
      }
      m_out.append(buf, static_cast<std::size_t>(n));
    }
    return m_out;
  }
  const std::string& read_to_eof(std::chrono::seconds timeout = 60s) {
    return read_at_least(std::string::npos, timeout);
  }
  bool eof() const { return m_eof; }
  // Exit status (128+N when killed by signal N), nullopt when still running at the deadline.
  std::optional<int> wait_exit(std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!m_status && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(m_pid, &status, WNOHANG);
      if (r == m_pid) {
        m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    return m_status;
  }

private:
  pid_t m_pid = -1;
  int m_stdin = -1;
  int m_stdout = -1;
  std::string m_out;
  bool m_eof = false;
  std::optional<int> m_status;
};

std::string netstring(const std::string& payload) {
  return std::to_string(payload.size()) + ":" + payload + ",";
}

std::string policy_request(const std::string& recipient) {
  std::string r = "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                  "client_address=192.0.2.1\nclient_name=client.example\nsender=sender@example.org\n";
  if (!recipient.empty()) {
    r += "recipient=" + recipient + "\n";
  }
  return r + "\n";
}

TEST_F(DaemonServer, StdioServesOneClientThenExits) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  std::string log = m_dir.path() + "/stdio.jsonl";
  std::vector<std::string> args{dane_policyd_path(), "--config",      "/dev/null", "--stdio",
                                "socketmap",         "--verdict-log", log};
  auto rig_args = s_rig->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(sv[1], STDIN_FILENO);
    ::dup2(sv[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(sv[1]);
  SocketmapClient client(RawClient::adopt(sv[0]));
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(*client.query("tlspolicy", "example.test"), "OK dane-only");
  EXPECT_EQ(*client.query("tlspolicy", ".test"), "NOTFOUND ");
  client.raw().shutdown_write();
  EXPECT_TRUE(client.raw().wait_closed());
  int status = -1;
  for (int i = 0; i < 3000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  if (::kill(pid, 0) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "the --stdio daemon did not exit after its client left";
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto lines = read_text_lines(log);
  ASSERT_EQ(lines.size(), 1u) << "one evaluation (the second lookup was a cache hit, the parent key needs none)";
  EXPECT_EQ(nlohmann::json::parse(lines[0])["answer"], "OK dane-only");
}

TEST_F(DaemonServer, StdioSocketmapOverPipesAnswersEveryRequestThenExitsZeroAtEof) {
  // As in `printf ... | dane-policyd --stdio socketmap`: every request is written and
  // standard input closed before a single reply was read; the daemon still answers
  // them all, in order, then exits 0.
  std::string log = m_dir.path() + "/stdio.jsonl";
  std::vector<std::string> args{"--stdio", "socketmap", "--verdict-log", log};
  auto rig_args = s_rig->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  StdioChild child(args, m_dir.path() + "/stderr");
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(child.write(netstring("tlspolicy example.test") + netstring("tlspolicy other.test") +
                          netstring("tlspolicy .test") + netstring("tlspolicy EXAMPLE.test") +
                          netstring("tlspolicy bogus.test")));
  child.close_stdin();
  const std::string& out = child.read_to_eof();
  EXPECT_TRUE(child.eof());
  std::string expected_head =
      netstring("OK dane-only") + netstring("OK dane-only") + netstring("NOTFOUND ") + netstring("OK dane-only");
  ASSERT_EQ(out.substr(0, expected_head.size()), expected_head) << out;
  // The last reply is TEMP (bogus DNSSEC), and it is the last thing on standard output.
  std::string tail = out.substr(expected_head.size());
  auto colon = tail.find(':');
  ASSERT_NE(colon, std::string::npos) << tail;
  std::size_t length = std::stoul(tail.substr(0, colon));
  ASSERT_EQ(tail.size(), colon + 1 + length + 1) << "exactly one more netstring: " << tail;
  EXPECT_EQ(tail.substr(colon + 1, 5), "TEMP ") << tail;
  EXPECT_EQ(tail.back(), ',');
  EXPECT_EQ(child.wait_exit(), 0);
  EXPECT_EQ(read_text_file(m_dir.path() + "/stderr"), "") << "nothing on standard error (spawn(8) may pass it on)";
  auto lines = read_text_lines(log);
  ASSERT_EQ(lines.size(), 3u) << "three evaluations: EXAMPLE.test was a cache hit, .test a parent key";
  EXPECT_EQ(nlohmann::json::parse(lines[2])["policy"], "tempfail");
}

TEST_F(DaemonServer, StdioSocketmapGarbledRequestClosesWithoutAReplyAndExits) {
  struct Case {
    const char* what;
    std::string bytes;
  };
  for (const Case& c : {Case{"not a netstring", "hello world\n"}, Case{"missing comma", "8:tlspolic!x"},
                        Case{"length beyond the 10000-byte limit", "10001:" + std::string(10001, 'x') + ","},
                        Case{"absurd length", "99999999999999999999:"}}) {
    DaemonTempDir dir("dane-daemon-stdio");
    std::vector<std::string> args{"--stdio", "socketmap", "--verdict-log", dir.path() + "/v.jsonl"};
    auto rig_args = s_rig->cli_args(5);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    StdioChild child(args, dir.path() + "/stderr");
    ASSERT_TRUE(child.started()) << c.what;
    // A good request first, answered; then the garbage on the same stream.
    ASSERT_TRUE(child.write(netstring("tlspolicy example.test"))) << c.what;
    const std::string first = netstring("OK dane-only");
    ASSERT_EQ(child.read_at_least(first.size()), first) << c.what;
    child.write(c.bytes); // the daemon may already have closed: a failed write is fine
    EXPECT_EQ(child.read_to_eof(), first) << c.what << ": the stream closes, no reply to the garbage";
    EXPECT_TRUE(child.eof()) << c.what;
    EXPECT_EQ(child.wait_exit(), 0) << c.what << ": the one client is gone";
    EXPECT_EQ(read_text_file(dir.path() + "/stderr"), "") << c.what;
  }
}

TEST_F(DaemonServer, StdioPolicyServesSeveralRequestsThenExitsZeroAtEof) {
  std::vector<std::string> args{"--stdio", "policy", "--policy-failure-action", "defer_if_permit"};
  auto rig_args = s_rig->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  StdioChild child(args, m_dir.path() + "/stderr");
  ASSERT_TRUE(child.started());
  // One request, its reply; then two more in one write (pipelined); then EOF.
  ASSERT_TRUE(child.write(policy_request("someone@example.test")));
  const std::string dunno = "action=DUNNO\n\n";
  ASSERT_EQ(child.read_at_least(dunno.size()), dunno);
  ASSERT_TRUE(child.write(policy_request("someone@bogus.test") + policy_request("")));
  child.close_stdin();
  const std::string& out = child.read_to_eof();
  EXPECT_TRUE(child.eof());
  const std::string deferred = "action=DEFER_IF_PERMIT 4.7.5 DANE policy for bogus.test unavailable: ";
  ASSERT_EQ(out.substr(0, dunno.size() + deferred.size()), dunno + deferred) << out;
  std::size_t end_of_second = out.find("\n\n", dunno.size());
  ASSERT_NE(end_of_second, std::string::npos) << out;
  EXPECT_EQ(out.substr(end_of_second + 2), dunno) << "no recipient: nothing to judge; and nothing after it";
  EXPECT_EQ(child.wait_exit(), 0);
  EXPECT_EQ(read_text_file(m_dir.path() + "/stderr"), "");
}

TEST_F(DaemonServer, StdioPolicyBadRequestClosesWithoutAReplyAndExits) {
  for (const std::string& bad :
       {std::string("this line has no equals sign\n"),
        std::string("request=junk_request\nrecipient=a@example.test\n\n"), std::string("\n")}) {
    DaemonTempDir dir("dane-daemon-stdio");
    std::vector<std::string> args{"--stdio", "policy"};
    auto rig_args = s_rig->cli_args(5);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    StdioChild child(args, dir.path() + "/stderr");
    ASSERT_TRUE(child.started());
    ASSERT_TRUE(child.write(policy_request("someone@example.test")));
    const std::string dunno = "action=DUNNO\n\n";
    ASSERT_EQ(child.read_at_least(dunno.size()), dunno);
    child.write(bad);
    EXPECT_EQ(child.read_to_eof(), dunno) << bad << ": closed without a reply";
    EXPECT_TRUE(child.eof());
    EXPECT_EQ(child.wait_exit(), 0) << bad;
    EXPECT_EQ(read_text_file(dir.path() + "/stderr"), "") << bad;
  }
}

TEST_F(DaemonServer, EmbeddedDefaultsServeTheDefaultSocketOnAnIsolatedMachine) {
  // A private mount namespace (our temp dir mounted on /run) and an empty network
  // namespace (no route anywhere): `dane-policyd --foreground` with no options at all.
  DaemonTempDir run_dir("dane-daemon-run");
  ::chmod(run_dir.path().c_str(), 0755);
  auto probe = run_process({"unshare", "-mn", "true"}, 30s);
  DANE_REQUIRE_OR_SKIP(probe.exit_code == 0, "unshare -mn (mount + network namespaces) not permitted here");
  auto d = DaemonProcess::start(
      {}, 60s, {"unshare", "-mn", "sh", "-c", "mount --bind '" + run_dir.path() + "' /run && exec \"$@\"", "sh"});
  ASSERT_TRUE(d) << d.error();
  EXPECT_NE((*d)->output().find("socketmap unix:/run/dane-policyd/socketmap"), std::string::npos) << (*d)->output();
  auto c = RawClient::unix_socket(run_dir.path() + "/dane-policyd/socketmap");
  ASSERT_TRUE(c) << c.error();
  SocketmapClient client(std::move(*c));
  auto r = client.query("tlspolicy", "example.com");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rfind("TEMP ", 0), 0u) << *r << " (DNS is unreachable: TEMP, never a weaker answer)";
  EXPECT_EQ(*client.query("tlspolicy", ".com"), "NOTFOUND ");
  EXPECT_EQ((*d)->stop(), 0);
}

} // namespace
} // namespace dane::test
