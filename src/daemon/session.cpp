// Session: one client connection of dane-policyd (requests in, replies out, in order).
#include "dane/daemon/session.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <optional>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/daemon/error_boundary.hpp"
#include "dane/policy/codecs.hpp"
#include "dane/policy/control.hpp"
#include "request_decoder.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace dane::policyd {
namespace {

class ClientSession final : public Session, public std::enable_shared_from_this<ClientSession> {
public:
  ClientSession(const SessionContext& context, Protocol protocol, std::unique_ptr<Transport> transport,
                std::string peer)
      : m_ctx(context), m_protocol(protocol), m_transport(std::move(transport)), m_peer(std::move(peer)),
        m_idle(context.io), m_decoder(make_request_decoder(protocol, context.settings, context.stats,
                                                           [this](Job& job) { control_job(job); })) {}

  void start() override {
    m_ctx.stats.connection_opened();
    m_draining = m_ctx.connections.stopping(); // accepted from the backlog while stopping
    touch();
    arm_idle(m_last_activity + m_ctx.settings.idle_timeout);
    process_next(); // reads (draining: takes in what has arrived and answers it)
  }

  // Server stopping: take in what the client already sent (read without waiting), answer it,
  // then close.
  void drain() override {
    m_draining = true;
    process_next();
  }

  void close() override {
    if (m_closed) {
      return;
    }
    auto self = shared_from_this(); // keep alive until the end of this call (the transport drops handlers)
    m_closed = true;
    m_idle.cancel();
    m_transport->close();
    m_ctx.stats.connection_closed();
    m_ctx.connections.closed(*this);
  }

private:
  // The error boundary of every callback (error_boundary.hpp): an unexpected exception costs
  // this connection only (closed), is logged once and counted.
  template <typename F> void guarded(const char* where, F&& callback) noexcept {
    try {
      callback();
    } catch (...) {
      try {
        report_internal_error(m_ctx.log, m_ctx.stats, std::string(where) + " from " + m_peer, "connection closed");
        close();
      } catch (...) {
        report_internal_error(m_ctx.log, m_ctx.stats, "closing a connection after an internal error");
      }
    }
  }

  static constexpr std::size_t k_max_queued_jobs = 64;
  // Replies waiting for a client that sends without reading: beyond this, stop reading from it
  // until it catches up, so such a client cannot make the daemon buffer without bound.
  static constexpr std::size_t k_max_pending_output = std::size_t{256} * 1024;

  bool paused() const { return m_jobs.size() >= k_max_queued_jobs || m_out_pending.size() >= k_max_pending_output; }

  void read_more() {
    if (m_read_done || m_closed || paused()) {
      return;
    }
    if (m_draining) {
      take_arrived();
      if (m_read_done || m_closed || paused()) {
        return;
      }
    }
    if (m_reading) {
      return;
    }
    m_reading = true;
    m_transport->async_read(asio::buffer(m_buffer), [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->guarded("reading a request", [&] { self->on_read(ec, n); });
    });
  }

  void on_read(const error_code& ec, std::size_t n) {
    m_reading = false;
    if (m_closed) {
      return;
    }
    if (ec) {
      end_of_input(ec);
      maybe_finish();
      return;
    }
    decode(std::string_view(m_buffer.data(), n), touch());
    process_next();
  }

  // EOF (possibly a half-close): answer what is pending, then close. Other errors likewise.
  void end_of_input(const error_code& ec) {
    m_read_done = true;
    m_partial = false;
    if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
      m_ctx.log.message(Severity::Warning, "read error from " + m_peer + ": " + ec.message());
    }
    if (mid_request()) {
      m_ctx.log.message(Severity::Warning, "connection from " + m_peer + " closed in the middle of a " +
                                               to_string(m_protocol) + " request");
    }
  }

  // Draining: the requests the client sent before the stop are in the socket already; take them
  // in without waiting. Input ends when nothing more is there (unless a request is cut in half:
  // its rest is waited for, within the request timeout and the drain deadline).
  void take_arrived() {
    while (!m_read_done && !m_closed && !paused()) {
      error_code ec;
      const std::size_t n = m_transport->read_now(asio::buffer(m_buffer), ec);
      if (ec == asio::error::would_block) {
        if (!mid_request()) {
          m_read_done = true;
        }
        return;
      }
      if (ec) {
        end_of_input(ec);
        return;
      }
      decode(std::string_view(m_buffer.data(), n), touch());
    }
  }

  bool mid_request() const { return m_decoder->mid_request(); }

  void bad_input(const CodecError& error) {
    m_ctx.stats.protocol_error();
    m_ctx.log.message(Severity::Warning, "bad " + to_string(m_protocol) + " request from " + m_peer + ": " +
                                             std::string(dane::policyd::to_string(error.kind)) + ": " + error.message +
                                             "; closing connection");
    m_read_done = true;
  }

  void decode(std::string_view bytes, std::chrono::steady_clock::time_point now) {
    const bool was_partial = mid_request();
    const std::size_t queued = m_jobs.size();
    if (const CodecError* error = m_decoder->feed(bytes, now, m_jobs)) {
      bad_input(*error);
    }
    note_partial(was_partial && m_jobs.size() == queued, now);
  }

  // The partial-request deadline (slowloris): a request must be complete request_timeout() after
  // its first byte, however steadily its bytes trickle in.
  std::chrono::seconds request_timeout() const {
    const Settings& s = m_ctx.settings;
    return s.request_timeout.count() > 0 ? s.request_timeout : s.idle_timeout;
  }

  // After decoding bytes received at `now`: starts the clock when a new request began (one not
  // `continued` from before), stops it when no request is partial.
  void note_partial(bool continued, std::chrono::steady_clock::time_point now) {
    if (!mid_request() || m_read_done) {
      m_partial = false;
      return;
    }
    if (m_partial && continued) {
      return;
    }
    m_partial = true;
    m_partial_since = now;
    if (auto deadline = now + request_timeout(); deadline < m_timer_at) {
      arm_idle(deadline);
    }
  }

  // A request on the reserved map name: counters now; the rest in turn (process_next()).
  void control_job(Job& job) {
    auto request = parse_control_request(job.key);
    if (!request) {
      m_ctx.connections.warn_limited("control-error peer=" + m_peer + ": " + request.error());
      job.direct = true;
      job.direct_reply = encode_socketmap_reply(SocketmapReply{SocketmapStatus::Perm, request.error()});
      return;
    }
    if (request->verb == ControlVerb::Counters) {
      job.direct = true;
      job.direct_reply = encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, m_ctx.stats.to_json()});
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
    // The key is the client's: coded like every client byte in a log line.
    const std::string what = quote_log_value(std::string(to_string(verb)) + (job.key.empty() ? "" : " " + job.key));
    if (auto refusal = control_refusal(peer, ::geteuid())) {
      m_ctx.stats.control_refused();
      m_ctx.log.message(Severity::Warning,
                        "control-refused request=\"" + what + "\" peer=" + peer_text(peer) + ": " + *refusal);
      send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Perm, "control request refused: " + *refusal}),
           job.received);
      return false;
    }
    if (verb == ControlVerb::Verdict) {
      m_ctx.stats.verdict_asked();
      m_ctx.service.lookup_detailed(
          job.key, [self = shared_from_this(), job, &io = m_ctx.io](const VerdictPtr& v, bool cached) {
            asio::post(io, [self, job, v, cached] {
              self->guarded("answering a control request", [&] { self->answer(job, v, cached); });
            });
          });
      return true;
    }
    std::size_t n = verb == ControlVerb::Flush ? m_ctx.service.forget(job.key) : m_ctx.service.forget_all();
    m_ctx.stats.flushed();
    m_ctx.log.message(Severity::Info,
                      "control request=\"" + what + "\" forgotten=" + std::to_string(n) + " peer=" + peer_text(peer));
    nlohmann::json reply = {{"flushed", n}};
    if (verb == ControlVerb::Flush) {
      reply["destination"] = job.key;
    }
    send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, reply.dump()}), job.received);
    return false;
  }

  void process_next() {
    for (;;) {
      run_jobs();
      const std::size_t queued = m_jobs.size();
      read_more(); // draining: may take in more requests at once
      if (m_busy || m_closed || m_jobs.size() == queued) {
        break;
      }
    }
    maybe_finish();
  }

  void run_jobs() {
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
      auto now = m_ctx.service.lookup_or_wait(
          job.key,
          [this, &job]() -> PolicyService::Done {
            return [self = shared_from_this(), job, &io = m_ctx.io](const VerdictPtr& v, bool) {
              asio::post(io, [self, job, v] { self->guarded("answering a lookup", [&] { self->answer(job, v); }); });
            };
          },
          job.received);
      if (!now.verdict) {
        m_busy = true; // answer() follows
        break;
      }
      send(reply_for(job, *now.verdict), job.received);
    }
  }

  // One encoder per protocol (dane/policy/answer.hpp); a cache hit's socketmap reply is its stored text.
  std::string reply_for(const Job& job, const Verdict& verdict) {
    switch (m_protocol) {
    case Protocol::Socketmap:
      return encode_socketmap(verdict.view());
    case Protocol::TcpTable:
      return encode_tcp_table(verdict.view());
    case Protocol::Policy: {
      const Settings& s = m_ctx.settings;
      std::string warning;
      std::string reply = encode_policy_delegation(verdict.view(), job.key,
                                                   {s.policy_failure_action, s.policy_prepend_header}, &warning);
      if (!warning.empty()) {
        m_ctx.log.message(Severity::Warning, warning);
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
      VerdictRecord record{std::chrono::system_clock::now(),
                           job.key,
                           m_ctx.settings.mode,
                           verdict->facts(),
                           verdict->policy_answer(),
                           cached,
                           nullptr,
                           ""};
      send(encode_socketmap_reply(SocketmapReply{SocketmapStatus::Ok, render_verdict(record)}), job.received);
    } else {
      send(reply_for(job, *verdict), job.received);
    }
    process_next();
  }

  void send(const std::string& bytes, std::chrono::steady_clock::time_point received) {
    auto now = std::chrono::steady_clock::now();
    m_ctx.stats.latency(now - received);
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
                                          self->guarded("writing a reply", [&] { self->on_written(ec); });
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
    process_next(); // reading may have paused while replies piled up
  }

  void maybe_finish() {
    if (m_closed) {
      return;
    }
    if (m_read_done && !m_busy && m_jobs.empty() && !m_writing && m_out_pending.empty()) {
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
    m_timer_at = deadline;
    m_idle.expires_at(deadline);
    m_idle.async_wait([weak = weak_from_this()](const error_code& ec) {
      if (ec) {
        return;
      }
      if (auto self = weak.lock()) {
        self->guarded("the idle timer", [&] { self->on_idle(); });
      }
    });
  }

  void on_idle() {
    if (m_closed) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    auto timeout = m_ctx.settings.idle_timeout;
    // A silent client with half a request is idle (the idle line below); one still sending is slow.
    const bool idle_passed = m_last_activity + timeout <= now && !m_busy && m_jobs.empty();
    if (partial_deadline_passed(now) && !idle_passed) {
      m_ctx.stats.request_timeout();
      m_ctx.log.message(Severity::Warning, "request-timeout peer=" + m_peer + " protocol=" + to_string(m_protocol) +
                                               " seconds=" + std::to_string(request_timeout().count()) +
                                               ": request incomplete; closing connection");
      close();
      return;
    }
    // Waiting for an evaluation is not idleness; a client that reads none of its answers (a write
    // stuck since the last activity) is.
    if (m_busy || !m_jobs.empty()) {
      arm_idle(earliest(now + timeout));
      return;
    }
    if (auto deadline = m_last_activity + timeout; deadline > now) {
      arm_idle(earliest(deadline));
      return;
    }
    if (mid_request()) {
      m_ctx.log.message(Severity::Warning, "idle timeout with a partial " + to_string(m_protocol) + " request from " +
                                               m_peer + "; closing connection");
    }
    close();
  }

  // True when a partial request is overdue. While reading is paused (the daemon's side is
  // behind), the client is not to blame: its clock starts again.
  bool partial_deadline_passed(std::chrono::steady_clock::time_point now) {
    if (!m_partial || !mid_request()) {
      return false;
    }
    if (!m_reading) {
      m_partial_since = now;
      return false;
    }
    return m_partial_since + request_timeout() <= now;
  }

  // `deadline`, or the partial request's deadline when that comes first.
  std::chrono::steady_clock::time_point earliest(std::chrono::steady_clock::time_point deadline) const {
    if (m_partial && mid_request()) {
      return std::min(deadline, m_partial_since + request_timeout());
    }
    return deadline;
  }

  SessionContext m_ctx;
  Protocol m_protocol;
  std::unique_ptr<Transport> m_transport;
  std::string m_peer;
  asio::steady_timer m_idle;
  std::chrono::steady_clock::time_point m_last_activity;
  std::chrono::steady_clock::time_point m_timer_at;      // when m_idle fires
  std::chrono::steady_clock::time_point m_partial_since; // first byte of the partial request
  bool m_partial = false;                                // m_partial_since is running
  bool m_draining = false;                               // stopping: input ends once nothing more has arrived
  std::unique_ptr<RequestDecoder> m_decoder;
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

} // namespace

std::shared_ptr<Session> make_session(const SessionContext& context, Protocol protocol,
                                      std::unique_ptr<Transport> transport, std::string peer) {
  return std::make_shared<ClientSession>(context, protocol, std::move(transport), std::move(peer));
}

} // namespace dane::policyd
