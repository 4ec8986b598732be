// Unit tests of the DNS helpers (src/verifier/dns.cpp) and the shared resolver options
// (src/daemon/resolver_options.cpp). No network: resolver creation never sends a query.
#include <gtest/gtest.h>

#include <cstdio>

#include <unistd.h>

#include "dane/daemon/resolver_options.hpp"
#include "dane/verifier/dns.hpp"

namespace dane {
namespace {

namespace po = boost::program_options;

TEST(DnsRdata, MxRdataIsPreferenceAndLowercaseName) {
  std::vector<std::uint8_t> rdata = {0,   10,  2,   'M', 'x', 7,   'e', 'x', 'a', 'm',
                                     'p', 'l', 'e', 4,   't', 'e', 's', 't', 0};
  auto mx = parse_mx_rdata(rdata);
  ASSERT_TRUE(mx) << mx.error();
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx.example.test");
}

TEST(DnsRdata, Rfc7505_NullMxIsTheRootName) {
  auto mx = parse_mx_rdata({0, 0, 0});
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 0);
  EXPECT_EQ(mx->exchange, ".");
}

TEST(DnsRdata, MalformedMxRdataIsAnError) {
  EXPECT_FALSE(parse_mx_rdata({0, 10}));
  EXPECT_FALSE(parse_mx_rdata({0, 10, 5, 'a', 'b'}));
  EXPECT_FALSE(parse_mx_rdata({0, 10, 1, 'a', 0, 7}));
}

TEST(DnsRdata, AddressesAsText) {
  EXPECT_EQ(*parse_address_rdata(RrType::A, {192, 0, 2, 1}), "192.0.2.1");
  std::vector<std::uint8_t> v6(16, 0);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = 0xb8;
  v6[15] = 1;
  EXPECT_EQ(*parse_address_rdata(RrType::Aaaa, v6), "2001:db8::1");
  EXPECT_FALSE(parse_address_rdata(RrType::A, v6));
  EXPECT_FALSE(parse_address_rdata(RrType::Aaaa, {1, 2, 3, 4}));
}

TEST(DnsNames, PinnedSecuritySpellings) {
  EXPECT_EQ(to_string(DnsSecurity::Secure), "secure");
  EXPECT_EQ(to_string(DnsSecurity::Insecure), "insecure");
  EXPECT_EQ(to_string(DnsSecurity::Bogus), "bogus");
  EXPECT_EQ(to_string(DnsSecurity::Failed), "error");
  EXPECT_EQ(to_string(RrType::Tlsa), "TLSA");
}

TEST(UnboundResolver, ConfigurationErrorsNameTheOption) {
  ResolverConfig config;
  config.unbound_config = "/nonexistent/unbound.conf";
  auto r = make_unbound_resolver(config);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("--unbound-config /nonexistent/unbound.conf"), std::string::npos) << r.error();

  config = {};
  config.trust_anchor_file = "/nonexistent/root.key";
  r = make_unbound_resolver(config);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("--trust-anchor-file /nonexistent/root.key"), std::string::npos) << r.error();

  config = {};
  config.forwarders = {"not-an-address"};
  r = make_unbound_resolver(config);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("--forwarder not-an-address"), std::string::npos) << r.error();
}

TEST(UnboundResolver, SyntaxErrorInConfigFileIsReportedAtCreation) {
  char path[] = "/tmp/dane-dns-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "server:\n  no-such-option: yes\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  ResolverConfig config;
  config.unbound_config = path;
  auto r = make_unbound_resolver(config);
  ::unlink(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("--unbound-config"), std::string::npos) << r.error();
}

TEST(UnboundResolver, DefaultConfigurationStartsWithoutNetwork) {
  auto r = make_unbound_resolver(ResolverConfig{});
  if (::access(k_default_trust_anchor_file, R_OK) != 0) {
    EXPECT_FALSE(r);
    return;
  }
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)->timeout(), std::chrono::milliseconds(10000));
}

po::variables_map parse(const std::vector<std::string>& args) {
  po::options_description desc;
  policyd::add_resolver_options(desc);
  std::vector<const char*> argv = {"prog"};
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  po::variables_map vm;
  po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), desc), vm);
  po::notify(vm);
  return vm;
}

TEST(ResolverOptions, PinnedNamesParseIntoResolverConfig) {
  auto config =
      policyd::resolver_config_from(parse({"--unbound-config", "/etc/u.conf", "--forwarder", "127.0.0.1@5353",
                                           "--forwarder", "::1", "--trust-anchor-file", "/k", "--dns-timeout", "2.5"}));
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->unbound_config, "/etc/u.conf");
  EXPECT_EQ(config->forwarders, (std::vector<std::string>{"127.0.0.1@5353", "::1"}));
  EXPECT_EQ(config->trust_anchor_file, "/k");
  EXPECT_EQ(config->timeout, std::chrono::milliseconds(2500));
}

TEST(ResolverOptions, DefaultsAreTheEmbeddedResolver) {
  auto config = policyd::resolver_config_from(parse({}));
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->unbound_config.empty());
  EXPECT_TRUE(config->forwarders.empty());
  EXPECT_TRUE(config->trust_anchor_file.empty());
  EXPECT_EQ(config->timeout, std::chrono::seconds(10));
}

TEST(ResolverOptions, BadValuesNameTheOption) {
  auto bad_fwd = policyd::resolver_config_from(parse({"--forwarder", "dns.example@53"}));
  ASSERT_FALSE(bad_fwd);
  EXPECT_NE(bad_fwd.error().find("--forwarder dns.example@53"), std::string::npos);
  auto bad_port = policyd::resolver_config_from(parse({"--forwarder", "127.0.0.1@99999"}));
  ASSERT_FALSE(bad_port);
  EXPECT_NE(bad_port.error().find("--forwarder"), std::string::npos);
  auto bad_timeout = policyd::resolver_config_from(parse({"--dns-timeout", "0"}));
  ASSERT_FALSE(bad_timeout);
  EXPECT_NE(bad_timeout.error().find("--dns-timeout"), std::string::npos);
  EXPECT_THROW(parse({"--dns-timeout", "soon"}), po::error);
}

} // namespace
} // namespace dane
