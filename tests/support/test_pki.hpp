// test_pki.hpp — certificates made at test time, signed by the fixture PKI (tests/data/pki).
//
// make_leaf() writes `<dir>/<stem>.key` (P-256), `<stem>.crt` and `<stem>.chain.pem` (leaf + issuer) for
// the given DNS names (SubjectAltName), signed by the fixture intermediate (`int`), so a client that
// trusts `root.crt` accepts it; `self_signed` makes it sign itself instead (a PKIX failure), and a
// validity in the past makes an expired one. Uses OpenSSL's API directly. Throws on failure.
#pragma once

#include <string>
#include <vector>

namespace dane::test {

struct LeafSpec {
  std::vector<std::string> names; // SubjectAltName dNSName entries; the first is also the CN
  bool self_signed = false;
  bool expired = false;
};

struct LeafFiles {
  std::string key;
  std::string cert;
  std::string chain; // leaf + intermediate
};

LeafFiles make_leaf(const std::string& dir, const std::string& stem, const LeafSpec& spec);
// The fixture root CA file a client should trust (tests/data/pki/root.crt).
std::string fixture_root_ca();

} // namespace dane::test
