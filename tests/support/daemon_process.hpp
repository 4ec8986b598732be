// daemon_process.hpp — run the real dane-policyd binary in tests, and talk to it.
//
// DaemonProcess::start() spawns $DANE_POLICYD --foreground [--config /dev/null] ARGS... (the
// machine's default configuration file is never read unless ARGS name a --config; stdout/stderr
// captured to a file in a private temp dir), and waits until the daemon prints its
// "ready:" line (or exits: then start() fails with its stderr). The "ready:" line
// lists what is served ("socketmap inet:127.0.0.1:41235"), so tests bind port 0
// and read the real port with tcp_port(). The destructor kills the daemon
// (SIGKILL) if it still runs; the child also dies with the test process
// (PR_SET_PDEATHSIG). stop() sends SIGTERM and returns the exit status.
//
// Clients: blocking sockets with a receive timeout (a hung daemon fails the test
// instead of hanging it). SocketmapClient / TcpTableClient / PolicyClient speak the
// protocols through the codecs' client-side encoders and decoders; RawClient sends
// arbitrary bytes. Not thread-safe per object; use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "dane/core/expected.hpp"

namespace dane::test {

class DaemonProcess {
public:
  // Runs PREFIX... $DANE_POLICYD --foreground ARGS... (`prefix`: e.g. an unshare(1) wrapper).
  static Expected<std::unique_ptr<DaemonProcess>> start(const std::vector<std::string>& args,
                                                         std::chrono::seconds ready_timeout = std::chrono::seconds(60),
                                                         const std::vector<std::string>& prefix = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return m_pid; }
  const std::string& dir() const { return m_dir; } // private temp dir (removed by the destructor)
  std::string output() const;                      // stdout+stderr so far
  // Port of the first listener of `protocol` ("socketmap", "tcp_table", "policy") on inet, from the ready line.
  std::optional<std::uint16_t> tcp_port(const std::string& protocol) const;
  void signal(int signo) const;
  // Waits until the output contains `needle` (true) or the daemon exits / the timeout passes (false).
  bool wait_for_output(const std::string& needle, std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  // SIGTERM (or `signo`), then wait for exit; returns the exit status (128+N when killed by signal N).
  int stop(int signo = 15, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Wait for exit without signalling; nullopt on timeout.
  std::optional<int> wait(std::chrono::seconds timeout);
  bool running();

private:
  DaemonProcess() = default;
  pid_t m_pid = -1;
  std::string m_dir;
  std::string m_output_path;
  std::optional<int> m_status;
};

// Path of the dane-policyd binary ($DANE_POLICYD, else the build tree's).
std::string dane_policyd_path();
// A private temp dir (mkdtemp) removed on destruction.
class DaemonTempDir {
public:
  explicit DaemonTempDir(const std::string& prefix = "dane-test");
  ~DaemonTempDir();
  DaemonTempDir(const DaemonTempDir&) = delete;
  DaemonTempDir& operator=(const DaemonTempDir&) = delete;
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

// A connected stream socket with a receive timeout.
class RawClient {
public:
  static Expected<RawClient> unix_socket(const std::string& path);
  static Expected<RawClient> tcp(const std::string& host, std::uint16_t port);
  // Takes ownership of a connected stream fd (e.g. one end of a socketpair).
  static RawClient adopt(int fd) { return RawClient(fd); }
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  ~RawClient();

  bool send(const std::string& bytes);
  void shutdown_write();
  // Reads what is available (at least one byte, waiting up to the timeout); "" on EOF, nullopt on error/timeout.
  std::optional<std::string> receive_some();
  // Reads into `buffer` until it holds `delimiter`, then takes everything up to and including the
  // delimiter out of it. Errors: timeout, read error, or EOF before the delimiter.
  Expected<std::string> read_until(std::string& buffer, std::string_view delimiter);
  // True when the peer closed the connection (EOF) within the timeout, discarding data.
  bool wait_closed();
  int fd() const { return m_fd; }
  void set_timeout(std::chrono::milliseconds timeout);

private:
  explicit RawClient(int fd);
  int m_fd = -1;
};

// socketmap: "NAME KEY" -> reply payload ("OK dane-only", "NOTFOUND ", "TEMP ...").
class SocketmapClient {
public:
  explicit SocketmapClient(RawClient client) : m_client(std::move(client)) {}
  Expected<std::string> query(const std::string& name, const std::string& key);
  Status send_query(const std::string& name, const std::string& key); // pipelining
  Expected<std::string> read_reply();
  RawClient& raw() { return m_client; }

private:
  RawClient m_client;
  std::string m_buffer;
};

// tcp_table: key -> "200 data" / "500 ..." / "400 ..." (the reply line without '\n', data %XX-decoded).
class TcpTableClient {
public:
  explicit TcpTableClient(RawClient client) : m_client(std::move(client)) {}
  Expected<std::string> get(const std::string& key);
  RawClient& raw() { return m_client; }

private:
  RawClient m_client;
  std::string m_buffer;
};

// policy delegation: attributes -> action text.
class PolicyClient {
public:
  explicit PolicyClient(RawClient client) : m_client(std::move(client)) {}
  Expected<std::string> ask(const std::vector<std::pair<std::string, std::string>>& attributes);
  // A typical RCPT-stage request for `recipient`.
  Expected<std::string> ask_recipient(const std::string& recipient);
  RawClient& raw() { return m_client; }

private:
  RawClient m_client;
  std::string m_buffer;
};

// Reads a whole file ("" when missing).
std::string read_text_file(const std::string& path);
// Lines of a file.
std::vector<std::string> read_text_lines(const std::string& path);

} // namespace dane::test
