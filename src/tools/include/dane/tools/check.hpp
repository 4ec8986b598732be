// dane/tools/check.hpp — what `dane-policyctl check` concludes: DNS facts plus live probes -> a verdict.
//
// Input: the DestinationFacts of one destination (evaluate_destination(), dane/verifier/destination.hpp),
// the check settings (port override, --all, probe timeout, EHLO name) and a Prober (dane/tools/prober.hpp).
// run_check() plans one probe per address of every MX host that publishes TLSA records (with `all`: of
// every host), runs them through the Prober, adds rollover warnings and decides the final verdict; the
// policy line comes from the policy engine in native mode (the answer dane-policyd would give).
// Output: a CheckOutcome; the program prints it (text or JSON) and exits with verdict.exit_code.
// Failure modes: none raised; DNS trouble is a TempFail verdict (exit 3), never weaker, and a
// destination whose DNS failed is not probed at all. Probe failures are fail verdicts (exit 1).
// Trust: facts come from the validating resolver; probe reports carry untrusted server text.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dane/policy/policy_engine.hpp"
#include "dane/tools/prober.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::tools {

struct CheckSettings {
  std::optional<std::uint16_t> port; // probe this port instead of the destination's
  bool all = false;                  // also probe hosts without TLSA records
  std::chrono::milliseconds probe_timeout{10000};
  std::string helo = "localhost";
  // --mta-sts: set (to the CA file, "" = the system's trust store) to check MTA-STS destinations (facts
  // with an enforce or testing policy in facts.sts) with PKIX: every address of every MX host the
  // policy allows is probed in PKIX mode (probe.hpp); a host the policy does not allow is reported
  // mx-mismatch for each of its addresses, without a probe.
  std::optional<std::string> mta_sts_ca_file;
};

// What check found for one host, beside the DNS facts.
struct HostCheck {
  bool probed = false;
  std::string note; // why not probed
  std::vector<std::string> warnings;
  std::vector<ProbeReport> reports;
};

// One probe to run and the index (in facts.hosts) of the host it belongs to.
struct PlannedProbe {
  std::size_t host = 0;
  ProbeRequest request;
};

// The verdict's pinned spellings (JSON `verdict.result`) via to_string().
enum class CheckResult { Pass, Fail, TempFail, None };
std::string to_string(CheckResult result); // "pass", "fail", "tempfail", "none"
// Exit codes (docs/design.md §5): pass and none 0, fail 1, tempfail 3.
int check_exit_code(CheckResult result);

struct CheckVerdict {
  CheckResult result = CheckResult::None;
  int exit_code = 0;
  std::string text; // one line
  std::size_t probed = 0;
  std::size_t failed = 0;
};

struct CheckOutcome {
  DestinationFacts facts;
  policyd::PolicyAnswer answer; // native mode
  std::vector<HostCheck> hosts; // parallel to facts.hosts
  CheckVerdict verdict;
};

// True when `settings` ask for MTA-STS checks and the facts carry an enforce or testing policy.
bool is_sts_check(const DestinationFacts& facts, const CheckSettings& settings);
// The probes for `facts` (none when the destination is TempFail is the caller's rule: run_check()).
// Fills each host's `probed`, `note` and the warning about a TLSA host without addresses.
std::vector<PlannedProbe> plan_probes(const DestinationFacts& facts, const CheckSettings& settings,
                                      std::vector<HostCheck>& checks);

// Warns when no published record would still authenticate the server after a key or certificate
// change: a single usable record, or several that all match only the presented leaf (3 x x of one key).
// Needs the host's probe reports (the presented chain) for the second case.
void add_rollover_warnings(const HostResult& host, HostCheck& check);

// The final verdict from the facts and the probe reports.
CheckVerdict final_verdict(const DestinationFacts& facts, const std::vector<HostCheck>& checks);

// The whole check over already-evaluated facts: plan, probe, warn, decide.
CheckOutcome run_check(DestinationFacts facts, const CheckSettings& settings, const Prober& prober);

} // namespace dane::tools
