// dane/verifier/mta_sts.hpp — the MTA-STS model (RFC 8461): the TXT record, the policy, MX patterns,
// and the facts one evaluation learned about a domain's policy.
//
// What: strict parsers for the `_mta-sts.<domain>` TXT record (§3.1) and the policy file (§3.2), the MX
// pattern rule (§4.1: a leading "*." matches exactly one label), and StsFacts, which the daemon's
// evaluation attaches to DestinationFacts and the policy engine, the verdict log, `dane-policyctl` and
// TLSRPT reports read. The network side (the HTTPS fetch, the persistent policy cache, the
// asynchronous discovery) lives in the dane_sts library (src/sts/).
// Inputs: bytes from DNS and from an HTTPS server: untrusted. Parsers never throw; they fail with a
// message naming what was wrong (quoted with quote_untrusted).
// Trust: a parsed policy is only as trustworthy as the PKIX-validated fetch that delivered it; this
// header does not decide that. Pure; no global state; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"

namespace dane {

// RFC 8461 §3.1: "v=STSv1; id=<1*32 ALPHA/DIGIT>;" with optional white space around fields and extension
// fields after id. Exactly one record of the RRset may start with "v=STSv1".
struct StsTxt {
  std::string id;
};
// One TXT record (its character-strings already concatenated).
Expected<StsTxt> parse_sts_txt(std::string_view record);
// The whole RRset: records not starting with "v=STSv1" are ignored; none, or more than one, is an error.
Expected<StsTxt> select_sts_txt(const std::vector<std::string>& records);
// TXT RDATA (length-prefixed character-strings) -> the concatenated text.
Expected<std::string> parse_txt_rdata(const std::vector<std::uint8_t>& rdata);

enum class StsMode { Enforce, Testing, None };
std::string to_string(StsMode mode); // "enforce", "testing", "none"

// RFC 8461 §3.2. `max_age` is capped at 31557600 s (the RFC's maximum); `mx` holds the patterns in lower
// case as published ("mail.example.com", "*.example.net"); `text` is the policy body as fetched (CRLF or
// LF lines), kept for TLSRPT's policy-string.
struct StsPolicy {
  StsMode mode = StsMode::None;
  std::vector<std::string> mx;
  std::uint32_t max_age = 0;
  std::string text;
};
inline constexpr std::size_t k_sts_policy_max_bytes = std::size_t{64} * 1024;
inline constexpr std::uint32_t k_sts_max_age_limit = 31557600;
// Strict: version must be first and "STSv1"; mode and max_age exactly once; at least one mx line unless
// mode is none; unknown keys are ignored (§3.2); a malformed line, a duplicate key, a bad max_age or a
// bad mx pattern is an error naming the line.
Expected<StsPolicy> parse_sts_policy(std::string_view body);
// The policy-string lines TLSRPT reports (RFC 8460 §4.4): the body's lines without their line ends.
std::vector<std::string> sts_policy_lines(std::string_view body);

// An RFC 5321 domain as MTA-STS uses it (policy domains, MX patterns after "*."): letter-digit-hyphen
// labels, no hyphen first or last, at most 63 octets each and 253 in all, no trailing dot; either case.
// Such a name is also safe as a file name (no "/", no "..", no leading dot).
bool is_sts_domain_name(std::string_view name);
// Lower case, without a trailing dot (not validated).
std::string normalize_sts_domain(std::string_view name);

// RFC 8461 §4.1: `host` (lower case, no trailing dot) matches `pattern` exactly, or the pattern is
// "*.<rest>" and host is one label followed by ".<rest>".
bool sts_mx_matches(std::string_view pattern, std::string_view host);
bool sts_mx_allowed(const StsPolicy& policy, std::string_view host);

// Where the policy an evaluation used came from.
enum class StsSource {
  None,    // no policy: no TXT record and nothing cached, or the fetch failed with nothing cached
  Fetched, // fetched during this evaluation (new domain, changed id, or refresh)
  Cached,  // from the policy cache (memory or --state-dir), unexpired
};
std::string to_string(StsSource source); // "none", "fetched", "cached"

// What one evaluation learned about a domain's MTA-STS policy. Rendered as the verdict log's "sts"
// object (docs/design.md §6):
//   {"domain","txt_id","txt_error","source","policy_id","mode","mx":[...],"max_age","fetched","expires",
//    "fetch_error","store_error","policy_string":[...]}
struct StsFacts {
  std::string domain;    // the policy domain (the next hop's domain)
  std::string txt_id;    // id of the TXT record seen now; empty when none was found
  std::string txt_error; // why no usable TXT record: "no _mta-sts TXT record", a syntax error, "timeout"
  StsSource source = StsSource::None;
  std::optional<StsPolicy> policy;                              // the policy in force (source != None)
  std::string policy_id;                                        // the TXT id the policy was fetched under
  std::optional<std::chrono::system_clock::time_point> fetched; // when that policy was fetched
  std::optional<std::chrono::system_clock::time_point> expires; // fetched + max_age
  std::string fetch_error;                                      // this evaluation's fetch failure, if any
  std::string store_error; // a stored policy that could not be read (the answer is then TEMP unless refetched)
};

} // namespace dane
