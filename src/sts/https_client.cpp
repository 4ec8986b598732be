// One HTTPS request with PKIX validation on an Asio event loop, Boost.Beast over Asio SSL
// (contract: dane/sts/https_client.hpp).
//
// Each request is an Operation kept alive by its own completion handlers: it tries the addresses in
// order (a refused or failed connection moves to the next one), then does the TLS handshake (SNI and
// the host-name check are set on the SSL object, OpenSSL checks the chain and the name), writes one
// HTTP/1.1 request and reads one response with Beast's parser under a body and a header limit. One
// deadline covers everything: beast::tcp_stream's expiry is set to it before every step.

// GCC 12 reports a false -Wnull-dereference inside Asio's scheduler (see dane/daemon/asio.hpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#pragma GCC diagnostic pop

#include "dane/sts/https_client.hpp"

#include "dane/core/text.hpp"

#include <fstream>
#include <optional>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#ifndef DANE_VERSION
#error "DANE_VERSION is defined by src/CMakeLists.txt (the project's version)"
#endif

namespace dane::sts {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::uint32_t k_header_limit = 16 * 1024;
// A request whose caller left `deadline` unset still ends (never a request without a deadline).
constexpr std::chrono::seconds k_default_timeout{60};

class Client final : public HttpsClient {
public:
  explicit Client(net::io_context& io) : m_io(io) {}
  Status init(const std::string& ca_file);
  void request(HttpsRequest request, std::function<void(HttpsResult)> done) override;
  net::io_context& io() { return m_io; }
  ssl::context& tls() { return m_tls; }

private:
  net::io_context& m_io;
  ssl::context m_tls{ssl::context::tls_client};
};

// Whether the store holds at least one certificate (a CA file of only keys or text trusts nobody).
bool store_has_certificate(SSL_CTX* ctx) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509) {
      return true;
    }
  }
  return false;
}

Status Client::init(const std::string& ca_file) {
  SSL_CTX* ctx = m_tls.native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return make_error("cannot require TLS 1.2 or later");
  }
  m_tls.set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (ca_file.empty()) {
    m_tls.set_default_verify_paths(ec);
    if (ec) {
      return make_error("cannot load the system's trust store: " + ec.message());
    }
    return Ok{};
  }
  if (!std::ifstream(ca_file).good()) {
    return make_error("cannot read the CA file " + ca_file);
  }
  m_tls.load_verify_file(ca_file, ec);
  if (ec || !store_has_certificate(ctx)) {
    return make_error("the CA file " + ca_file + " holds no PEM certificate" + (ec ? " (" + ec.message() + ")" : ""));
  }
  return Ok{};
}

std::string endpoint_text(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

class Operation : public std::enable_shared_from_this<Operation> {
public:
  Operation(std::shared_ptr<Client> client, HttpsRequest request, std::function<void(HttpsResult)> done)
      : m_client(std::move(client)), m_request(std::move(request)), m_done(std::move(done)) {
    if (m_request.deadline == std::chrono::steady_clock::time_point{}) {
      m_request.deadline = std::chrono::steady_clock::now() + k_default_timeout;
    }
  }

  void start();

private:
  using Stream = beast::ssl_stream<beast::tcp_stream>;

  std::string where() const {
    return "https://" + m_request.host + m_request.target + " at " + endpoint_text(m_address, m_request.port);
  }
  void finish(HttpsErrorKind kind, std::string error);
  void connect_next();
  void on_connect(beast::error_code ec);
  void on_handshake(beast::error_code ec);
  void write_request();
  void read_response();
  void on_read(beast::error_code ec);
  void arm() { beast::get_lowest_layer(*m_stream).expires_at(m_request.deadline); }

  std::shared_ptr<Client> m_client;
  HttpsRequest m_request;
  std::function<void(HttpsResult)> m_done;
  std::size_t m_next = 0;       // next address to try
  std::string m_address;        // the address being tried
  std::string m_connect_errors; // "addr:port: reason; ..." of the addresses that failed
  std::optional<Stream> m_stream;
  http::request<http::string_body> m_http_request;
  beast::flat_buffer m_buffer;
  std::optional<http::response_parser<http::string_body>> m_parser;
  std::optional<HttpsResponse> m_response;
};

void Operation::finish(HttpsErrorKind kind, std::string error) {
  if (!m_done) {
    return;
  }
  if (m_stream) {
    beast::error_code ignored;
    beast::get_lowest_layer(*m_stream).socket().close(ignored);
  }
  HttpsResult result;
  result.error_kind = kind;
  result.error = std::move(error);
  result.response = std::move(m_response);
  auto done = std::move(m_done);
  m_done = nullptr;
  done(std::move(result));
}

void Operation::start() {
  if (m_request.host.empty()) {
    finish(HttpsErrorKind::Resolve, "no host name to connect to");
    return;
  }
  if (m_request.addresses.empty()) {
    finish(HttpsErrorKind::Resolve, "no address for " + m_request.host);
    return;
  }
  if (m_request.method != "GET" && m_request.method != "POST") {
    finish(HttpsErrorKind::Http,
           "unsupported method \"" + quote_untrusted(m_request.method) + "\" for https://" + m_request.host);
    return;
  }
  connect_next();
}

void Operation::connect_next() {
  if (m_next == m_request.addresses.size()) {
    finish(HttpsErrorKind::Connect, "cannot connect to " + m_request.host + ": " + m_connect_errors);
    return;
  }
  m_address = m_request.addresses[m_next++];
  beast::error_code ec;
  const net::ip::address ip = net::ip::make_address(m_address, ec);
  if (ec) {
    m_connect_errors += (m_connect_errors.empty() ? "" : "; ") + m_address + ": not an IP address";
    connect_next();
    return;
  }
  m_stream.emplace(m_client->io(), m_client->tls());
  SSL* ssl = m_stream->native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // SSL_set_tlsext_host_name() spelled out: the macro uses a C cast (-Werror=old-style-cast).
  if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(m_request.host.c_str())) != 1 ||
      X509_VERIFY_PARAM_set1_host(param, m_request.host.c_str(), 0) != 1) {
    finish(HttpsErrorKind::Tls, "cannot use \"" + m_request.host + "\" as the TLS server name");
    return;
  }
  arm();
  beast::get_lowest_layer(*m_stream).async_connect(
      tcp::endpoint(ip, m_request.port), [self = shared_from_this()](beast::error_code e) { self->on_connect(e); });
}

void Operation::on_connect(beast::error_code ec) {
  if (ec == beast::error::timeout) {
    finish(HttpsErrorKind::Timeout, "timed out connecting to " + where());
    return;
  }
  if (ec) {
    m_connect_errors +=
        (m_connect_errors.empty() ? "" : "; ") + endpoint_text(m_address, m_request.port) + ": " + ec.message();
    connect_next();
    return;
  }
  arm();
  m_stream->async_handshake(ssl::stream_base::client,
                            [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
}

void Operation::on_handshake(beast::error_code ec) {
  if (ec) {
    const long verify = SSL_get_verify_result(m_stream->native_handle());
    if (verify != X509_V_OK) {
      finish(HttpsErrorKind::Certificate,
             "certificate of " + where() + " not accepted: " + X509_verify_cert_error_string(verify));
    } else if (ec == beast::error::timeout) {
      finish(HttpsErrorKind::Timeout, "timed out in the TLS handshake with " + where());
    } else {
      finish(HttpsErrorKind::Tls, "TLS handshake with " + where() + " failed: " + ec.message());
    }
    return;
  }
  write_request();
}

void Operation::write_request() {
  http::request<http::string_body>& req = m_http_request;
  req.method(m_request.method == "POST" ? http::verb::post : http::verb::get);
  req.target(m_request.target);
  req.version(11);
  req.set(http::field::host,
          m_request.port == 443 ? m_request.host : m_request.host + ":" + std::to_string(m_request.port));
  req.set(http::field::user_agent, "dane-policyd/" DANE_VERSION);
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : m_request.headers) {
    req.set(name, value);
  }
  req.body() = m_request.body;
  req.prepare_payload();
  arm();
  http::async_write(*m_stream, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec == beast::error::timeout) {
      self->finish(HttpsErrorKind::Timeout, "timed out sending the request to " + self->where());
    } else if (ec) {
      self->finish(HttpsErrorKind::Http, "cannot send the request to " + self->where() + ": " + ec.message());
    } else {
      self->read_response();
    }
  });
}

void Operation::read_response() {
  m_parser.emplace();
  m_parser->body_limit(m_request.max_body);
  m_parser->header_limit(k_header_limit);
  arm();
  http::async_read(*m_stream, m_buffer, *m_parser,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Operation::on_read(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    finish(HttpsErrorKind::TooLarge,
           "response from " + where() + " is larger than " + std::to_string(m_request.max_body) + " bytes");
    return;
  }
  if (ec == beast::error::timeout) {
    finish(HttpsErrorKind::Timeout, "timed out waiting for the response from " + where());
    return;
  }
  if (ec) {
    finish(HttpsErrorKind::Http, "cannot read the response from " + where() + ": " + ec.message());
    return;
  }
  const auto& res = m_parser->get();
  HttpsResponse response;
  response.status = res.result_int();
  response.content_type = std::string(res[http::field::content_type]);
  response.location = std::string(res[http::field::location]);
  response.body = res.body();
  response.address = m_address;
  m_response = std::move(response);
  if (m_response->status >= 300 && m_response->status < 400) {
    finish(HttpsErrorKind::Http,
           where() + ": redirect not followed: " + std::to_string(m_response->status) + " to " +
               (m_response->location.empty() ? "(no Location)" : quote_untrusted(m_response->location)));
    return;
  }
  finish(HttpsErrorKind::None, "");
}

void Client::request(HttpsRequest request, std::function<void(HttpsResult)> done) {
  auto self = std::static_pointer_cast<Client>(shared_from_this());
  auto operation = std::make_shared<Operation>(std::move(self), std::move(request), std::move(done));
  // Moved, not copied: the io_context thread holds the only reference, so the operation (its socket
  // and timers) never ends on the calling thread, perhaps after the io_context is gone.
  net::post(m_io, [operation = std::move(operation)] { operation->start(); });
}

} // namespace

std::string to_string(HttpsErrorKind kind) {
  switch (kind) {
  case HttpsErrorKind::None:
    return "none";
  case HttpsErrorKind::Resolve:
    return "resolve";
  case HttpsErrorKind::Connect:
    return "connect";
  case HttpsErrorKind::Tls:
    return "tls";
  case HttpsErrorKind::Certificate:
    return "certificate";
  case HttpsErrorKind::Http:
    return "http";
  case HttpsErrorKind::TooLarge:
    return "too-large";
  case HttpsErrorKind::Timeout:
    return "timeout";
  }
  return "unknown";
}

Expected<std::shared_ptr<HttpsClient>> HttpsClient::create(boost::asio::io_context& io, const std::string& ca_file) {
  auto client = std::make_shared<Client>(io);
  if (Status status = client->init(ca_file); !status) {
    return make_error(status.error());
  }
  return std::shared_ptr<HttpsClient>(std::move(client));
}

HttpsResult https_request_blocking(const std::string& ca_file, HttpsRequest request) {
  net::io_context io;
  auto client = HttpsClient::create(io, ca_file);
  if (!client) {
    HttpsResult result;
    result.error_kind = HttpsErrorKind::Tls;
    result.error = client.error();
    return result;
  }
  HttpsResult out;
  (*client)->request(std::move(request), [&out](HttpsResult result) { out = std::move(result); });
  io.run();
  return out;
}

} // namespace dane::sts
