// Live SMTP STARTTLS probe with OpenSSL's DANE engine (contract: dane/probe.hpp).
//
// All socket I/O is non-blocking and waits in poll() against a per-step deadline,
// for the plaintext SMTP dialogue and for TLS alike, so no step can hang.
//
// file-size: about 670 lines, one unit: the blocking SMTP connection class and the probe steps that drive
// it share their failure type and deadlines. The asynchronous engine (a later change) replaces the
// blocking connection; split the connection out then rather than twice.
#include "dane/verifier/probe.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dane/core/fd.hpp"
#include "dane/core/text.hpp"
#include "dane/core/time.hpp"
#include "dane/verifier/dane_profile.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/openssl_error.hpp"
#include "presented_chain.hpp"

namespace dane {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t k_max_reply_bytes = std::size_t{64} * 1024;
constexpr std::chrono::milliseconds k_max_quit_wait{3000};

// A step failed: the result it maps to and why.
struct StepFailure {
  ProbeResult result;
  std::string reason;
};

struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines; // text after "NNN-" / "NNN "
};

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer (may not use buf).
  const char* text = strerror_r(err, buf, sizeof buf);
  return text;
}

long remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : left + 1; // round up so we never spin at the edge
}

// Waits until `fd` is ready for `events`. Returns 1 ready, 0 timed out, -1 error (errno set).
int wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    if (Clock::now() >= deadline) {
      return 0;
    }
    pollfd pfd{fd, events, 0};
    long ms = remaining_ms(deadline);
    int r = ::poll(&pfd, 1, static_cast<int>(std::min<long>(ms, 60000)));
    if (r > 0) {
      return 1; // readiness or an error/hangup condition: the next I/O call tells which
    }
    if (r < 0 && errno != EINTR) {
      return -1;
    }
  }
}

std::string format_ms(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

// Blocks SIGPIPE in the calling thread while alive (writes to a reset connection then
// fail with EPIPE instead of killing the process); consumes any SIGPIPE it caused.
class SigpipeBlock {
public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    m_was_pending = sigismember(&pending, SIGPIPE) == 1;
    m_active = pthread_sigmask(SIG_BLOCK, &set, &m_old) == 0;
  }
  ~SigpipeBlock() {
    if (!m_active) {
      return;
    }
    if (!m_was_pending) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      timespec zero{0, 0};
      while (sigtimedwait(&set, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

private:
  sigset_t m_old{};
  bool m_active = false;
  bool m_was_pending = false;
};

// One SMTP client connection: plaintext line I/O, then TLS over the same socket.
class SmtpConnection {
public:
  explicit SmtpConnection(std::chrono::milliseconds step_timeout) : m_timeout(step_timeout) {}

  Clock::time_point step_deadline() const { return Clock::now() + m_timeout; }

  std::optional<StepFailure> connect(const std::string& address, std::uint16_t port) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      length = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
      family = AF_INET6;
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      length = sizeof(sockaddr_in6);
    } else {
      return StepFailure{ProbeResult::ConnectFailed, "'" + address + "' is not an IPv4 or IPv6 address"};
    }
    m_fd = Fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_fd) {
      return StepFailure{ProbeResult::ConnectFailed, "socket: " + errno_text(errno)};
    }
    int one = 1;
    ::setsockopt(m_fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto deadline = step_deadline();
    if (::connect(m_fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
      if (errno != EINPROGRESS) {
        return StepFailure{ProbeResult::ConnectFailed, "connect: " + errno_text(errno)};
      }
      int ready = wait_fd(m_fd.get(), POLLOUT, deadline);
      if (ready == 0) {
        return StepFailure{ProbeResult::ConnectFailed, "connect timed out after " + format_ms(m_timeout)};
      }
      if (ready < 0) {
        return StepFailure{ProbeResult::ConnectFailed, "connect: poll: " + errno_text(errno)};
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(m_fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
      if (err != 0) {
        return StepFailure{ProbeResult::ConnectFailed, "connect: " + errno_text(err)};
      }
    }
    return std::nullopt;
  }

  // Sends a command line ("EHLO x"; CRLF is appended) in plaintext.
  std::optional<StepFailure> send_line(const std::string& line, ProbeResult on_failure) {
    std::string data = line + "\r\n";
    auto deadline = step_deadline();
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(m_fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        int ready = wait_fd(m_fd.get(), POLLOUT, deadline);
        if (ready == 0) {
          return StepFailure{on_failure, "timed out after " + format_ms(m_timeout) + " sending " + first_word(line)};
        }
        if (ready < 0) {
          return StepFailure{on_failure, "poll: " + errno_text(errno)};
        }
        continue;
      }
      return StepFailure{on_failure, "sending " + first_word(line) + ": " + errno_text(errno)};
    }
    return std::nullopt;
  }

  // Reads one complete (possibly multi-line) plaintext SMTP reply.
  Expected<SmtpReply> read_reply(const std::string& waiting_for) {
    auto deadline = step_deadline();
    SmtpReply reply;
    for (;;) {
      // Consume complete lines from the buffer.
      std::size_t eol = 0;
      while ((eol = m_in.find('\n')) != std::string::npos) {
        std::string line = m_in.substr(0, eol);
        m_in.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
          return make_error("malformed SMTP reply line while waiting for " + waiting_for + ": '" + printable(line) +
                            "'");
        }
        reply.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        reply.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
        if (line.size() == 3 || line[3] == ' ') {
          return reply;
        }
      }
      if (m_in.size() + m_received_in_reply > k_max_reply_bytes) {
        return make_error("SMTP reply longer than " + std::to_string(k_max_reply_bytes) + " bytes while waiting for " +
                          waiting_for);
      }
      char buf[4096];
      ssize_t n = ::recv(m_fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        m_in.append(buf, static_cast<std::size_t>(n));
        m_received_in_reply += static_cast<std::size_t>(n);
        continue;
      }
      if (n == 0) {
        return make_error("connection closed by the server while waiting for " + waiting_for);
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        int ready = wait_fd(m_fd.get(), POLLIN, deadline);
        if (ready == 0) {
          return make_error("timed out after " + format_ms(m_timeout) + " waiting for " + waiting_for);
        }
        if (ready < 0) {
          return make_error("poll: " + errno_text(errno));
        }
        continue;
      }
      return make_error("reading " + waiting_for + ": " + errno_text(errno));
    }
  }

  void start_reply() { m_received_in_reply = 0; }
  bool has_buffered_input() const { return !m_in.empty(); }
  int fd() const { return m_fd.get(); }

  // Drives a non-blocking OpenSSL call (connect, write, read, shutdown) to completion or the deadline.
  // Returns the call's positive result, or an error text.
  template <typename Call> Expected<int> drive_ssl(SSL* ssl, Clock::time_point deadline, Call call) {
    for (;;) {
      ERR_clear_error();
      errno = 0;
      int r = call();
      if (r > 0) {
        return r;
      }
      int err = SSL_get_error(ssl, r);
      short events = 0;
      if (err == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (err == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (err == SSL_ERROR_ZERO_RETURN) {
        return make_error("TLS connection closed by the server");
      } else if (err == SSL_ERROR_SYSCALL) {
        int saved = errno;
        if (ERR_peek_error() != 0) {
          return make_error(openssl_error_text("TLS I/O"));
        }
        return make_error(saved != 0 ? errno_text(saved) : std::string("connection closed by the server"));
      } else {
        return make_error(ERR_peek_error() != 0 ? openssl_error_text("TLS I/O") : "TLS error " + std::to_string(err));
      }
      int ready = wait_fd(m_fd.get(), events, deadline);
      if (ready == 0) {
        return make_error("timed out after " + format_ms(m_timeout));
      }
      if (ready < 0) {
        return make_error("poll: " + errno_text(errno));
      }
    }
  }

  std::chrono::milliseconds timeout() const { return m_timeout; }

  static std::string first_word(const std::string& line) { return line.substr(0, line.find(' ')); }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  static std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) {
      out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
  }

private:
  std::chrono::milliseconds m_timeout;
  Fd m_fd;
  std::string m_in;
  std::size_t m_received_in_reply = 0;
};

std::string reply_text(const SmtpReply& reply) {
  std::string text = std::to_string(reply.code);
  if (!reply.lines.empty()) {
    text += " " + SmtpConnection::printable(reply.lines.front());
  }
  return text;
}

bool offers_starttls(const SmtpReply& ehlo) {
  // The first line is the greeting; keywords follow (RFC 5321 §4.1.1.1).
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string keyword = ehlo.lines[i].substr(0, ehlo.lines[i].find(' '));
    std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (keyword == "STARTTLS") {
      return true;
    }
  }
  return false;
}

// Classifies the handshake's verification outcome (SSL_VERIFY_NONE was in force).
void classify_dane(SSL* ssl, const std::vector<std::string>& reference_names, ProbeReport& report) {
  long verify = SSL_get_verify_result(ssl);
  report.x509_error = static_cast<int>(verify);
  int depth = SSL_get0_dane_authority(ssl, nullptr, nullptr);
  if (verify == X509_V_OK && depth >= 0) {
    report.matched = dane_matched_record(ssl);
    report.depth = depth;
    report.result = ProbeResult::Pass;
    report.authenticated = true;
    report.reason = "Matched " +
                    (report.matched ? usage_name(report.matched->usage) + " " + report.matched->short_string()
                                    : std::string("a TLSA record")) +
                    " at depth " + std::to_string(depth);
    return;
  }
  std::string error_text = X509_verify_cert_error_string(verify);
  // One classification for the probe and the offline check (dane_profile.hpp).
  const MatchFailure failure = classify_verify_error(verify);
  report.result = probe_result_for(failure);
  switch (failure) {
  case MatchFailure::None:
    report.reason = "chain verified without a DANE match";
    break;
  case MatchFailure::NameMismatch:
    report.reason = "DANE-TA: none of the reference names (" + join(reference_names, ", ") +
                    ") matches the certificate (subject " + report.leaf_subject +
                    (report.leaf_san.empty() ? std::string() : ", SAN " + join(report.leaf_san, ", ")) + ")";
    break;
  case MatchFailure::Expired:
    report.reason =
        "DANE-TA: " + error_text + " (leaf valid " + report.leaf_not_before + " .. " + report.leaf_not_after + ")";
    break;
  case MatchFailure::NoMatch:
    report.reason = "no TLSA record matches the presented chain (" + std::to_string(report.usable_records) +
                    " usable record" + (report.usable_records == 1 ? "" : "s") + ")";
    break;
  case MatchFailure::ChainError:
    report.reason = "TLSA records do not authenticate the chain: " + error_text;
    break;
  }
}

// The plaintext part: greeting, EHLO, STARTTLS. Records the banner.
std::optional<StepFailure> smtp_until_starttls(SmtpConnection& conn, const ProbeRequest& request, ProbeReport& report) {
  conn.start_reply();
  auto banner = conn.read_reply("the 220 greeting");
  if (!banner) {
    return StepFailure{ProbeResult::ConnectFailed, banner.error()};
  }
  if (!banner->lines.empty()) {
    report.banner = SmtpConnection::printable(banner->lines.front());
  }
  if (banner->code != 220) {
    return StepFailure{ProbeResult::ConnectFailed, "server greeted with " + reply_text(*banner)};
  }

  if (auto failure = conn.send_line("EHLO " + request.helo_name, ProbeResult::ConnectFailed)) {
    return failure;
  }
  conn.start_reply();
  auto ehlo = conn.read_reply("the EHLO reply");
  if (!ehlo) {
    return StepFailure{ProbeResult::ConnectFailed, ehlo.error()};
  }
  if (ehlo->code != 250) {
    return StepFailure{ProbeResult::StarttlsNotOffered, "EHLO refused: " + reply_text(*ehlo)};
  }
  if (!offers_starttls(*ehlo)) {
    return StepFailure{ProbeResult::StarttlsNotOffered, "the EHLO reply does not offer STARTTLS"};
  }

  if (auto failure = conn.send_line("STARTTLS", ProbeResult::TlsFailed)) {
    return failure;
  }
  conn.start_reply();
  auto starttls = conn.read_reply("the STARTTLS reply");
  if (!starttls) {
    return StepFailure{ProbeResult::TlsFailed, starttls.error()};
  }
  if (starttls->code != 220) {
    return StepFailure{ProbeResult::TlsFailed, "STARTTLS refused: " + reply_text(*starttls)};
  }
  if (conn.has_buffered_input()) {
    // RFC 3207 §4.2 / CVE-2011-0411 class: nothing may precede the handshake.
    return StepFailure{ProbeResult::TlsFailed, "server sent plaintext after the STARTTLS reply (possible injection)"};
  }
  return std::nullopt;
}

// The TLSA base domain first, then the other reference names, without duplicates.
std::vector<std::string> reference_names_of(const ProbeRequest& request) {
  std::vector<std::string> names;
  if (!request.tlsa_base.empty()) {
    names.push_back(request.tlsa_base);
  }
  for (const auto& name : request.reference_names) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  }
  return names;
}

// DANE on `ssl` when some record is usable (sets `dane`), else just SNI.
std::optional<StepFailure> set_up_dane(SSL* ssl, const ProbeRequest& request,
                                       const std::vector<std::string>& reference_names, ProbeReport& report,
                                       bool& dane) {
  std::vector<const TlsaRecord*> usable;
  for (const auto& record : request.tlsa) {
    if (smtp_usability(record) == TlsaUsability::Usable) {
      usable.push_back(&record);
    }
  }
  dane = !usable.empty();
  if (dane) {
    if (request.tlsa_base.empty()) {
      return StepFailure{ProbeResult::TlsFailed, "no TLSA base domain given for DANE"};
    }
    // Also sets SNI; reference_names starts with the base domain.
    auto added = apply_smtp_dane(ssl, request.tlsa_base, reference_names, usable);
    if (!added) {
      return StepFailure{ProbeResult::TlsFailed, added.error()};
    }
    report.usable_records = static_cast<std::size_t>(added->usable);
    if (report.usable_records == 0) {
      // OpenSSL rejected every record (e.g. "3 1 0" data that is no SPKI): like an all-unusable RRset.
      dane = false;
    }
  }
  if (!dane && !request.tlsa_base.empty()) {
    // SSL_set_tlsext_host_name() spelled out: the macro uses a C cast (-Werror=old-style-cast).
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(request.tlsa_base.c_str()));
  }
  return std::nullopt;
}

// QUIT politely; the verdict is already settled, so nothing here can change it.
void quit_politely(SmtpConnection& conn, SSL* ssl, std::chrono::milliseconds timeout) {
  auto quit_deadline = Clock::now() + std::min(timeout, k_max_quit_wait);
  static constexpr char k_quit[] = "QUIT\r\n";
  auto wrote =
      conn.drive_ssl(ssl, quit_deadline, [&] { return SSL_write(ssl, k_quit, static_cast<int>(sizeof k_quit - 1)); });
  if (wrote) {
    char buf[512];
    std::string reply;
    while (reply.find('\n') == std::string::npos && reply.size() < 4096) {
      auto got = conn.drive_ssl(ssl, quit_deadline, [&] { return SSL_read(ssl, buf, static_cast<int>(sizeof buf)); });
      if (!got) {
        break;
      }
      reply.append(buf, static_cast<std::size_t>(*got));
    }
    ERR_clear_error();
    SSL_shutdown(ssl); // one non-blocking attempt; the server may already be gone
  }
  ERR_clear_error();
}

// PKIX mode: the trust store on the context, SNI and the host name check on the session. The handshake
// still runs with SSL_VERIFY_NONE (the chain is captured); classify_pkix() reads the result.
std::optional<StepFailure> set_up_pkix(SSL_CTX* ctx, SSL* ssl, const ProbeRequest& request) {
  const std::string& ca_file = *request.pkix_ca_file;
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                     : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return StepFailure{ProbeResult::TlsFailed, "cannot load the trust store " +
                                                   (ca_file.empty() ? std::string("(system default)") : ca_file) +
                                                   ": " + openssl_error_text("load_verify_locations")};
  }
  if (request.tlsa_base.empty() || SSL_set1_host(ssl, request.tlsa_base.c_str()) != 1) {
    return StepFailure{ProbeResult::TlsFailed, "no MX host name to check the certificate against"};
  }
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(request.tlsa_base.c_str()));
  return std::nullopt;
}

void classify_pkix(SSL* ssl, const ProbeRequest& request, ProbeReport& report) {
  const long verify = SSL_get_verify_result(ssl);
  report.x509_error = static_cast<int>(verify);
  const std::string error_text = X509_verify_cert_error_string(verify);
  switch (verify) {
  case X509_V_OK:
    report.result = ProbeResult::Pass;
    report.authenticated = true;
    report.reason = "PKIX: the chain is trusted and the certificate is valid for " + request.tlsa_base;
    return;
  case X509_V_ERR_HOSTNAME_MISMATCH:
    report.result = ProbeResult::NameMismatch;
    report.reason = "PKIX: the certificate is not valid for " + request.tlsa_base + " (subject " + report.leaf_subject +
                    (report.leaf_san.empty() ? std::string() : ", SAN " + join(report.leaf_san, ", ")) + ")";
    return;
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID:
    report.result = ProbeResult::CertExpired;
    report.reason =
        "PKIX: " + error_text + " (leaf valid " + report.leaf_not_before + " .. " + report.leaf_not_after + ")";
    return;
  default:
    report.result = ProbeResult::CertUntrusted;
    report.reason = "PKIX: chain not trusted: " + error_text;
    return;
  }
}

// TLS with DANE, through the one SMTP DANE profile (dane_profile.hpp), then the verdict.
std::optional<StepFailure> tls_with_dane(SmtpConnection& conn, const ProbeRequest& request, ProbeReport& report) {
  auto ctx = new_dane_client_ctx();
  if (!ctx) {
    return StepFailure{ProbeResult::TlsFailed, ctx.error()};
  }
  SslPtr ssl(SSL_new(ctx->get()));
  if (!ssl) {
    return StepFailure{ProbeResult::TlsFailed, "cannot create a TLS session: " + openssl_error_text("SSL_new")};
  }
  const std::vector<std::string> reference_names = reference_names_of(request);
  bool dane = false;
  const bool pkix = request.pkix_ca_file.has_value();
  if (auto failure = pkix ? set_up_pkix(ctx->get(), ssl.get(), request)
                          : set_up_dane(ssl.get(), request, reference_names, report, dane)) {
    return failure;
  }
  if (SSL_set_fd(ssl.get(), conn.fd()) != 1) {
    return StepFailure{ProbeResult::TlsFailed, "cannot attach the socket to TLS: " + openssl_error_text("SSL_set_fd")};
  }
  auto handshake = conn.drive_ssl(ssl.get(), conn.step_deadline(), [&] { return SSL_connect(ssl.get()); });
  if (!handshake) {
    return StepFailure{ProbeResult::TlsFailed, "TLS handshake failed: " + handshake.error()};
  }
  report.tls_version = SSL_get_version(ssl.get());
  if (const char* cipher = SSL_get_cipher_name(ssl.get())) {
    report.cipher = cipher;
  }
  detail::describe_chain(ssl.get(), report);
  if (pkix) {
    classify_pkix(ssl.get(), request, report);
  } else if (dane) {
    classify_dane(ssl.get(), reference_names, report);
  } else {
    report.result = ProbeResult::Pass;
    report.reason = request.tlsa.empty() ? "TLS established; no TLSA records, not authenticated"
                                         : "TLS established; no TLSA record is usable for SMTP, not authenticated";
  }
  quit_politely(conn, ssl.get(), request.timeout);
  return std::nullopt;
}

void run_probe(const ProbeRequest& request, ProbeReport& report) {
  SmtpConnection conn(request.timeout);
  auto failure = conn.connect(request.address, request.port);
  if (!failure) {
    failure = smtp_until_starttls(conn, request, report);
  }
  if (!failure) {
    failure = tls_with_dane(conn, request, report);
  }
  if (failure) {
    report.result = failure->result;
    report.reason = std::move(failure->reason);
  }
}

} // namespace

std::string to_string(ProbeResult result) {
  switch (result) {
  case ProbeResult::Pass:
    return "pass";
  case ProbeResult::TlsaMismatch:
    return "tlsa-mismatch";
  case ProbeResult::NameMismatch:
    return "name-mismatch";
  case ProbeResult::CertExpired:
    return "cert-expired";
  case ProbeResult::StarttlsNotOffered:
    return "starttls-not-offered";
  case ProbeResult::ConnectFailed:
    return "connect-failed";
  case ProbeResult::TlsFailed:
    return "tls-failed";
  case ProbeResult::CertUntrusted:
    return "cert-untrusted";
  case ProbeResult::MxMismatch:
    return "mx-mismatch";
  }
  return "tls-failed";
}

ProbeReport probe(const ProbeRequest& request) {
  SigpipeBlock sigpipe;
  ProbeReport report;
  report.address = request.address;
  report.port = request.port;
  run_probe(request, report);
  ERR_clear_error();
  return report;
}

std::vector<ProbeReport> probe_all(const std::vector<ProbeRequest>& requests, std::size_t max_in_flight) {
  std::vector<ProbeReport> reports(requests.size());
  if (requests.empty()) {
    return reports;
  }
  std::size_t workers = std::clamp<std::size_t>(max_in_flight, 1, requests.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < requests.size(); i = next.fetch_add(1)) {
      reports[i] = probe(requests[i]);
    }
  };
  if (workers == 1) {
    work();
    return reports;
  }
  std::vector<std::jthread> threads;
  threads.reserve(workers - 1);
  for (std::size_t i = 0; i + 1 < workers; ++i) {
    threads.emplace_back(work);
  }
  work(); // the caller's thread is one of the workers
  return reports;
}

} // namespace dane
