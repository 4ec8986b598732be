// dane/verifier/pem.hpp — loading certificates and keys from PEM text or files: the
// one PEM loader of the project (the CLI, the rollover tools and the tests use it).
//
// Two shapes of result: a PemBundle (everything: certificates, public and private
// keys) for callers that take "a certificate or a key" (dane-policyctl tlsa), and a
// CertChain (the certificates only, leaf first, keys in the same input skipped) for
// callers that need a certificate (verify, rollover). Each has a text and a file form.
//
// Inputs: PEM text (any number of blocks; text outside the blocks, such as
// `openssl x509 -text` output, is ignored) or a file path. Recognised blocks:
// CERTIFICATE / X509 CERTIFICATE / TRUSTED CERTIFICATE, PUBLIC KEY,
// RSA PUBLIC KEY, PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY; EC PARAMETERS
// blocks (from `openssl ecparam -genkey`) are skipped.
// Failure modes (all reported as Expected errors naming the file and block):
// unreadable file, no PEM block at all, a malformed PEM block (bad base64, no END
// line), a block whose DER does not parse, an encrypted private key (not
// supported: no passphrase prompts), an unknown block type; for a CertChain also
// "no certificate found (only keys)"; a file larger than k_max_pem_file_bytes ("input too
// large", naming the file and the limit; devices and pipes such as /dev/zero are read with the
// same bound, never trusting the size the file system reports).
// Memory: a file is read whole, so at most k_max_pem_file_bytes (+1) is held per input.
// Trust: the input is untrusted; nothing here decides trust, it only parses.
// Each certificate is parsed exactly once (parsing costs ~150 µs, docs/design.md §7).
// No global state; thread-safe (the OpenSSL error queue is per thread and is
// cleared after use).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {

// A parsed certificate chain, leaf first. Parse once, keep it (parsing is ~150 µs a cert).
struct CertChain {
  std::vector<X509Ptr> certs;
};

// Everything found in one PEM input, in input order per kind.
struct PemBundle {
  std::vector<X509Ptr> certs;
  std::vector<EvpPkeyPtr> public_keys;  // from PUBLIC KEY / RSA PUBLIC KEY blocks
  std::vector<EvpPkeyPtr> private_keys; // from the private key blocks
};

// `source` names the input in error messages (a file name, or "input").
Expected<PemBundle> parse_pem_bundle(std::string_view pem, const std::string& source = "input");
Expected<PemBundle> load_pem_bundle_file(const std::string& path);

// The certificates of the input, in input order; other blocks (keys) are skipped. Fails as
// the bundle functions do, and when there is no certificate. `source` as above.
Expected<CertChain> parse_pem_chain(std::string_view pem, const std::string& source = "chain");
Expected<CertChain> load_pem_chain_file(const std::string& path);

// The largest certificate, chain or key file read (1 MiB). No real input comes near it: a
// certificate is 1-2 KB of DER (about 3 KB of PEM, 8 KB with `openssl x509 -text` around it), so a
// chain of ten with 16384-bit RSA keys and a combined key + chain file stay under 100 KB, and even
// a whole CA bundle (Mozilla's ~150 roots, ~220 KB) fits four times over. Above it the input is a
// mistake (a log, a disk image, /dev/zero) and reading on would only use memory.
inline constexpr std::size_t k_max_pem_file_bytes = std::size_t{1} << 20;

// Whole file contents, at most `limit` bytes: a larger file (or an endless device or pipe) fails
// with "'PATH': input too large (more than LIMIT bytes)" after reading at most LIMIT + 1 bytes.
// Other errors name the file and the OS error; a directory is refused.
Expected<std::string> read_text_file(const std::string& path, std::size_t limit = k_max_pem_file_bytes);

// One PEM block of exactly `der`: "CERTIFICATE" when `selector` is Cert, "PUBLIC KEY" when Spki (the
// data of a `2 0 0` / `2 1 0` TLSA record). An error when `der` does not parse as that, trailing bytes
// included; the bytes are written as they are, not re-encoded.
Expected<std::string> pem_from_der(TlsaSelector selector, std::span<const std::uint8_t> der);

// Short key description for messages: "RSA 2048", "EC P-256", "ED25519".
std::string describe_key(EVP_PKEY* key);

} // namespace dane
