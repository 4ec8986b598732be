// Unit tests of the one OpenSSL error-text helper (src/verifier/openssl_error.cpp).
#include <string>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dane/verifier/handles.hpp"
#include "dane/verifier/openssl_error.hpp"

namespace dane {
namespace {

void queue_error(int lib, int reason) {
  ERR_new();
  ERR_set_error(lib, reason, nullptr);
}

TEST(OpensslErrorText, EmptyQueueSaysWhichCallFailed) {
  ERR_clear_error();
  EXPECT_EQ(openssl_error_text("SSL_CTX_new"), "SSL_CTX_new failed without an OpenSSL error report");
}

TEST(OpensslErrorText, LastQueuedErrorWinsAndTheQueueIsDrained) {
  ERR_clear_error();
  queue_error(ERR_LIB_X509, X509_R_CERT_ALREADY_IN_HASH_TABLE); // an inner cause
  queue_error(ERR_LIB_PEM, PEM_R_NO_START_LINE);                // what the failing call raised
  EXPECT_EQ(openssl_error_text("PEM_read_bio"), "no start line");
  EXPECT_EQ(ERR_peek_error(), 0u);
  // Nothing stale is left for the next caller.
  EXPECT_EQ(openssl_error_text("next"), "next failed without an OpenSSL error report");
}

TEST(OpensslErrorText, RealDecodingFailureHasItsReason) {
  ERR_clear_error();
  static constexpr unsigned char k_not_der[] = {0x30, 0x03, 0x02, 0x01};
  const unsigned char* p = k_not_der;
  X509Ptr cert(d2i_X509(nullptr, &p, sizeof k_not_der));
  ASSERT_FALSE(cert);
  unsigned long last = ERR_peek_last_error();
  ASSERT_NE(last, 0u);
  const char* reason = ERR_reason_error_string(last);
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(openssl_error_text("d2i_X509"), reason);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

} // namespace
} // namespace dane
