// dane/policy/answer.hpp — the policy layer's typed answer, its builders, and one encoder per protocol.
//
// What: PolicyAnswer is what decide() (policy_engine.hpp) returns for a destination: a PolicyKind,
// the Postfix TLS policy text ("dane-only", "fingerprint match=...", "secure tafile=... match=...")
// or, for TEMP, the temporary-failure text ("4.7.5 <reason>"), the reason for people and logs, and
// (monitor mode) what enforcement would have answered. Answers are made only by the builders here
// (make_answer, temp_answer, parent_key_answer), so the kind and the texts always agree.
// The encoders turn one answer into the reply bytes of each Postfix protocol (docs/design.md §4):
//   kind            socketmap                tcp_table               policy delegation
//   OK kinds        `OK <text>`              `200 <text>`            `DUNNO`
//   NotFound        `NOTFOUND `              `500 not found`         `DUNNO`
//   TempFail        `TEMP 4.7.5 <reason>`    `400 4.7.5 <reason>`    --policy-failure-action (below)
// Inputs: an AnswerView (of a PolicyAnswer, or of the daemon's cached Verdict: nothing is copied
// to encode it, so a cache hit pays only for the reply bytes). Failure modes: none thrown; an
// answer that does not fit a protocol's limit is never cut into a weaker policy: an over-long OK
// becomes a temporary failure (codecs.hpp). Trust: the texts come from DNSSEC-validated data and
// our own formatting; reasons may quote DNS names, which the codecs encode or strip as each
// protocol needs. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "dane/core/expected.hpp"

namespace dane::policyd {

// Pinned JSON spellings (docs/design.md §6).
enum class PolicyKind { DaneOnly, Dane, Encrypt, Fingerprint, Secure, NotFound, TempFail };
std::string
to_string(PolicyKind kind); // "dane-only", "dane", "encrypt", "fingerprint", "secure", "notfound", "tempfail"

// True for the kinds answered `OK <policy text>`.
constexpr bool is_ok(PolicyKind kind) {
  return kind != PolicyKind::NotFound && kind != PolicyKind::TempFail;
}

struct PolicyAnswer {
  PolicyKind policy = PolicyKind::TempFail;
  std::string
      answer; // the socketmap payload, as make_answer() builds it: "OK dane-only", "NOTFOUND ", "TEMP 4.7.5 why"
  std::string reason;       // why, for people and logs
  std::string would_answer; // monitor mode: the socketmap payload enforcement would have answered; else == answer
};

// The fields an encoder reads; views into a PolicyAnswer or a Verdict, which must outlive it.
struct AnswerView {
  PolicyKind policy = PolicyKind::TempFail;
  std::string_view answer; // the socketmap payload
  std::string_view reason;

  // The Postfix policy text ("dane-only", ...) for OK kinds, the TEMP text ("4.7.5 why") for TempFail,
  // empty for NotFound: the payload without its status word.
  std::string_view text() const;
};
AnswerView view_of(const PolicyAnswer& answer);

// The one builder of answers. `text`: the Postfix policy text for OK kinds ("dane-only"), ignored for
// NotFound; for TempFail use temp_answer().
PolicyAnswer make_answer(PolicyKind kind, std::string_view text, std::string reason);
// The one TEMP builder: `TEMP 4.7.5 <reason>` (4.7.5, "cryptographic failure", as Postfix uses for TLS
// policy trouble), for DNS failures and bogus data as for internal errors alike.
PolicyAnswer temp_answer(std::string reason);

// The one parent-key rule: Postfix asks for ".example.com" after a miss for "example.com" (with
// parent_domain_matches_subdomains). Such a key never has a policy: NOTFOUND at once, no DNS.
// `key` as Postfix sent it or normalised; a bracketed key ("[.x]") is not a parent key.
constexpr bool is_parent_key(std::string_view key) {
  return !key.empty() && key.front() == '.';
}
const PolicyAnswer& parent_key_answer();

// ---------------------------------------------------------------------------------------------------------
// Encoders: reply bytes for one answer, within each protocol's limit (codecs.hpp).

std::string encode_socketmap(const AnswerView& answer);
std::string encode_tcp_table(const AnswerView& answer);

// What check_policy_service answers for a destination whose DANE policy is TEMP (--policy-failure-action).
enum class PolicyFailureAction { Dunno, DeferIfPermit, Warn, Prepend };

struct PolicyDelegationOptions {
  PolicyFailureAction failure_action = PolicyFailureAction::Dunno;
  std::string_view prepend_header; // --policy-prepend-header, for Prepend (must outlive the options)
};

// The policy-delegation action for `destination` (the recipient's domain):
//   not TempFail   -> "DUNNO" (the destination's TLS policy is the smtp client's business)
//   TempFail       -> Dunno: "DUNNO", and `warning` (when given) gets the log line to write
//                     ("policy-tempfail destination=D action=DUNNO (DANE policy for D unavailable: R)");
//                     DeferIfPermit: "DEFER_IF_PERMIT 4.7.5 DANE policy for D unavailable: R";
//                     Warn: "WARN DANE policy for D unavailable: R";
//                     Prepend: "PREPEND <header>: tempfail D (R)"      (R: the answer's reason)
std::string policy_action(const AnswerView& answer, std::string_view destination,
                          const PolicyDelegationOptions& options, std::string* warning = nullptr);
// "action=<policy_action>\n\n" (codecs.hpp encode_policy_reply).
std::string encode_policy_delegation(const AnswerView& answer, std::string_view destination,
                                     const PolicyDelegationOptions& options, std::string* warning = nullptr);

} // namespace dane::policyd
