// https_server.hpp — a real HTTPS server for tests (Boost.Beast over Asio + OpenSSL, its own thread).
//
// Serves MTA-STS policy files (RFC 8461 §3.3) and collects TLSRPT POSTs (RFC 8460 §5.4) on a loopback
// address, with a certificate chain the test chooses (test_pki.hpp makes them). Each target has a
// route: status, Content-Type, body, Location, a delay before answering (for timeouts), or a body
// larger than the client's limit. Every request received is recorded (method, target, headers, body).
// Unknown targets get 404. Stops (and joins its thread) in the destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dane::test {

struct HttpsRoute {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::string location;               // sent as Location when not empty
  std::chrono::milliseconds delay{0}; // wait this long before answering
};

struct HttpsReceived {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
};

class HttpsServer {
public:
  // Listens on address:port (port 0: any free port) with the PEM chain (leaf first) and key.
  // Throws std::runtime_error when it cannot start.
  HttpsServer(const std::string& address, std::uint16_t port, const std::string& chain_file,
              const std::string& key_file);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  void set_route(const std::string& target, HttpsRoute route);
  void remove_route(const std::string& target);
  std::vector<HttpsReceived> received() const;
  std::size_t request_count(const std::string& target) const;
  std::uint16_t port() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace dane::test
