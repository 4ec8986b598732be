// dane::sts::HttpsClient against a real HTTPS server (tests/support/https_server.hpp) with certificates
// made at test time (test_pki.hpp): statuses, redirects (never followed), the body limit, PKIX failures
// (untrusted, wrong name, partial wildcard, expired), the deadline, the address list, POST bodies and
// the CA file. Loopback only (127.0.15.x, the https helper's range), any free port: no root needed.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dane/sts/https_client.hpp"
#include "https_server.hpp"
#include "temp_dir.hpp"
#include "test_pki.hpp"

namespace dane::test {
namespace {

using dane::sts::https_request_blocking;
using dane::sts::HttpsErrorKind;
using dane::sts::HttpsRequest;
using dane::sts::HttpsResult;

constexpr const char* k_server_ip = "127.0.15.1";
constexpr const char* k_silent_ip = "127.0.15.2"; // nothing listens there: connections are refused
constexpr const char* k_host = "mta-sts.a.test";
constexpr const char* k_policy_path = "/.well-known/mta-sts.txt";
constexpr const char* k_policy = "version: STSv1\nmode: enforce\nmx: mx1.a.test\nmax_age: 86400\n";

// A PEM file holding only a CRL signed by the fixture intermediate: loads as a CA file, trusts nobody.
void write_crl_only(const std::string& path) {
  const std::string pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";
  std::FILE* cert_file = std::fopen((pki + "int.crt").c_str(), "r");
  std::FILE* key_file = std::fopen((pki + "int.key").c_str(), "r");
  ASSERT_TRUE(cert_file != nullptr && key_file != nullptr);
  X509* issuer = PEM_read_X509(cert_file, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_PrivateKey(key_file, nullptr, nullptr, nullptr);
  std::fclose(cert_file);
  std::fclose(key_file);
  ASSERT_TRUE(issuer != nullptr && key != nullptr);
  X509_CRL* crl = X509_CRL_new();
  ASN1_TIME* now = ASN1_TIME_set(nullptr, std::time(nullptr));
  ASSERT_EQ(X509_CRL_set_version(crl, 1), 1);
  ASSERT_EQ(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
  ASSERT_EQ(X509_CRL_set1_lastUpdate(crl, now), 1);
  ASSERT_GT(X509_CRL_sign(crl, key, EVP_sha256()), 0);
  std::FILE* out = std::fopen(path.c_str(), "w");
  ASSERT_TRUE(out != nullptr);
  EXPECT_EQ(PEM_write_X509_CRL(out, crl), 1);
  std::fclose(out);
  ASN1_TIME_free(now);
  X509_CRL_free(crl);
  EVP_PKEY_free(key);
  X509_free(issuer);
}

HttpsRoute route(unsigned status, std::string body, std::string location = "",
                 std::chrono::milliseconds delay = std::chrono::milliseconds{0}) {
  return HttpsRoute{status, "text/plain", std::move(body), std::move(location), delay};
}

class HttpsClientTest : public ::testing::Test {
protected:
  // A server at k_server_ip whose certificate is made from `spec`.
  void start_server(const LeafSpec& spec) {
    const LeafFiles leaf = make_leaf(m_dir.path(), "server", spec);
    m_server = std::make_unique<HttpsServer>(k_server_ip, 0, leaf.chain, leaf.key);
  }
  void start_server() { start_server(LeafSpec{{k_host, "other.a.test"}}); }

  HttpsRequest get(const std::string& target = k_policy_path) const {
    HttpsRequest request;
    request.host = k_host;
    request.addresses = {k_server_ip};
    request.port = m_server->port();
    request.target = target;
    request.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    return request;
  }

  HttpsResult fetch(const HttpsRequest& request) const { return https_request_blocking(fixture_root_ca(), request); }

  TempDir m_dir{"https-client"};
  std::unique_ptr<HttpsServer> m_server;
};

TEST_F(HttpsClientTest, Get200ReturnsStatusContentTypeBodyAndAddress) {
  start_server();
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult result = fetch(get());
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_TRUE(result.response.has_value());
  EXPECT_EQ(result.response->status, 200U);
  EXPECT_EQ(result.response->content_type, "text/plain");
  EXPECT_EQ(result.response->body, k_policy);
  EXPECT_EQ(result.response->address, k_server_ip);
  const auto received = m_server->received();
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].method, "GET");
  EXPECT_EQ(received[0].target, k_policy_path);
  EXPECT_EQ(received[0].headers.at("host"), std::string(k_host) + ":" + std::to_string(m_server->port()));
  EXPECT_EQ(received[0].headers.at("user-agent").rfind("dane-policyd/", 0), 0U) << received[0].headers.at("user-agent");
  EXPECT_EQ(received[0].headers.at("connection"), "close");
}

TEST_F(HttpsClientTest, NotFoundIsAResponseNotAnError) {
  start_server();
  const HttpsResult result = fetch(get("/nothing-here"));
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_TRUE(result.response.has_value());
  EXPECT_EQ(result.response->status, 404U);
}

TEST_F(HttpsClientTest, RedirectIsAnHttpErrorAndNotFollowed_Rfc8461_3_3) {
  start_server();
  m_server->set_route(k_policy_path, route(301, "moved\n", "https://elsewhere.a.test/policy"));
  m_server->set_route("/policy", route(200, k_policy));
  const HttpsResult result = fetch(get());
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Http);
  EXPECT_NE(result.error.find("redirect not followed: 301 to https://elsewhere.a.test/policy"), std::string::npos)
      << result.error;
  ASSERT_TRUE(result.response.has_value());
  EXPECT_EQ(result.response->status, 301U);
  EXPECT_EQ(result.response->location, "https://elsewhere.a.test/policy");
  EXPECT_EQ(m_server->received().size(), 1U);
  EXPECT_EQ(m_server->request_count("/policy"), 0U);
}

TEST_F(HttpsClientTest, RedirectLocationIsQuotedInTheError) {
  start_server();
  m_server->set_route(k_policy_path, route(302, "", "https://e.a.test/\xc3\xa9%"));
  const HttpsResult result = fetch(get());
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Http);
  EXPECT_NE(result.error.find("302 to https://e.a.test/%C3%A9%25"), std::string::npos) << result.error;
  ASSERT_TRUE(result.response.has_value());
  EXPECT_EQ(result.response->location, "https://e.a.test/\xc3\xa9%");
}

TEST_F(HttpsClientTest, BodyOverTheLimitIsTooLargeAndAtTheLimitIsRead) {
  start_server();
  constexpr std::size_t k_limit = 64 * 1024;
  m_server->set_route("/big", route(200, std::string(k_limit + 1, 'x')));
  m_server->set_route("/exact", route(200, std::string(k_limit, 'x')));
  HttpsRequest request = get("/big");
  request.max_body = k_limit;
  const HttpsResult big = fetch(request);
  EXPECT_EQ(big.error_kind, HttpsErrorKind::TooLarge) << big.error;
  EXPECT_FALSE(big.response.has_value());
  request.target = "/exact";
  const HttpsResult exact = fetch(request);
  ASSERT_TRUE(exact.ok()) << exact.error;
  EXPECT_EQ(exact.response->body.size(), k_limit);
}

TEST_F(HttpsClientTest, SelfSignedCertificateIsACertificateError) {
  start_server(LeafSpec{{k_host}, true, false});
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult result = fetch(get());
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Certificate) << result.error;
  EXPECT_NE(result.error.find("self"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find(k_host), std::string::npos) << result.error;
  EXPECT_NE(result.error.find(k_server_ip), std::string::npos) << result.error;
  EXPECT_EQ(m_server->received().size(), 0U);
}

TEST_F(HttpsClientTest, WrongNameIsACertificateError) {
  start_server(LeafSpec{{"mta-sts.b.test"}});
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult result = fetch(get());
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Certificate) << result.error;
  EXPECT_NE(result.error.find("hostname mismatch"), std::string::npos) << result.error;
  EXPECT_EQ(m_server->received().size(), 0U);
}

TEST_F(HttpsClientTest, WildcardMatchesOneLabelButAPartialWildcardDoesNot_Rfc6125_6_4_3) {
  start_server(LeafSpec{{"*.a.test"}});
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult full = fetch(get());
  EXPECT_TRUE(full.ok()) << full.error;

  m_server.reset();
  start_server(LeafSpec{{"mta*.a.test"}});
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult partial = fetch(get());
  EXPECT_EQ(partial.error_kind, HttpsErrorKind::Certificate) << partial.error;
}

TEST_F(HttpsClientTest, ExpiredCertificateIsACertificateError) {
  start_server(LeafSpec{{k_host}, false, true});
  m_server->set_route(k_policy_path, route(200, k_policy));
  const HttpsResult result = fetch(get());
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Certificate) << result.error;
  EXPECT_NE(result.error.find("expired"), std::string::npos) << result.error;
}

TEST_F(HttpsClientTest, ServerSlowerThanTheDeadlineIsATimeout) {
  start_server();
  m_server->set_route(k_policy_path, route(200, k_policy, "", std::chrono::seconds(5)));
  HttpsRequest request = get();
  request.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  const HttpsResult result = fetch(request);
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Timeout) << result.error;
  EXPECT_FALSE(result.response.has_value());
  EXPECT_NE(result.error.find(k_server_ip), std::string::npos) << result.error;
}

TEST_F(HttpsClientTest, RefusedAddressIsSkippedAndTheNextAnswers) {
  start_server();
  m_server->set_route(k_policy_path, route(200, k_policy));
  HttpsRequest request = get();
  request.addresses = {k_silent_ip, k_server_ip};
  const HttpsResult result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response->address, k_server_ip);
  EXPECT_EQ(result.response->body, k_policy);
}

TEST_F(HttpsClientTest, NoAddressAcceptingIsAConnectErrorNamingEach) {
  start_server();
  HttpsRequest request = get();
  request.addresses = {k_silent_ip, "not-an-address"};
  const HttpsResult result = fetch(request);
  EXPECT_EQ(result.error_kind, HttpsErrorKind::Connect) << result.error;
  EXPECT_NE(result.error.find(k_silent_ip), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("not-an-address"), std::string::npos) << result.error;
  request.addresses.clear();
  EXPECT_EQ(fetch(request).error_kind, HttpsErrorKind::Resolve);
}

TEST_F(HttpsClientTest, PostBodyAndContentTypeArriveIntact_Rfc8460_5_4) {
  start_server();
  m_server->set_route("/report", route(201, ""));
  std::string body = "\x1f\x8b\x08";
  body += std::string(1, '\0') + "binary report body";
  for (int i = 0; i < 20000; ++i) {
    body += static_cast<char>(i % 251);
  }
  HttpsRequest request = get("/report");
  request.method = "POST";
  request.headers = {{"Content-Type", "application/tlsrpt+gzip"}};
  request.body = body;
  const HttpsResult result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response->status, 201U);
  const auto received = m_server->received();
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].headers.at("content-type"), "application/tlsrpt+gzip");
  EXPECT_EQ(received[0].headers.at("content-length"), std::to_string(body.size()));
  EXPECT_EQ(received[0].body, body);
}

TEST_F(HttpsClientTest, CaFileWithoutCertificateFailsCreateNamingTheFile) {
  boost::asio::io_context io;
  const std::string text = m_dir.file("not-pem.txt");
  std::ofstream(text) << "this is not a certificate\n";
  auto client = dane::sts::HttpsClient::create(io, text);
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().find(text), std::string::npos) << client.error();

  const LeafFiles leaf = make_leaf(m_dir.path(), "k", LeafSpec{{k_host}});
  auto from_key = dane::sts::HttpsClient::create(io, leaf.key);
  ASSERT_FALSE(from_key);
  EXPECT_NE(from_key.error().find(leaf.key), std::string::npos) << from_key.error();

  const std::string crl_only = m_dir.file("crl-only.pem");
  write_crl_only(crl_only);
  auto from_crl = dane::sts::HttpsClient::create(io, crl_only);
  ASSERT_FALSE(from_crl);
  EXPECT_NE(from_crl.error().find(crl_only), std::string::npos) << from_crl.error();

  const std::string missing = m_dir.file("missing.pem");
  auto absent = dane::sts::HttpsClient::create(io, missing);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().find(missing), std::string::npos) << absent.error();

  EXPECT_TRUE(dane::sts::HttpsClient::create(io, fixture_root_ca()));
}

TEST_F(HttpsClientTest, ConcurrentRequestsOnOneLoopEachCompleteOnce) {
  start_server();
  m_server->set_route(k_policy_path, route(200, k_policy));
  m_server->set_route("/slow", route(200, "slow\n", "", std::chrono::milliseconds(300)));
  boost::asio::io_context io;
  auto client = dane::sts::HttpsClient::create(io, fixture_root_ca());
  ASSERT_TRUE(client) << client.error();
  std::vector<HttpsResult> results;
  int calls = 0;
  const auto loop_thread = std::this_thread::get_id();
  for (const char* target : {"/slow", k_policy_path, "/missing"}) {
    (*client)->request(get(target), [&](HttpsResult result) {
      ++calls;
      EXPECT_EQ(std::this_thread::get_id(), loop_thread);
      results.push_back(std::move(result));
    });
  }
  io.run();
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(results.size(), 3U);
  for (const auto& result : results) {
    EXPECT_TRUE(result.ok()) << result.error;
  }
  EXPECT_EQ(m_server->received().size(), 3U);
}

} // namespace
} // namespace dane::test
