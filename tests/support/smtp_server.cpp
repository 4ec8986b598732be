// A real STARTTLS SMTP server for tests (contract: smtp_server.hpp).
#include "smtp_server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>

#include "dane/verifier/handles.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

constexpr std::size_t k_max_line = 4096;
constexpr std::size_t k_max_message = 1024 * 1024;
constexpr int k_idle_ms = 60000;

std::string openssl_error_text() {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out;
}

std::shared_ptr<SSL_CTX> make_server_ctx(const std::string& key_file, const std::string& chain_file) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SslCtxDeleter{});
  if (!ctx) {
    throw std::runtime_error("SmtpServer: SSL_CTX_new: " + openssl_error_text());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), chain_file.c_str()) != 1) {
    throw std::runtime_error("SmtpServer: cannot load chain " + chain_file + ": " + openssl_error_text());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("SmtpServer: cannot load key " + key_file + ": " + openssl_error_text());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw std::runtime_error("SmtpServer: key " + key_file + " does not match the leaf of " + chain_file);
  }
  return ctx;
}

bool parse_address(const std::string& address, std::uint16_t port, sockaddr_storage& storage, socklen_t& length) {
  storage = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(sockaddr_in);
    return true;
  }
  if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return 0;
  }
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

// Binds a TCP socket to address:port (0 = any free port). Throws on failure.
int bind_socket(const std::string& address, std::uint16_t port, bool reuse) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (!parse_address(address, port, storage, length)) {
    throw std::runtime_error("SmtpServer: '" + address + "' is not an IP address");
  }
  int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  int one = 1;
  if (reuse) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error("bind " + address + ":" + std::to_string(port) + ": " + std::strerror(err));
  }
  return fd;
}

std::string upper_word(const std::string& line) {
  std::string word = line.substr(0, line.find(' '));
  std::transform(word.begin(), word.end(), word.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return word;
}

// One client connection: line I/O in plaintext, then through TLS.
class Session {
public:
  Session(int fd, int wake_fd) : m_fd(fd), m_wake_fd(wake_fd) {}

  bool write(const std::string& data) {
    if (m_ssl) {
      return SSL_write(m_ssl.get(), data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
    }
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(m_fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) {
          continue;
        }
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one line (without CR LF). False on EOF, error, stop, idle timeout.
  bool read_line(std::string& line) {
    for (;;) {
      auto eol = m_in.find('\n');
      if (eol != std::string::npos) {
        line = m_in.substr(0, eol);
        m_in.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        return true;
      }
      if (m_in.size() > k_max_line) {
        line = m_in.substr(0, k_max_line);
        m_in.erase(0, k_max_line);
        return true;
      }
      char buf[4096];
      int n = 0;
      if (m_ssl) {
        n = SSL_read(m_ssl.get(), buf, sizeof buf);
      } else {
        if (!wait_readable()) {
          return false;
        }
        n = static_cast<int>(::recv(m_fd, buf, sizeof buf, 0));
        if (n < 0 && errno == EINTR) {
          continue;
        }
      }
      if (n <= 0) {
        return false;
      }
      m_in.append(buf, static_cast<std::size_t>(n));
    }
  }

  bool wait_readable() {
    pollfd fds[2] = {{m_fd, POLLIN, 0}, {m_wake_fd, POLLIN, 0}};
    for (;;) {
      int r = ::poll(fds, 2, k_idle_ms);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r <= 0 || (fds[1].revents & POLLIN) != 0) {
        return false;
      }
      return true;
    }
  }

  // Waits for the peer to close (or stop / idle timeout) without ever writing.
  void stay_silent() {
    char buf[4096];
    while (wait_readable()) {
      ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EINTR)) {
        return;
      }
    }
  }

  bool start_tls(SSL_CTX* ctx, std::string& sni) {
    if (!m_in.empty()) {
      return false; // pipelined plaintext before the handshake: refuse (RFC 3207 §4.2)
    }
    m_ssl.reset(SSL_new(ctx));
    if (!m_ssl || SSL_set_fd(m_ssl.get(), m_fd) != 1) {
      return false;
    }
    if (SSL_accept(m_ssl.get()) != 1) {
      ERR_clear_error();
      m_ssl.reset();
      return false;
    }
    if (const char* name = SSL_get_servername(m_ssl.get(), TLSEXT_NAMETYPE_host_name)) {
      sni = name;
    } else {
      sni.clear();
    }
    return true;
  }

  bool in_tls() const { return static_cast<bool>(m_ssl); }

  void finish() {
    if (m_ssl) {
      SSL_shutdown(m_ssl.get());
      ERR_clear_error();
    }
  }

private:
  int m_fd;
  int m_wake_fd;
  std::string m_in;
  SslPtr m_ssl;
};

} // namespace

SmtpServer::SmtpServer(SmtpServerOptions options) : m_options(std::move(options)), m_behaviour(m_options.behaviour) {
  if (!m_options.key_file.empty() || !m_options.chain_file.empty()) {
    m_ctx = make_server_ctx(m_options.key_file, m_options.chain_file);
  } else if (m_behaviour != SmtpBehaviour::NoStartTls && m_behaviour != SmtpBehaviour::Silent) {
    throw std::runtime_error("SmtpServer: key_file and chain_file are needed for STARTTLS");
  }
  m_listen_fd = bind_socket(m_options.address, m_options.port, true);
  if (::listen(m_listen_fd, 64) != 0) {
    int err = errno;
    ::close(m_listen_fd);
    throw std::runtime_error(std::string("SmtpServer: listen: ") + std::strerror(err));
  }
  m_port = bound_port(m_listen_fd);
  m_wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (m_wake_fd < 0) {
    ::close(m_listen_fd);
    throw std::runtime_error(std::string("SmtpServer: eventfd: ") + std::strerror(errno));
  }
  m_acceptor = std::thread([this] { accept_loop(); });
}

SmtpServer::~SmtpServer() {
  stop();
}

void SmtpServer::set_credentials(const std::string& key_file, const std::string& chain_file) {
  auto ctx = make_server_ctx(key_file, chain_file);
  std::lock_guard lock(m_mutex);
  m_ctx = std::move(ctx);
}

void SmtpServer::set_behaviour(SmtpBehaviour behaviour) {
  std::lock_guard lock(m_mutex);
  m_behaviour = behaviour;
}

std::string SmtpServer::last_sni() const {
  std::lock_guard lock(m_mutex);
  return m_last_sni;
}

std::vector<std::string> SmtpServer::messages() const {
  std::lock_guard lock(m_mutex);
  return m_messages;
}

void SmtpServer::stop() {
  if (m_stopping.exchange(true)) {
    return;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(m_wake_fd, &one, sizeof one);
  if (m_acceptor.joinable()) {
    m_acceptor.join();
  }
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(m_mutex);
    for (int fd : m_open_fds) {
      ::shutdown(fd, SHUT_RDWR); // wakes threads blocked in TLS reads/writes
    }
    workers.swap(m_workers);
  }
  for (auto& worker : workers) {
    worker.join();
  }
  ::close(m_listen_fd);
  ::close(m_wake_fd);
}

void SmtpServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_wake_fd, POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0 || (fds[1].revents & POLLIN) != 0 || m_stopping.load()) {
      return;
    }
    int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    ++m_connections;
    timeval idle{k_idle_ms / 1000, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof idle);
    std::lock_guard lock(m_mutex);
    m_open_fds.push_back(fd);
    m_workers.emplace_back([this, fd] { serve(fd); });
  }
}

void SmtpServer::serve(int fd) {
  // TLS writes go through write(2): a client that vanished must not SIGPIPE the test.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  SmtpBehaviour behaviour = SmtpBehaviour::StartTls;
  std::shared_ptr<SSL_CTX> ctx;
  {
    std::lock_guard lock(m_mutex);
    behaviour = m_behaviour;
    ctx = m_ctx;
  }
  const std::string& host = m_options.hostname;
  Session session(fd, m_wake_fd);
  bool offer_tls = behaviour != SmtpBehaviour::NoStartTls;
  if (behaviour == SmtpBehaviour::Silent) {
    session.stay_silent();
  } else {
    bool ok = behaviour == SmtpBehaviour::MultiLineBanner
                  ? session.write("220-" + host + " ESMTP dane-policyd test server\r\n220-this greeting has\r\n220 " +
                                  host + " three lines\r\n")
                  : session.write("220 " + host + " ESMTP dane-policyd test server\r\n");
    std::string line;
    while (ok && session.read_line(line)) {
      std::string verb = upper_word(line);
      if (verb == "EHLO") {
        std::string reply = "250-" + host + " greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n";
        if (offer_tls && !session.in_tls()) {
          reply += "250-STARTTLS\r\n";
        }
        reply += "250 8BITMIME\r\n";
        ok = session.write(reply);
      } else if (verb == "HELO" || verb == "NOOP" || verb == "RSET" || verb == "MAIL" || verb == "RCPT") {
        ok = session.write("250 2.0.0 Ok\r\n");
      } else if (verb == "STARTTLS") {
        if (session.in_tls() || !offer_tls || !ctx) {
          ok = session.write("502 5.5.1 STARTTLS not available\r\n");
        } else if (behaviour == SmtpBehaviour::RefuseStartTls) {
          ok = session.write("454 4.7.0 TLS not available due to temporary reason\r\n");
        } else if (behaviour == SmtpBehaviour::StallHandshake) {
          session.write("220 2.0.0 Ready to start TLS\r\n");
          session.stay_silent();
          break;
        } else if (behaviour == SmtpBehaviour::InjectAfterStartTls) {
          session.write("220 2.0.0 Ready to start TLS\r\n250 2.0.0 injected\r\n");
          break;
        } else {
          ok = session.write("220 2.0.0 Ready to start TLS\r\n");
          std::string sni;
          if (ok && session.start_tls(ctx.get(), sni)) {
            ++m_handshakes;
            std::lock_guard lock(m_mutex);
            m_last_sni = sni;
          } else {
            ok = false;
          }
        }
      } else if (verb == "DATA") {
        ok = session.write("354 End data with <CR><LF>.<CR><LF>\r\n");
        std::string body;
        bool complete = false;
        while (ok && session.read_line(line)) {
          if (line == ".") {
            complete = true;
            break;
          }
          if (body.size() < k_max_message) {
            body += (line.starts_with(".") ? line.substr(1) : line) + "\n";
          }
        }
        if (!complete) {
          break;
        }
        {
          std::lock_guard lock(m_mutex);
          m_messages.push_back(std::move(body));
        }
        ok = session.write("250 2.0.0 Ok: queued\r\n");
      } else if (verb == "QUIT") {
        ++m_quits;
        session.write("221 2.0.0 Bye\r\n");
        session.finish();
        break;
      } else {
        ok = session.write("502 5.5.2 Error: command not recognized\r\n");
      }
    }
  }
  std::lock_guard lock(m_mutex);
  m_open_fds.erase(std::remove(m_open_fds.begin(), m_open_fds.end(), fd), m_open_fds.end());
  ::close(fd);
}

std::vector<std::unique_ptr<SmtpServer>> start_on_common_port(std::vector<SmtpServerOptions> options) {
  std::string last_error;
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::vector<std::unique_ptr<SmtpServer>> servers;
    try {
      std::uint16_t port = options.empty() ? 0 : options.front().port;
      for (auto& entry : options) {
        SmtpServerOptions copy = entry;
        copy.port = port;
        servers.push_back(std::make_unique<SmtpServer>(copy));
        port = servers.back()->port();
      }
      return servers;
    } catch (const std::exception& e) {
      last_error = e.what();
      if (!options.empty() && options.front().port != 0) {
        break; // a fixed port was asked for: no point in retrying
      }
    }
  }
  throw std::runtime_error("start_on_common_port: " + last_error);
}

ClosedPort::ClosedPort(const std::string& address, std::uint16_t port) {
  m_fd = bind_socket(address, port, false);
  m_port = bound_port(m_fd);
}

ClosedPort::~ClosedPort() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

SClientVerdict openssl_s_client_dane(const std::string& address, std::uint16_t port, const std::string& tlsa_base,
                                     const std::vector<std::string>& tlsa_records, std::chrono::milliseconds limit) {
  SClientVerdict verdict;
  std::string openssl = find_program("openssl");
  if (openssl.empty()) {
    verdict.process.output = "openssl not found";
    return verdict;
  }
  std::string target = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  std::vector<std::string> argv = {openssl,
                                   "s_client",
                                   "-brief",
                                   "-starttls",
                                   "smtp",
                                   "-connect",
                                   target + ":" + std::to_string(port),
                                   "-dane_tlsa_domain",
                                   tlsa_base};
  for (const auto& record : tlsa_records) {
    argv.push_back("-dane_tlsa_rrdata");
    argv.push_back(record);
  }
  argv.push_back("-dane_ee_no_namechecks");
  argv.push_back("-verify_return_error");
  verdict.process = run_process(argv, limit);
  verdict.ran = !verdict.process.timed_out && verdict.process.exit_code >= 0 && verdict.process.exit_code != 127;
  const std::string& out = verdict.process.output;
  verdict.verified =
      verdict.ran && verdict.process.exit_code == 0 &&
      (out.find("Verification: OK") != std::string::npos || out.find("Verify return code: 0") != std::string::npos);
  static constexpr std::string_view k_marker = "verify error:num=";
  if (auto at = out.find(k_marker); at != std::string::npos) {
    verdict.verify_error = std::atoi(out.c_str() + at + k_marker.size());
  }
  return verdict;
}

} // namespace dane::test
