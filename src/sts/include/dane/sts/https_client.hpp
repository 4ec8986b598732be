// dane/sts/https_client.hpp — one HTTPS request with PKIX validation, on an Asio event loop (Boost.Beast).
//
// What: GET (MTA-STS policy fetches, RFC 8461 §3.3) and POST (TLSRPT delivery, RFC 8460 §5.4) to a
// named host at addresses the caller resolved (through the validating resolver: the system's resolver
// is never asked). TLS 1.2 or later, SNI = `host`, the chain verified against the trust store (the
// system's, or a CA file) and the certificate checked for `host` (RFC 6125, no IP names).
// Limits: redirects are never followed (a 3xx is an error naming the Location); the body is read up to
// `max_body` bytes (more is an error, not a truncation); the whole request ends by `deadline`.
// Inputs: whatever the server sends: untrusted. Failure modes: every failure is an HttpsResult with a
// kind (for TLSRPT's result types) and a message naming the host, the address and what went wrong.
// Threads: `done` runs on the io_context's thread; requests are independent; the client is shared
// by pointer and must outlive nothing (each request keeps it alive).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "dane/core/expected.hpp"

namespace dane::sts {

struct HttpsRequest {
  std::string method = "GET";         // "GET" or "POST"
  std::string host;                   // SNI, Host header and the name the certificate must carry
  std::vector<std::string> addresses; // tried in order until one connects ("192.0.2.1", "2001:db8::1")
  std::uint16_t port = 443;
  std::string target = "/";                                 // "/.well-known/mta-sts.txt"
  std::vector<std::pair<std::string, std::string>> headers; // extra request headers (e.g. Content-Type)
  std::string body;                                         // POST only
  std::size_t max_body = std::size_t{64} * 1024;
  std::chrono::steady_clock::time_point deadline;
};

struct HttpsResponse {
  unsigned status = 0;
  std::string content_type; // the Content-Type header as sent, empty when absent
  std::string location;     // the Location header (3xx), for the error message
  std::string body;
  std::string address; // the address that answered
};

enum class HttpsErrorKind {
  None,
  Resolve,     // no address to try
  Connect,     // no address accepted the connection
  Tls,         // handshake failed for another reason than the certificate
  Certificate, // chain not trusted, expired, or not valid for `host`
  Http,        // malformed response, redirect, or a status other than the caller accepts
  TooLarge,    // body over max_body
  Timeout,     // deadline reached
};
std::string to_string(HttpsErrorKind kind);

struct HttpsResult {
  HttpsErrorKind error_kind = HttpsErrorKind::None;
  std::string error;                     // empty on success
  std::optional<HttpsResponse> response; // set when a complete response was read (any status)
  bool ok() const { return error_kind == HttpsErrorKind::None; }
};

class HttpsClient : public std::enable_shared_from_this<HttpsClient> {
public:
  // `ca_file`: PEM file of trusted CAs; empty: the system's default trust store. Fails when the file
  // cannot be read or holds no certificate.
  static Expected<std::shared_ptr<HttpsClient>> create(boost::asio::io_context& io, const std::string& ca_file);
  virtual ~HttpsClient() = default;
  // Starts the request; `done` exactly once, on the io_context's thread. A 3xx response is an Http error.
  virtual void request(HttpsRequest request, std::function<void(HttpsResult)> done) = 0;

protected:
  HttpsClient() = default;
};

// For dane-policyctl: a private io_context, run until the request ends.
HttpsResult https_request_blocking(const std::string& ca_file, HttpsRequest request);

} // namespace dane::sts
