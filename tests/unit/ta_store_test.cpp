// Unit tests of the one trust-anchor store (src/policy/ta_store.cpp), shared by dane-policyd and
// `dane-policyctl policy --mode pinned --state-dir`: file contents and names, captured anchors that
// persist in the state directory (so a second store over the same directory — the CLI, or a
// restarted daemon — answers the same), and the refusals that make pinned mode fall back to dane-only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/x509.h>

#include "dane/policy/policy_engine.hpp"
#include "dane/policy/ta_store.hpp"
#include "dane/verifier/pem.hpp"
#include "temp_dir.hpp"

namespace dane::policyd {
namespace {

namespace fs = std::filesystem;

const std::string k_pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::uint8_t> cert_der(const std::string& file) {
  auto bundle = load_pem_bundle_file(k_pki + file);
  EXPECT_TRUE(bundle && bundle->certs.size() == 1) << file;
  if (!bundle || bundle->certs.empty()) {
    return {};
  }
  unsigned char* out = nullptr;
  int n = i2d_X509(bundle->certs.front().get(), &out);
  std::vector<std::uint8_t> der(out, out + std::max(n, 0));
  OPENSSL_free(out);
  return der;
}

TlsaRecord record(std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype, std::vector<std::uint8_t> data) {
  TlsaRecord r;
  r.usage = static_cast<TlsaUsage>(usage);
  r.selector = static_cast<TlsaSelector>(selector);
  r.mtype = static_cast<TlsaMatchingType>(mtype);
  r.data = std::move(data);
  return r;
}

DestinationFacts ta_facts(std::vector<TlsaRecord> tlsa) {
  DestinationFacts f;
  f.next_hop = *parse_next_hop("ta.test");
  f.outcome = DestinationOutcome::DaneOnly;
  f.reason = "usable TLSA";
  f.reference_names = {"ta.test"};
  HostResult h;
  h.name = "mx.ta.test";
  h.tlsa_base = "mx.ta.test";
  h.status = HostStatus::DaneUsable;
  h.tlsa = std::move(tlsa);
  f.hosts.push_back(std::move(h));
  return f;
}

class TrustAnchorStoreTest : public ::testing::Test {
protected:
  dane::test::TempDir m_tmp{"ta-store-test"};
  std::string m_dir = m_tmp.path();
};

TEST_F(TrustAnchorStoreTest, FullCertificateRecordGivesAContentNamedPemFile) {
  TrustAnchorStore store(m_dir);
  auto file = store.file_for(ta_facts({record(2, 0, 0, cert_der("int.crt"))}));
  ASSERT_TRUE(file);
  EXPECT_EQ(slurp(*file), slurp(k_pki + "int.crt")) << "the record's DER, as PEM";
  EXPECT_EQ(fs::path(*file).parent_path(), fs::path(m_dir));
  EXPECT_TRUE(fs::path(*file).filename().string().starts_with("ta-"));
  EXPECT_EQ(fs::path(*file).filename().string().size(), 3u + 64u + 4u) << *file;
  auto perms = fs::status(*file).permissions();
  EXPECT_NE(perms & fs::perms::others_read, fs::perms::none) << "Postfix's smtp must read it";
  // The same anchors again (from another store over the directory): the same file.
  TrustAnchorStore other(m_dir);
  EXPECT_EQ(other.file_for(ta_facts({record(2, 0, 0, cert_der("int.crt"))})), file);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(m_dir)) {
    ++files;
  }
  EXPECT_EQ(files, 1u) << "no temporary file left behind";
}

TEST_F(TrustAnchorStoreTest, OrderOfRecordsDoesNotChangeTheFile) {
  TrustAnchorStore store(m_dir);
  auto a = record(2, 0, 0, cert_der("int.crt"));
  auto b = record(2, 0, 0, cert_der("leaf-p256.crt"));
  auto ab = store.file_for(ta_facts({a, b}));
  auto ba = store.file_for(ta_facts({b, a}));
  ASSERT_TRUE(ab);
  EXPECT_EQ(ab, ba);
  auto only_a = store.file_for(ta_facts({a}));
  ASSERT_TRUE(only_a);
  EXPECT_NE(*only_a, *ab) << "a changed RRset gets a new name";
}

TEST_F(TrustAnchorStoreTest, DigestRecordNeedsACapturedAnchor) {
  TrustAnchorStore store(m_dir);
  auto digest = named_digest("sha256", cert_der("int.crt"));
  ASSERT_TRUE(digest);
  auto r = record(2, 0, 1, *digest);
  EXPECT_FALSE(store.file_for(ta_facts({r}))) << "no anchor known: no file (pinned answers dane-only)";
  const std::string pem = slurp(k_pki + "int.crt");
  store.captured(r, pem);
  auto file = store.file_for(ta_facts({r}));
  ASSERT_TRUE(file);
  EXPECT_EQ(slurp(*file), pem);
  EXPECT_EQ(slurp(store.captured_path(r)), pem) << "captured anchors persist in the state directory";
  // Another process over the same directory (the CLI) knows the captured anchor too.
  TrustAnchorStore cli(m_dir);
  EXPECT_EQ(cli.file_for(ta_facts({r})), file);
  // ... but not over another directory.
  TrustAnchorStore elsewhere(m_dir + "/nonexistent");
  EXPECT_FALSE(elsewhere.file_for(ta_facts({r})));
}

TEST_F(TrustAnchorStoreTest, OneMissingAnchorMeansNoFile) {
  TrustAnchorStore store(m_dir);
  auto full = record(2, 0, 0, cert_der("int.crt"));
  auto digest_only = record(2, 1, 1, std::vector<std::uint8_t>(32, 0xab));
  EXPECT_FALSE(store.file_for(ta_facts({full, digest_only})));
  EXPECT_FALSE(store.file_for(ta_facts({record(2, 0, 0, {1, 2, 3})}))) << "data that is not a certificate";
  EXPECT_FALSE(store.file_for(ta_facts({}))) << "no DANE-TA record at all";
  EXPECT_FALSE(store.file_for(ta_facts({record(3, 1, 1, std::vector<std::uint8_t>(32, 1))}))) << "DANE-EE only";
}

TEST_F(TrustAnchorStoreTest, GarbageInACapturedFileIsNotAnAnchor) {
  auto r = record(2, 0, 1, std::vector<std::uint8_t>(32, 0xcd));
  TrustAnchorStore store(m_dir);
  {
    std::ofstream out(store.captured_path(r));
    out << "not a certificate\n";
  }
  EXPECT_FALSE(store.file_for(ta_facts({r})));
}

TEST_F(TrustAnchorStoreTest, SpkiRecordGivesAPublicKeyBlock) {
  auto bundle = load_pem_bundle_file(k_pki + "int.pub");
  ASSERT_TRUE(bundle && bundle->public_keys.size() == 1);
  unsigned char* out = nullptr;
  int n = i2d_PUBKEY(bundle->public_keys.front().get(), &out);
  std::vector<std::uint8_t> der(out, out + std::max(n, 0));
  OPENSSL_free(out);
  TrustAnchorStore store(m_dir);
  auto file = store.file_for(ta_facts({record(2, 1, 0, der)}));
  ASSERT_TRUE(file);
  EXPECT_EQ(slurp(*file), slurp(k_pki + "int.pub"));
}

TEST_F(TrustAnchorStoreTest, PinnedModeAnswersSecureWithTheStoresFile) {
  TrustAnchorStore store(m_dir);
  PinnedOptions pinned;
  pinned.ta_file = [&store](const DestinationFacts& f) { return store.file_for(f); };
  auto facts = ta_facts({record(2, 0, 0, cert_der("int.crt"))});
  PolicyAnswer a = decide(facts, Mode::Pinned, pinned);
  ASSERT_EQ(a.policy, PolicyKind::Secure) << a.answer;
  EXPECT_EQ(a.answer, "OK secure tafile=" + *store.file_for(facts) + " match=ta.test:mx.ta.test");
}

} // namespace
} // namespace dane::policyd
