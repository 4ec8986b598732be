// dane/daemon/server.hpp — listeners and client connections (Boost.Asio, one I/O thread).
//
// Listeners, timers and signals are Asio objects; accepted client sockets are served through the
// ConnectionPoller (connection_poller.hpp: level-triggered, one recv() and one send() per
// request), and --stdio through Asio's stream descriptors.
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
// idle longer than --idle-timeout is closed. Beyond --max-connections new
// connections are closed at once (one warning per second at most).
//
// stop() (SIGTERM) closes the listeners, lets every connection finish the
// requests it already sent, then closes it; run() returns once no connection is
// left. The socketmap map name Settings::stats_name is reserved for control
// requests (control.hpp): the counters for anyone; flush and detailed verdicts only
// for a unix-socket peer running as root or as the daemon's user.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>


#include "dane/core/expected.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/service.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

class Session;
class Listener;
class ConnectionPoller;

// Who owns unix sockets and how they are protected (resolved before binding).
struct SocketOwnership {
  int uid = -1; // -1: leave as created
  int gid = -1;
  unsigned mode = 0660;
};

// A listening socket handed over by the service manager (systemd socket activation:
// LISTEN_FDS, LISTEN_FDNAMES; see daemon.cpp).
struct InheritedListener {
  int fd = -1;
  std::string name; // the socket unit's FileDescriptorName=
};
// The protocol an inherited socket serves, by its name: socketmap, tcp-table, policy-service;
// "unknown" (no names were passed) and systemd's default name (the socket unit's, "*.socket")
// mean socketmap. Any other name is an error naming it.
Expected<Protocol> protocol_for_listener_name(std::string_view name);

class Server {
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
  // Unlinks the unix socket files this server created (best effort; never an adopted one's).
  void remove_socket_files();
  std::size_t open_sessions() const { return m_sessions.size(); }

  // Called by sessions (I/O thread only).
  void session_closed(Session* session);
  bool stopping() const { return m_stopping; }
  const Settings& settings() const { return m_settings; }
  PolicyService& service() { return *m_service; }
  Stats& stats() { return m_stats; }
  LogWriter& log() { return m_log; }
  boost::asio::io_context& io() { return m_io; }
  ConnectionPoller& poller() { return *m_poller; }
  void add_session(const std::shared_ptr<Session>& session);
  // Rate-limited warning (at most one per second per kind).
  void warn_limited(const std::string& text);

private:
  boost::asio::io_context& m_io;
  std::unique_ptr<ConnectionPoller> m_poller; // declared early: outlives the sessions' transports
  Settings m_settings;
  PolicyService* m_service = nullptr;
  Stats& m_stats;
  LogWriter& m_log;
  std::vector<std::unique_ptr<Listener>> m_listeners;
  struct Adopted {
    Protocol protocol;
    std::string unix_path;                   // unix sockets
    boost::asio::ip::tcp::endpoint endpoint; // inet sockets
    bool is_unix = false;
  };
  std::vector<Adopted> m_adopted;
  std::unordered_set<std::shared_ptr<Session>> m_sessions;
  bool m_stopping = false;
  bool m_stdio = false;
  std::function<void()> m_on_drained;
  std::chrono::steady_clock::time_point m_last_limited_warning{};
};

} // namespace dane::policyd
