// Level-triggered epoll set for client sockets, waited on by Asio (see connection_poller.hpp).
#include "dane/daemon/connection_poller.hpp"

#include <array>
#include <cerrno>

#include <sys/epoll.h>

namespace dane::policyd {

struct ConnectionPoller::Entry {
  int fd = -1;
  Client* client = nullptr;   // nullptr once removed
  std::uint32_t interest = 0; // 0: not in the epoll set at all
};

namespace {

int create_epoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    throw boost::system::system_error(errno, boost::system::system_category(), "epoll_create1");
  }
  return fd;
}

} // namespace

ConnectionPoller::ConnectionPoller(boost::asio::io_context& io) : m_io(io), m_epoll(io, create_epoll()) {}

ConnectionPoller::~ConnectionPoller() {
  for (Entry* e : m_entries) {
    delete e;
  }
  // m_epoll's destructor closes the epoll fd and abandons a pending wait; its handler checks
  // for operation_aborted before touching the poller.
}

ConnectionPoller::Entry* ConnectionPoller::add(int fd, Client& client) {
  auto entry = std::make_unique<Entry>();
  entry->fd = fd;
  entry->client = &client;
  m_entries.insert(entry.get());
  return entry.release();
}

std::uint32_t ConnectionPoller::interest(const Entry* entry) const {
  return entry->interest;
}

int ConnectionPoller::set_interest(Entry* entry, std::uint32_t events) {
  events &= EPOLLIN | EPOLLOUT;
  if (entry->client == nullptr || entry->interest == events) {
    return 0;
  }
  // No interest means out of the set: a level-triggered EPOLLHUP would otherwise be reported
  // over and over for a socket whose session is not reading.
  int op = events == 0 ? EPOLL_CTL_DEL : entry->interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = entry;
  if (::epoll_ctl(m_epoll.native_handle(), op, entry->fd, &ev) != 0) {
    return errno;
  }
  if (entry->interest == 0) {
    ++m_watched;
  } else if (events == 0) {
    --m_watched;
  }
  entry->interest = events;
  if (m_watched > 0) {
    wait();
  }
  return 0;
}

void ConnectionPoller::remove(Entry* entry) {
  if (entry == nullptr || entry->client == nullptr) {
    return;
  }
  set_interest(entry, 0);
  entry->client = nullptr;
  m_entries.erase(entry);
  std::unique_ptr<Entry> owned(entry);
  if (m_dispatching) {
    // Events for it may still sit in the batch being dispatched; keep it until the batch ends.
    m_removed_while_dispatching.push_back(std::move(owned));
  }
}

void ConnectionPoller::wait() {
  if (m_waiting || m_dispatching) {
    return; // on_ready() re-arms at the end of its batch
  }
  m_waiting = true;
  m_epoll.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted) {
      return; // the poller is being destroyed: do not touch it
    }
    on_ready(ec);
  });
}

void ConnectionPoller::on_ready(const boost::system::error_code& ec) {
  m_waiting = false;
  if (!ec) {
    std::array<epoll_event, 128> events{};
    int n = ::epoll_wait(m_epoll.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    struct Dispatching { // ends the batch even when a client's handler throws
      ConnectionPoller& poller;
      explicit Dispatching(ConnectionPoller& p) : poller(p) { poller.m_dispatching = true; }
      ~Dispatching() {
        poller.m_dispatching = false;
        poller.m_removed_while_dispatching.clear();
      }
      Dispatching(const Dispatching&) = delete;
      Dispatching& operator=(const Dispatching&) = delete;
    } batch(*this);
    for (int i = 0; i < n; ++i) {
      auto* entry = static_cast<Entry*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (entry->client != nullptr) {
        entry->client->on_ready(events[static_cast<std::size_t>(i)].events);
      }
    }
  }
  if (m_watched > 0) {
    wait();
  }
}

} // namespace dane::policyd
