// The daemon's error boundary end to end, in process: a real Server on a unix socket in a
// private directory, a real PolicyService whose injected evaluator throws something nobody
// expects (not even a std::exception) for one destination. The failing request gets TEMP, its
// connection goes on serving, another client is served meanwhile, and the counter moves (also in
// the stats JSON a client can ask for). No DNS: the evaluator answers from a table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "blocking_evaluator.hpp"
#include "dane/core/fd.hpp"
#include "dane/daemon/server.hpp"
#include "dane/daemon/service.hpp"
#include "dane/verifier/tlsa.hpp"
#include "fake_facts.hpp"
#include "temp_dir.hpp"

namespace dane::policyd {
namespace {

using test::dane_only_facts;

// A blocking socketmap client (a receive timeout only keeps a broken daemon from hanging the test).
class Client {
public:
  explicit Client(const std::string& path) : m_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    timeval tv{60, 0};
    ::setsockopt(m_fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    m_connected = ::connect(m_fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool connected() const { return m_connected; }
  // Sends "NAME KEY" as a netstring; returns the reply's payload, nullopt when the connection ended.
  std::optional<std::string> ask(const std::string& name, const std::string& key) {
    const std::string q = name + " " + key;
    const std::string wire = std::to_string(q.size()) + ":" + q + ",";
    if (::send(m_fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(wire.size())) {
      return std::nullopt;
    }
    std::string got;
    for (;;) {
      if (auto colon = got.find(':'); colon != std::string::npos) {
        std::size_t length = std::stoul(got.substr(0, colon));
        if (got.size() >= colon + 1 + length + 1) {
          return got.substr(colon + 1, length);
        }
      }
      char buffer[4096];
      ssize_t n = ::recv(m_fd.get(), buffer, sizeof buffer, 0);
      if (n <= 0) {
        return std::nullopt;
      }
      got.append(buffer, static_cast<std::size_t>(n));
    }
  }

private:
  Fd m_fd;
  bool m_connected = false;
};

class ServerRig {
public:
  ServerRig() {
    m_dir = m_tmp.path();
    settings.mode = Mode::Native;
    settings.state_dir = m_dir;
    settings.workers = 2;
    auto endpoint = parse_endpoint("unix:" + socket_path());
    EXPECT_TRUE(endpoint);
    if (endpoint) {
      settings.socketmap.push_back(*endpoint);
    }
    LogOptions lo;
    lo.to_syslog = false;
    auto opened = LogWriter::open(lo);
    EXPECT_TRUE(opened);
    if (opened) {
      log = std::move(*opened);
      log->start();
    }
  }
  ~ServerRig() {
    if (m_io_thread.joinable()) {
      boost::asio::post(io, [this] {
        server->close_all();
        server->stop();
        io.stop();
      });
      m_io_thread.join();
    }
    if (service) {
      service->shutdown();
    }
    server.reset();
    service.reset();
    log.reset();
  }
  std::string socket_path() const { return m_dir + "/policyd.sock"; }

  // Binds, then serves on an I/O thread of its own.
  bool start(std::function<DestinationFacts(const std::string&)> evaluator) {
    server = std::make_unique<Server>(io, settings, stats, *log);
    if (auto st = server->bind(SocketOwnership{}); !st) {
      ADD_FAILURE() << st.error();
      return false;
    }
    service = std::make_unique<PolicyService>(
        settings, test::blocking_evaluator(std::move(evaluator)),
        [](const std::vector<ProbeRequest>&) { return std::vector<ProbeReport>{}; }, *log, stats);
    server->attach(*service);
    server->start();
    m_io_thread = std::thread([this] { io.run(); });
    return true;
  }

  boost::asio::io_context io{1};
  Settings settings;
  Stats stats;
  std::unique_ptr<LogWriter> log;
  std::unique_ptr<Server> server;
  std::unique_ptr<PolicyService> service;

private:
  test::TempDir m_tmp{"boundary-test"};
  std::string m_dir;
  std::thread m_io_thread;
};

TEST(ErrorBoundary, AThrowingEvaluationGetsTempAndEveryClientIsStillServed) {
  ServerRig rig;
  ASSERT_TRUE(rig.log);
  ASSERT_TRUE(rig.start([](const std::string& key) -> DestinationFacts {
    if (key == "boom.test") {
      throw 42;
    }
    return dane_only_facts(key);
  }));
  Client first(rig.socket_path());
  Client second(rig.socket_path());
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(second.connected());

  EXPECT_EQ(first.ask("dane-policy", "boom.test"), "TEMP 4.7.5 internal error: unknown exception")
      << "the failing request is answered TEMP, never weaker";
  EXPECT_EQ(second.ask("dane-policy", "fine.test"), "OK dane-only") << "another client is served";
  EXPECT_EQ(first.ask("dane-policy", "other.test"), "OK dane-only") << "the failing request's connection goes on";
  EXPECT_EQ(rig.stats.internal_errors(), 1u);

  auto counters = second.ask(rig.settings.stats_name, "all");
  ASSERT_TRUE(counters);
  ASSERT_EQ(counters->rfind("OK ", 0), 0u) << *counters;
  auto json = nlohmann::json::parse(counters->substr(3));
  EXPECT_EQ(json.at("internal_errors"), 1) << "the stats JSON shows the counter";
  EXPECT_EQ(json.at("answers").at("tempfail"), 1);
}

} // namespace
} // namespace dane::policyd
