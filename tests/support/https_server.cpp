// A real HTTPS server for tests, Boost.Beast over Asio + OpenSSL (contract: https_server.hpp).
//
// One io_context on one thread; each connection is a Session (TLS handshake, one HTTP/1.1 request,
// the route's answer after its delay, Connection: close, TLS shutdown). Routes and the record of
// requests are guarded by one mutex because the test thread reads and changes them.
#include "https_server.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <thread>

// GCC 12 reports a false -Wnull-dereference inside Asio's scheduler (see dane/daemon/asio.hpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#pragma GCC diagnostic pop

namespace dane::test {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::size_t k_max_request_body = 16 * 1024 * 1024;
constexpr std::chrono::seconds k_io_timeout{30};
constexpr std::chrono::seconds k_shutdown_timeout{2};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The routes and the record of requests, shared by the test thread and the server's thread.
struct ServerState {
  mutable std::mutex mutex;
  std::map<std::string, HttpsRoute> routes;
  std::vector<HttpsReceived> requests;

  HttpsRoute answer_for(const http::request<http::string_body>& req);
};

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket socket, ssl::context& tls, ServerState& server)
      : m_stream(std::move(socket), tls), m_timer(m_stream.get_executor()), m_server(server) {
    m_parser.body_limit(k_max_request_body);
  }

  void start() {
    beast::get_lowest_layer(m_stream).expires_after(k_io_timeout);
    m_stream.async_handshake(ssl::stream_base::server,
                             [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      return;
    }
    http::async_read(m_stream, m_buffer, m_parser,
                     [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      return;
    }
    const HttpsRoute route = m_server.answer_for(m_parser.get());
    m_response.version(11);
    m_response.result(route.status);
    m_response.set(http::field::server, "dane-policyd-test");
    if (!route.content_type.empty()) {
      m_response.set(http::field::content_type, route.content_type);
    }
    if (!route.location.empty()) {
      m_response.set(http::field::location, route.location);
    }
    m_response.keep_alive(false);
    m_response.body() = route.body;
    m_response.prepare_payload();
    if (route.delay.count() > 0) {
      m_timer.expires_after(route.delay);
      m_timer.async_wait([self = shared_from_this()](beast::error_code) { self->write(); });
      return;
    }
    write();
  }

  void write() {
    beast::get_lowest_layer(m_stream).expires_after(k_io_timeout);
    http::async_write(m_stream, m_response, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) {
        self->shutdown();
      }
    });
  }

  void shutdown() {
    beast::get_lowest_layer(m_stream).expires_after(k_shutdown_timeout);
    m_stream.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->m_stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  beast::ssl_stream<beast::tcp_stream> m_stream;
  net::steady_timer m_timer;
  ServerState& m_server;
  beast::flat_buffer m_buffer;
  http::request_parser<http::string_body> m_parser;
  http::response<http::string_body> m_response;
};

HttpsRoute ServerState::answer_for(const http::request<http::string_body>& req) {
  HttpsReceived received;
  received.method = std::string(req.method_string());
  received.target = std::string(req.target());
  for (const auto& field : req) {
    received.headers[lower(std::string(field.name_string()))] = std::string(field.value());
  }
  received.body = req.body();
  const std::lock_guard lock(mutex);
  auto it = routes.find(received.target);
  requests.push_back(std::move(received));
  if (it == routes.end()) {
    return HttpsRoute{404, "text/plain", "not found\n", "", std::chrono::milliseconds{0}};
  }
  return it->second;
}

} // namespace

struct HttpsServer::Impl {
  ServerState state;
  ssl::context tls{ssl::context::tls_server};
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::uint16_t bound_port = 0;
  std::thread thread;

  void accept_next();
};

void HttpsServer::Impl::accept_next() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      return;
    }
    if (!ec) {
      std::make_shared<Session>(std::move(socket), tls, state)->start();
    }
    accept_next();
  });
}

HttpsServer::HttpsServer(const std::string& address, std::uint16_t port, const std::string& chain_file,
                         const std::string& key_file)
    : m_impl(std::make_unique<Impl>()) {
  try {
    m_impl->tls.use_certificate_chain_file(chain_file);
    m_impl->tls.use_private_key_file(key_file, ssl::context::pem);
    const tcp::endpoint endpoint(net::ip::make_address(address), port);
    m_impl->acceptor.open(endpoint.protocol());
    m_impl->acceptor.set_option(net::socket_base::reuse_address(true));
    m_impl->acceptor.bind(endpoint);
    m_impl->acceptor.listen();
    m_impl->bound_port = m_impl->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("HttpsServer on " + address + ":" + std::to_string(port) + ": " + e.what());
  }
  m_impl->accept_next();
  m_impl->thread = std::thread([impl = m_impl.get()] { impl->io.run(); });
}

HttpsServer::~HttpsServer() {
  m_impl->io.stop(); // pending sessions are destroyed with the io_context, after the join

  if (m_impl->thread.joinable()) {
    m_impl->thread.join();
  }
}

void HttpsServer::set_route(const std::string& target, HttpsRoute route) {
  const std::lock_guard lock(m_impl->state.mutex);
  m_impl->state.routes[target] = std::move(route);
}

void HttpsServer::remove_route(const std::string& target) {
  const std::lock_guard lock(m_impl->state.mutex);
  m_impl->state.routes.erase(target);
}

std::vector<HttpsReceived> HttpsServer::received() const {
  const std::lock_guard lock(m_impl->state.mutex);
  return m_impl->state.requests;
}

std::size_t HttpsServer::request_count(const std::string& target) const {
  const std::lock_guard lock(m_impl->state.mutex);
  return static_cast<std::size_t>(std::count_if(m_impl->state.requests.begin(), m_impl->state.requests.end(),
                                                [&](const HttpsReceived& r) { return r.target == target; }));
}

std::uint16_t HttpsServer::port() const {
  return m_impl->bound_port;
}

} // namespace dane::test
