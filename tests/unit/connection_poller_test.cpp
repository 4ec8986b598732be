// Unit tests of the daemon's client-socket poller (src/daemon/include/dane/daemon/connection_poller.hpp),
// over real socketpairs and a real io_context: readiness only while interested, level-triggered
// repetition, no reports for a hung-up socket nobody watches, and no call to a client removed
// earlier in the same batch.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <vector>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dane/core/fd.hpp"
#include "dane/daemon/connection_poller.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Fd ours;
  Fd peer;
  Pair() {
    std::array<int, 2> fds{};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()), 0);
    ours.reset(fds[0]);
    peer.reset(fds[1]);
  }
};

struct RecordingClient final : ConnectionPoller::Client {
  std::vector<std::uint32_t> calls;
  std::function<void(std::uint32_t)> action;
  void on_ready(std::uint32_t events) override {
    calls.push_back(events);
    if (action) {
      action(events);
    }
  }
};

// Runs the loop until `done` holds or two seconds pass (a generous bound; nothing is timed).
template <typename Pred> void run_until(boost::asio::io_context& io, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
}

void drain(int fd) {
  char buf[256];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

// One poller with one registered socket (p.ours, for `client`); its peer is p.peer.
class ConnectionPollerTest : public ::testing::Test {
protected:
  boost::asio::io_context io;
  ConnectionPoller poller{io};
  Pair p;
  RecordingClient client;
  ConnectionPoller::Entry* entry = poller.add(p.ours.get(), client);
};

TEST_F(ConnectionPollerTest, ReportsReadableOnlyWhileInterested) {
  client.action = [&](std::uint32_t) { drain(p.ours.get()); };
  ASSERT_EQ(::write(p.peer.get(), "x", 1), 1);
  io.run_for(50ms);
  EXPECT_TRUE(client.calls.empty()) << "no interest, no report";
  EXPECT_EQ(poller.watched(), 0u);

  ASSERT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  EXPECT_EQ(poller.watched(), 1u);
  run_until(io, [&] { return !client.calls.empty(); });
  ASSERT_EQ(client.calls.size(), 1u);
  EXPECT_NE(client.calls[0] & EPOLLIN, 0u);

  // Nothing more to read: no further report, however long we wait.
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(client.calls.size(), 1u);
  poller.remove(entry);
  EXPECT_EQ(poller.watched(), 0u);
}

TEST_F(ConnectionPollerTest, LevelTriggeredRepeatsUntilTheDataIsRead) {
  // `client` reads nothing.
  ASSERT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  ASSERT_EQ(::write(p.peer.get(), "abc", 3), 3);
  run_until(io, [&] { return client.calls.size() >= 3; });
  EXPECT_GE(client.calls.size(), 3u) << "unread data is reported again on every round";
  client.action = [&](std::uint32_t) { drain(p.ours.get()); };
  std::size_t before = client.calls.size();
  run_until(io, [&] { return client.calls.size() > before; });
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(client.calls.size(), before + 1) << "once read, quiet";
  poller.remove(entry);
}

TEST_F(ConnectionPollerTest, UnchangedInterestIsANoOpAndZeroLeavesTheSet) {
  EXPECT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  EXPECT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  EXPECT_EQ(poller.interest(entry), static_cast<std::uint32_t>(EPOLLIN));
  EXPECT_EQ(poller.set_interest(entry, EPOLLIN | EPOLLOUT), 0);
  EXPECT_EQ(poller.watched(), 1u);
  EXPECT_EQ(poller.set_interest(entry, 0), 0);
  EXPECT_EQ(poller.watched(), 0u);
  // A hung-up peer is not reported for a socket nobody watches (no busy loop on EPOLLHUP).
  p.peer.reset();
  io.run_for(50ms);
  EXPECT_TRUE(client.calls.empty());
  // Watched again: the hang-up is reported.
  EXPECT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  run_until(io, [&] { return !client.calls.empty(); });
  ASSERT_FALSE(client.calls.empty());
  EXPECT_NE(client.calls[0] & (EPOLLHUP | EPOLLIN), 0u);
  poller.remove(entry);
}

TEST_F(ConnectionPollerTest, WritableReportedWhileAWriteWaits) {
  client.action = [&](std::uint32_t) { poller.set_interest(entry, 0); };
  ASSERT_EQ(poller.set_interest(entry, EPOLLOUT), 0);
  run_until(io, [&] { return !client.calls.empty(); });
  ASSERT_EQ(client.calls.size(), 1u);
  EXPECT_NE(client.calls[0] & EPOLLOUT, 0u);
  poller.remove(entry);
}

TEST_F(ConnectionPollerTest, ClientRemovedEarlierInTheBatchIsNotCalled) {
  Pair other;
  RecordingClient other_client;
  ConnectionPoller::Entry* other_entry = poller.add(other.ours.get(), other_client);
  // Whichever is called first removes both (as a session closing itself and another would),
  // then closes the fds so their numbers could be reused.
  auto remove_both = [&](std::uint32_t) {
    poller.remove(entry);
    poller.remove(other_entry);
    p.ours.reset();
    other.ours.reset();
  };
  client.action = remove_both;
  other_client.action = remove_both;
  ASSERT_EQ(poller.set_interest(entry, EPOLLIN), 0);
  ASSERT_EQ(poller.set_interest(other_entry, EPOLLIN), 0);
  ASSERT_EQ(::write(p.peer.get(), "x", 1), 1);
  ASSERT_EQ(::write(other.peer.get(), "y", 1), 1);
  run_until(io, [&] { return client.calls.size() + other_client.calls.size() >= 1; });
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(client.calls.size() + other_client.calls.size(), 1u) << "the removed one is never called";
  EXPECT_EQ(poller.watched(), 0u);
}

} // namespace
} // namespace dane::policyd
