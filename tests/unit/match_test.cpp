// Table-driven tests of dane::verify_chain (dane/match.hpp) from tests/data/vectors/match.vectors,
// plus the PEM loaders and the API's edge cases. The vectors' TLSA data is computed by the
// openssl CLI (make-vectors.sh), never by the code under test.
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "dane/verifier/match.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {
namespace {

const std::string k_pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";
const std::string k_vectors = std::string(DANE_TEST_DATA_DIR) + "/vectors/match.vectors";

struct ExpectedRecord {
  std::string result;
  int depth = -1;
};

struct Vector {
  std::string name;
  int line = 0;
  std::string chain;
  std::vector<std::string> names;
  std::optional<std::time_t> time;
  std::vector<std::string> tlsa;
  std::string status;
  int depth = -1;
  int matched = 0; // 1-based, 0 = none expected
  std::string failure = "none";
  int error_depth = -1;
  std::vector<ExpectedRecord> results;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

// Parses the vector file; a malformed file throws (and fails the whole suite loudly).
std::vector<Vector> load_vectors() {
  std::ifstream in(k_vectors);
  if (!in) {
    throw std::runtime_error("cannot read " + k_vectors);
  }
  std::vector<Vector> out;
  std::string line;
  int lineno = 0;
  auto bad = [&](const std::string& why) {
    return std::runtime_error(k_vectors + ":" + std::to_string(lineno) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (line[0] == '[') {
      if (line.back() != ']') {
        throw bad("bad case header");
      }
      Vector v;
      v.name = line.substr(1, line.size() - 2);
      v.line = lineno;
      out.push_back(std::move(v));
      continue;
    }
    if (out.empty()) {
      throw bad("data before the first [case]");
    }
    Vector& v = out.back();
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      throw bad("expected 'key: value'");
    }
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    auto first = value.find_first_not_of(' ');
    value = first == std::string::npos ? "" : value.substr(first);
    if (key == "chain") {
      v.chain = value;
    } else if (key == "names") {
      v.names = words(value);
    } else if (key == "time") {
      v.time = static_cast<std::time_t>(std::stoll(value));
    } else if (key == "tlsa") {
      v.tlsa.push_back(value);
    } else if (key == "expect") {
      auto w = words(value);
      if (w.empty()) {
        throw bad("empty expect");
      }
      v.status = w[0];
      for (std::size_t i = 1; i < w.size(); ++i) {
        auto eq = w[i].find('=');
        if (eq == std::string::npos) {
          throw bad("bad expect field " + w[i]);
        }
        std::string k = w[i].substr(0, eq);
        std::string val = w[i].substr(eq + 1);
        if (k == "depth") {
          v.depth = std::stoi(val);
        } else if (k == "matched") {
          v.matched = std::stoi(val);
        } else if (k == "failure") {
          v.failure = val;
        } else if (k == "error-depth") {
          v.error_depth = std::stoi(val);
        } else {
          throw bad("unknown expect field " + k);
        }
      }
    } else if (key == "results") {
      for (const auto& w : words(value)) {
        ExpectedRecord r;
        auto at = w.find('@');
        r.result = w.substr(0, at);
        if (at != std::string::npos) {
          r.depth = std::stoi(w.substr(at + 1));
        }
        v.results.push_back(r);
      }
    } else if (key == "xcheck") {
      // used by tests/cli/verify_crosscheck.sh
    } else {
      throw bad("unknown key " + key);
    }
  }
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> k_all = load_vectors();
  return k_all;
}

// Each chain file is parsed once for the whole suite (parsing is the slow part).
const CertChain& chain_for(const std::string& file) {
  static std::map<std::string, std::unique_ptr<CertChain>> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto chain = load_pem_chain_file(k_pki + file);
    if (!chain) {
      throw std::runtime_error(chain.error());
    }
    it = cache.emplace(file, std::make_unique<CertChain>(std::move(*chain))).first;
  }
  return *it->second;
}

// Readable parameter printing in failure messages.
void PrintTo(const Vector& v, std::ostream* os) {
  *os << "[" << v.name << "] at line " << v.line;
}

class MatchVectors : public ::testing::TestWithParam<Vector> {};

TEST_P(MatchVectors, Verdict) {
  const Vector& v = GetParam();
  SCOPED_TRACE(k_vectors + ":" + std::to_string(v.line) + " [" + v.name + "]");
  ASSERT_FALSE(v.tlsa.empty());
  ASSERT_EQ(v.results.size(), v.tlsa.size()) << "results: needs one entry per tlsa line";

  MatchInput input;
  for (const auto& text : v.tlsa) {
    auto record = parse_tlsa(text);
    ASSERT_TRUE(record.has_value()) << text;
    input.tlsa.push_back(*record);
  }
  input.chain = &chain_for(v.chain);
  input.reference_names = v.names;
  input.time = v.time;

  Verdict verdict = verify_chain(input);
  EXPECT_EQ(to_string(verdict.status), v.status) << verdict.reason;
  EXPECT_EQ(to_string(verdict.failure), v.failure) << verdict.reason;
  EXPECT_FALSE(verdict.reason.empty());
  EXPECT_EQ(verdict.names_checked, !v.names.empty());
  if (v.status == "verified") {
    EXPECT_EQ(verdict.depth, v.depth);
    ASSERT_TRUE(verdict.matched.has_value());
    ASSERT_GE(v.matched, 1);
    EXPECT_EQ(*verdict.matched, input.tlsa[static_cast<std::size_t>(v.matched - 1)]);
    EXPECT_EQ(verdict.x509_error, 0);
    std::string want = "Matched " + usage_name(verdict.matched->usage) + " " + verdict.matched->short_string() +
                       " at depth " + std::to_string(v.depth);
    if (v.names.empty() && verdict.matched->usage == TlsaUsage::DaneTa) {
      want += " (no reference names given: certificate names not checked)";
    }
    EXPECT_EQ(verdict.reason, want);
  } else {
    EXPECT_FALSE(verdict.matched.has_value());
    EXPECT_EQ(verdict.depth, -1);
  }
  if (v.status == "not-verified") {
    EXPECT_NE(verdict.x509_error, 0);
  }
  if (v.error_depth >= 0) {
    EXPECT_EQ(verdict.error_depth, v.error_depth);
  }
  ASSERT_EQ(verdict.records.size(), v.tlsa.size());
  for (std::size_t i = 0; i < v.results.size(); ++i) {
    const RecordOutcome& got = verdict.records[i];
    SCOPED_TRACE("record " + std::to_string(i + 1) + ": " + got.record.to_string() + " (" + got.note + ")");
    EXPECT_EQ(got.record, input.tlsa[i]);
    EXPECT_EQ(to_string(got.result), v.results[i].result);
    EXPECT_EQ(got.depth, v.results[i].depth);
    EXPECT_FALSE(got.note.empty());
    if (got.result == RecordResult::Unusable) {
      EXPECT_EQ(got.note.rfind("unusable: ", 0), 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, MatchVectors, ::testing::ValuesIn(vectors()),
                         [](const ::testing::TestParamInfo<Vector>& param_info) { return param_info.param.name; });

// The vector file itself: enough cases, and every usage / selector / matching type is exercised.
TEST(MatchVectorFile, CoversTheIssueRequirements) {
  const auto& all = vectors();
  EXPECT_GE(all.size(), 40u);
  std::set<std::string> names;
  std::set<std::tuple<int, int, int>> usable_combos;
  std::set<int> usages;
  for (const auto& v : all) {
    EXPECT_TRUE(names.insert(v.name).second) << "duplicate case " << v.name;
    for (std::size_t i = 0; i < v.tlsa.size(); ++i) {
      auto r = parse_tlsa(v.tlsa[i]);
      ASSERT_TRUE(r.has_value());
      usages.insert(octet(r->usage));
      if (v.status == "verified" && static_cast<std::size_t>(v.matched) == i + 1) {
        usable_combos.insert({octet(r->usage), octet(r->selector), octet(r->mtype)});
      }
    }
  }
  EXPECT_EQ(usages, (std::set<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(usable_combos.size(), 12u)
      << "each DANE-TA/DANE-EE x selector x matching type is the matching record somewhere";
}

// ---- API edge cases ----

CertChain load(const std::string& file) {
  auto chain = load_pem_chain_file(k_pki + file);
  if (!chain) {
    throw std::runtime_error(chain.error());
  }
  return std::move(*chain);
}

TlsaRecord record_for(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  CertChain c = load(cert_file);
  auto r = make_tlsa(c.certs.front().get(), TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype});
  if (!r) {
    throw std::runtime_error(r.error());
  }
  return *r;
}

TEST(VerifyChain, NullChainIsChainError) {
  MatchInput input;
  input.tlsa.push_back(record_for("leaf-rsa.crt", 3, 1, 1));
  Verdict v = verify_chain(input);
  EXPECT_EQ(v.status, MatchStatus::NotVerified);
  EXPECT_EQ(v.failure, MatchFailure::ChainError);
  EXPECT_EQ(v.reason, "no certificate chain to verify");
}

TEST(VerifyChain, NoRecordsIsNoUsableRecords) {
  CertChain chain = load("leaf-rsa.chain.pem");
  MatchInput input;
  input.chain = &chain;
  EXPECT_EQ(verify_chain(input).status, MatchStatus::NoUsableRecords);
}

TEST(VerifyChain, UnusableNotesNameTheProblem) {
  CertChain chain = load("leaf-rsa.chain.pem");
  MatchInput input;
  input.chain = &chain;
  input.tlsa.push_back(*parse_tlsa("1 1 1 " + std::string(64, 'a')));
  input.tlsa.push_back(*parse_tlsa("3 1 1 abcd"));
  input.tlsa.push_back(*parse_tlsa("2 0 0 abcdef"));
  Verdict v = verify_chain(input);
  ASSERT_EQ(v.records.size(), 3u);
  EXPECT_EQ(v.records[0].usability, TlsaUsability::PkixUsage);
  EXPECT_EQ(v.records[0].note, "unusable: usage 1 (PKIX-EE) is not usable for SMTP");
  EXPECT_EQ(v.records[1].usability, TlsaUsability::BadDigestLength);
  EXPECT_EQ(v.records[1].note, "unusable: matching type 1 needs 32 octets of data, got 2");
  EXPECT_EQ(v.records[2].usability, TlsaUsability::Usable); // SMTP rules accept it; OpenSSL refuses the data
  EXPECT_EQ(v.records[2].result, RecordResult::Unusable);
  EXPECT_EQ(v.records[2].note.rfind("unusable: rejected by OpenSSL: ", 0), 0u) << v.records[2].note;
}

TEST(VerifyChain, NameMismatchReasonListsReferenceNames) {
  CertChain chain = load("leaf-wrongname.chain.pem");
  MatchInput input;
  input.chain = &chain;
  input.tlsa.push_back(record_for("int.crt", 2, 1, 1));
  input.reference_names = {"mx.example.test", "example.test"};
  Verdict v = verify_chain(input);
  EXPECT_EQ(v.failure, MatchFailure::NameMismatch);
  EXPECT_EQ(v.reason, "DANE-TA " + input.tlsa[0].short_string() +
                          " matched at depth 1, but the certificate at depth 0 matches none of the reference names "
                          "(mx.example.test, example.test)");
}

TEST(VerifyChain, ExpiredReasonSaysExpired) {
  CertChain chain = load("leaf-expired.chain.pem");
  MatchInput input;
  input.chain = &chain;
  input.tlsa.push_back(record_for("int.crt", 2, 1, 1));
  input.reference_names = {"mx.example.test"};
  Verdict v = verify_chain(input);
  EXPECT_EQ(v.failure, MatchFailure::Expired);
  EXPECT_NE(v.reason.find("the certificate at depth 0 has expired"), std::string::npos) << v.reason;
}

TEST(VerifyChain, DaneTaOnTheLeafExplainsTheMistake) {
  CertChain chain = load("leaf-rsa.chain.pem");
  MatchInput input;
  input.chain = &chain;
  input.tlsa.push_back(record_for("leaf-rsa.crt", 2, 1, 1));
  input.reference_names = {"mx.example.test"};
  Verdict v = verify_chain(input);
  EXPECT_EQ(v.failure, MatchFailure::NoMatch);
  ASSERT_EQ(v.records.size(), 1u);
  EXPECT_EQ(v.records[0].note.rfind("matches the server certificate itself, but a DANE-TA record must match an "
                                    "issuer",
                                    0),
            0u)
      << v.records[0].note;
}

// The chain object is reused as is (no re-parsing, no mutation): verifying twice gives the same verdict.
TEST(VerifyChain, ChainIsReusable) {
  CertChain chain = load("leaf-p256.chain.pem");
  MatchInput input;
  input.chain = &chain;
  input.tlsa.push_back(record_for("leaf-p256.crt", 3, 1, 1));
  Verdict a = verify_chain(input);
  Verdict b = verify_chain(input);
  EXPECT_EQ(a.status, MatchStatus::Verified);
  EXPECT_EQ(b.status, MatchStatus::Verified);
  EXPECT_EQ(chain.certs.size(), 2u);
}

// ---- PEM loading ----

TEST(Pem, ChainFileKeepsOrderLeafFirst) {
  CertChain c = load("leaf-rsa.fullchain.pem");
  ASSERT_EQ(c.certs.size(), 3u);
  CertChain leaf = load("leaf-rsa.crt");
  CertChain root = load("root.crt");
  EXPECT_EQ(X509_cmp(c.certs[0].get(), leaf.certs[0].get()), 0);
  EXPECT_EQ(X509_cmp(c.certs[2].get(), root.certs[0].get()), 0);
}

TEST(Pem, MissingFileNamesTheFile) {
  auto c = load_pem_chain_file(k_pki + "no-such-file.pem");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("no-such-file.pem"), std::string::npos);
  EXPECT_NE(c.error().find("No such file"), std::string::npos);
}

TEST(Pem, NotPemIsAnError) {
  auto c = parse_pem_chain("hello, this is not PEM\n");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("no PEM data found"), std::string::npos) << c.error();
}

TEST(Pem, EmptyInputIsAnError) {
  EXPECT_FALSE(parse_pem_chain("").has_value());
}

TEST(Pem, BadBase64IsAnError) {
  auto c = parse_pem_chain("-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("PEM block #1"), std::string::npos) << c.error();
}

TEST(Pem, TruncatedBlockIsAnError) {
  auto text = read_text_file(k_pki + "leaf-rsa.crt");
  ASSERT_TRUE(text.has_value());
  auto c = parse_pem_chain(text->substr(0, text->size() / 2));
  EXPECT_FALSE(c.has_value());
}

TEST(Pem, GarbageDerIsAnError) {
  auto c = parse_pem_chain("-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("not a valid certificate"), std::string::npos) << c.error();
}

TEST(Pem, KeyOnlyFileIsNotAChain) {
  auto c = load_pem_chain_file(k_pki + "leaf-rsa.key");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("no certificate found"), std::string::npos) << c.error();
}

TEST(Pem, TextAroundBlocksIsIgnored) {
  auto text = read_text_file(k_pki + "leaf-p256.crt");
  ASSERT_TRUE(text.has_value());
  auto c = parse_pem_chain("Certificate:\n  some text output\n" + *text + "trailing words\n");
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->certs.size(), 1u);
}

TEST(Pem, EncryptedKeyIsRefused) {
  auto b = parse_pem_bundle("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAECAwQF\n-----END ENCRYPTED PRIVATE KEY-----\n");
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().find("encrypted private keys are not supported"), std::string::npos) << b.error();
}

TEST(Pem, BundleSortsKinds) {
  auto b = load_pem_bundle_file(k_pki + "leaf-ed25519.key");
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_EQ(b->private_keys.size(), 1u);
  EXPECT_EQ(describe_key(b->private_keys[0].get()), "ED25519");
  auto p = load_pem_bundle_file(k_pki + "leaf-p384.pub");
  ASSERT_TRUE(p.has_value()) << p.error();
  ASSERT_EQ(p->public_keys.size(), 1u);
  EXPECT_EQ(describe_key(p->public_keys[0].get()), "EC P-384");
  auto r = load_pem_bundle_file(k_pki + "root.key");
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(describe_key(r->private_keys[0].get()), "RSA 2048");
}

} // namespace
} // namespace dane
