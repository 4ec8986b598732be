// DestinationFacts + mode -> Postfix answer (docs/design.md §3). Pure: no I/O apart from the
// PinnedOptions::ta_file callback, which the caller supplies.
#include "dane/policy/policy_engine.hpp"
#include "dane/core/text.hpp"
#include "dane/core/time.hpp"

#include <algorithm>
#include <cctype>

namespace dane::policyd {
namespace {

// The native answer: Postfix does its own DANE from these levels.
PolicyAnswer decide_native(const DestinationFacts& facts) {
  switch (facts.outcome) {
  case DestinationOutcome::TempFail:
    return temp_answer(facts.reason);
  case DestinationOutcome::NotDane:
    return make_answer(PolicyKind::NotFound, {}, facts.reason);
  case DestinationOutcome::DaneOnly:
    return make_answer(PolicyKind::DaneOnly, "dane-only", facts.reason);
  case DestinationOutcome::Dane:
    return make_answer(PolicyKind::Dane, "dane", facts.reason);
  case DestinationOutcome::Encrypt:
    return make_answer(PolicyKind::Dane, "dane", facts.reason + " (Postfix's dane level then requires TLS)");
  }
  return temp_answer("internal error: unknown outcome");
}

// The TLSA matching type whose digest is Postfix's fingerprint digest, or 0 when none is.
std::uint8_t mtype_for_digest(const std::string& digest) {
  if (digest == "sha256" || digest == "sha2-256" || digest == "sha-256") {
    return 1;
  }
  if (digest == "sha512" || digest == "sha2-512" || digest == "sha-512") {
    return 2;
  }
  return 0;
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

// DANE-EE records -> Postfix fingerprint pins (certificate or public-key digests; Postfix
// matches both). `3 x 0` records are hashed here; `3 x M` whose M is the operator's digest
// are used as they are; others cannot be converted.
PolicyAnswer pin_dane_ee(const DestinationFacts& facts, const std::vector<const TlsaRecord*>& records,
                         const PinnedOptions& pinned) {
  std::string digest = ascii_lower(pinned.fingerprint_digest.empty() ? "sha256" : pinned.fingerprint_digest);
  std::uint8_t direct_mtype = mtype_for_digest(digest);
  std::vector<std::string> pins;
  std::vector<std::string> skipped;
  for (const TlsaRecord* r : records) {
    if (r->mtype == TlsaMatchingType::Full) {
      auto hashed = named_digest(digest, r->data);
      if (hashed) {
        add_unique(pins, to_hex(*hashed));
      } else {
        skipped.push_back(r->short_string() + " (" + hashed.error() + ")");
      }
    } else if (direct_mtype != 0 && octet(r->mtype) == direct_mtype) {
      add_unique(pins, to_hex(r->data));
    } else {
      skipped.push_back(r->short_string() + " (matching type " + std::to_string(octet(r->mtype)) + " is not " + digest +
                        ")");
    }
  }
  if (pins.empty()) {
    return make_answer(PolicyKind::DaneOnly, "dane-only",
                       facts.reason + "; no DANE-EE record converts to a " + digest +
                           " fingerprint: " + join(skipped, ", "));
  }
  std::string reason = facts.reason + "; " + std::to_string(pins.size()) + " DANE-EE " + digest + " fingerprint" +
                       (pins.size() == 1 ? "" : "s") + " pinned";
  if (!skipped.empty()) {
    reason += " (not convertible, left out: " + join(skipped, ", ") + ")";
  }
  return make_answer(PolicyKind::Fingerprint, "fingerprint match=" + join(pins, "|"), reason);
}

// Reference identifiers for DANE-TA name checks (docs/design.md §3).
std::vector<std::string> reference_names(const DestinationFacts& facts) {
  std::vector<std::string> names;
  for (const auto& n : facts.reference_names) {
    add_unique(names, n);
  }
  for (const auto& h : facts.hosts) {
    add_unique(names, h.tlsa_base);
    add_unique(names, h.name);
  }
  return names;
}

PolicyAnswer decide_pinned(const DestinationFacts& facts, const PinnedOptions& pinned) {
  if (facts.outcome == DestinationOutcome::Encrypt) {
    return make_answer(PolicyKind::Encrypt, "encrypt", facts.reason);
  }
  if (facts.outcome != DestinationOutcome::DaneOnly) {
    return decide_native(facts);
  }
  std::vector<const TlsaRecord*> ee;
  std::vector<const TlsaRecord*> ta;
  for (const auto& h : facts.hosts) {
    for (const auto& r : h.tlsa) {
      if (smtp_usability(r) != TlsaUsability::Usable) {
        continue;
      }
      (r.usage == TlsaUsage::DaneEe ? ee : ta).push_back(&r);
    }
  }
  if (!ee.empty() && !ta.empty()) {
    return make_answer(PolicyKind::DaneOnly, "dane-only",
                       facts.reason + "; DANE-EE and DANE-TA records together cannot be pinned");
  }
  if (!ee.empty()) {
    return pin_dane_ee(facts, ee, pinned);
  }
  std::optional<std::string> ta_file;
  if (pinned.ta_file) {
    ta_file = pinned.ta_file(facts);
  }
  if (!ta_file || ta_file->empty()) {
    return make_answer(PolicyKind::DaneOnly, "dane-only",
                       facts.reason + "; no trust-anchor file for the DANE-TA records");
  }
  return make_answer(PolicyKind::Secure, "secure tafile=" + *ta_file + " match=" + join(reference_names(facts), ":"),
                     facts.reason + "; DANE-TA trust anchors in " + *ta_file);
}

// MTA-STS (RFC 8461), consulted only for a NotDane outcome on an MX-resolved next hop: DANE first (§2).
std::string sts_host_name(const std::string& name) {
  return normalize_sts_domain(name);
}

// "policy 20261205 (mode enforce, cached, expires 2026-12-06T10:00:00Z)"
std::string sts_policy_label(const StsFacts& sts) {
  std::string label = "MTA-STS policy " + (sts.policy_id.empty() ? std::string("(no id)") : sts.policy_id) + " for " +
                      sts.domain + " (mode " + to_string(sts.policy->mode) + ", " + to_string(sts.source);
  if (sts.expires) {
    label += ", expires " + format_rfc3339(*sts.expires);
  }
  label += ")";
  if (!sts.fetch_error.empty()) {
    label += ", refetch failed: " + sts.fetch_error;
  }
  return label;
}

// What an enforce policy answers: `secure` with the MX hosts the patterns allow, listed by exact name
// (Postfix's ".example.com" would also match deeper names than RFC 8461's "*.example.com"), and SNI =
// the MX host name. No MX host allowed: TEMP naming the patterns.
PolicyAnswer sts_enforce_answer(const DestinationFacts& facts, const StsFacts& sts) {
  std::vector<std::string> allowed;
  std::vector<std::string> refused;
  for (const auto& h : facts.hosts) {
    std::string name = sts_host_name(h.name);
    if (sts_mx_allowed(*sts.policy, name)) {
      add_unique(allowed, name);
    } else {
      add_unique(refused, name);
    }
  }
  const std::string label = sts_policy_label(sts);
  if (allowed.empty()) {
    return temp_answer(label + ": no MX host of " + sts.domain + " (" +
                       (refused.empty() ? std::string("none") : join(refused, ", ")) +
                       ") matches the policy's mx patterns " + join(sts.policy->mx, ", "));
  }
  std::string reason = label + ": MX host" + (allowed.size() == 1 ? " " : "s ") + join(allowed, ", ") +
                       " allowed by mx patterns " + join(sts.policy->mx, ", ");
  if (!refused.empty()) {
    reason += " (not allowed, left out: " + join(refused, ", ") + ")";
  }
  return make_answer(PolicyKind::Secure, "secure match=" + join(allowed, ":") + " servername=hostname",
                     reason + "; " + facts.reason);
}

// The answer for a NotDane destination with MTA-STS facts (common to every mode; monitor wraps it).
PolicyAnswer decide_sts(const DestinationFacts& facts, const StsFacts& sts) {
  if (!sts.store_error.empty() && sts.source != StsSource::Fetched) {
    // A stored policy we cannot read might be an enforce policy: never answer weaker than it could.
    return temp_answer("MTA-STS policy store for " + sts.domain + " unreadable and no policy fetched: " +
                       sts.store_error + (sts.fetch_error.empty() ? std::string() : "; fetch: " + sts.fetch_error));
  }
  if (sts.source == StsSource::None || !sts.policy) {
    std::string why = !sts.fetch_error.empty() ? "policy fetch failed: " + sts.fetch_error
                      : !sts.txt_error.empty() ? sts.txt_error
                                               : std::string("no policy");
    return make_answer(PolicyKind::NotFound, {}, facts.reason + "; no MTA-STS policy for " + sts.domain + ": " + why);
  }
  PolicyAnswer enforce = sts_enforce_answer(facts, sts);
  if (sts.policy->mode == StsMode::Enforce) {
    return enforce;
  }
  return make_answer(PolicyKind::NotFound, {},
                     sts_policy_label(sts) + ": mail flows; enforce would answer '" + enforce.answer +
                         "': " + enforce.reason);
}

PolicyAnswer decide_enforcing(const DestinationFacts& facts, Mode mode, const PinnedOptions& pinned) {
  if (facts.sts && facts.outcome == DestinationOutcome::NotDane) {
    return decide_sts(facts, *facts.sts);
  }
  return mode == Mode::Pinned ? decide_pinned(facts, pinned) : decide_native(facts);
}

} // namespace

PolicyAnswer decide(const DestinationFacts& facts, Mode mode, const PinnedOptions& pinned) {
  if (facts.next_hop.parent_key) {
    return parent_key_answer();
  }
  switch (mode) {
  case Mode::Native:
  case Mode::Pinned:
    return decide_enforcing(facts, mode, pinned);
  case Mode::Monitor: {
    PolicyAnswer native = decide_enforcing(facts, Mode::Native, pinned);
    PolicyAnswer a =
        make_answer(PolicyKind::NotFound, {}, "monitor mode, would answer '" + native.answer + "': " + native.reason);
    a.would_answer = native.answer;
    return a;
  }
  }
  return decide_native(facts);
}

} // namespace dane::policyd
