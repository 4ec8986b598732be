// bench_report_gen — writes a synthetic dane-policyd verdict log (docs/design.md §6 JSON Lines) for
// timing `dane-policyctl report` (bench/report.sh). Deterministic for a given seed.
//
// usage: bench_report_gen OUTPUT [LINES=1000000] [DESTINATIONS=20000] [SEED=1]
// The mix: ~70% dane-only, 10% dane, 5% fingerprint, 10% notfound, 5% tempfail; one to three MX
// hosts per destination with TLSA sets that roll over now and then; one cached line in five; one
// uncached line in ten a probe line ("event":"probe", with the hosts' addresses) as dane-policyd
// --probe writes them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dane/tools/report.hpp"

namespace {

std::uint64_t g_state = 1;
std::uint64_t next_random() {
  // xorshift64*
  g_state ^= g_state >> 12;
  g_state ^= g_state << 25;
  g_state ^= g_state >> 27;
  return g_state * 2685821657736338717ULL;
}

std::string hex64(std::uint64_t a, std::uint64_t b) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  const std::uint64_t parts[] = {a, b, a ^ std::uint64_t{0x5555555555555555ULL},
                                 b ^ std::uint64_t{0xaaaaaaaaaaaaaaaaULL}};
  for (std::uint64_t v : parts) {
    for (int i = 0; i < 16; ++i) {
      out += k_hex[(v >> (60 - 4 * i)) & 15];
    }
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUTPUT [LINES=1000000] [DESTINATIONS=20000] [SEED=1]\n", argv[0]);
    return 2;
  }
  const long lines = argc > 2 ? std::atol(argv[2]) : 1000000;
  const long dests = argc > 3 ? std::atol(argv[3]) : 20000;
  g_state = argc > 4 ? std::strtoull(argv[4], nullptr, 10) | 1 : 1;
  FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr || lines <= 0 || dests <= 0) {
    std::perror(argv[1]);
    return 2;
  }
  const dane::tools::report::TimePoint start = *dane::parse_rfc3339("2026-11-01T00:00:00Z");
  const std::int64_t step = 30LL * 86400 * 1000000 / lines; // a month of traffic
  std::string line;
  for (long i = 0; i < lines; ++i) {
    const std::uint64_t r = next_random();
    const long d = static_cast<long>(r % static_cast<std::uint64_t>(dests));
    const int roll = static_cast<int>((r >> 20) % 100);
    const int nhosts = 1 + static_cast<int>(d % 3);
    const std::uint64_t generation = static_cast<std::uint64_t>(i) / 250000; // TLSA rollovers
    std::string policy = roll < 70   ? "dane-only"
                         : roll < 80 ? "dane"
                         : roll < 85 ? "fingerprint"
                         : roll < 95 ? "notfound"
                                     : "tempfail";
    const bool cached = (r >> 40) % 5 == 0;
    const bool probe = !cached && (r >> 44) % 10 == 0;
    const std::string dest = "d" + std::to_string(d) + ".example";
    std::string answer = policy == "notfound"   ? "NOTFOUND "
                         : policy == "tempfail" ? "TEMP MX lookup: SERVFAIL"
                                                : "OK " + policy;
    line = "{\"time\":\"" + dane::format_rfc3339(start + i * step) + "\",\"destination\":\"" + dest +
           "\",\"mode\":\"native\",\"policy\":\"" + policy + "\",\"answer\":\"" + answer + "\",\"reason\":\"" +
           (policy == "tempfail" ? "MX lookup for " + dest + ": SERVFAIL" : "evaluated") +
           "\",\"cached\":" + (cached ? "true" : "false") + (probe ? ",\"event\":\"probe\"" : "") + ",\"hosts\":[";
    if (policy != "tempfail") {
      for (int h = 0; h < nhosts; ++h) {
        const std::string host = "mx" + std::to_string(h) + "." + dest;
        const bool has_tlsa = policy != "notfound" && !(policy == "dane" && h == nhosts - 1);
        const std::string rec = has_tlsa
                                    ? "\"3 1 1 " +
                                          hex64(static_cast<std::uint64_t>(d) * 7919 + static_cast<std::uint64_t>(h),
                                                generation + (d % 7 == 0 ? 1 : 0)) +
                                          "\""
                                    : "";
        if (h > 0) {
          line += ",";
        }
        line += "{\"name\":\"" + host + "\",\"dnssec\":\"" + (has_tlsa ? "secure" : "insecure") + "\",\"tlsa\":[" +
                rec + "],\"tlsa_base\":\"" + host + "\",\"status\":\"" + (has_tlsa ? "dane" : "insecure") + "\"";
        if (probe) {
          const bool ok = (r >> 50) % 20 != 0;
          line += ",\"addresses\":[{\"address\":\"192.0.2." + std::to_string(d % 250 + 1) +
                  "\",\"port\":25,\"result\":\"" + (ok ? "pass" : "tlsa-mismatch") +
                  "\",\"matched\":" + (ok && has_tlsa ? rec : "null") + ",\"depth\":" + (ok ? "0" : "-1") + "}]";
        }
        line += "}";
      }
    }
    line += "]}\n";
    std::fwrite(line.data(), 1, line.size(), out);
  }
  std::fclose(out);
  return 0;
}
