// Listeners of dane-policyd: binding, adopting (socket activation) and the accept loop.
#include "dane/daemon/listener.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "dane/core/fd.hpp"
#include "dane/daemon/error_boundary.hpp"

namespace asio = boost::asio;
using boost::system::error_code;
using stream_protocol = asio::local::stream_protocol;
using tcp = asio::ip::tcp;

namespace dane::policyd {
namespace {

template <typename Proto> class AcceptorListener final : public Listener {
public:
  using Acceptor = typename Proto::acceptor;
  using Socket = typename Proto::socket;

  AcceptorListener(const ListenerContext& context, Protocol protocol, Acceptor acceptor, std::string description,
                   std::string socket_file)
      : m_ctx(context), m_protocol(protocol), m_acceptor(std::move(acceptor)), m_description(std::move(description)),
        m_socket_file(std::move(socket_file)), m_retry(context.io) {}

  void start() override { accept(); }
  void close() override {
    error_code ec;
    m_closed = true;
    m_retry.cancel();
    m_acceptor.close(ec);
  }
  std::string description() const override { return to_string(m_protocol) + " " + m_description; }
  std::string socket_file() const override { return m_socket_file; }

private:
  void accept() {
    if (m_closed) {
      return;
    }
    m_acceptor.async_accept([this](const error_code& ec, Socket socket) {
      if (m_closed || ec == asio::error::operation_aborted) {
        return;
      }
      if (ec) {
        // EMFILE and friends: warn, back off briefly, keep serving the open connections.
        m_ctx.sink.warn_limited("accept on " + description() + " failed: " + ec.message());
        m_retry.expires_after(std::chrono::milliseconds(100));
        m_retry.async_wait([this](const error_code& e) {
          if (!e) {
            accept();
          }
        });
        return;
      }
      run_guarded(m_ctx.log, m_ctx.stats, "accepting a connection on " + m_description,
                  [&] { on_accept(std::move(socket)); });
      accept();
    });
  }

  void on_accept(Socket socket) {
    if (!m_ctx.sink.admit(*this)) {
      return;
    }
    std::string peer = m_description;
    if constexpr (std::is_same_v<Proto, tcp>) {
      error_code ec;
      socket.set_option(tcp::no_delay(true), ec);
      auto ep = socket.remote_endpoint(ec);
      if (!ec) {
        peer = "inet:" + ep.address().to_string() + ":" + std::to_string(ep.port());
      }
    }
    error_code ec;
    int fd = socket.release(ec); // served by the ConnectionPoller from here on
    if (ec) {
      m_ctx.sink.warn_limited("cannot take over a new connection on " + description() + ": " + ec.message());
      return;
    }
    m_ctx.sink.open(m_protocol, make_socket_transport(m_ctx.poller, fd), std::move(peer));
  }

  ListenerContext m_ctx;
  Protocol m_protocol;
  Acceptor m_acceptor;
  std::string m_description;
  std::string m_socket_file;
  asio::steady_timer m_retry;
  bool m_closed = false;
};

Status prepare_unix_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return make_error("cannot create directory " + dir.string() + ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0755);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(path + " exists and is not a socket");
    }
    // A socket file: in use by a running server, or stale.
    asio::io_context probe_io;
    stream_protocol::socket probe(probe_io);
    error_code cec;
    probe.connect(stream_protocol::endpoint(path), cec);
    if (!cec) {
      return make_error(path + " is in use by another running server");
    }
    ::unlink(path.c_str());
  }
  return Ok{};
}

} // namespace

Expected<Protocol> protocol_for_listener_name(std::string_view name) {
  if (name == "socketmap" || name == "unknown" || name.empty() ||
      (name.size() > 7 && name.substr(name.size() - 7) == ".socket")) {
    return Protocol::Socketmap;
  }
  if (name == "tcp-table") {
    return Protocol::TcpTable;
  }
  if (name == "policy-service") {
    return Protocol::Policy;
  }
  return make_error("unknown socket name '" + std::string(name) +
                    "' (FileDescriptorName= must be socketmap, tcp-table or policy-service)");
}

Status adopt_listeners(const ListenerContext& context, const std::vector<InheritedListener>& inherited,
                       std::vector<std::unique_ptr<Listener>>& listeners, std::vector<AdoptedAddress>& adopted) {
  // Own every fd from the start, so that an error leaks none of them.
  std::vector<Fd> fds;
  for (const auto& l : inherited) {
    fds.emplace_back(l.fd);
  }
  for (std::size_t i = 0; i < inherited.size(); ++i) {
    const auto& l = inherited[i];
    const std::string what =
        "socket passed by the service manager (fd " + std::to_string(l.fd) + ", name '" + l.name + "')";
    auto protocol = protocol_for_listener_name(l.name);
    if (!protocol) {
      return make_error(what + ": " + protocol.error());
    }
    if (sd_is_socket(l.fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      return make_error(what + ": not a listening stream socket (the socket unit needs ListenStream=)");
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(l.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      return make_error(what + ": cannot read its address: " + std::strerror(errno));
    }
    try {
      if (ss.ss_family == AF_UNIX) {
        if (*protocol == Protocol::TcpTable) {
          return make_error(what + ": tcp_table is served on inet sockets only");
        }
        const auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
        const std::size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
        std::string path(sun->sun_path, ::strnlen(sun->sun_path, path_len));
        if (path.empty() && path_len > 1) {
          path = "@" + std::string(sun->sun_path + 1, path_len - 1); // abstract name
        }
        stream_protocol::acceptor acceptor(context.io);
        acceptor.assign(stream_protocol(), fds[i].get());
        fds[i].release(); // the acceptor owns it now
        listeners.push_back(std::make_unique<AcceptorListener<stream_protocol>>(
            context, *protocol, std::move(acceptor), "unix:" + path + " (socket-activated)", ""));
        adopted.push_back(AdoptedAddress{*protocol, path, {}, true});
      } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        tcp::acceptor acceptor(context.io);
        acceptor.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fds[i].get());
        fds[i].release();
        auto local = acceptor.local_endpoint();
        std::string host =
            local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
        listeners.push_back(std::make_unique<AcceptorListener<tcp>>(
            context, *protocol, std::move(acceptor),
            "inet:" + host + ":" + std::to_string(local.port()) + " (socket-activated)", ""));
        adopted.push_back(AdoptedAddress{*protocol, {}, local, false});
      } else {
        return make_error(what + ": address family " + std::to_string(ss.ss_family) + " is neither unix nor inet");
      }
    } catch (const boost::system::system_error& ex) {
      return make_error(what + ": cannot serve it: " + ex.code().message());
    }
  }
  return Ok{};
}

Expected<bool> served_by_adopted(const std::vector<AdoptedAddress>& adopted, const Endpoint& e, Protocol protocol) {
  for (const auto& a : adopted) {
    bool same = false;
    if (e.kind == Endpoint::Kind::Unix) {
      same = a.is_unix && a.unix_path == e.path;
    } else if (!a.is_unix) {
      error_code ec;
      auto address = asio::ip::make_address(e.host, ec);
      same = !ec && a.endpoint == tcp::endpoint(address, e.port);
    }
    if (same && a.protocol != protocol) {
      return make_error(e.text + ": the socket passed by the service manager at this address serves " +
                        to_string(a.protocol) + ", not " + to_string(protocol));
    }
    if (same) {
      return true;
    }
  }
  return false;
}

namespace {

Expected<std::unique_ptr<Listener>> bind_unix(const ListenerContext& context, const Endpoint& e, Protocol protocol,
                                              const SocketOwnership& ownership) {
  if (auto st = prepare_unix_path(e.path); !st) {
    return make_error(protocol == Protocol::Socketmap ? "--socketmap " + e.text + ": " + st.error()
                                                      : "--policy-service " + e.text + ": " + st.error());
  }
  stream_protocol::acceptor acceptor(context.io);
  acceptor.open();
  acceptor.bind(stream_protocol::endpoint(e.path));
  acceptor.listen(asio::socket_base::max_listen_connections);
  // Mode first, while root still owns the file: after the chown, changing the mode would
  // need CAP_FOWNER, which the systemd unit does not grant.
  if (::chmod(e.path.c_str(), ownership.mode) != 0) {
    return make_error(e.text + ": cannot change mode: " + std::strerror(errno));
  }
  if ((ownership.uid >= 0 || ownership.gid >= 0) && ::chown(e.path.c_str(), ownership.uid, ownership.gid) != 0) {
    return make_error(e.text + ": cannot change owner: " + std::strerror(errno));
  }
  return std::unique_ptr<Listener>(std::make_unique<AcceptorListener<stream_protocol>>(
      context, protocol, std::move(acceptor), "unix:" + e.path, e.path));
}

Expected<std::unique_ptr<Listener>> bind_inet(const ListenerContext& context, const Endpoint& e, Protocol protocol) {
  tcp::resolver resolver(context.io);
  auto results =
      resolver.resolve(e.host, std::to_string(e.port), tcp::resolver::passive | tcp::resolver::numeric_service);
  if (results.empty()) {
    return make_error(e.text + ": no address for " + e.host);
  }
  tcp::endpoint ep = results.begin()->endpoint();
  tcp::acceptor acceptor(context.io);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  auto local = acceptor.local_endpoint();
  std::string host = local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
  return std::unique_ptr<Listener>(std::make_unique<AcceptorListener<tcp>>(
      context, protocol, std::move(acceptor), "inet:" + host + ":" + std::to_string(local.port()), ""));
}

} // namespace

Expected<std::unique_ptr<Listener>> bind_listener(const ListenerContext& context, const Endpoint& endpoint,
                                                  Protocol protocol, const SocketOwnership& ownership) {
  try {
    if (endpoint.kind == Endpoint::Kind::Unix) {
      return bind_unix(context, endpoint, protocol, ownership);
    }
    return bind_inet(context, endpoint, protocol);
  } catch (const boost::system::system_error& ex) {
    return make_error(endpoint.text + ": cannot listen: " + ex.code().message());
  }
}

} // namespace dane::policyd
