// Listeners, sessions and graceful stop of dane-policyd (one Asio I/O thread).
#include "dane/daemon/server.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <variant>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <systemd/sd-daemon.h>

#include "dane/core/fd.hpp"
#include "dane/policy/codecs.hpp"
#include "dane/daemon/connection_poller.hpp"
#include "dane/policy/control.hpp"

namespace asio = boost::asio;
using boost::system::error_code;
using stream_protocol = asio::local::stream_protocol;
using tcp = asio::ip::tcp;

namespace dane::policyd {

// ---------------------------------------------------------------------------------------------------------
// Transports: a byte stream in and out.

class Transport {
public:
  using Handler = std::function<void(const error_code&, std::size_t)>;
  virtual ~Transport() = default;
  // Reads some bytes into `buffer`; the handler gets them, EOF or an error. Never completes inline.
  virtual void async_read(asio::mutable_buffer buffer, Handler handler) = 0;
  // Writes all of `buffer`, which must stay valid until done. Returns true when everything was
  // written at once (the handler is then not called); otherwise the handler is called once the
  // rest is written or writing failed.
  virtual bool write(asio::const_buffer buffer, Handler handler) = 0;
  virtual void close() = 0;
  // Who is at the other end, for control requests (control.hpp). Asked only by them.
  virtual ControlPeer peer() const { return ControlPeer{ControlPeer::Kind::Stdio, std::nullopt}; }
};

namespace {

// errno after a failed non-blocking send()/recv(): try again on the next readiness report?
bool retry_later(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }
error_code errno_code(int err) { return error_code(err, boost::system::system_category()); }

} // namespace

// A client socket served through the ConnectionPoller (connection_poller.hpp explains why):
// one recv() per readiness report, send() straight away, EPOLLOUT only when a send is stuck.
class PolledSocketTransport final : public Transport, private ConnectionPoller::Client {
public:
  PolledSocketTransport(ConnectionPoller& poller, int fd)
      : m_poller(poller), m_fd(fd), m_entry(poller.add(fd, *this)) {}
  ~PolledSocketTransport() override { close(); }
  PolledSocketTransport(const PolledSocketTransport&) = delete;
  PolledSocketTransport& operator=(const PolledSocketTransport&) = delete;

  void async_read(asio::mutable_buffer buffer, Handler handler) override {
    m_read_buffer = buffer;
    m_read_handler = std::move(handler);
    if (!m_fd) {
      fail_later(m_read_handler, asio::error::bad_descriptor);
      return;
    }
    if (int err = m_poller.set_interest(m_entry, m_poller.interest(m_entry) | EPOLLIN); err != 0) {
      fail_later(m_read_handler, errno_code(err));
    }
  }

  bool write(asio::const_buffer buffer, Handler handler) override {
    if (!m_fd) {
      fail_later(handler, asio::error::bad_descriptor);
      return false;
    }
    const auto* data = static_cast<const char*>(buffer.data());
    std::size_t size = buffer.size();
    ssize_t n = ::send(m_fd.get(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0 && static_cast<std::size_t>(n) == size) {
      return true;
    }
    if (n < 0 && !retry_later(errno)) {
      fail_later(handler, errno_code(errno));
      return false;
    }
    std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
    m_write_rest = asio::const_buffer(data + done, size - done);
    m_written = done;
    m_write_handler = std::move(handler);
    if (int err = m_poller.set_interest(m_entry, m_poller.interest(m_entry) | EPOLLOUT); err != 0) {
      fail_later(m_write_handler, errno_code(err));
    }
    return false;
  }

  ControlPeer peer() const override {
    ControlPeer p{ControlPeer::Kind::Inet, std::nullopt};
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (!m_fd || ::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        local.ss_family != AF_UNIX) {
      return p;
    }
    p.kind = ControlPeer::Kind::Unix;
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(m_fd.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &size) == 0 && size == sizeof credentials) {
      p.uid = credentials.uid;
    }
    return p;
  }

  void close() override {
    if (!m_fd) {
      return;
    }
    m_poller.remove(m_entry);
    m_entry = nullptr;
    ::shutdown(m_fd.get(), SHUT_RDWR);
    m_fd.reset();
    // Pending handlers are dropped, not called (the session is closed and ignores them anyway).
    // They hold references to the session that owns this transport, so they go last.
    Handler read = std::move(m_read_handler);
    Handler write = std::move(m_write_handler);
    m_read_handler = nullptr;
    m_write_handler = nullptr;
  }

private:
  void on_ready(std::uint32_t events) override {
    // Completed handlers are called last, after this object's state is settled: they may close
    // the session, and each holds a reference that keeps this transport alive while it runs.
    Handler write_done;
    Handler read_done;
    error_code write_ec;
    error_code read_ec;
    std::size_t read_n = 0;
    constexpr std::uint32_t k_trouble = EPOLLERR | EPOLLHUP;
    if (m_write_handler && (events & (EPOLLOUT | k_trouble)) != 0) {
      while (m_write_rest.size() > 0) {
        ssize_t n = ::send(m_fd.get(), m_write_rest.data(), m_write_rest.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          m_write_rest += static_cast<std::size_t>(n);
          m_written += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && retry_later(errno)) {
          break;
        }
        write_ec = n < 0 ? errno_code(errno) : asio::error::broken_pipe;
        break;
      }
      if (write_ec || m_write_rest.size() == 0) {
        write_done = std::move(m_write_handler);
        m_write_handler = nullptr;
      }
    }
    if (m_read_handler && (events & (EPOLLIN | k_trouble)) != 0) {
      ssize_t n = ::recv(m_fd.get(), m_read_buffer.data(), m_read_buffer.size(), MSG_DONTWAIT);
      if (n >= 0 || !retry_later(errno)) {
        if (n > 0) {
          read_n = static_cast<std::size_t>(n);
        } else {
          read_ec = n == 0 ? error_code(asio::error::eof) : errno_code(errno);
        }
        read_done = std::move(m_read_handler);
        m_read_handler = nullptr;
      }
    }
    // Interest: EPOLLOUT only while a write waits. EPOLLIN is kept after a completed read (the
    // session nearly always reads again at once) and dropped only when readiness finds nobody
    // reading, so the steady request-answer rhythm costs no epoll_ctl.
    std::uint32_t want = m_poller.interest(m_entry);
    if (!m_write_handler) {
      want &= ~static_cast<std::uint32_t>(EPOLLOUT);
    }
    if (!m_read_handler && !read_done) {
      want &= ~static_cast<std::uint32_t>(EPOLLIN);
    }
    m_poller.set_interest(m_entry, want);
    if (write_done) {
      write_done(write_ec, m_written);
    }
    if (read_done) {
      read_done(read_ec, read_n);
    }
  }

  // Reports an error through the I/O queue, never inline.
  void fail_later(Handler& handler, const error_code& ec) {
    asio::post(m_poller.io(), [h = std::move(handler), ec] { h(ec, 0); });
    handler = nullptr;
  }

  ConnectionPoller& m_poller;
  Fd m_fd;
  ConnectionPoller::Entry* m_entry = nullptr;
  asio::mutable_buffer m_read_buffer;
  Handler m_read_handler;
  asio::const_buffer m_write_rest;
  std::size_t m_written = 0;
  Handler m_write_handler;
};

class StdioTransport final : public Transport {
public:
  StdioTransport(asio::io_context& io, int in, int out) : m_in(io, in), m_out(io, out) {}
  void async_read(asio::mutable_buffer buffer, Handler handler) override {
    m_in.async_read_some(buffer, std::move(handler));
  }
  bool write(asio::const_buffer buffer, Handler handler) override {
    asio::async_write(m_out, buffer, std::move(handler));
    return false;
  }
  void close() override {
    error_code ec;
    m_in.cancel(ec);
    m_out.cancel(ec);
    m_in.release(); // fds 0/1 stay open (owned by the process); EOF/exit closes them
    m_out.release();
  }

private:
  asio::posix::stream_descriptor m_in;
  asio::posix::stream_descriptor m_out;
};

// ---------------------------------------------------------------------------------------------------------
// Session: one client connection.

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(Server& server, Protocol protocol, std::unique_ptr<Transport> transport, std::string peer)
      : m_server(server), m_protocol(protocol), m_transport(std::move(transport)), m_peer(std::move(peer)),
        m_idle(server.io()) {
    switch (protocol) {
    case Protocol::Socketmap:
      m_decoder.emplace<SocketmapDecoder>();
      break;
    case Protocol::TcpTable:
      m_decoder.emplace<TcpTableDecoder>();
      break;
    case Protocol::Policy:
      m_decoder.emplace<PolicyDecoder>();
      break;
    }
  }

  void start() {
    m_server.stats().connection_opened();
    touch();
    arm_idle(m_last_activity + m_server.settings().idle_timeout);
    read_more();
  }

  // Server stopping: finish what was asked, then close.
  void drain() { maybe_finish(); }

  void close() {
    if (m_closed) {
      return;
    }
    auto self = shared_from_this(); // keep alive until the end of this call (the transport drops handlers)
    m_closed = true;
    m_idle.cancel();
    m_transport->close();
    m_server.stats().connection_closed();
    m_server.session_closed(this);
  }

private:
  struct Job {
    std::string key;
    std::string direct_reply; // answered without a lookup when `direct`
    bool direct = false;
    std::chrono::steady_clock::time_point received;
    // With `direct`: a control request on the reserved map name (control.hpp) that is run in
    // turn with the lookups before it; `key` is then its destination.
    std::optional<ControlVerb> control{};
  };
  static constexpr std::size_t k_max_queued_jobs = 64;
  // Replies waiting for a client that sends without reading: beyond this, stop reading from it
  // until it catches up, so such a client cannot make the daemon buffer without bound.
  static constexpr std::size_t k_max_pending_output = 256 * 1024;

  void read_more() {
    if (m_reading || m_read_done || m_closed || m_jobs.size() >= k_max_queued_jobs ||
        m_out_pending.size() >= k_max_pending_output) {
      return;
    }
    m_reading = true;
    m_transport->async_read(asio::buffer(m_buffer),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, std::size_t n) {
    m_reading = false;
    if (m_closed) {
      return;
    }
    if (ec) {
      // EOF (possibly a half-close): answer what is pending, then close. Other errors likewise.
      m_read_done = true;
      if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
        m_server.log().message(Severity::Warning, "read error from " + m_peer + ": " + ec.message());
      }
      if (mid_request()) {
        m_server.log().message(Severity::Warning, "connection from " + m_peer + " closed in the middle of a " +
                                                      to_string(m_protocol) + " request");
      }
      maybe_finish();
      return;
    }
    decode(std::string_view(m_buffer.data(), n), touch());
    process_next();
    read_more();
  }

  bool mid_request() const {
    return std::visit(
        [](const auto& d) -> bool {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::monostate>) {
            return false;
          } else {
            return d.mid_request();
          }
        },
        m_decoder);
  }

  void bad_input(const CodecError& error) {
    m_server.stats().protocol_error();
    m_server.log().message(Severity::Warning, "bad " + to_string(m_protocol) + " request from " + m_peer + ": " +
                                                  std::string(dane::policyd::to_string(error.kind)) + ": " +
                                                  error.message + "; closing connection");
    m_read_done = true;
  }

  void decode(std::string_view bytes, std::chrono::steady_clock::time_point now) {
    const Settings& s = m_server.settings();
    if (auto* d = std::get_if<SocketmapDecoder>(&m_decoder)) {
      m_socketmap_requests.clear();
      bool ok = d->feed(bytes, m_socketmap_requests);
      for (auto& r : m_socketmap_requests) {
        m_server.stats().request(Protocol::Socketmap);
        Job job{std::move(r.key), {}, false, now};
        if (r.name == s.stats_name) { // the one test an ordinary lookup pays for control requests
          control_job(job);
        }
        m_jobs.push_back(std::move(job));
      }
      if (!ok && d->error()) {
        bad_input(*d->error());
      }
    } else if (auto* t = std::get_if<TcpTableDecoder>(&m_decoder)) {
      m_tcp_requests.clear();
      bool ok = t->feed(bytes, m_tcp_requests);
      for (auto& r : m_tcp_requests) {
        m_server.stats().request(Protocol::TcpTable);
        m_jobs.push_back(Job{std::move(r.key), {}, false, now});
      }
      if (!ok && t->error()) {
        bad_input(*t->error());
      }
    } else if (auto* p = std::get_if<PolicyDecoder>(&m_decoder)) {
      m_policy_requests.clear();
      bool ok = p->feed(bytes, m_policy_requests);
      for (auto& r : m_policy_requests) {
        m_server.stats().request(Protocol::Policy);
        auto domain = r.recipient_domain();
        if (!domain) {
          m_jobs.push_back(Job{{}, encode_policy_reply("DUNNO"), true, now});
        } else {
          m_jobs.push_back(Job{std::move(*domain), {}, false, now});
        }
      }
      if (!ok && p->error()) {
        bad_input(*p->error());
      }
    }
  }

  // A request on the reserved map name: counters now; the rest in turn (process_next()).
  void control_job(Job& job) {
    auto request = parse_control_request(job.key);
    if (!request) {
      m_server.warn_limited("control-error peer=" + m_peer + ": " + request.error());
      job.direct = true;
      job.direct_reply = encode_socketmap_reply(SocketmapReply{SocketmapStatus::Perm, request.error()});
      return;
    }
    if (request->verb == ControlVerb::Counters) {
      job.direct = true;
      job.direct_reply = encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, m_server.stats().to_json()});
      return;
    }
    job.direct = true;
    job.control = request->verb;
    job.key = std::move(request->destination);
  }

  // Who this client is, in words for log lines: the listener, and the uid when known.
  std::string peer_text(const ControlPeer& peer) const {
    return m_peer + (peer.uid ? " uid=" + std::to_string(*peer.uid) : std::string());
  }

  // Runs flush / flush-all / verdict for a permitted client. True when `job` waits for a verdict.
  bool run_control(const Job& job) {
    const ControlVerb verb = *job.control;
    const ControlPeer peer = m_transport->peer();
    const std::string what = std::string(to_string(verb)) + (job.key.empty() ? "" : " " + job.key);
    if (auto refusal = control_refusal(peer, ::geteuid())) {
      m_server.stats().control_refused();
      m_server.log().message(Severity::Warning, "control-refused request=\"" + what + "\" peer=" + peer_text(peer) +
                                                    ": " + *refusal);
      send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Perm, "control request refused: " + *refusal}),
           job.received);
      return false;
    }
    if (verb == ControlVerb::Verdict) {
      m_server.stats().verdict_asked();
      m_server.service().lookup_detailed(
          job.key, [self = shared_from_this(), job, &io = m_server.io()](const VerdictPtr& v, bool cached) {
            asio::post(io, [self, job, v, cached] { self->answer(job, v, cached); });
          });
      return true;
    }
    std::size_t n = verb == ControlVerb::Flush ? m_server.service().forget(job.key) : m_server.service().forget_all();
    m_server.stats().flushed();
    m_server.log().message(Severity::Info, "control request=\"" + what + "\" forgotten=" + std::to_string(n) +
                                               " peer=" + peer_text(peer));
    nlohmann::json reply = {{"flushed", n}};
    if (verb == ControlVerb::Flush) {
      reply["destination"] = job.key;
    }
    send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, reply.dump()}), job.received);
    return false;
  }

  void process_next() {
    while (!m_busy && !m_jobs.empty() && !m_closed) {
      Job job = std::move(m_jobs.front());
      m_jobs.pop_front();
      if (job.direct) { // ordinary lookups pay this one test for direct and control requests
        if (!job.control) {
          send(job.direct_reply, job.received);
        } else if (run_control(job)) {
          m_busy = true; // answer() follows
          break;
        }
        continue;
      }
      // A cache hit is answered inline, without building a callback; an evaluation calls back
      // from a worker thread later, through the I/O queue.
      auto now = m_server.service().lookup_or_wait(job.key, [this, &job]() -> PolicyService::Done {
        return [self = shared_from_this(), job, &io = m_server.io()](const VerdictPtr& v, bool) {
          asio::post(io, [self, job, v] { self->answer(job, v); });
        };
      });
      if (!now.verdict) {
        m_busy = true; // answer() follows
        break;
      }
      send(reply_for(job, *now.verdict), job.received);
    }
    read_more();
    maybe_finish();
  }

  // One encoder per protocol (dane/policy/answer.hpp); a cache hit's socketmap reply is its stored text.
  std::string reply_for(const Job& job, const Verdict& verdict) {
    switch (m_protocol) {
    case Protocol::Socketmap:
      return encode_socketmap(verdict.view());
    case Protocol::TcpTable:
      return encode_tcp_table(verdict.view());
    case Protocol::Policy: {
      const Settings& s = m_server.settings();
      std::string warning;
      std::string reply = encode_policy_delegation(verdict.view(), job.key,
                                                   {s.policy_failure_action, s.policy_prepend_header}, &warning);
      if (!warning.empty()) {
        m_server.log().message(Severity::Warning, warning);
      }
      return reply;
    }
    }
    return {};
  }

  // An evaluation's result (or a control verdict, always delivered here).
  void answer(const Job& job, const VerdictPtr& verdict, bool cached = false) {
    m_busy = false;
    if (m_closed) {
      return;
    }
    if (job.control) { // the verdict log's rendering, and whether it came from the cache
      VerdictRecord record{std::chrono::system_clock::now(), job.key, m_server.settings().mode, verdict->facts(),
                           verdict->policy_answer(), cached, nullptr, ""};
      send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, render_verdict(record)}), job.received);
    } else {
      send(reply_for(job, *verdict), job.received);
    }
    process_next();
  }

  void send(const std::string& bytes, std::chrono::steady_clock::time_point received) {
    auto now = std::chrono::steady_clock::now();
    m_server.stats().latency(now - received);
    m_last_activity = now; // answering is activity too (one clock read serves both)
    m_out_pending += bytes;
    flush_writes();
  }

  void flush_writes() {
    while (!m_writing && !m_out_pending.empty() && !m_closed) {
      m_out_inflight.swap(m_out_pending);
      m_out_pending.clear();
      m_writing = true;
      bool written = m_transport->write(asio::buffer(m_out_inflight),
                                        [self = shared_from_this()](const error_code& ec, std::size_t) {
                                          self->on_written(ec);
                                        });
      if (!written) {
        return; // on_written() follows
      }
      m_writing = false;
      m_out_inflight.clear();
    }
  }

  void on_written(const error_code& ec) {
    m_writing = false;
    m_out_inflight.clear();
    if (m_closed) {
      return;
    }
    if (ec) {
      m_out_pending.clear();
      m_read_done = true;
      close();
      return;
    }
    touch();
    flush_writes();
    read_more(); // reading may have paused while replies piled up
    maybe_finish();
  }

  void maybe_finish() {
    if (m_closed) {
      return;
    }
    bool finished_input = m_read_done || m_server.stopping();
    if (finished_input && !m_busy && m_jobs.empty() && !m_writing && m_out_pending.empty()) {
      close();
    }
  }

  // Activity only records the time. Re-arming an Asio timer on every request would
  // cost a cancellation and an extra handler each time; instead the one timer
  // fires at the earliest possible idle deadline and re-arms itself for the rest.
  std::chrono::steady_clock::time_point touch() { return m_last_activity = std::chrono::steady_clock::now(); }

  void arm_idle(std::chrono::steady_clock::time_point deadline) {
    if (m_closed) {
      return;
    }
    m_idle.expires_at(deadline);
    m_idle.async_wait([weak = weak_from_this()](const error_code& ec) {
      if (ec) {
        return;
      }
      if (auto self = weak.lock()) {
        self->on_idle();
      }
    });
  }

  void on_idle() {
    if (m_closed) {
      return;
    }
    auto timeout = m_server.settings().idle_timeout;
    // Waiting for an evaluation is not idleness; a client that reads none of its answers (a write
    // stuck since the last activity) is.
    if (m_busy || !m_jobs.empty()) {
      arm_idle(std::chrono::steady_clock::now() + timeout);
      return;
    }
    if (auto deadline = m_last_activity + timeout; deadline > std::chrono::steady_clock::now()) {
      arm_idle(deadline);
      return;
    }
    if (mid_request()) {
      m_server.log().message(Severity::Warning, "idle timeout with a partial " + to_string(m_protocol) +
                                                    " request from " + m_peer + "; closing connection");
    }
    close();
  }

  Server& m_server;
  Protocol m_protocol;
  std::unique_ptr<Transport> m_transport;
  std::string m_peer;
  asio::steady_timer m_idle;
  std::chrono::steady_clock::time_point m_last_activity;
  std::variant<std::monostate, SocketmapDecoder, TcpTableDecoder, PolicyDecoder> m_decoder;
  std::vector<SocketmapRequest> m_socketmap_requests;
  std::vector<TcpTableRequest> m_tcp_requests;
  std::vector<PolicyRequest> m_policy_requests;
  std::array<char, 16384> m_buffer{};
  std::deque<Job> m_jobs;
  std::string m_out_pending;
  std::string m_out_inflight;
  bool m_busy = false;
  bool m_reading = false;
  bool m_read_done = false;
  bool m_writing = false;
  bool m_closed = false;
};

// ---------------------------------------------------------------------------------------------------------
// Listeners

class Listener {
public:
  virtual ~Listener() = default;
  virtual void start() = 0;
  virtual void close() = 0;
  virtual std::string description() const = 0;
  virtual std::string socket_file() const { return {}; }
};

template <typename Proto> class AcceptorListener final : public Listener {
public:
  using Acceptor = typename Proto::acceptor;
  using Socket = typename Proto::socket;

  AcceptorListener(Server& server, Protocol protocol, Acceptor acceptor, std::string description,
                   std::string socket_file)
      : m_server(server), m_protocol(protocol), m_acceptor(std::move(acceptor)), m_description(std::move(description)),
        m_socket_file(std::move(socket_file)), m_retry(server.io()) {}

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
        m_server.warn_limited("accept on " + description() + " failed: " + ec.message());
        m_retry.expires_after(std::chrono::milliseconds(100));
        m_retry.async_wait([this](const error_code& e) {
          if (!e) {
            accept();
          }
        });
        return;
      }
      on_accept(std::move(socket));
      accept();
    });
  }

  void on_accept(Socket socket) {
    if (m_server.stopping()) {
      return;
    }
    if (m_server.open_sessions() >= m_server.settings().max_connections) {
      m_server.stats().connection_refused();
      m_server.warn_limited("too many connections (--max-connections " +
                            std::to_string(m_server.settings().max_connections) + "); closing a new one on " +
                            description());
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
      m_server.warn_limited("cannot take over a new connection on " + description() + ": " + ec.message());
      return;
    }
    auto session = std::make_shared<Session>(
        m_server, m_protocol, std::make_unique<PolledSocketTransport>(m_server.poller(), fd), peer);
    m_server.add_session(session);
    session->start();
  }

  Server& m_server;
  Protocol m_protocol;
  Acceptor m_acceptor;
  std::string m_description;
  std::string m_socket_file;
  asio::steady_timer m_retry;
  bool m_closed = false;
};

namespace {

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

// ---------------------------------------------------------------------------------------------------------
// Server

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
  // A configured listener the service manager already passed: served by that socket.
  auto adopted = [&](const Endpoint& e, Protocol protocol) -> Expected<bool> {
    for (const auto& a : m_adopted) {
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
  };
  auto bind_one = [&](const Endpoint& e, Protocol protocol) -> Status {
    auto already = adopted(e, protocol);
    if (!already) {
      return make_error(already.error());
    }
    if (*already) {
      return Ok{};
    }
    try {
      if (e.kind == Endpoint::Kind::Unix) {
        if (auto st = prepare_unix_path(e.path); !st) {
          return make_error(protocol == Protocol::Socketmap ? "--socketmap " + e.text + ": " + st.error()
                                                            : "--policy-service " + e.text + ": " + st.error());
        }
        stream_protocol::acceptor acceptor(m_io);
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
        m_listeners.push_back(std::make_unique<AcceptorListener<stream_protocol>>(*this, protocol, std::move(acceptor),
                                                                                  "unix:" + e.path, e.path));
      } else {
        tcp::resolver resolver(m_io);
        auto results = resolver.resolve(e.host, std::to_string(e.port), tcp::resolver::passive |
                                                                           tcp::resolver::numeric_service);
        if (results.empty()) {
          return make_error(e.text + ": no address for " + e.host);
        }
        tcp::endpoint ep = results.begin()->endpoint();
        tcp::acceptor acceptor(m_io);
        acceptor.open(ep.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(asio::socket_base::max_listen_connections);
        auto local = acceptor.local_endpoint();
        std::string host = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                   : local.address().to_string();
        m_listeners.push_back(std::make_unique<AcceptorListener<tcp>>(
            *this, protocol, std::move(acceptor), "inet:" + host + ":" + std::to_string(local.port()), ""));
      }
    } catch (const boost::system::system_error& ex) {
      return make_error(e.text + ": cannot listen: " + ex.code().message());
    }
    return Ok{};
  };
  for (const auto& e : m_settings.socketmap) {
    if (auto st = bind_one(e, Protocol::Socketmap); !st) {
      return st;
    }
  }
  for (const auto& e : m_settings.tcp_table) {
    if (auto st = bind_one(e, Protocol::TcpTable); !st) {
      return st;
    }
  }
  for (const auto& e : m_settings.policy_service) {
    if (auto st = bind_one(e, Protocol::Policy); !st) {
      return st;
    }
  }
  return Ok{};
}

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

Status Server::adopt(const std::vector<InheritedListener>& listeners) {
  // Own every fd from the start, so that an error leaks none of them.
  std::vector<Fd> fds;
  for (const auto& l : listeners) {
    fds.emplace_back(l.fd);
  }
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const auto& l = listeners[i];
    const std::string what = "socket passed by the service manager (fd " + std::to_string(l.fd) + ", name '" +
                             l.name + "')";
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
        stream_protocol::acceptor acceptor(m_io);
        acceptor.assign(stream_protocol(), fds[i].get());
        fds[i].release(); // the acceptor owns it now
        m_listeners.push_back(std::make_unique<AcceptorListener<stream_protocol>>(
            *this, *protocol, std::move(acceptor), "unix:" + path + " (socket-activated)", ""));
        m_adopted.push_back(Adopted{*protocol, path, {}, true});
      } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        tcp::acceptor acceptor(m_io);
        acceptor.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fds[i].get());
        fds[i].release();
        auto local = acceptor.local_endpoint();
        std::string host = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                   : local.address().to_string();
        m_listeners.push_back(std::make_unique<AcceptorListener<tcp>>(
            *this, *protocol, std::move(acceptor),
            "inet:" + host + ":" + std::to_string(local.port()) + " (socket-activated)", ""));
        m_adopted.push_back(Adopted{*protocol, {}, local, false});
      } else {
        return make_error(what + ": address family " + std::to_string(ss.ss_family) +
                          " is neither unix nor inet");
      }
    } catch (const boost::system::system_error& ex) {
      return make_error(what + ": cannot serve it: " + ex.code().message());
    }
  }
  return Ok{};
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
    auto transport = std::make_unique<StdioTransport>(m_io, in, out);
    auto session = std::make_shared<Session>(*this, protocol == StdioProtocol::Policy ? Protocol::Policy
                                                                                      : Protocol::Socketmap,
                                             std::move(transport), "stdio");
    m_stdio = true;
    add_session(session);
    session->start();
  } catch (const boost::system::system_error& ex) {
    return make_error(std::string("--stdio: cannot use standard input/output: ") + ex.code().message());
  }
  return Ok{};
}

void Server::add_session(const std::shared_ptr<Session>& session) { m_sessions.insert(session); }

void Server::session_closed(Session* session) {
  for (auto it = m_sessions.begin(); it != m_sessions.end(); ++it) {
    if (it->get() == session) {
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
