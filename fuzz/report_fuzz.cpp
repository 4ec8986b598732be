// libFuzzer target: the parsers behind `dane-policyctl report` (src/tools/include/dane/tools/report.hpp), which
// read verdict logs and Postfix logs that may contain anything. Properties: no crash, no sanitizer
// report, errors are non-empty; an RFC 3339 stamp that parses formats to a stamp that parses back to the
// same instant.
#include <string>

#include "dane/tools/report.hpp"
#include "fuzz_check.hpp"

using namespace dane::tools::report;
using dane::format_rfc3339;
using dane::k_usec_per_sec;
using dane::parse_rfc3339;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto stamp = parse_rfc3339(text);
  if (stamp) {
    constexpr TimePoint k_year_9999_end = 253402300799LL * k_usec_per_sec;
    if (*stamp >= 0 && *stamp <= k_year_9999_end) {
      auto again = parse_rfc3339(format_rfc3339(*stamp));
      FUZZ_CHECK(again.has_value() && *again == *stamp);
    }
  } else {
    FUZZ_CHECK(!stamp.error().empty());
  }
  (void)parse_time_arg(text, 1'800'000'000LL * k_usec_per_sec);

  auto verdict = parse_verdict_line(text);
  if (!verdict) {
    FUZZ_CHECK(!verdict.error().empty());
  }

  MaillogPrefixParser utc(MaillogOptions{1'800'000'000LL * k_usec_per_sec, true});
  auto prefix = utc.parse(text);
  if (prefix) {
    (void)is_smtp_client_program(prefix->program);
    (void)parse_smtp_message(prefix->text);
  }
  auto message = parse_smtp_message(text);
  if (!message) {
    FUZZ_CHECK(!message.error().empty());
  }
  return 0;
}
