// `dane-policyctl tlsa` against the openssl CLI: for every key type of the fixture PKI
// (RSA 2048, P-256, P-384, Ed25519) and every selector / matching type, the record
// printed by dane-policyctl must equal what the openssl pipelines give, e.g.
//   openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
// from a certificate, a chain (--cert-index), a public key and a private key.
// Also checks the library side (make_tlsa over load_pem_bundle_file) on the same grid.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>

#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace {

const std::string k_pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";

struct RunResult {
  int status = -1;
  std::string out;
};

// Runs `command` with /bin/sh (the cross-checks are shell pipelines: openssl | sha256sum), capturing
// stdout (callers that want stderr fold it in with 2>&1).
RunResult run(const std::string& command) {
  auto p = dane::test::run_process({"/bin/sh", "-c", command}, std::chrono::seconds(60), false);
  return RunResult{p.exit_code, std::move(p.output)};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

std::string policyctl() {
  const char* path = std::getenv("DANE_POLICYCTL");
  return path != nullptr ? path : "";
}

// Expected data computed by the openssl CLI and coreutils only (independent of our code).
struct OpensslData {
  std::array<std::array<std::string, 3>, 2> hex; // [selector][mtype]
};

OpensslData compute_openssl_data(const std::string& cert_file) {
  OpensslData d;
  const std::string q = "'" + k_pki + cert_file + "'";
  const std::array<std::string, 2> der = {
      "openssl x509 -in " + q + " -outform DER",
      "openssl x509 -in " + q + " -pubkey -noout | openssl pkey -pubin -outform DER",
  };
  for (std::size_t s = 0; s < 2; ++s) {
    d.hex[s][0] = trim(run(der[s] + " | od -An -v -tx1 | tr -d ' \\n'").out);
    d.hex[s][1] = trim(run(der[s] + " | sha256sum | cut -c1-64").out);
    d.hex[s][2] = trim(run(der[s] + " | sha512sum | cut -c1-128").out);
  }
  return d;
}

// Each certificate's data is computed once per test process (process start-up is the slow part).
const OpensslData& openssl_data(const std::string& cert_file) {
  static std::map<std::string, OpensslData> cache;
  auto it = cache.find(cert_file);
  if (it == cache.end()) {
    it = cache.emplace(cert_file, compute_openssl_data(cert_file)).first;
  }
  return it->second;
}

struct KeyType {
  const char* name; // fixture base name
  const char* label;
};

// Readable parameter printing in --gtest_list_tests and failure messages.
void PrintTo(const KeyType& k, std::ostream* os) {
  *os << k.name << " (" << k.label << ")";
}

constexpr KeyType k_key_types[] = {
    {"leaf-rsa", "RSA 2048"},
    {"leaf-p256", "EC P-256"},
    {"leaf-p384", "EC P-384"},
    {"leaf-ed25519", "ED25519"},
};

class TlsaGen : public ::testing::TestWithParam<KeyType> {
protected:
  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(!policyctl().empty(), "DANE_POLICYCTL is not set (run through ctest)");
    DANE_REQUIRE_OR_SKIP(!dane::test::find_program("openssl").empty(), "the openssl CLI is not installed");
  }
};

TEST_P(TlsaGen, CertificateEverySelectorAndMatchingTypeEqualsOpenssl) {
  const std::string base = GetParam().name;
  const OpensslData& want = openssl_data(base + ".crt");
  for (int s = 0; s < 2; ++s) {
    for (int m = 0; m < 3; ++m) {
      ASSERT_FALSE(want.hex[s][m].empty());
      const int u = (s + m) % 2 == 0 ? 3 : 2; // both usages, alternating over the grid
      std::string args = " -u " + std::to_string(u) + " -s " + std::to_string(s) + " -m " + std::to_string(m);
      RunResult got = run(policyctl() + " tlsa" + args + " '" + k_pki + base + ".crt'");
      EXPECT_EQ(got.status, 0) << args;
      EXPECT_EQ(got.out,
                std::to_string(u) + " " + std::to_string(s) + " " + std::to_string(m) + " " + want.hex[s][m] + "\n")
          << args;
    }
  }
}

TEST_P(TlsaGen, DefaultsAre311) {
  const std::string base = GetParam().name;
  const OpensslData& want = openssl_data(base + ".crt");
  RunResult got = run(policyctl() + " tlsa '" + k_pki + base + ".crt'");
  EXPECT_EQ(got.status, 0);
  EXPECT_EQ(got.out, "3 1 1 " + want.hex[1][1] + "\n");
}

TEST_P(TlsaGen, PublicAndPrivateKeyGiveTheSpkiRecords) {
  const std::string base = GetParam().name;
  const OpensslData& want = openssl_data(base + ".crt");
  for (const char* ext : {".pub", ".key"}) {
    for (int m : std::string(ext) == ".pub" ? std::vector<int>{0, 1, 2} : std::vector<int>{1}) {
      RunResult got = run(policyctl() + " tlsa -m " + std::to_string(m) + " '" + k_pki + base + ext + "'");
      EXPECT_EQ(got.status, 0) << ext;
      EXPECT_EQ(got.out, "3 1 " + std::to_string(m) + " " + want.hex[1][m] + "\n") << ext << " -m " << m;
    }
    // Selector 0 needs the certificate: a clear error, exit 2.
    RunResult bad = run(policyctl() + " tlsa -s 0 '" + k_pki + base + ext + "' 2>&1");
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.out.find(std::string("holds a key (") + GetParam().label + "), not a certificate"), std::string::npos)
        << bad.out;
  }
}

TEST_P(TlsaGen, ChainCertIndexPicksTheCertificate) {
  const std::string base = GetParam().name;
  const OpensslData& leaf = openssl_data(base + ".crt");
  const OpensslData& inter = openssl_data("int.crt");
  const OpensslData& root = openssl_data("root.crt");
  const std::string chain = " '" + k_pki + base + ".fullchain.pem'";
  EXPECT_EQ(run(policyctl() + " tlsa" + chain).out, "3 1 1 " + leaf.hex[1][1] + "\n");
  EXPECT_EQ(run(policyctl() + " tlsa --cert-index 0" + chain).out, "3 1 1 " + leaf.hex[1][1] + "\n");
  EXPECT_EQ(run(policyctl() + " tlsa -u 2 --cert-index 1" + chain).out, "2 1 1 " + inter.hex[1][1] + "\n");
  EXPECT_EQ(run(policyctl() + " tlsa -u 2 -s 0 -m 2 --cert-index 2" + chain).out, "2 0 2 " + root.hex[0][2] + "\n");
  RunResult bad = run(policyctl() + " tlsa --cert-index 3" + chain + " 2>&1");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("holds 3 certificate(s); --cert-index 3 is out of range"), std::string::npos) << bad.out;
}

TEST_P(TlsaGen, HostPrintsTheZoneFileLine) {
  const std::string base = GetParam().name;
  const OpensslData& want = openssl_data(base + ".crt");
  const std::string file = " '" + k_pki + base + ".crt'";
  EXPECT_EQ(run(policyctl() + " tlsa --host mx.example.test" + file).out,
            "_25._tcp.mx.example.test. IN TLSA 3 1 1 " + want.hex[1][1] + "\n");
  EXPECT_EQ(run(policyctl() + " tlsa --host mx.example.test. --port 465 --proto udp -m 2" + file).out,
            "_465._udp.mx.example.test. IN TLSA 3 1 2 " + want.hex[1][2] + "\n");
}

// The library path (no process) on the same grid: load_pem_bundle_file + make_tlsa.
TEST_P(TlsaGen, LibraryMatchesOpenssl) {
  const std::string base = GetParam().name;
  const OpensslData& want = openssl_data(base + ".crt");
  auto cert = dane::load_pem_bundle_file(k_pki + base + ".crt");
  auto key = dane::load_pem_bundle_file(k_pki + base + ".key");
  ASSERT_TRUE(cert.has_value()) << cert.error();
  ASSERT_TRUE(key.has_value()) << key.error();
  ASSERT_EQ(cert->certs.size(), 1u);
  ASSERT_EQ(key->private_keys.size(), 1u);
  EXPECT_EQ(dane::describe_key(key->private_keys[0].get()), GetParam().label);
  for (std::uint8_t s = 0; s < 2; ++s) {
    for (std::uint8_t m = 0; m < 3; ++m) {
      SCOPED_TRACE("certificate, selector " + std::to_string(s) + ", matching type " + std::to_string(m));
      auto r = dane::make_tlsa(cert->certs[0].get(), dane::TlsaUsage::DaneEe, dane::TlsaSelector{s},
                               dane::TlsaMatchingType{m});
      ASSERT_TRUE(r.has_value()) << r.error();
      EXPECT_EQ(dane::to_hex(r->data), want.hex[s][m]);
    }
  }
  for (std::uint8_t m = 0; m < 3; ++m) {
    SCOPED_TRACE("private key, matching type " + std::to_string(m));
    auto r = dane::make_tlsa(key->private_keys[0].get(), dane::TlsaUsage::DaneEe, dane::TlsaSelector::Spki,
                             dane::TlsaMatchingType{m});
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(dane::to_hex(r->data), want.hex[1][m]);
  }
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, TlsaGen, ::testing::ValuesIn(k_key_types),
                         [](const ::testing::TestParamInfo<KeyType>& param_info) {
                           std::string n = param_info.param.name;
                           return n.substr(n.find('-') + 1);
                         });

// Traditional ("BEGIN RSA PRIVATE KEY" / "BEGIN EC PRIVATE KEY") key files work as PKCS#8 ones do.
TEST(TlsaGenFormats, TraditionalPrivateKeyFormats) {
  DANE_REQUIRE_OR_SKIP(!policyctl().empty(), "DANE_POLICYCTL is not set (run through ctest)");
  DANE_REQUIRE_OR_SKIP(!dane::test::find_program("openssl").empty(), "the openssl CLI is not installed");
  dane::test::TempDir tmp("tlsa-gen-test");
  const std::string& d = tmp.path();
  for (const char* base : {"leaf-rsa", "leaf-p256"}) {
    const std::string out = d + "/" + base + ".trad.pem";
    ASSERT_EQ(run("openssl pkey -in '" + k_pki + base + ".key' -traditional -out '" + out + "'").status, 0);
    RunResult head = run("head -1 '" + out + "'");
    EXPECT_TRUE(head.out == "-----BEGIN RSA PRIVATE KEY-----\n" || head.out == "-----BEGIN EC PRIVATE KEY-----\n")
        << head.out;
    const OpensslData& want = openssl_data(std::string(base) + ".crt");
    RunResult got = run(policyctl() + " tlsa '" + out + "'");
    EXPECT_EQ(got.status, 0);
    EXPECT_EQ(got.out, "3 1 1 " + want.hex[1][1] + "\n") << base;
  }
}

} // namespace
