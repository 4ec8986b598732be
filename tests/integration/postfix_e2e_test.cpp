// End-to-end: a real Postfix sender delivering to a real Postfix receiver on loopback.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "postfix_instance.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

class PostfixE2e : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!is_root() || find_program("postfix").empty()) {
      return;
    }
    s_block = loopback_block(25);
    s_certs = std::make_unique<TempDir>("e2e-certs");
    std::string key = s_certs->path() + "/key.pem";
    std::string cert = s_certs->path() + "/cert.pem";
    auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=mx.rig.test"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    s_receiver = std::make_unique<PostfixInstance>("receiver", s_block + "2");
    s_receiver->make_receiver();
    s_receiver->add_smtpd(s_block + "11", 25, key, cert);
    s_receiver->start();
    s_sender = std::make_unique<PostfixInstance>("sender", s_block + "3");
    write_file_text(s_sender->config_dir() + "/transport", "plain.rig.test smtp:[" + s_block + "11]:25\n");
    s_sender->set("transport_maps", "texthash:" + s_sender->config_dir() + "/transport");
    s_sender->set("smtp_tls_security_level", "may");
    s_sender->start();
  }
  static void TearDownTestSuite() {
    s_sender.reset();
    s_receiver.reset();
    s_certs.reset();
  }
  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "Postfix end-to-end tests need root (postfix start, postdrop, postsuper)");
    DANE_REQUIRE_OR_SKIP(!find_program("postfix").empty(), "postfix is not installed (scripts/install-deps.sh)");
    ASSERT_TRUE(s_sender && s_receiver && s_sender->running() && s_receiver->running());
    s_sender->clear_queue();
  }

  static inline std::string s_block;
  static inline std::unique_ptr<TempDir> s_certs;
  static inline std::unique_ptr<PostfixInstance> s_receiver;
  static inline std::unique_ptr<PostfixInstance> s_sender;
};

TEST_F(PostfixE2e, Baseline_OpportunisticTls_DeliveredOnce) {
  auto smark = s_sender->log_mark();
  auto rmark = s_receiver->log_mark();
  std::string id = s_sender->submit("alice@sender.rig.invalid", "bob@plain.rig.test", "baseline");
  auto sent = s_sender->wait_for_log("status=sent", smark);
  ASSERT_TRUE(sent) << sent.log;
  auto tls = s_sender->log_lines("TLS connection established to", smark);
  ASSERT_EQ(tls.size(), 1u) << s_sender->log_since(smark);
  EXPECT_NE(tls[0].find("Untrusted TLS connection established"), std::string::npos) << tls[0];
  auto got = s_receiver->wait_for_log("message-id=<" + id + ">", rmark);
  ASSERT_TRUE(got) << got.log;
  EXPECT_EQ(s_receiver->log_lines("message-id=<" + id + ">", rmark).size(), 1u);
}

} // namespace
} // namespace dane::test
