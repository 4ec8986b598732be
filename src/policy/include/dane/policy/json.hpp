// dane/policy/json.hpp — the one JSON rendering of an evaluation, shared by `dane-policyctl policy
// --json`, `dane-policyctl check --json` and the daemon's verdict log (pinned fields, docs/design.md §6).
//
// Object: destination (the lookup key as given), policy, answer, reason, hosts[] and extras
// (mode-independent): would_answer (only when it differs from answer, i.e. monitor mode),
// outcome, ttl, mx_dnssec (absent when no lookup was made: parent, IP-literal, malformed keys). Each host: name,
// preference, dnssec, tlsa ["U S M hex"...], tlsa_base, tlsa_owner, status, reason, ips (DNS addresses as text),
// canonname (when an alias). `addresses` (per-address probe results) is NOT written here: `dane-policyctl check` and
// the daemon's
// --probe add it through the HostJsonHook, called once per host with the host's object.
// With MTA-STS facts (facts.sts, only when the evaluation consulted MTA-STS): "sts", the object of
// sts_to_json(): domain, source, and when known txt_id, txt_error, policy_id, mode, mx[], max_age, fetched,
// expires (RFC 3339), fetch_error, store_error, policy_string[] (empty strings and absent values left out).
// Callers add their own top-level fields (time, mode, cached) to the returned object.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::policyd {

using HostJsonHook = std::function<void(const HostResult& host, nlohmann::json& object)>;

// One probed address, the element of a host's `addresses` list: address, port, result,
// matched ("U S M hex" or null), depth (null without a match), reason. Detailed adds what
// `dane-policyctl check --json` shows: authenticated, banner, tls_version, cipher, leaf, chain_pem;
// the verdict log keeps to the summary (one line per evaluation stays short).
enum class ProbeJson { Summary, Detailed };
nlohmann::json probe_to_json(const ProbeReport& report, ProbeJson detail);

nlohmann::json sts_to_json(const StsFacts& sts);
nlohmann::json host_to_json(const HostResult& host);
nlohmann::json to_json(const DestinationFacts& facts, const PolicyAnswer& answer, const HostJsonHook& hook = {});

} // namespace dane::policyd
