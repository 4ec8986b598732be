// dane/daemon/connection_poller.hpp — level-triggered readiness for the daemon's client sockets,
// driven from the Asio I/O thread.
//
// Why the daemon does not use Asio's own socket reads for clients: Asio's reactor is edge-triggered,
// so after every successful read it starts the next one with a speculative recv(). A Postfix client
// sends one lookup and waits for the answer, so that recv() nearly always fails with EAGAIN: one
// wasted system call per request, on a path where system calls are most of the cost (bench/run.sh;
// the numbers are in the README). Asio's async_wait does not help: it re-arms with an epoll_ctl()
// each time instead.
//
// The poller keeps client sockets in an epoll set of its own, level-triggered. A socket's interest
// (EPOLLIN while its session wants to read, EPOLLOUT while a write is stuck) changes only when the
// session stops or resumes reading or a write cannot finish at once; in the steady
// request-answer rhythm it never changes. Asio waits on the poller's epoll descriptor, so timers,
// signals and results posted by worker threads stay on Asio's loop and on the one I/O thread.
// Cost per batch of ready sockets: one epoll_ctl (Asio re-arming its wait) and one epoll_wait;
// per request: one recv() and one send().
//
// Threading: every member is called on the I/O thread only. A client may remove itself (or
// others) from inside on_ready(); the poller never calls a removed client again, even for events
// already fetched in the same batch.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "dane/daemon/asio.hpp"

namespace dane::policyd {

class ConnectionPoller {
public:
  // What a registered socket's owner implements. `events` holds the EPOLL* bits reported
  // (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP).
  class Client {
  public:
    virtual void on_ready(std::uint32_t events) = 0;

  protected:
    ~Client() = default;
  };
  struct Entry; // one registered socket; owned by the poller

  // Throws boost::system::system_error when no epoll instance can be created.
  explicit ConnectionPoller(boost::asio::io_context& io);
  ~ConnectionPoller();
  ConnectionPoller(const ConnectionPoller&) = delete;
  ConnectionPoller& operator=(const ConnectionPoller&) = delete;

  // Registers `fd` for `client`, with no interest yet. The fd stays owned by the caller, who
  // must remove() it before closing it.
  Entry* add(int fd, Client& client);
  // Sets the interest (a combination of EPOLLIN and EPOLLOUT; 0 for none). Makes a system call
  // only when the interest changes. Returns the errno of a failed epoll_ctl, or 0.
  int set_interest(Entry* entry, std::uint32_t events);
  std::uint32_t interest(const Entry* entry) const;
  // Forgets the entry; safe from inside any client's on_ready().
  void remove(Entry* entry);

  boost::asio::io_context& io() { return m_io; }
  // Sockets registered with a non-zero interest (what the poller waits for).
  std::size_t watched() const { return m_watched; }

private:
  void wait();
  void on_ready(const boost::system::error_code& ec);

  boost::asio::io_context& m_io;
  boost::asio::posix::stream_descriptor m_epoll; // owns the epoll fd; Asio waits on it
  std::unordered_set<Entry*> m_entries;
  std::vector<std::unique_ptr<Entry>> m_removed_while_dispatching;
  std::size_t m_watched = 0;
  bool m_waiting = false;
  bool m_dispatching = false;
};

} // namespace dane::policyd
