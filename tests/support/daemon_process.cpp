// Spawning the real dane-policyd in tests, and protocol clients for it.
#include "daemon_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dane/policy/codecs.hpp"

namespace dane::test {
namespace {

constexpr std::chrono::milliseconds k_client_timeout{30000};

// DEV:INODE of a file, as systemd puts it in JOURNAL_STREAM.
std::string device_and_inode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "0:0";
  }
  return std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

} // namespace

std::string dane_policyd_path() {
  if (const char* p = std::getenv("DANE_POLICYD"); p != nullptr && *p != '\0') {
    return p;
  }
  return std::string(DANE_BINARY_DIR) + "/bin/dane-policyd";
}

// ---------------------------------------------------------------------------------------------------------
// DaemonProcess

Expected<std::unique_ptr<DaemonProcess>> DaemonProcess::start(const std::vector<std::string>& args,
                                                              std::chrono::seconds ready_timeout,
                                                              const std::vector<std::string>& prefix) {
  DaemonOptions options;
  options.ready_timeout = ready_timeout;
  options.prefix = prefix;
  return start(args, options);
}

Expected<std::unique_ptr<DaemonProcess>> DaemonProcess::start(const std::vector<std::string>& args,
                                                              const DaemonOptions& options) {
  std::unique_ptr<DaemonProcess> d(new DaemonProcess());
  try {
    d->m_dir = std::make_unique<TempDir>("policyd-test");
  } catch (const std::exception& e) {
    return make_error(e.what());
  }
  d->m_output_path = options.output_path.empty() ? d->m_dir->file("output.log") : options.output_path;
  // A fresh output file (the spawner appends).
  if (!write_text_file(d->m_output_path, "")) {
    return make_error(d->m_output_path + ": " + std::strerror(errno));
  }

  std::vector<std::string> argv = options.prefix;
  argv.push_back(dane_policyd_path());
  argv.push_back("--foreground");
  // Never the machine's own /etc/dane-policyd/dane-policyd.conf: a test sees only its own settings.
  bool has_config = false;
  for (const auto& a : args) {
    has_config = has_config || a == "--config" || a.rfind("--config=", 0) == 0;
  }
  if (!has_config) {
    argv.insert(argv.end(), {"--config", "/dev/null"});
  }
  argv.insert(argv.end(), args.begin(), args.end());

  SpawnOptions spawn;
  spawn.output_path = d->m_output_path;
  spawn.env = options.env;
  spawn.death_signal = SIGKILL;
  spawn.own_process_group = false;
  if (!options.listen_fds.empty()) {
    spawn.pass_fds = options.listen_fds;
    spawn.own_pid_variable = "LISTEN_PID";
    spawn.env.emplace_back("LISTEN_FDS", std::to_string(options.listen_fds.size()));
  }
  if (!options.listen_fdnames.empty()) {
    spawn.env.emplace_back("LISTEN_FDNAMES", options.listen_fdnames);
  }
  if (options.journal_stream) {
    spawn.env.emplace_back("JOURNAL_STREAM", device_and_inode(d->m_output_path));
  }
  auto child = ChildProcess::start(argv, spawn);
  if (!child) {
    return make_error(child.error());
  }
  d->m_child = std::move(*child);
  if (options.wait_ready && !d->wait_for_output("dane-policyd: ready:", options.ready_timeout)) {
    std::string output = d->output();
    d->stop(SIGKILL, std::chrono::seconds(10));
    return make_error("dane-policyd did not become ready; output:\n" + output);
  }
  return d;
}

DaemonProcess::~DaemonProcess() {
  m_child.stop(SIGKILL, std::chrono::seconds(30));
}

std::string DaemonProcess::output() const {
  return read_text_file(m_output_path);
}
std::optional<std::uint16_t> DaemonProcess::tcp_port(const std::string& protocol) const {
  std::string out = output();
  auto ready = out.find("dane-policyd: ready:");
  if (ready == std::string::npos) {
    return std::nullopt;
  }
  std::string line = out.substr(ready, out.find('\n', ready) - ready);
  std::string needle = protocol + " inet:";
  auto pos = line.find(needle);
  if (pos == std::string::npos) {
    return std::nullopt;
  }
  auto end = line.find_first_of(",;", pos);
  std::string ep =
      line.substr(pos + needle.size(), end == std::string::npos ? std::string::npos : end - pos - needle.size());
  auto colon = ep.rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(std::stoi(ep.substr(colon + 1)));
}

void DaemonProcess::signal(int signo) const {
  m_child.signal(signo);
}

bool DaemonProcess::running() {
  return m_child.running();
}

bool DaemonProcess::wait_for_output(const std::string& needle, std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (output().find(needle) != std::string::npos) {
      return true;
    }
    if (!m_child.running()) {
      return output().find(needle) != std::string::npos;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::optional<int> DaemonProcess::wait(std::chrono::seconds timeout) {
  return m_child.wait(timeout);
}

int DaemonProcess::stop(int signo, std::chrono::seconds timeout) {
  return m_child.stop(signo, timeout);
}

// ---------------------------------------------------------------------------------------------------------
// RawClient

RawClient::RawClient(int fd) : m_fd(fd) {
  set_timeout(k_client_timeout);
}
RawClient::RawClient(RawClient&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}
RawClient::~RawClient() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

void RawClient::set_timeout(std::chrono::milliseconds timeout) {
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Expected<RawClient> RawClient::unix_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return make_error(path + ": path too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return make_error("connect " + path + ": " + std::strerror(e));
  }
  return RawClient(fd);
}

Expected<RawClient> RawClient::tcp(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
    return make_error("bad address " + host);
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return make_error(std::string("socket: ") + std::strerror(errno));
  }
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  int e = errno;
  ::freeaddrinfo(res);
  if (rc != 0) {
    ::close(fd);
    return make_error("connect " + host + ":" + std::to_string(port) + ": " + std::strerror(e));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RawClient(fd);
}

bool RawClient::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(m_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

void RawClient::shutdown_write() {
  ::shutdown(m_fd, SHUT_WR);
}

Expected<std::string> RawClient::read_until(std::string& buffer, std::string_view delimiter) {
  for (;;) {
    if (auto at = buffer.find(delimiter); at != std::string::npos) {
      std::string chunk = buffer.substr(0, at + delimiter.size());
      buffer.erase(0, at + delimiter.size());
      return chunk;
    }
    auto more = receive_some();
    if (!more) {
      return make_error("no reply (timeout or error)");
    }
    if (more->empty()) {
      return make_error("connection closed by the server");
    }
    buffer += *more;
  }
}

std::optional<std::string> RawClient::receive_some() {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return std::nullopt;
    }
    return std::string(buf, static_cast<std::size_t>(n));
  }
}

bool RawClient::wait_closed() {
  for (;;) {
    auto r = receive_some();
    if (!r) {
      return errno == ECONNRESET;
    }
    if (r->empty()) {
      return true;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Protocol clients

Status SocketmapClient::send_query(const std::string& name, const std::string& key) {
  auto req = policyd::encode_socketmap_request(name, key);
  if (!req) {
    return make_error(req.error());
  }
  if (!m_client.send(*req)) {
    return make_error(std::string("send: ") + std::strerror(errno));
  }
  return Ok{};
}

Expected<std::string> SocketmapClient::read_reply() {
  for (;;) {
    policyd::NetstringDecoder decoder(policyd::k_socketmap_max_reply);
    std::vector<std::string> out;
    // Decode from the buffered bytes: find one complete netstring.
    auto colon = m_buffer.find(':');
    if (colon != std::string::npos) {
      std::size_t len = 0;
      bool digits = colon > 0;
      for (std::size_t i = 0; i < colon; ++i) {
        if (m_buffer[i] < '0' || m_buffer[i] > '9') {
          digits = false;
          break;
        }
        len = len * 10 + static_cast<std::size_t>(m_buffer[i] - '0');
      }
      if (!digits) {
        return make_error("bad netstring from server: " + m_buffer.substr(0, 40));
      }
      if (m_buffer.size() >= colon + 1 + len + 1) {
        std::string whole = m_buffer.substr(0, colon + 1 + len + 1);
        m_buffer.erase(0, whole.size());
        if (!decoder.feed(whole, out) || out.size() != 1) {
          return make_error("bad netstring from server: " + whole.substr(0, 40));
        }
        return out[0];
      }
    }
    auto more = m_client.receive_some();
    if (!more) {
      return make_error("no reply (timeout or error)");
    }
    if (more->empty()) {
      return make_error("connection closed by the server");
    }
    m_buffer += *more;
  }
}

Expected<std::string> SocketmapClient::query(const std::string& name, const std::string& key) {
  if (auto st = send_query(name, key); !st) {
    return make_error(st.error());
  }
  return read_reply();
}

Expected<std::string> TcpTableClient::get(const std::string& key) {
  auto req = policyd::encode_tcp_table_request(key);
  if (!req) {
    return make_error(req.error());
  }
  if (!m_client.send(*req)) {
    return make_error(std::string("send: ") + std::strerror(errno));
  }
  auto line = m_client.read_until(m_buffer, "\n");
  if (!line) {
    return make_error(line.error());
  }
  line->pop_back();
  auto reply = policyd::parse_tcp_table_reply(*line);
  if (!reply) {
    return make_error("bad tcp_table reply '" + *line + "': " + reply.error());
  }
  return std::to_string(static_cast<int>(reply->status)) + " " + reply->text;
}

Expected<std::string> PolicyClient::ask(const std::vector<std::pair<std::string, std::string>>& attributes) {
  auto req = policyd::encode_policy_request(attributes);
  if (!req) {
    return make_error(req.error());
  }
  if (!m_client.send(*req)) {
    return make_error(std::string("send: ") + std::strerror(errno));
  }
  auto reply = m_client.read_until(m_buffer, "\n\n");
  if (!reply) {
    return make_error(reply.error());
  }
  auto action = policyd::parse_policy_reply(*reply);
  if (!action) {
    return make_error("bad policy reply '" + *reply + "': " + action.error());
  }
  return *action;
}

Expected<std::string> PolicyClient::ask_recipient(const std::string& recipient) {
  return ask({{"request", "smtpd_access_policy"},
              {"protocol_state", "RCPT"},
              {"protocol_name", "ESMTP"},
              {"client_address", "192.0.2.1"},
              {"client_name", "client.example"},
              {"helo_name", "client.example"},
              {"sender", "sender@example.org"},
              {"recipient", recipient},
              {"queue_id", ""},
              {"instance", "123.456.7"},
              {"size", "0"}});
}

} // namespace dane::test
