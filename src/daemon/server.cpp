// The server of dane-policyd: owns the listeners and the sessions, and stops gracefully.
#include "dane/daemon/server.hpp"

#include <unistd.h>

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
  auto sessions = m_sessions;
  for (const auto& s : sessions) {
    s->close();
  }
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
  return ListenerContext{m_io, *m_poller, *this, m_log, m_stats};
}

bool Server::admit(const Listener& listener) {
  if (m_stopping) {
    return false;
  }
  if (m_sessions.size() >= m_settings.max_connections) {
    m_stats.connection_refused();
    warn_limited("too many connections (--max-connections " + std::to_string(m_settings.max_connections) +
                 "); closing a new one on " + listener.description());
    return false;
  }
  return true;
}

void Server::open(Protocol protocol, std::unique_ptr<Transport> transport, std::string peer) {
  auto session = make_session(session_context(), protocol, std::move(transport), std::move(peer));
  m_sessions.insert(session);
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
    open(protocol == StdioProtocol::Policy ? Protocol::Policy : Protocol::Socketmap, std::move(transport), "stdio");
  } catch (const boost::system::system_error& ex) {
    return make_error(std::string("--stdio: cannot use standard input/output: ") + ex.code().message());
  }
  return Ok{};
}

void Server::closed(Session& session) {
  for (auto it = m_sessions.begin(); it != m_sessions.end(); ++it) {
    if (it->get() == &session) {
      m_sessions.erase(it);
      break;
    }
  }
  if (m_stdio && !m_stopping) {
    stop(); // the one stdio client is gone: done
    return;
  }
  if (m_stopping && m_sessions.empty() && m_on_drained) {
    auto cb = std::move(m_on_drained);
    m_on_drained = nullptr;
    cb();
  }
}

void Server::stop() {
  if (m_stopping) {
    return;
  }
  m_stopping = true;
  for (auto& l : m_listeners) {
    l->close();
  }
  std::vector<std::shared_ptr<Session>> sessions(m_sessions.begin(), m_sessions.end());
  for (const auto& s : sessions) {
    s->drain();
  }
  if (m_sessions.empty() && m_on_drained) {
    auto cb = std::move(m_on_drained);
    m_on_drained = nullptr;
    cb();
  }
}

void Server::close_all() {
  std::vector<std::shared_ptr<Session>> sessions(m_sessions.begin(), m_sessions.end());
  for (const auto& s : sessions) {
    s->close();
  }
}

void Server::remove_socket_files() {
  for (auto& l : m_listeners) {
    if (auto f = l->socket_file(); !f.empty()) {
      ::unlink(f.c_str());
    }
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
