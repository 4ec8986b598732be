// The server of dane-policyd: owns the listeners and the sessions, and stops gracefully.
#include "dane/daemon/server.hpp"

#include "dane/daemon/connection_poller.hpp"

namespace asio = boost::asio;

namespace dane::policyd {

Server::Server(asio::io_context& io, const Settings& settings, Stats& stats, LogWriter& log)
    : m_io(io), m_poller(std::make_unique<ConnectionPoller>(io)), m_settings(settings), m_stats(stats), m_log(log) {}

Server::~Server() {
  m_stopping = true;
  m_on_drained = nullptr;
  for (auto& l : m_listeners) {
    l->close();
  }
  for (const auto& s : all_sessions()) {
    s->close();
  }
}

std::vector<std::shared_ptr<Session>> Server::all_sessions() const {
  std::vector<std::shared_ptr<Session>> out;
  out.reserve(m_sessions.size());
  for (const auto& [raw, open] : m_sessions) {
    out.push_back(open.session);
  }
  return out;
}

Status Server::bind(const SocketOwnership& ownership) {
  auto bind_all = [&](const std::vector<Endpoint>& endpoints, Protocol protocol) -> Status {
    for (const auto& e : endpoints) {
      auto already = served_by_adopted(m_adopted, e, protocol);
      if (!already) {
        return make_error(already.error());
      }
      if (*already) {
        continue; // a configured listener the service manager already passed: served by that socket
      }
      auto listener = bind_listener(listener_context(), e, protocol, ownership);
      if (!listener) {
        return make_error(listener.error());
      }
      m_listeners.push_back(std::move(*listener));
    }
    return Ok{};
  };
  if (auto st = bind_all(m_settings.socketmap, Protocol::Socketmap); !st) {
    return st;
  }
  if (auto st = bind_all(m_settings.tcp_table, Protocol::TcpTable); !st) {
    return st;
  }
  return bind_all(m_settings.policy_service, Protocol::Policy);
}

Status Server::adopt(const std::vector<InheritedListener>& listeners) {
  return adopt_listeners(listener_context(), listeners, m_listeners, m_adopted);
}

SessionContext Server::session_context() {
  return SessionContext{m_io, m_settings, *m_service, m_stats, m_log, *this};
}

ListenerContext Server::listener_context() {
  return ListenerContext{m_io, *m_poller, *this, m_log, m_stats, m_settings.reuse_port};
}

bool Server::admit(const Listener& listener) {
  if (m_stopping) {
    return false;
  }
  // Each listener has its own pool: a flood on one (say the TCP listener any local user can
  // reach) never locks Postfix out of another (its unix socket).
  if (auto it = m_per_listener.find(&listener);
      it != m_per_listener.end() && it->second >= m_settings.max_connections) {
    m_stats.connection_refused();
    m_stats.connection_refused_at(listener.is_unix());
    warn_limited("too many connections (--max-connections " + std::to_string(m_settings.max_connections) +
                 " per listener); closing a new one on " + listener.description());
    return false;
  }
  return true;
}

void Server::open(const Listener& listener, Protocol protocol, std::unique_ptr<Transport> transport, std::string peer) {
  open_session(&listener, protocol, std::move(transport), std::move(peer));
}

void Server::open_session(const Listener* listener, Protocol protocol, std::unique_ptr<Transport> transport,
                          std::string peer) {
  auto session = make_session(session_context(), protocol, std::move(transport), std::move(peer));
  m_sessions.emplace(session.get(), OpenSession{session, listener});
  if (listener != nullptr) {
    ++m_per_listener[listener];
  }
  session->start();
}

std::vector<std::string> Server::bound() const {
  std::vector<std::string> out;
  for (const auto& l : m_listeners) {
    out.push_back(l->description());
  }
  return out;
}

void Server::start() {
  for (auto& l : m_listeners) {
    l->start();
  }
}

Status Server::serve_stdio(StdioProtocol protocol, int in, int out) {
  try {
    auto transport = make_stdio_transport(m_io, in, out);
    m_stdio = true;
    open_session(nullptr, protocol == StdioProtocol::Policy ? Protocol::Policy : Protocol::Socketmap,
                 std::move(transport), "stdio");
  } catch (const boost::system::system_error& ex) {
    return make_error(std::string("--stdio: cannot use standard input/output: ") + ex.code().message());
  }
  return Ok{};
}

void Server::closed(Session& session) {
  if (auto it = m_sessions.find(&session); it != m_sessions.end()) {
    if (const Listener* listener = it->second.listener; listener != nullptr) {
      if (auto count = m_per_listener.find(listener); count != m_per_listener.end() && --count->second == 0) {
        m_per_listener.erase(count);
      }
    }
    m_sessions.erase(it);
  }
  if (m_stdio && !m_stopping) {
    stop(); // the one stdio client is gone: done
    return;
  }
  if (m_stopping && m_sessions.empty()) {
    finish_if_drained();
  }
}

void Server::finish_if_drained() {
  // Checked after the handlers already queued: a connection accepted just before the listeners
  // closed (its accept completed, its handler not yet run) is handed over by one of them.
  asio::post(m_io, [this, alive = std::weak_ptr<const bool>(m_alive)] {
    if (alive.expired()) {
      return; // the server is gone
    }
    if (m_stopping && m_sessions.empty() && m_on_drained) {
      auto cb = std::move(m_on_drained);
      m_on_drained = nullptr;
      cb();
    }
  });
}

void Server::stop() {
  if (m_stopping) {
    return;
  }
  // Connections already waiting in the backlog sent their requests too: take them over first
  // (closing a listener would reset them unanswered).
  for (auto& l : m_listeners) {
    l->accept_pending();
  }
  m_stopping = true;
  for (auto& l : m_listeners) {
    l->close();
  }
  for (const auto& s : all_sessions()) {
    s->drain();
  }
  if (m_sessions.empty()) {
    finish_if_drained();
  }
}

void Server::close_all() {
  for (const auto& s : all_sessions()) {
    s->close();
  }
}

void Server::remove_socket_files() {
  for (auto& l : m_listeners) {
    l->remove_socket_file();
  }
}

void Server::warn_limited(const std::string& text) {
  auto now = std::chrono::steady_clock::now();
  if (now - m_last_limited_warning < std::chrono::seconds(1)) {
    return;
  }
  m_last_limited_warning = now;
  m_log.message(Severity::Warning, text);
}

} // namespace dane::policyd
