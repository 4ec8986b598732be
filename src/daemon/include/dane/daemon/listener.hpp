// dane/daemon/listener.hpp — listening sockets: binding configured endpoints, adopting sockets the
// service manager passed (systemd socket activation), and the accept loop.
//
// A Listener accepts connections for one protocol and hands each, as a polled socket Transport,
// to its ConnectionSink (the Server), which may refuse it (stopping, --max-connections).
// Inputs: endpoints from the settings (trusted: the administrator's), inherited fds and their
// names (trusted: the service manager's), connecting peers (untrusted; only their address is read).
// Failure modes: bind_listener()/adopt_listeners() return errors naming the endpoint or fd (no
// exception escapes them). Out of file descriptors (EMFILE, ENFILE), a listener never leaves
// connections waiting in the backlog: it frees a spare descriptor it keeps for this, accepts and
// closes every waiting connection at once (counted, warned about: out-of-descriptors), takes its
// spare back and pauses accepting for 100 ms. Other accept errors are warned about
// (rate-limited) and retried after 100 ms. Open connections go on being served throughout. An
// unexpected exception while taking over one connection costs that connection only
// (error_boundary.hpp).
// A unix socket file is removed at exit only while it is still the one this listener bound (same
// device and inode): a successor that bound the same path during our drain keeps its socket.
// Threading: start(), close() and the accept loop run on the I/O thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/transport.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

class ConnectionPoller;
class Listener;

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

// Where listeners hand accepted connections (the Server).
class ConnectionSink {
public:
  // May `listener` hand over one more connection? False while stopping (silently), or when that
  // listener serves --max-connections already (counted as refused, warned about).
  virtual bool admit(const Listener& listener) = 0;
  virtual void open(const Listener& listener, Protocol protocol, std::unique_ptr<Transport> transport,
                    std::string peer) = 0;
  virtual void warn_limited(const std::string& text) = 0;

protected:
  ~ConnectionSink() = default;
};

struct ListenerContext {
  boost::asio::io_context& io;
  ConnectionPoller& poller;
  ConnectionSink& sink;
  LogWriter& log; // internal errors (error_boundary.hpp)
  Stats& stats;
  bool reuse_port = false; // --reuse-port: SO_REUSEPORT on bound inet listeners
};

class Listener {
public:
  virtual ~Listener() = default;
  virtual void start() = 0;
  // Stopping: takes over the connections already waiting in the backlog (their requests are
  // answered like the others'), without waiting for more. Call before close().
  virtual void accept_pending() = 0;
  virtual void close() = 0;
  // "socketmap unix:/path", "tcp_table inet:127.0.0.1:40123"
  virtual std::string description() const = 0;
  // A unix socket listener (else inet)?
  virtual bool is_unix() const = 0;
  // The unix socket file this listener created, or empty.
  virtual std::string socket_file() const { return {}; }
  // Unlinks socket_file() if the path still names the socket this listener bound (device and
  // inode recorded at bind); otherwise leaves it to whoever bound it since (logged). Best effort.
  virtual void remove_socket_file() {}
};

// The address of an adopted socket, so that a configured listener at the same address is not bound again.
struct AdoptedAddress {
  Protocol protocol;
  std::string unix_path;                   // unix sockets
  boost::asio::ip::tcp::endpoint endpoint; // inet sockets
  bool is_unix = false;
};

// Binds `endpoint` (creates a unix socket's directory if missing, replaces a stale socket file,
// sets the mode, then the ownership). Call as root, before dropping privileges. An inet endpoint
// gets SO_REUSEPORT when context.reuse_port is set: other processes of the same user that also
// set it may then bind the same address and port, and the kernel spreads new connections over
// them (unix sockets have no such option: several daemons share one through the service manager).
Expected<std::unique_ptr<Listener>> bind_listener(const ListenerContext& context, const Endpoint& endpoint,
                                                  Protocol protocol, const SocketOwnership& ownership);
// Serves the sockets the service manager passed; each must be a listening stream socket (unix,
// IPv4 or IPv6; tcp-table: IPv4 or IPv6). Takes ownership of every fd, also on error.
Status adopt_listeners(const ListenerContext& context, const std::vector<InheritedListener>& inherited,
                       std::vector<std::unique_ptr<Listener>>& listeners, std::vector<AdoptedAddress>& adopted);
// True when an adopted socket serves `endpoint`; an error when it does so for another protocol.
Expected<bool> served_by_adopted(const std::vector<AdoptedAddress>& adopted, const Endpoint& endpoint,
                                 Protocol protocol);

} // namespace dane::policyd
