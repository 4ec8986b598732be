// smtp_server.hpp — a real STARTTLS SMTP server for tests (namespace dane::test).
//
// SmtpServer listens on a real TCP socket (a chosen 127.x.y.z address, port 0 = a free
// port picked by the kernel) and serves each connection in its own thread until the
// client leaves or the server is destroyed. With TLS it presents the given private key
// and certificate chain (PEM files, chain leaf first: exactly what it sends, so
// `leaf-p256.chain.pem` sends leaf + intermediate and `leaf-p256.crt` only the leaf; see
// tests/data/pki/README.md).
//
// Dialogue (plaintext and after TLS): 220 greeting; EHLO -> multi-line 250 (STARTTLS
// listed before TLS when the behaviour offers it); HELO, NOOP, RSET, MAIL, RCPT -> 250;
// DATA -> 354, message up to "." -> 250 (counted, kept); QUIT -> 221 and close; STARTTLS
// -> 220 + TLS handshake (or 454/502 by behaviour); anything else -> 502.
//
// Stability: other components' tests (daemon, rollover, ...) use this; extend, do not
// change. Bounds: lines are cut at 4096 bytes, a message at 1 MiB, an idle connection is
// dropped after 60 s; the destructor closes the listener and every open connection
// (shutdown(2) wakes blocked threads) and joins every thread, so a test never hangs on it.
// Errors at start-up (unreadable key/chain, key not matching the certificate, bind
// failure) throw std::runtime_error with the reason.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

#include "process.hpp"

namespace dane::test {

enum class SmtpBehaviour {
  StartTls,            // normal: STARTTLS offered, handshake, then the SMTP sink over TLS
  NoStartTls,          // EHLO does not list STARTTLS; a STARTTLS command gets 502
  Silent,              // accepts TCP and never sends a byte (until the client closes or the server stops)
  MultiLineBanner,     // like StartTls, with a three-line 220 greeting ("220-...", "220-...", "220 ...")
  RefuseStartTls,      // lists STARTTLS, answers the command with 454 (TLS not available)
  StallHandshake,      // answers STARTTLS with 220, then never takes part in the TLS handshake
  InjectAfterStartTls, // answers STARTTLS with "220 ..." plus a pipelined "250 ..." line, then closes
};

struct SmtpServerOptions {
  std::string address = "127.0.0.1"; // IPv4 or IPv6 literal to listen on
  std::uint16_t port = 0;            // 0: a free port chosen by the kernel
  std::string key_file;              // PEM private key (needed unless NoStartTls / Silent)
  std::string chain_file;            // PEM certificate chain, leaf first, sent as is
  SmtpBehaviour behaviour = SmtpBehaviour::StartTls;
  std::string hostname = "mx.example.test"; // in the greeting and the EHLO reply
};

class SmtpServer {
public:
  explicit SmtpServer(SmtpServerOptions options); // starts listening and serving; throws on failure
  ~SmtpServer();                                  // stop()
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  const std::string& address() const { return m_options.address; }
  std::uint16_t port() const { return m_port; }

  // Serve another key + chain to connections accepted from now on (rollover tests). Throws on bad files.
  void set_credentials(const std::string& key_file, const std::string& chain_file);
  // Change the behaviour for connections accepted from now on.
  void set_behaviour(SmtpBehaviour behaviour);

  // Counters and observations (thread-safe).
  std::size_t connections() const { return m_connections.load(); }   // TCP connections accepted
  std::size_t tls_handshakes() const { return m_handshakes.load(); } // TLS handshakes completed
  std::size_t quits() const { return m_quits.load(); }               // QUIT commands received
  std::string last_sni() const;                                      // SNI of the latest handshake, "" if none
  std::vector<std::string> messages() const;                         // message bodies received via DATA

  // Closes the listener and every open connection, joins all threads. Idempotent.
  void stop();

private:
  struct Shared;
  void accept_loop();
  void serve(int fd);

  SmtpServerOptions m_options;
  std::uint16_t m_port = 0;
  int m_listen_fd = -1;
  int m_wake_fd = -1; // eventfd: wakes the accept loop and plaintext waits on stop()
  std::atomic<bool> m_stopping{false};
  std::atomic<std::size_t> m_connections{0};
  std::atomic<std::size_t> m_handshakes{0};
  std::atomic<std::size_t> m_quits{0};
  mutable std::mutex m_mutex; // guards everything below
  std::shared_ptr<SSL_CTX> m_ctx;
  SmtpBehaviour m_behaviour;
  std::string m_last_sni;
  std::vector<std::string> m_messages;
  std::vector<int> m_open_fds;
  std::vector<std::thread> m_workers;
  std::thread m_acceptor;
};

// Starts one server per options entry, all on the same port (on different addresses), as
// needed when a single `--port` applies to several MX hosts. The first entry's port (0 =
// pick) decides; retries a few times with a fresh port when another address has it taken.
std::vector<std::unique_ptr<SmtpServer>> start_on_common_port(std::vector<SmtpServerOptions> options);

// Unique 127.x.y.z addresses for servers: dane::test::unique_loopback_address() in dns_rig.hpp.

// A TCP port on `address` where nothing listens: bound (so nobody else gets it) but never
// listening, so connecting is refused while this object lives. port 0: any free port.
// Throws std::runtime_error when the port cannot be bound.
class ClosedPort {
public:
  explicit ClosedPort(const std::string& address = "127.0.0.1", std::uint16_t port = 0);
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::uint16_t port() const { return m_port; }

private:
  int m_fd = -1;
  std::uint16_t m_port = 0;
};

// run_process() and ProcessResult: see process.hpp.

// Cross-check with OpenSSL's own client: `openssl s_client -starttls smtp -connect ADDR:PORT
// -servername BASE -dane_tlsa_domain BASE -dane_tlsa_rrdata "U S M HEX"... -dane_ee_no_namechecks
// -verify_return_error` (SMTP semantics). `verified` is true when it exited 0 after printing
// "Verification: OK" / "Verify return code: 0".
struct SClientVerdict {
  bool ran = false; // openssl found and the process finished before `limit`
  bool verified = false;
  int verify_error = 0; // N of the first "verify error:num=N" line (an X509_V_* code), 0 if none
  ProcessResult process;
};
SClientVerdict openssl_s_client_dane(const std::string& address, std::uint16_t port, const std::string& tlsa_base,
                                     const std::vector<std::string>& tlsa_records,
                                     std::chrono::milliseconds limit = std::chrono::seconds(20));

} // namespace dane::test
