// The HTTP endpoint of --metrics: accept loop and one short-lived connection per request (Boost.Beast).
#include "dane/daemon/metrics_http.hpp"

#include <cerrno>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include "dane/daemon/daemon.hpp"
#include "dane/daemon/error_boundary.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace dane::policyd {

struct MetricsServer::State {
  State(asio::io_context& io_, Stats& stats_, MetricsContext context_, HealthSource health_, LogWriter& log_)
      : io(io_), acceptor(io_), retry(io_), stats(stats_), context(std::move(context_)), health(std::move(health_)),
        log(log_) {}

  Health health_now() const { return !started ? Health::Starting : health ? health() : Health::Serving; }
  void warn_limited(const std::string& text) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_warning >= std::chrono::seconds(1)) {
      last_warning = now;
      log.message(Severity::Warning, text);
    }
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  Stats& stats;
  MetricsContext context;
  HealthSource health;
  LogWriter& log;
  std::string where; // "inet:HOST:PORT"
  std::size_t open = 0;
  bool started = false;
  bool closed = false;
  std::chrono::steady_clock::time_point last_warning{};
};

namespace {

using State = MetricsServer::State;

// One connection: read one request (bounded in size and time), answer it, close.
class Exchange : public std::enable_shared_from_this<Exchange> {
public:
  Exchange(std::shared_ptr<State> state, tcp::socket socket) : m_state(std::move(state)), m_stream(std::move(socket)) {
    ++m_state->open;
  }
  ~Exchange() { --m_state->open; }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  void start() {
    m_parser.header_limit(static_cast<std::uint32_t>(k_metrics_header_limit));
    m_parser.body_limit(0);
    m_stream.expires_after(k_metrics_read_timeout);
    http::async_read(m_stream, m_buffer, m_parser, [self = shared_from_this()](const error_code& ec, std::size_t) {
      run_guarded(self->m_state->log, self->m_state->stats, "a metrics request", [&] { self->on_read(ec); });
    });
  }

private:
  void on_read(const error_code& ec) {
    if (ec == beast::error::timeout) {
      ++m_state->context.http.timeouts;
      return; // the stream closed itself
    }
    if (ec == http::error::header_limit) {
      answer(http::status::request_header_fields_too_large, "request header fields too large\n", false);
      return;
    }
    if (ec == http::error::body_limit || ec == http::error::unexpected_body) {
      answer(http::status::payload_too_large, "a request body is not accepted here\n", false);
      return;
    }
    if (ec && &ec.category() == &http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      answer(http::status::bad_request, "bad request\n", false);
      return;
    }
    if (ec) {
      return; // the client went away (EOF, reset): nothing to answer
    }
    route(m_parser.get());
  }

  void route(const http::request<http::string_body>& request) {
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));
    const bool head = request.method() == http::verb::head;
    const bool get_or_head = head || request.method() == http::verb::get;
    if (target != "/metrics" && target != "/healthz") {
      answer(http::status::not_found, "not found: try /metrics or /healthz\n", head);
    } else if (!get_or_head) {
      answer(http::status::method_not_allowed, "method not allowed: GET or HEAD\n", head);
    } else if (target == "/metrics") {
      answer(http::status::ok, render_metrics(m_state->stats.snapshot(), m_state->context), head,
             k_metrics_content_type);
    } else {
      switch (m_state->health_now()) {
      case Health::Serving:
        answer(http::status::ok, "ok\n", head);
        break;
      case Health::Starting:
        answer(http::status::service_unavailable, "starting\n", head);
        break;
      case Health::Draining:
        answer(http::status::service_unavailable, "draining\n", head);
        break;
      }
    }
  }

  void answer(http::status status, std::string body, bool head,
              const char* content_type = "text/plain; charset=utf-8") {
    m_state->context.http.count(static_cast<unsigned>(status));
    m_response.version(11);
    m_response.result(status);
    m_response.set(http::field::content_type, content_type);
    m_response.set(http::field::connection, "close");
    if (status == http::status::method_not_allowed) {
      m_response.set(http::field::allow, "GET, HEAD");
    }
    m_response.body() = std::move(body);
    m_response.prepare_payload();
    if (head) {
      m_response.body().clear(); // Content-Length stays that of the GET answer
    }
    m_stream.expires_after(k_metrics_read_timeout);
    http::async_write(m_stream, m_response, [self = shared_from_this()](const error_code& ec, std::size_t) {
      run_guarded(self->m_state->log, self->m_state->stats, "a metrics answer", [&] { self->linger(ec); });
    });
  }

  // Half-closes, then reads (and discards) what the client still sends for a moment before
  // closing: closing with unread bytes would reset the connection and could destroy the answer
  // (a 431 to a client still sending its oversized head).
  void linger(const error_code& ec) {
    if (ec) {
      return;
    }
    error_code ignored;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    m_stream.expires_after(std::chrono::seconds(1));
    drain();
  }

  void drain() {
    m_stream.async_read_some(asio::buffer(m_scratch), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (!ec && ++self->m_drained < 64) {
        self->drain();
      }
    });
  }

  std::shared_ptr<State> m_state;
  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer{2 * k_metrics_header_limit};
  http::request_parser<http::string_body> m_parser;
  http::response<http::string_body> m_response;
  std::array<char, 4096> m_scratch{};
  unsigned m_drained = 0;
};

void accept_next(const std::shared_ptr<State>& state);

void on_accept(const std::shared_ptr<State>& state, const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || state->closed) {
    return;
  }
  if (ec) {
    state->warn_limited("accept on metrics " + state->where + " failed: " + ec.message());
    state->retry.expires_after(std::chrono::milliseconds(100));
    state->retry.async_wait([state](const error_code& e) {
      if (!e) {
        accept_next(state);
      }
    });
    return;
  }
  if (state->open >= k_metrics_max_connections) {
    ++state->context.http.refused;
    error_code ignored;
    socket.close(ignored);
    state->warn_limited("too many metrics connections (" + std::to_string(k_metrics_max_connections) +
                        " at once); closing a new one on " + state->where);
  } else {
    run_guarded(state->log, state->stats, "a metrics connection",
                [&] { std::make_shared<Exchange>(state, std::move(socket))->start(); });
  }
  accept_next(state);
}

void accept_next(const std::shared_ptr<State>& state) {
  if (state->closed) {
    return;
  }
  state->acceptor.async_accept([state](const error_code& ec, tcp::socket socket) {
    run_guarded(state->log, state->stats, "accepting a metrics connection",
                [&] { on_accept(state, ec, std::move(socket)); });
  });
}

} // namespace

Expected<std::unique_ptr<MetricsServer>> MetricsServer::bind(asio::io_context& io, const Endpoint& endpoint,
                                                             Stats& stats, MetricsContext context, HealthSource health,
                                                             LogWriter& log) {
  if (endpoint.kind != Endpoint::Kind::Inet) {
    return make_error("--metrics " + endpoint.text + ": expected inet:HOST:PORT");
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->m_state = std::make_shared<State>(io, stats, std::move(context), std::move(health), log);
  State& s = *server->m_state;
  try {
    tcp::resolver resolver(io);
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service);
    if (results.empty()) {
      return make_error("--metrics " + endpoint.text + ": no address for " + endpoint.host);
    }
    const tcp::endpoint ep = results.begin()->endpoint();
    s.acceptor.open(ep.protocol());
    s.acceptor.set_option(asio::socket_base::reuse_address(true));
    s.acceptor.bind(ep);
    s.acceptor.listen(asio::socket_base::max_listen_connections);
    const auto local = s.acceptor.local_endpoint();
    const std::string host =
        local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
    s.where = "inet:" + host + ":" + std::to_string(local.port());
  } catch (const boost::system::system_error& ex) {
    return make_error("--metrics " + endpoint.text + ": cannot listen: " + ex.code().message());
  }
  return server;
}

MetricsServer::~MetricsServer() {
  try {
    close();
  } catch (...) { // closing at exit: nothing is left to tell
  }
}

std::string MetricsServer::description() const {
  return "metrics " + m_state->where;
}

void MetricsServer::start() {
  asio::post(m_state->io, [state = m_state] {
    state->started = true;
    accept_next(state);
  });
}

void MetricsServer::close() {
  if (!m_state || m_state->closed) {
    return;
  }
  m_state->closed = true;
  error_code ignored;
  m_state->retry.cancel();
  m_state->acceptor.close(ignored);
}

} // namespace dane::policyd

namespace dane::policyd {

Expected<std::unique_ptr<MetricsServer>> start_metrics(asio::io_context& io, const Settings& settings, Stats& stats,
                                                       MetricsServer::HealthSource health, LogWriter& log) {
  if (!settings.metrics) {
    return std::unique_ptr<MetricsServer>();
  }
  if (settings.stdio != StdioProtocol::None) {
    log.message(Severity::Warning, "--metrics " + settings.metrics->text +
                                       ": not served with --stdio (every spawned daemon would bind the same port)");
    return std::unique_ptr<MetricsServer>();
  }
  MetricsContext context;
  context.mode = settings.mode;
  context.version = k_version;
  context.started = std::chrono::system_clock::now();
  auto server = MetricsServer::bind(io, *settings.metrics, stats, std::move(context), std::move(health), log);
  if (server) {
    (*server)->start();
  }
  return server;
}

} // namespace dane::policyd
