// libFuzzer target: the policy delegation codec. Properties: chunked decoding equals decoding at once;
// every decoded request honours the limits, has request=smtpd_access_policy and unique names, and
// re-encodes to the input bytes; an encoded reply is always exactly one attribute line plus the empty line.
#include <set>
#include <string>

#include "dane/policy/codecs.hpp"
#include "fuzz_check.hpp"

using namespace dane::policyd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view whole;
  auto pieces = dane::fuzz::chunks(data, size, whole);
  PolicyLimits limits;
  limits.max_attributes = 8;
  limits.max_line = 64;
  limits.max_request = 256;

  PolicyDecoder at_once(limits);
  std::vector<PolicyRequest> all;
  bool ok_all = at_once.feed(whole, all);
  FUZZ_CHECK(ok_all == !at_once.error().has_value());

  PolicyDecoder chunked(limits);
  std::vector<PolicyRequest> parts;
  bool ok_parts = true;
  for (std::string_view piece : pieces) {
    ok_parts = chunked.feed(piece, parts);
    if (!ok_parts) {
      break;
    }
  }
  FUZZ_CHECK(ok_parts == ok_all);
  FUZZ_CHECK(parts.size() == all.size());
  if (!ok_all) {
    FUZZ_CHECK(chunked.error()->kind == at_once.error()->kind);
  }

  std::string reencoded;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const PolicyRequest& r = all[i];
    FUZZ_CHECK(r.attributes == parts[i].attributes);
    FUZZ_CHECK(r.request() == "smtpd_access_policy");
    FUZZ_CHECK(!r.attributes.empty() && r.attributes.size() <= limits.max_attributes);
    std::set<std::string> names;
    for (const auto& [name, value] : r.attributes) {
      FUZZ_CHECK(names.insert(name).second);
      FUZZ_CHECK(name.size() + value.size() + 2 <= limits.max_line);
    }
    auto wire = encode_policy_request(r.attributes);
    FUZZ_CHECK(wire.has_value() && wire->size() <= limits.max_request);
    reencoded += *wire;
    if (auto domain = r.recipient_domain()) {
      FUZZ_CHECK(!domain->empty());
    }
  }
  FUZZ_CHECK(whole.substr(0, reencoded.size()) == reencoded);

  std::string reply = encode_policy_reply(whole);
  FUZZ_CHECK(reply.starts_with("action=") && reply.ends_with("\n\n"));
  FUZZ_CHECK(reply.find('\n') == reply.size() - 2);
  FUZZ_CHECK(reply.size() <= 7 + k_policy_max_action + 2);
  auto action = parse_policy_reply(reply);
  FUZZ_CHECK(action.has_value());
  (void)parse_policy_reply(whole);
  return 0;
}
