// Leaf certificates made at test time with OpenSSL's API (contract: test_pki.hpp).
#include "test_pki.hpp"

#include <cstdio>
#include <memory>
#include <stdexcept>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "dane/verifier/handles.hpp"

namespace dane::test {
namespace {

std::string pki_dir() {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/";
}

[[noreturn]] void fail(const std::string& what) {
  std::string text = "make_leaf: " + what;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    text += "; ";
    text += buf;
  }
  throw std::runtime_error(text);
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

FilePtr open_file(const std::string& path, const char* mode) {
  FilePtr f(std::fopen(path.c_str(), mode));
  if (!f) {
    throw std::runtime_error("make_leaf: cannot open " + path);
  }
  return f;
}

X509Ptr read_cert(const std::string& path) {
  FilePtr f = open_file(path, "r");
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    fail("cannot read certificate " + path);
  }
  return cert;
}

EvpPkeyPtr read_key(const std::string& path) {
  FilePtr f = open_file(path, "r");
  EvpPkeyPtr key(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  if (!key) {
    fail("cannot read key " + path);
  }
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    fail("extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
  }
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) {
    fail("X509_add_ext");
  }
}

void set_validity(X509* cert, bool expired) {
  // 2025-01-01 .. 2125-01-01, like the fixture PKI; expired: 2000-01-01 .. 2001-01-01.
  const char* from = expired ? "20000101000000Z" : "20250101000000Z";
  const char* until = expired ? "20010101000000Z" : "21250101000000Z";
  if (ASN1_TIME_set_string_X509(X509_getm_notBefore(cert), from) != 1 ||
      ASN1_TIME_set_string_X509(X509_getm_notAfter(cert), until) != 1) {
    fail("validity");
  }
}

void set_random_serial(X509* cert) {
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_new(), BN_free);
  if (!bn || BN_rand(bn.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    fail("serial number");
  }
}

EvpPkeyPtr new_p256_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    fail("EVP_EC_gen(P-256)");
  }
  return key;
}

std::string san_value(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) {
      out += ",";
    }
    out += "DNS:" + name;
  }
  return out;
}

X509Ptr build_leaf(const LeafSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) {
    fail("X509_new");
  }
  set_random_serial(cert.get());
  set_validity(cert.get(), spec.expired);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.names.front().c_str());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    fail("subject");
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1) {
    fail("issuer");
  }
  add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  add_extension(cert.get(), signer, NID_subject_alt_name, san_value(spec.names));
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    fail("X509_sign");
  }
  return cert;
}

void write_cert(std::FILE* f, X509* cert, const std::string& path) {
  if (PEM_write_X509(f, cert) != 1) {
    fail("cannot write " + path);
  }
}

} // namespace

LeafFiles make_leaf(const std::string& dir, const std::string& stem, const LeafSpec& spec) {
  if (spec.names.empty()) {
    throw std::runtime_error("make_leaf: no DNS names");
  }
  ERR_clear_error();
  EvpPkeyPtr key = new_p256_key();
  X509Ptr issuer;
  EvpPkeyPtr issuer_key;
  if (!spec.self_signed) {
    issuer = read_cert(pki_dir() + "int.crt");
    issuer_key = read_key(pki_dir() + "int.key");
  }
  X509Ptr cert = build_leaf(spec, key.get(), issuer.get(), issuer_key.get());

  LeafFiles files{dir + "/" + stem + ".key", dir + "/" + stem + ".crt", dir + "/" + stem + ".chain.pem"};
  {
    FilePtr f = open_file(files.key, "w");
    if (PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      fail("cannot write " + files.key);
    }
  }
  {
    FilePtr f = open_file(files.cert, "w");
    write_cert(f.get(), cert.get(), files.cert);
  }
  {
    FilePtr f = open_file(files.chain, "w");
    write_cert(f.get(), cert.get(), files.chain);
    if (issuer) {
      write_cert(f.get(), issuer.get(), files.chain);
    }
  }
  return files;
}

std::string fixture_root_ca() {
  return pki_dir() + "root.crt";
}

} // namespace dane::test
