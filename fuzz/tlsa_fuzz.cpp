// libFuzzer target: the TLSA record parsers (src/verifier/tlsa.cpp). Properties: parse_tlsa never crashes;
// what it accepts formats to "U S M hex" that parses back to the same record; parse_tlsa_rdata accepts
// what to_rdata produces and round-trips; usability and descriptions work on every parsed record.
#include <string>

#include "dane/verifier/tlsa.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto record = dane::parse_tlsa(text);
  if (record) {
    std::string formatted = record->to_string();
    auto again = dane::parse_tlsa(formatted);
    FUZZ_CHECK(again.has_value() && *again == *record);
    auto rdata = dane::to_rdata(*record);
    auto from_wire = dane::parse_tlsa_rdata(rdata);
    FUZZ_CHECK(from_wire.has_value() && *from_wire == *record);
    (void)dane::describe(dane::smtp_usability(*record), *record);
    (void)record->short_string();
  } else {
    FUZZ_CHECK(!record.error().empty());
  }

  auto wire = dane::parse_tlsa_rdata(std::span<const std::uint8_t>(data, size));
  if (wire) {
    FUZZ_CHECK(dane::to_rdata(*wire) == std::vector<std::uint8_t>(data, data + size));
    auto text_again = dane::parse_tlsa(wire->to_string());
    FUZZ_CHECK(text_again.has_value() && *text_again == *wire);
  }
  auto hex = dane::from_hex(text);
  if (hex) {
    FUZZ_CHECK(dane::from_hex(dane::to_hex(*hex)).value() == *hex);
  }
  return 0;
}
