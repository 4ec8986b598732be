// dane/sts/sts_engine.hpp — MTA-STS discovery and policy fetching for one domain (RFC 8461 §3, §5),
// without blocking a thread.
//
// What, for `domain` (an MX-resolved next hop whose DANE outcome was NotDane):
//   1. TXT `_mta-sts.<domain>` through the validating resolver (DNSSEC is not required; a bogus or
//      failed answer counts as "no TXT record seen now", reason kept in txt_error).
//   2. The stored policy (PolicyStore). Unexpired, fetched under the same id, and not due for refresh:
//      used as is (source Cached).
//   3. Otherwise, when a TXT id was seen (or a stored policy is due for refresh): A/AAAA of
//      `mta-sts.<domain>` through the resolver, then GET https://mta-sts.<domain>/.well-known/mta-sts.txt
//      (HttpsClient: PKIX, no redirects, 64 KiB, by the deadline); status 200, Content-Type text/plain
//      (parameters allowed), parse_sts_policy() must accept the body. Success: stored and used (Fetched).
//      Failure: fetch_error says why; an unexpired stored policy is still used (Cached), else none.
//   4. No TXT record now: an unexpired stored policy is still used (§5: a removed record does not end a
//      cached policy before it expires).
// A stored policy that cannot be read is reported in store_error; the engine then fetches as for a new
// domain. `done` exactly once, on the resolver's or the io_context's thread; never throws into the caller
// (an internal error ends the evaluation with no policy and the reason in store_error: TEMP, never weaker).
// Addresses of mta-sts.<domain>: a bogus A or AAAA answer is a fetch error; a failed one only when the
// other family gave no address. The store is read on the caller's thread (memory, or one small file the
// first time a domain is seen) and written on the io_context's thread after a successful fetch (a failed
// write is reported in store_error, the fetched policy used all the same). HttpsClient::request() is
// called on the resolver's thread: it posts the request to the client's io_context.
// Refresh: a stored policy older than `refresh_after` (default: a day, or half its max_age when that is
// shorter) is refetched even when the id is unchanged; a failed refresh keeps it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dane/sts/https_client.hpp"
#include "dane/sts/policy_store.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/mta_sts.hpp"

namespace dane::sts {

struct StsEngineOptions {
  std::uint16_t port = 443;                      // tests may use another
  std::chrono::seconds refresh_after{24 * 3600}; // upper bound; half of max_age when shorter
  // Runs the policy store's disk work (the first load of a domain, the save after each fetch) off the
  // threads that must never wait for a disk (the daemon: the resolver's loop and the I/O thread). Empty:
  // inline, on whatever thread the step runs (dane-policyctl, tests).
  std::function<void(std::function<void()>)> store_executor;
};

using StsCallback = std::function<void(StsFacts)>;

class StsEngine {
public:
  // All three must outlive the engine.
  StsEngine(Resolver& resolver, std::shared_ptr<HttpsClient> client, PolicyStore& store, StsEngineOptions options = {});
  void evaluate_async(const std::string& domain, std::chrono::steady_clock::time_point deadline, StsCallback done);

private:
  Resolver& m_resolver;
  std::shared_ptr<HttpsClient> m_client;
  PolicyStore& m_store;
  StsEngineOptions m_options;
};

// For dane-policyctl: a private io_context and client, blocking until the facts are in.
StsFacts evaluate_sts_blocking(Resolver& resolver, const std::string& ca_file, PolicyStore& store,
                               const std::string& domain, std::chrono::steady_clock::time_point deadline,
                               StsEngineOptions options = {});

} // namespace dane::sts
