// dane/daemon/session.hpp — one client connection: requests in, replies out, in order.
//
// A session reads bytes through its Transport (transport.hpp), decodes them with the decoder of
// its protocol (socketmap, tcp_table or policy delegation; chosen once, when it is made), asks the
// PolicyService for each request in turn and writes the replies in the order the requests came.
// A cache hit is answered inline; an evaluation's result comes back from a worker thread through
// the I/O queue, so a slow DNS lookup never blocks other connections.
//
// Inputs: untrusted bytes. Bad input (garbled or oversized request): one warning naming the peer
// and what was wrong, then the connection closes (policy delegation: without a reply) after the
// requests decoded before the error are answered. A half-closed connection gets its pending
// replies, then closes. Idle longer than --idle-timeout: closed. Control requests on the reserved
// socketmap map name (control.hpp): the counters for anyone; flush and detailed verdicts only
// for a unix-socket peer running as root or as the daemon's user (SO_PEERCRED, trusted).
// Threading: the I/O thread only. A session tells its ConnectionLimiter once when it closes.
#pragma once

#include <memory>
#include <string>

#include "dane/daemon/asio.hpp"
#include "dane/daemon/service.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/transport.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

class Session;

// Who keeps count of the open connections (the Server): sessions report their end here, check
// whether the daemon is stopping (then they finish what was asked and close), and warn through
// it when a warning could repeat for every request (at most one such warning per second).
class ConnectionLimiter {
public:
  virtual bool stopping() const = 0;
  virtual void closed(Session& session) = 0;
  virtual void warn_limited(const std::string& text) = 0;

protected:
  ~ConnectionLimiter() = default;
};

// What a session works with; everything outlives every session.
struct SessionContext {
  boost::asio::io_context& io;
  const Settings& settings;
  PolicyService& service;
  Stats& stats;
  LogWriter& log;
  ConnectionLimiter& connections;
};

class Session {
public:
  virtual ~Session() = default;
  // Counts the connection and starts reading.
  virtual void start() = 0;
  // The server is stopping: finish what was asked, then close.
  virtual void drain() = 0;
  // Closes now (idempotent); pending requests are dropped.
  virtual void close() = 0;
};

// `peer` names the client in log lines ("unix:/path", "inet:192.0.2.1:1234", "stdio").
std::shared_ptr<Session> make_session(const SessionContext& context, Protocol protocol,
                                      std::unique_ptr<Transport> transport, std::string peer);

} // namespace dane::policyd
