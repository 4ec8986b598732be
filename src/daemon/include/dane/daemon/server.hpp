// dane/daemon/server.hpp — the daemon's listeners and client connections (Boost.Asio, one I/O thread).
//
// Components, each in its own file: transport.hpp (a connection's byte stream: polled client
// sockets, --stdio), session.hpp (one connection: decoding, answering in order), listener.hpp
// (binding or adopting sockets, the accept loop) and this Server, which owns the listeners and
// the sessions. Sessions get a SessionContext (settings, service, stats, log and the Server as
// their ConnectionLimiter), listeners a ListenerContext; neither calls the Server otherwise.
//
// Serves socketmap (unix or inet), tcp_table (inet) and policy delegation (unix or
// inet) listeners, or one client on stdin/stdout (--stdio). Each connection is
// persistent: requests are decoded incrementally (codecs.hpp), answered in order,
// one at a time, while other connections go on being served — evaluations run on
// PolicyService's worker threads and their results are posted back to the I/O
// thread, so a slow DNS lookup never blocks anybody else.
//
// Bad input (garbled or oversized request, binary junk): one warning naming the
// peer and what was wrong, then the connection is closed (policy delegation:
// without a reply); requests decoded before the error are answered first. A
// half-closed connection gets its pending replies, then is closed. A connection
// idle longer than --idle-timeout is closed, and so is one whose request is still incomplete
// --request-timeout after its first byte (slow senders). Each listener serves at most
// --max-connections at once; beyond that its new connections are closed at once (one warning
// per second at most), while the other listeners go on accepting.
//
// stop() (SIGTERM) takes over the connections waiting in the backlogs, closes the listeners,
// lets every connection finish the requests it already sent (bytes already in its socket
// included), then closes it; run() returns once no connection is left. The socketmap map name Settings::stats_name is
// reserved for control requests (control.hpp): the counters for anyone; flush and detailed verdicts only for a
// unix-socket peer running as root or as the daemon's user.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/listener.hpp"
#include "dane/daemon/service.hpp"
#include "dane/daemon/session.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

class ConnectionPoller;

// Owns the listeners and the sessions; sessions and listeners see it only through the narrow
// ConnectionLimiter / ConnectionSink interfaces.
class Server final : private ConnectionLimiter, private ConnectionSink {
public:
  Server(boost::asio::io_context& io, const Settings& settings, Stats& stats, LogWriter& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves the sockets the service manager passed (call before bind()). Each must be a
  // listening stream socket (unix, IPv4 or IPv6; tcp-table: IPv4 or IPv6); errors name the fd,
  // its name and what is wrong. A configured listener at the same address is served by the
  // passed socket instead of being bound again. Their socket files are never unlinked (the
  // service manager created them). Takes ownership of every fd, also on error.
  Status adopt(const std::vector<InheritedListener>& listeners);
  // Binds every configured listener (creates a unix socket's directory if missing,
  // replaces a stale socket file, sets the mode, then the ownership), except those adopt()
  // already serves. Call as root, before dropping privileges. Errors name the endpoint.
  Status bind(const SocketOwnership& ownership);
  // What is actually bound ("socketmap unix:/path", "tcp_table inet:127.0.0.1:40123"), after bind().
  std::vector<std::string> bound() const;
  // The service answering lookups; must be attached before start() / serve_stdio().
  void attach(PolicyService& service) { m_service = &service; }
  // Starts accepting (after privileges are dropped).
  void start();
  // Serves one client on fds `in` and `out` (--stdio); start() is not needed.
  Status serve_stdio(StdioProtocol protocol, int in, int out);
  // Graceful stop: no new connections; open ones finish their pending requests. Idempotent.
  void stop();
  // Called once when stop() was called and the last connection is gone.
  void set_on_drained(std::function<void()> callback) { m_on_drained = std::move(callback); }
  // Closes every connection now (the drain deadline passed).
  void close_all();
  // Unlinks the unix socket files this server created, each only if the path still names the
  // socket it bound (best effort; never an adopted one's).
  void remove_socket_files();
  std::size_t open_sessions() const { return m_sessions.size(); }
  bool stopping() const override { return m_stopping; }

private:
  // ConnectionLimiter (sessions) and ConnectionSink (listeners); I/O thread only.
  void closed(Session& session) override;
  bool admit(const Listener& listener) override;
  void open(const Listener& listener, Protocol protocol, std::unique_ptr<Transport> transport,
            std::string peer) override;
  void open_session(const Listener* listener, Protocol protocol, std::unique_ptr<Transport> transport,
                    std::string peer);
  std::vector<std::shared_ptr<Session>> all_sessions() const;
  void finish_if_drained();
  // Rate-limited warning (at most one per second).
  void warn_limited(const std::string& text) override;
  SessionContext session_context();
  ListenerContext listener_context();

  boost::asio::io_context& m_io;
  std::unique_ptr<ConnectionPoller> m_poller; // declared early: outlives the sessions' transports
  Settings m_settings;
  PolicyService* m_service = nullptr;
  Stats& m_stats;
  LogWriter& m_log;
  std::vector<std::unique_ptr<Listener>> m_listeners;
  std::vector<AdoptedAddress> m_adopted;
  struct OpenSession {
    std::shared_ptr<Session> session;
    const Listener* listener = nullptr; // nullptr: the --stdio client
  };
  std::unordered_map<const Session*, OpenSession> m_sessions;
  std::unordered_map<const Listener*, std::size_t> m_per_listener; // open sessions per listener
  bool m_stopping = false;
  bool m_stdio = false;
  std::function<void()> m_on_drained;
  std::chrono::steady_clock::time_point m_last_limited_warning{};
  std::shared_ptr<const bool> m_alive = std::make_shared<const bool>(true); // for handlers posted to m_io
};

} // namespace dane::policyd
