// The TSIG key-file parser, --update-server parsing and the UPDATE message of rollover --publish
// (dane/tools/dns_update.hpp).
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include "dane/core/fd.hpp"
#include "dane/tools/dns_update.hpp"
#include "files.hpp"
#include "temp_dir.hpp"

namespace {

using dane::tools::parse_tsig_key;

constexpr const char* k_secret = "GDiH3csdNm8YlpIiJlfJJLVU1sLNXLwwwgZIC2RfCr4=";

std::string key_text(const std::string& algorithm, const std::string& secret) {
  return "key \"mx-update.example.org\" {\n\talgorithm " + algorithm + ";\n\tsecret \"" + secret + "\";\n};\n";
}

TEST(TsigKeyFile, TsigKeygenOutputParses) {
  auto key = parse_tsig_key(key_text("hmac-sha256", k_secret), "k.key");
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->name, "mx-update.example.org");
  EXPECT_EQ(key->algorithm, "hmac-sha256");
  EXPECT_EQ(key->secret, k_secret);
}

TEST(TsigKeyFile, Sha512CommentsAndTrailingDotParse) {
  const std::string text = "# made by tsig-keygen\n/* a comment */ key \"Upd.\" { // name\n algorithm HMAC-SHA512.;"
                           " secret \"" +
                           std::string(k_secret) + "\"; };\n";
  auto key = parse_tsig_key(text, "k.key");
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->name, "upd");
  EXPECT_EQ(key->algorithm, "hmac-sha512");
}

TEST(TsigKeyFile, BadBase64IsNamed) {
  for (const std::string secret : {"GDiH3csdNm8Y!pIiJlfJJLVU1sLNXLwwwgZIC2RfCr4=", "GDiH3csd=m8Y", "abc", "===="}) {
    auto key = parse_tsig_key(key_text("hmac-sha256", secret), "/etc/k.key");
    ASSERT_FALSE(key) << secret;
    EXPECT_NE(key.error().find("/etc/k.key"), std::string::npos) << key.error();
    EXPECT_NE(key.error().find("base64"), std::string::npos) << key.error();
  }
}

TEST(TsigKeyFile, UnknownAlgorithmIsNamed) {
  for (const std::string algorithm : {"hmac-md5", "hmac-sha1", "rsa"}) {
    auto key = parse_tsig_key(key_text(algorithm, k_secret), "/etc/k.key");
    ASSERT_FALSE(key) << algorithm;
    EXPECT_NE(key.error().find("/etc/k.key"), std::string::npos) << key.error();
    EXPECT_NE(key.error().find("algorithm '" + algorithm + "'"), std::string::npos) << key.error();
  }
}

TEST(TsigKeyFile, MissingFieldsAreNamed) {
  auto no_secret = parse_tsig_key("key \"k\" { algorithm hmac-sha256; };", "f");
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().find("no secret"), std::string::npos) << no_secret.error();
  auto no_algorithm = parse_tsig_key("key \"k\" { secret \"" + std::string(k_secret) + "\"; };", "f");
  ASSERT_FALSE(no_algorithm);
  EXPECT_NE(no_algorithm.error().find("no algorithm"), std::string::npos) << no_algorithm.error();
  auto empty_secret = parse_tsig_key(key_text("hmac-sha256", ""), "f");
  ASSERT_FALSE(empty_secret);
  EXPECT_NE(empty_secret.error().find("empty"), std::string::npos) << empty_secret.error();
  EXPECT_FALSE(parse_tsig_key("", "f"));
  EXPECT_FALSE(parse_tsig_key("key \"k\" { algorithm hmac-sha256; secret \"" + std::string(k_secret) + "\";", "f"));
  EXPECT_FALSE(parse_tsig_key(key_text("hmac-sha256", k_secret) + key_text("hmac-sha256", k_secret), "f"));
  EXPECT_FALSE(parse_tsig_key("key \"k\" { algorithm hmac-sha256 secret \"x\"; };", "f"));
}

TEST(TsigKeyFile, LoadNamesAMissingFile) {
  dane::test::TempDir dir("tsig");
  auto missing = dane::tools::load_tsig_key_file(dir.file("nope.key"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("nope.key"), std::string::npos);
  dane::test::write_text_file_or_throw(dir.file("ok.key"), key_text("hmac-sha256", k_secret));
  EXPECT_TRUE(dane::tools::load_tsig_key_file(dir.file("ok.key")));
}

TEST(UpdateServer, AddressAndPort) {
  auto plain = dane::tools::parse_update_server("127.0.0.1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 53);
  auto with_port = dane::tools::parse_update_server("[::1]@5353");
  ASSERT_TRUE(with_port);
  EXPECT_EQ(with_port->address, "::1");
  EXPECT_EQ(with_port->port, 5353);
  EXPECT_EQ(with_port->label(), "[::1]@5353");
  EXPECT_FALSE(dane::tools::parse_update_server("ns1.example.org"));
  EXPECT_FALSE(dane::tools::parse_update_server("127.0.0.1@0"));
  EXPECT_FALSE(dane::tools::parse_update_server("127.0.0.1@70000"));
}

dane::TlsaRecord record(std::uint8_t last) {
  dane::TlsaRecord r;
  r.data.assign(32, 0);
  r.data.back() = last;
  return r;
}

// Decodes the message and returns (prerequisite, update) sections as text.
std::pair<std::string, std::string> sections(const std::vector<std::uint8_t>& wire) {
  ldns_pkt* pkt = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&pkt, wire.data(), wire.size()), LDNS_STATUS_OK);
  char* pr = ldns_rr_list2str(ldns_pkt_answer(pkt));    // prerequisite section
  char* up = ldns_rr_list2str(ldns_pkt_authority(pkt)); // update section
  std::pair<std::string, std::string> out{pr, up};
  free(pr); // NOLINT
  free(up); // NOLINT
  EXPECT_EQ(ldns_pkt_get_opcode(pkt), LDNS_PACKET_UPDATE);
  ldns_pkt_free(pkt);
  return out;
}

TEST(UpdateMessage, PublishListsTheWholeSeenRrsetAndAddsOnlyTheNext) {
  dane::tools::TlsaUpdate u;
  u.zone = "example.org";
  u.owner = "_25._tcp.mx.example.org";
  u.ttl = 600;
  u.seen = {record(1), record(2)};
  u.change = {record(3)};
  auto wire = dane::tools::build_tlsa_update(u);
  ASSERT_TRUE(wire) << wire.error();
  auto [pr, up] = sections(*wire);
  EXPECT_NE(pr.find("\t0\tIN\tTLSA\t3 1 1 " + std::string(62, '0') + "01"), std::string::npos) << pr;
  EXPECT_NE(pr.find("\t0\tIN\tTLSA\t3 1 1 " + std::string(62, '0') + "02"), std::string::npos) << pr;
  EXPECT_EQ(up, "_25._tcp.mx.example.org.\t600\tIN\tTLSA\t3 1 1 " + std::string(62, '0') + "03\n");
}

TEST(UpdateMessage, PublishOnAnEmptyRrsetRequiresItAbsent) {
  dane::tools::TlsaUpdate u;
  u.zone = "example.org";
  u.owner = "_25._tcp.mx.example.org";
  u.change = {record(3)};
  auto wire = dane::tools::build_tlsa_update(u);
  ASSERT_TRUE(wire) << wire.error();
  auto [pr, up] = sections(*wire);
  EXPECT_NE(pr.find("\t0\tNONE\tTLSA"), std::string::npos) << pr;
}

TEST(UpdateMessage, RemoveDeletesExactlyTheOldRecords) {
  dane::tools::TlsaUpdate u;
  u.action = dane::tools::UpdateAction::Remove;
  u.zone = "example.org";
  u.owner = "_25._tcp.mx.example.org";
  u.seen = {record(1), record(3)};
  u.change = {record(1)};
  auto wire = dane::tools::build_tlsa_update(u);
  ASSERT_TRUE(wire) << wire.error();
  auto [pr, up] = sections(*wire);
  EXPECT_NE(pr.find(std::string(62, '0') + "03"), std::string::npos) << pr;
  EXPECT_EQ(up, "_25._tcp.mx.example.org.\t0\tNONE\tTLSA\t3 1 1 " + std::string(62, '0') + "01\n");
}

// A responder on loopback that answers one update with NOERROR, no TSIG (a spoofed or misconfigured answer).
class UnsignedResponder {
public:
  UnsignedResponder() : m_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof sa;
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    ::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    ::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&sa), &length);
    m_port = ntohs(sa.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~UnsignedResponder() { m_thread.join(); }
  UnsignedResponder(const UnsignedResponder&) = delete;
  UnsignedResponder& operator=(const UnsignedResponder&) = delete;
  std::uint16_t port() const { return m_port; }

private:
  void serve() {
    std::vector<std::uint8_t> query(65535);
    sockaddr_storage from{};
    socklen_t length = sizeof from;
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    const ssize_t n =
        ::recvfrom(m_fd.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&from), &length);
    if (n < 12) {
      return;
    }
    std::size_t end = 12; // the zone section: one name + type + class
    while (end < static_cast<std::size_t>(n) && query[end] != 0) {
      end += query[end] + 1;
    }
    end += 5;
    if (end > static_cast<std::size_t>(n)) {
      return;
    }
    // The answer is the query's header and zone section, in place: QR set, NOERROR, no further records.
    query[2] = static_cast<std::uint8_t>(query[2] | 0x80);
    query[3] = 0;
    std::fill(query.begin() + 6, query.begin() + 12, std::uint8_t{0});
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    ::sendto(m_fd.get(), query.data(), end, 0, reinterpret_cast<sockaddr*>(&from), length);
  }
  dane::Fd m_fd;
  std::uint16_t m_port = 0;
  std::thread m_thread;
};

TEST(UpdateAnswer, NoerrorWithoutAValidTsigIsNotTrusted) {
  UnsignedResponder responder;
  auto key = parse_tsig_key(key_text("hmac-sha256", k_secret), "k.key");
  ASSERT_TRUE(key) << key.error();
  dane::tools::TlsaUpdate u;
  u.zone = "example.org";
  u.owner = "_25._tcp.mx.example.org";
  u.change = {record(3)};
  auto result = dane::tools::send_tlsa_update(u, *key, {"127.0.0.1", responder.port()}, std::chrono::seconds(10));
  EXPECT_EQ(result.outcome, dane::tools::UpdateOutcome::Unauthenticated) << result.message;
  EXPECT_TRUE(result.temporary);
  EXPECT_NE(result.message.find("does not verify"), std::string::npos) << result.message;
}

} // namespace
