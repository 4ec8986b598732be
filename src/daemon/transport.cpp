// Client transports of dane-policyd: a polled client socket and standard input/output.
#include "dane/daemon/transport.hpp"

#include <cerrno>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dane/core/fd.hpp"
#include "dane/daemon/connection_poller.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace dane::policyd {

namespace {

// errno after a failed non-blocking send()/recv(): try again on the next readiness report?
bool retry_later(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}
error_code errno_code(int err) {
  return error_code(err, boost::system::system_category());
}

// A client socket served through the ConnectionPoller (connection_poller.hpp explains why):
// one recv() per readiness report, send() straight away, EPOLLOUT only when a send is stuck.
class PolledSocketTransport final : public Transport, private ConnectionPoller::Client {
public:
  PolledSocketTransport(ConnectionPoller& poller, int fd)
      : m_poller(poller), m_fd(fd), m_entry(poller.add(fd, *this)) {}
  ~PolledSocketTransport() override { close(); }
  PolledSocketTransport(const PolledSocketTransport&) = delete;
  PolledSocketTransport& operator=(const PolledSocketTransport&) = delete;

  void async_read(asio::mutable_buffer buffer, Handler handler) override {
    m_read_buffer = buffer;
    m_read_handler = std::move(handler);
    if (!m_fd) {
      fail_later(m_read_handler, asio::error::bad_descriptor);
      return;
    }
    if (int err = m_poller.set_interest(m_entry, m_poller.interest(m_entry) | EPOLLIN); err != 0) {
      fail_later(m_read_handler, errno_code(err));
    }
  }

  bool write(asio::const_buffer buffer, Handler handler) override {
    if (!m_fd) {
      fail_later(handler, asio::error::bad_descriptor);
      return false;
    }
    const auto* data = static_cast<const char*>(buffer.data());
    std::size_t size = buffer.size();
    ssize_t n = ::send(m_fd.get(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0 && static_cast<std::size_t>(n) == size) {
      return true;
    }
    if (n < 0 && !retry_later(errno)) {
      fail_later(handler, errno_code(errno));
      return false;
    }
    std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
    m_write_rest = asio::const_buffer(data + done, size - done);
    m_written = done;
    m_write_handler = std::move(handler);
    if (int err = m_poller.set_interest(m_entry, m_poller.interest(m_entry) | EPOLLOUT); err != 0) {
      fail_later(m_write_handler, errno_code(err));
    }
    return false;
  }

  std::size_t read_now(asio::mutable_buffer buffer, error_code& ec) override {
    ec.clear();
    if (!m_fd) {
      ec = asio::error::bad_descriptor;
      return 0;
    }
    ssize_t n = ::recv(m_fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      ec = asio::error::eof;
    } else {
      ec = retry_later(errno) ? error_code(asio::error::would_block) : errno_code(errno);
    }
    return 0;
  }

  ControlPeer peer() const override {
    ControlPeer p{ControlPeer::Kind::Inet, std::nullopt};
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (!m_fd || ::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        local.ss_family != AF_UNIX) {
      return p;
    }
    p.kind = ControlPeer::Kind::Unix;
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(m_fd.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &size) == 0 && size == sizeof credentials) {
      p.uid = credentials.uid;
    }
    return p;
  }

  void close() override {
    if (!m_fd) {
      return;
    }
    m_poller.remove(m_entry);
    m_entry = nullptr;
    ::shutdown(m_fd.get(), SHUT_RDWR);
    m_fd.reset();
    // Pending handlers are dropped, not called (the session is closed and ignores them anyway).
    // They hold references to the session that owns this transport, so they go last.
    Handler read = std::move(m_read_handler);
    Handler write = std::move(m_write_handler);
    m_read_handler = nullptr;
    m_write_handler = nullptr;
  }

private:
  void on_ready(std::uint32_t events) override {
    // Completed handlers are called last, after this object's state is settled: they may close
    // the session, and each holds a reference that keeps this transport alive while it runs.
    Handler write_done;
    Handler read_done;
    error_code write_ec;
    error_code read_ec;
    std::size_t read_n = 0;
    constexpr std::uint32_t k_trouble = EPOLLERR | EPOLLHUP;
    if (m_write_handler && (events & (EPOLLOUT | k_trouble)) != 0) {
      while (m_write_rest.size() > 0) {
        ssize_t n = ::send(m_fd.get(), m_write_rest.data(), m_write_rest.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          m_write_rest += static_cast<std::size_t>(n);
          m_written += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && retry_later(errno)) {
          break;
        }
        write_ec = n < 0 ? errno_code(errno) : asio::error::broken_pipe;
        break;
      }
      if (write_ec || m_write_rest.size() == 0) {
        write_done = std::move(m_write_handler);
        m_write_handler = nullptr;
      }
    }
    if (m_read_handler && (events & (EPOLLIN | k_trouble)) != 0) {
      ssize_t n = ::recv(m_fd.get(), m_read_buffer.data(), m_read_buffer.size(), MSG_DONTWAIT);
      if (n >= 0 || !retry_later(errno)) {
        if (n > 0) {
          read_n = static_cast<std::size_t>(n);
        } else {
          read_ec = n == 0 ? error_code(asio::error::eof) : errno_code(errno);
        }
        read_done = std::move(m_read_handler);
        m_read_handler = nullptr;
      }
    }
    // Interest: EPOLLOUT only while a write waits. EPOLLIN is kept after a completed read (the
    // session nearly always reads again at once) and dropped only when readiness finds nobody
    // reading, so the steady request-answer rhythm costs no epoll_ctl.
    std::uint32_t want = m_poller.interest(m_entry);
    if (!m_write_handler) {
      want &= ~static_cast<std::uint32_t>(EPOLLOUT);
    }
    if (!m_read_handler && !read_done) {
      want &= ~static_cast<std::uint32_t>(EPOLLIN);
    }
    m_poller.set_interest(m_entry, want);
    if (write_done) {
      write_done(write_ec, m_written);
    }
    if (read_done) {
      read_done(read_ec, read_n);
    }
  }

  // Reports an error through the I/O queue, never inline.
  void fail_later(Handler& handler, const error_code& ec) {
    asio::post(m_poller.io(), [h = std::move(handler), ec] { h(ec, 0); });
    handler = nullptr;
  }

  ConnectionPoller& m_poller;
  Fd m_fd;
  ConnectionPoller::Entry* m_entry = nullptr;
  asio::mutable_buffer m_read_buffer;
  Handler m_read_handler;
  asio::const_buffer m_write_rest;
  std::size_t m_written = 0;
  Handler m_write_handler;
};

class StdioTransport final : public Transport {
public:
  StdioTransport(asio::io_context& io, int in, int out) : m_in(io, in), m_out(io, out) {}
  void async_read(asio::mutable_buffer buffer, Handler handler) override {
    m_in.async_read_some(buffer, std::move(handler));
  }
  bool write(asio::const_buffer buffer, Handler handler) override {
    asio::async_write(m_out, buffer, std::move(handler));
    return false;
  }
  void close() override {
    error_code ec;
    m_in.cancel(ec);
    m_out.cancel(ec);
    m_in.release(); // fds 0/1 stay open (owned by the process); EOF/exit closes them
    m_out.release();
  }

private:
  asio::posix::stream_descriptor m_in;
  asio::posix::stream_descriptor m_out;
};

} // namespace

std::unique_ptr<Transport> make_socket_transport(ConnectionPoller& poller, int fd) {
  return std::make_unique<PolledSocketTransport>(poller, fd);
}

std::unique_ptr<Transport> make_stdio_transport(asio::io_context& io, int in, int out) {
  return std::make_unique<StdioTransport>(io, in, out);
}

} // namespace dane::policyd
