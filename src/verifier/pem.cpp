// PEM loading: certificates, chains and keys (contract: dane/verifier/pem.hpp).
#include "dane/verifier/pem.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "dane/core/fd.hpp"
#include "dane/verifier/openssl_error.hpp"

namespace dane {
namespace {

// Frees what PEM_read_bio hands out.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
};

// Why a DER body did not give an object: OpenSSL's reason, or the bytes left over.
std::string der_problem(bool parsed, const char* call) {
  if (parsed) {
    ERR_clear_error();
    return "trailing data after the DER object";
  }
  return openssl_error_text(call);
}

bool is_cert_block(std::string_view name) {
  return name == PEM_STRING_X509 || name == PEM_STRING_X509_OLD || name == PEM_STRING_X509_TRUSTED;
}

bool is_private_key_block(std::string_view name) {
  return name == PEM_STRING_PKCS8INF || name == PEM_STRING_RSA || name == PEM_STRING_ECPRIVATEKEY ||
         name == PEM_STRING_DSA;
}

} // namespace

Expected<std::string> read_text_file(const std::string& path, std::size_t limit) {
  const std::string what = "cannot read '" + path + "': ";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    return make_error(what + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(what + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return make_error(what + "is a directory");
  }
  const std::string too_large = "'" + path + "': input too large (more than " + std::to_string(limit) + " bytes)";
  // st_size only rejects early; the loop below enforces the bound for devices and pipes too.
  if (S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) > limit) {
    return make_error(too_large);
  }
  std::string content;
  constexpr std::size_t k_step = std::size_t{64} * 1024;
  for (;;) {
    const std::size_t room = limit + 1 - content.size(); // one byte beyond the limit tells "too large"
    const std::size_t old = content.size();
    content.resize(old + std::min(room, k_step));
    const ssize_t n = ::read(fd.get(), content.data() + old, content.size() - old);
    if (n < 0 && errno == EINTR) {
      content.resize(old);
      continue;
    }
    if (n < 0) {
      return make_error(what + std::strerror(errno));
    }
    content.resize(old + static_cast<std::size_t>(n));
    if (content.size() > limit) {
      return make_error(too_large);
    }
    if (n == 0) {
      return content;
    }
  }
}

Expected<PemBundle> parse_pem_bundle(std::string_view pem, const std::string& source) {
  ERR_clear_error();
  if (pem.size() > static_cast<std::size_t>(INT32_MAX)) {
    return make_error(source + ": input too large");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return make_error(source + ": out of memory");
  }
  PemBundle bundle;
  int index = 0;
  int blocks = 0;
  for (;; ++index) {
    PemBlock block;
    if (PEM_read_bio(bio.get(), &block.name, &block.header, &block.data, &block.len) != 1) {
      unsigned long code = ERR_peek_last_error();
      if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break; // no further block: normal end of input
      }
      return make_error(source + ": malformed PEM block #" + std::to_string(index + 1) + ": " +
                        openssl_error_text("PEM_read_bio"));
    }
    ++blocks;
    std::string_view name = block.name;
    std::string where = source + ": PEM block #" + std::to_string(index + 1) + " (" + std::string(name) + ")";
    const unsigned char* p = block.data;
    if (name == PEM_STRING_PKCS8 || std::string_view(block.header).find("ENCRYPTED") != std::string_view::npos) {
      return make_error(where + ": encrypted private keys are not supported; decrypt it first (openssl pkey)");
    }
    if (is_cert_block(name)) {
      X509Ptr cert(name == PEM_STRING_X509_TRUSTED ? d2i_X509_AUX(nullptr, &p, block.len)
                                                   : d2i_X509(nullptr, &p, block.len));
      if (!cert || p != block.data + block.len) {
        return make_error(where + ": not a valid certificate: " + der_problem(cert != nullptr, "d2i_X509"));
      }
      bundle.certs.push_back(std::move(cert));
    } else if (name == PEM_STRING_PUBLIC) {
      EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, block.len));
      if (!key || p != block.data + block.len) {
        return make_error(where + ": not a valid public key: " + der_problem(key != nullptr, "d2i_PUBKEY"));
      }
      bundle.public_keys.push_back(std::move(key));
    } else if (name == PEM_STRING_RSA_PUBLIC) {
      EvpPkeyPtr key(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, block.len));
      if (!key || p != block.data + block.len) {
        return make_error(where + ": not a valid RSA public key: " + der_problem(key != nullptr, "d2i_PublicKey"));
      }
      bundle.public_keys.push_back(std::move(key));
    } else if (is_private_key_block(name)) {
      EvpPkeyPtr key(d2i_AutoPrivateKey(nullptr, &p, block.len));
      if (!key) {
        return make_error(where + ": not a valid private key: " + openssl_error_text("d2i_AutoPrivateKey"));
      }
      bundle.private_keys.push_back(std::move(key));
    } else if (name == PEM_STRING_ECPARAMETERS) {
      continue; // `openssl ecparam -genkey` writes these before the key
    } else {
      return make_error(where + ": unsupported PEM block type");
    }
  }
  if (blocks == 0) {
    return make_error(source + ": no PEM data found (expected -----BEGIN CERTIFICATE----- or a PEM key)");
  }
  return bundle;
}

Expected<PemBundle> load_pem_bundle_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) {
    return make_error(text.error());
  }
  return parse_pem_bundle(*text, path);
}

namespace {

Expected<CertChain> chain_of(Expected<PemBundle> bundle, const std::string& source) {
  if (!bundle) {
    return make_error(bundle.error());
  }
  if (bundle->certs.empty()) {
    return make_error(source + ": no certificate found (only keys)");
  }
  return CertChain{std::move(bundle->certs)};
}

} // namespace

Expected<CertChain> parse_pem_chain(std::string_view pem, const std::string& source) {
  return chain_of(parse_pem_bundle(pem, source), source);
}

Expected<CertChain> load_pem_chain_file(const std::string& path) {
  return chain_of(load_pem_bundle_file(path), path);
}

std::string describe_key(EVP_PKEY* key) {
  if (key == nullptr) {
    return "no key";
  }
  int id = EVP_PKEY_get_base_id(key);
  switch (id) {
  case EVP_PKEY_RSA:
  case EVP_PKEY_RSA_PSS:
    return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
  case EVP_PKEY_EC: {
    char group[80] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return std::string("EC ") + (nist != nullptr ? nist : group);
    }
    return "EC";
  }
  case EVP_PKEY_ED25519:
    return "ED25519";
  case EVP_PKEY_ED448:
    return "ED448";
  default: {
    const char* sn = OBJ_nid2sn(id);
    return sn != nullptr ? sn : "unknown key type";
  }
  }
}

Expected<std::string> pem_from_der(TlsaSelector selector, std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  const auto len = static_cast<long>(der.size());
  const bool cert = selector == TlsaSelector::Cert;
  bool parses = false;
  if (cert) {
    X509Ptr x(d2i_X509(nullptr, &p, len));
    parses = x != nullptr;
  } else {
    EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, len));
    parses = key != nullptr;
  }
  ERR_clear_error();
  if (!parses || p != der.data() + der.size()) {
    return make_error(std::string("data is not a DER ") + (cert ? "certificate" : "public key"));
  }
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(), static_cast<int>(der.size()));
  b64.resize(static_cast<std::size_t>(n > 0 ? n : 0));
  const std::string label = cert ? "CERTIFICATE" : "PUBLIC KEY";
  std::string out = "-----BEGIN " + label + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += "-----END " + label + "-----\n";
  return out;
}

} // namespace dane
