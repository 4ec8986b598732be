// dane/daemon/transport.hpp — a client connection's byte stream, in and out.
//
// A Session (session.hpp) reads requests and writes replies through a Transport and never sees
// the file descriptor. Two kinds exist:
//   - a client socket accepted by a listener, served through the ConnectionPoller
//     (connection_poller.hpp explains why: one recv() per readiness report, send() straight away,
//     EPOLLOUT only while a send is stuck);
//   - --stdio: the daemon's stdin/stdout, through Asio stream descriptors (never closed here: the
//     process owns fds 0 and 1).
// Inputs: bytes from an untrusted peer; the transport only moves them, it never interprets them.
// Failure modes: read/write errors and EOF reach the handler as an error_code (never thrown);
// handlers are never called inline from async_read(), and a closed transport drops (does not
// call) its pending handlers. Threading: the I/O thread only.
// Trust: peer() reports the peer's uid from SO_PEERCRED (unix sockets), which the kernel vouches
// for; control requests (control.hpp) decide on it.
#pragma once

#include <functional>
#include <memory>

#include "dane/daemon/asio.hpp"
#include "dane/policy/control.hpp"

namespace dane::policyd {

class ConnectionPoller;

class Transport {
public:
  using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;
  virtual ~Transport() = default;
  // Reads some bytes into `buffer`; the handler gets them, EOF or an error. Never completes inline.
  virtual void async_read(boost::asio::mutable_buffer buffer, Handler handler) = 0;
  // Writes all of `buffer`, which must stay valid until done. Returns true when everything was
  // written at once (the handler is then not called); otherwise the handler is called once the
  // rest is written or writing failed.
  virtual bool write(boost::asio::const_buffer buffer, Handler handler) = 0;
  // Reads what has already arrived, without waiting (a draining session takes in the requests
  // its client sent before SIGTERM): the byte count; 0 with `ec` set on EOF or an error;
  // 0 with would_block when nothing is there now. The stdio transport always says would_block.
  virtual std::size_t read_now(boost::asio::mutable_buffer buffer, boost::system::error_code& ec) {
    (void)buffer;
    ec = boost::asio::error::would_block;
    return 0;
  }
  virtual void close() = 0;
  // Who is at the other end, for control requests (control.hpp). Asked only by them.
  virtual ControlPeer peer() const { return ControlPeer{ControlPeer::Kind::Stdio, std::nullopt}; }
};

// A connected client socket (takes ownership of `fd`), served through `poller`.
std::unique_ptr<Transport> make_socket_transport(ConnectionPoller& poller, int fd);
// Standard input and output (--stdio); throws boost::system::system_error when they cannot be used.
std::unique_ptr<Transport> make_stdio_transport(boost::asio::io_context& io, int in, int out);

} // namespace dane::policyd
