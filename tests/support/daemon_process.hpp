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
// DaemonOptions add what systemd would give it: extra environment (NOTIFY_SOCKET=...), listening
// sockets handed over at fds 3, 4, ... with LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID (= the
// daemon's pid; with a `prefix` the prefix must exec into the daemon), JOURNAL_STREAM naming the
// output file (StandardError=journal), and a start that does not wait for the "ready:" line
// (when it is logged elsewhere, e.g. to syslog). Spawning: ChildProcess (process.hpp).
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
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace dane::test {

struct DaemonOptions {
  std::chrono::seconds ready_timeout = std::chrono::seconds(60);
  std::vector<std::string> prefix; // e.g. an unshare(1) or setpriv(1) wrapper that execs the daemon
  Environment env;                 // extra environment, e.g. {"NOTIFY_SOCKET", path}
  std::vector<int> listen_fds;     // handed over at 3, 4, ... with LISTEN_FDS and LISTEN_PID
  std::string listen_fdnames;      // LISTEN_FDNAMES ("" = not set)
  std::string output_path;         // stdout+stderr ("" = output.log in the private dir)
  bool journal_stream = false;     // JOURNAL_STREAM=DEV:INODE of the output file
  bool wait_ready = true;          // wait for "dane-policyd: ready:" in the output
};

class DaemonProcess {
public:
  // Runs PREFIX... $DANE_POLICYD --foreground ARGS... (`prefix`: e.g. an unshare(1) wrapper).
  static Expected<std::unique_ptr<DaemonProcess>> start(const std::vector<std::string>& args,
                                                        std::chrono::seconds ready_timeout = std::chrono::seconds(60),
                                                        const std::vector<std::string>& prefix = {});
  static Expected<std::unique_ptr<DaemonProcess>> start(const std::vector<std::string>& args,
                                                        const DaemonOptions& options);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return m_child.pid(); }
  const std::string& dir() const { return m_dir->path(); } // private temp dir (removed by the destructor)
  std::string output() const;                              // stdout+stderr so far
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
  std::unique_ptr<TempDir> m_dir;
  std::string m_output_path;
  mutable ChildProcess m_child;
};

// Path of the dane-policyd binary ($DANE_POLICYD, else the build tree's).
std::string dane_policyd_path();
// DaemonTempDir (a private temp dir removed on destruction): temp_dir.hpp.

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

// read_text_file(), read_text_lines(): files.hpp.

} // namespace dane::test
