// libFuzzer target: the streaming line reader of `dane-policyctl report` (LineReader in
// src/tools/report_input.cpp): plain text and gzip (multi-member, trailing garbage, truncation,
// corruption), with the line-length bound k_max_line_bytes. The verdict-line parser itself is fuzzed by
// report_fuzz. The input is written to an in-memory file (memfd) and opened by its /proc/self/fd path.
// Properties beyond "no crash, no sanitizer report": line numbers count up by one; no line holds a
// newline or exceeds k_max_line_bytes (a longer one comes back empty, flagged too long); only the last
// line may be unterminated; for plain input, the lines joined with their newlines give back the input
// exactly when no line was too long and no error was reported; a read that stops on an error says why.
// At most k_max_lines lines of an input are checked.
#include <string>
#include <sys/mman.h>
#include <unistd.h>

#include "dane/tools/report.hpp"
#include "fuzz_check.hpp"

namespace {

// Lines checked per input: past this the same checks repeat, and per-line instrumentation made runs
// over gzip inputs of millions of short lines take tens of milliseconds each.
constexpr std::size_t k_max_lines = 20000;

int input_fd() {
  static const int fd = ::memfd_create("verdicts.jsonl", MFD_CLOEXEC);
  return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using dane::tools::report::k_max_line_bytes;
  using dane::tools::report::LineReader;
  const int fd = input_fd();
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(dane::fuzz::rewrite_file(fd, data, size));
  auto reader = LineReader::open("/proc/self/fd/" + std::to_string(fd));
  FUZZ_CHECK(reader.has_value());
  LineReader& r = **reader;
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  FUZZ_CHECK(r.compressed() == gzip);

  std::string joined;
  bool any_too_long = false;
  bool unterminated_seen = false;
  std::size_t count = 0;
  std::string_view line;
  bool capped = false;
  while (r.next(line)) {
    FUZZ_CHECK(!unterminated_seen); // an unterminated line is the last one
    if (++count > k_max_lines) {
      capped = true; // a small gzip input can expand to millions of lines: check the first ones
      break;
    }
    FUZZ_CHECK(r.line_number() == count);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    FUZZ_CHECK(line.size() <= k_max_line_bytes);
    if (r.last_line_too_long()) {
      FUZZ_CHECK(line.empty());
      any_too_long = true;
    }
    unterminated_seen = r.last_line_unterminated();
    joined.append(line);
    if (!unterminated_seen) {
      joined += '\n';
    }
  }
  if (capped) {
    return 0;
  }
  FUZZ_CHECK(!r.next(line)); // stays at the end
  if (!gzip) {
    FUZZ_CHECK(r.error().empty());
    if (!any_too_long) {
      FUZZ_CHECK(joined == std::string_view(reinterpret_cast<const char*>(data), size));
    }
  }
  return 0;
}
