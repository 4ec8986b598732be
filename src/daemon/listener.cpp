// Listeners of dane-policyd: binding, adopting (socket activation) and the accept loop.
#include "dane/daemon/listener.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
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

// The identity of a socket file (device and inode), recorded right after bind().
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool known = false;
};

FileIdentity identity_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) {
    return {};
  }
  return FileIdentity{st.st_dev, st.st_ino, true};
}

// A descriptor kept in reserve, freed for a moment when the process is out of descriptors so that
// waiting connections can be accepted and closed instead of hanging in the backlog.
Fd open_spare_descriptor() {
  return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

bool out_of_descriptors(const error_code& ec) {
  return ec.category() == boost::system::system_category() && (ec.value() == EMFILE || ec.value() == ENFILE);
}

template <typename Proto> class AcceptorListener final : public Listener {
public:
  using Acceptor = typename Proto::acceptor;
  using Socket = typename Proto::socket;

  AcceptorListener(const ListenerContext& context, Protocol protocol, Acceptor acceptor, std::string description,
                   std::string socket_file)
      : m_ctx(context), m_protocol(protocol), m_acceptor(std::move(acceptor)), m_description(std::move(description)),
        m_socket_file(std::move(socket_file)), m_socket_identity(identity_of(m_socket_file)), m_retry(context.io),
        m_spare(open_spare_descriptor()) {}

  void start() override {
    error_code ec;
    m_acceptor.non_blocking(true, ec); // accept_pending() and shed_backlog() must never wait
    accept();
  }
  void accept_pending() override {
    if (m_closed) {
      return;
    }
    for (;;) {
      Socket socket(m_ctx.io);
      error_code ec;
      m_acceptor.accept(socket, ec);
      if (ec) {
        return; // would_block: the backlog is empty (other errors: closing resets the rest)
      }
      run_guarded(m_ctx.log, m_ctx.stats, "accepting a connection on " + m_description,
                  [&] { on_accept(std::move(socket)); });
    }
  }
  void close() override {
    error_code ec;
    m_closed = true;
    m_retry.cancel();
    m_acceptor.close(ec);
  }
  std::string description() const override { return to_string(m_protocol) + " " + m_description; }
  bool is_unix() const override { return std::is_same_v<Proto, stream_protocol>; }
  std::string socket_file() const override { return m_socket_file; }
  void remove_socket_file() override {
    if (m_socket_file.empty() || !m_socket_identity.known) {
      return;
    }
    const FileIdentity now = identity_of(m_socket_file);
    if (!now.known) {
      return; // gone already
    }
    if (now.device != m_socket_identity.device || now.inode != m_socket_identity.inode) {
      m_ctx.log.message(Severity::Info,
                        "socket-kept path=" + m_socket_file + ": bound again by another server since; left in place");
      return;
    }
    ::unlink(m_socket_file.c_str());
  }

private:
  void accept() {
    if (m_closed) {
      return;
    }
    m_acceptor.async_accept([this](const error_code& ec, Socket socket) {
      if (ec == asio::error::operation_aborted) {
        return;
      }
      if (m_closed) {
        if (!ec) { // accepted just before the stop closed the listener: its requests are answered too
          run_guarded(m_ctx.log, m_ctx.stats, "accepting a connection on " + m_description,
                      [&] { hand_over(std::move(socket)); });
        }
        return;
      }
      if (ec) {
        if (out_of_descriptors(ec)) {
          shed_backlog(ec);
        } else {
          m_ctx.sink.warn_limited("accept on " + description() + " failed: " + ec.message());
        }
        pause();
        return;
      }
      run_guarded(m_ctx.log, m_ctx.stats, "accepting a connection on " + m_description,
                  [&] { on_accept(std::move(socket)); });
      accept();
    });
  }

  // Backs off briefly (no busy loop on a persistent error); open connections go on being served.
  void pause() {
    m_retry.expires_after(std::chrono::milliseconds(100));
    m_retry.async_wait([this](const error_code& e) {
      if (!e) {
        accept();
      }
    });
  }

  // Out of descriptors: frees the spare one, accepts and closes every waiting connection (their
  // clients see the connection closed at once instead of waiting in the backlog), takes the
  // spare back.
  void shed_backlog(const error_code& ec) {
    m_spare.reset();
    std::size_t closed = 0;
    for (;;) {
      const int fd = ::accept4(m_acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        break; // EAGAIN: none left; EMFILE: another thread took the freed descriptor
      }
      ::close(fd);
      ++closed;
      m_ctx.stats.connection_refused();
      m_ctx.stats.connection_out_of_fds();
    }
    m_spare = open_spare_descriptor();
    m_ctx.sink.warn_limited("out-of-descriptors listener=\"" + description() + "\" closed=" + std::to_string(closed) +
                            " error=\"" + ec.message() +
                            "\": new connections are closed at once while no file descriptor is free");
  }

  void on_accept(Socket socket) {
    if (m_ctx.sink.admit(*this)) {
      hand_over(std::move(socket));
    }
  }

  void hand_over(Socket socket) {
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
    m_ctx.sink.open(*this, m_protocol, make_socket_transport(m_ctx.poller, fd), std::move(peer));
  }

  ListenerContext m_ctx;
  Protocol m_protocol;
  Acceptor m_acceptor;
  std::string m_description;
  std::string m_socket_file;
  FileIdentity m_socket_identity;
  asio::steady_timer m_retry;
  Fd m_spare;
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
  if (context.reuse_port) {
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  }
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
