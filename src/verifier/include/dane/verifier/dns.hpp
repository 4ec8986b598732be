// dane/verifier/dns.hpp — DNSSEC-validated lookups (the only component that talks to libunbound).
//
// Trust model: validation happens in-process (libunbound) from a configured trust
// anchor; an upstream AD bit is never trusted (docs/design.md §2). Every answer is
// classified as Secure, Insecure, Bogus (with libunbound's why_bogus) or Failed
// (SERVFAIL, timeout, resolver error); NXDOMAIN / NODATA / CNAME target are kept
// apart. A bogus answer arrives from libunbound with rcode 0 and data filled in:
// callers must look at `security`, never at rcode alone. A lookup not answered by
// its deadline is Failed("timeout"), never Insecure.
//
// Resolver is an interface so that destination evaluation can be unit-tested with
// a fake; UnboundResolver is the real one. Implementations are thread-safe: many
// threads may call resolve() / resolve_async() at once, and all queries of one call
// are in flight concurrently.
//
// Asynchronous use (the daemon's engine): resolve_async() returns at once and calls
// `done` exactly once with one Answer per query, on the resolver's own event-loop
// thread (or inline, on the caller's thread, when nothing needs to wait: a deadline
// already passed, every query refused at submission, or a resolver without a thread
// of its own, like the tests' fakes). One thread serves any number of calls: a call
// costs memory, not a thread. `done` must not block (it may submit further calls);
// the blocking resolve() must never be called from inside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dane/core/expected.hpp"

namespace dane {

enum class RrType : std::uint16_t {
  A = 1,
  Ns = 2,
  Cname = 5,
  Soa = 6,
  Mx = 15,
  Txt = 16,
  Aaaa = 28,
  Dnskey = 48,
  Tlsa = 52
};
std::string to_string(RrType type);

enum class DnsSecurity {
  Secure,   // validated chain of trust to the anchor (includes secure NXDOMAIN/NODATA proofs)
  Insecure, // provably unsigned (insecure delegation)
  Bogus,    // validation failed: reason holds why_bogus
  Failed,   // no usable answer: SERVFAIL, timeout, resolver error; reason says which
};
// "secure", "insecure", "bogus", "error" (the pinned JSON spellings, docs/design.md §6).
std::string to_string(DnsSecurity security);

struct Query {
  std::string name; // absolute or relative; a trailing dot is optional
  RrType type = RrType::A;
};

struct Answer {
  Query query;
  DnsSecurity security = DnsSecurity::Failed;
  std::string reason;    // why_bogus, "SERVFAIL", "timeout", ... ; empty when fine
  int rcode = 0;         // DNS rcode as received
  bool nxdomain = false; // name does not exist
  bool havedata = false; // answer section has records of the asked type
  std::string canonname; // CNAME-expanded owner name (no trailing dot), empty if none
  std::uint32_t ttl = 0; // TTL of the answer (for negative answers, the SOA minimum as libunbound reports)
  std::vector<std::vector<std::uint8_t>> rdata; // raw RDATA of each record of the asked type
};

// Typed views of RDATA (names returned lowercase, without the trailing dot).
struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange; // "." / empty for a null MX (RFC 7505)
};
Expected<MxRecord> parse_mx_rdata(const std::vector<std::uint8_t>& rdata);
Expected<std::string> parse_address_rdata(RrType type,
                                          const std::vector<std::uint8_t>& rdata); // "192.0.2.1" / "2001:db8::1"

struct ResolverConfig {
  std::string unbound_config;               // --unbound-config FILE (passed to ub_ctx_config)
  std::vector<std::string> forwarders;      // --forwarder ADDR[@PORT], repeatable
  std::string trust_anchor_file;            // --trust-anchor-file FILE (default: Debian's root key)
  std::chrono::milliseconds timeout{10000}; // --dns-timeout SECONDS: bounds one destination's evaluation
  // libunbound's outgoing limits, set before --unbound-config is read (so that file wins); 0 keeps
  // libunbound's default. The daemon sizes them for the evaluations it admits (docs/engine.md).
  unsigned outgoing_range = 0;     // "outgoing-range:": UDP sockets for queries in flight
  unsigned queries_per_thread = 0; // "num-queries-per-thread:": queries worked on at once
  unsigned outgoing_tcp = 0;       // "outgoing-num-tcp:": TCP connections for queries in flight
};

// Default trust anchor: the root key shipped by Debian's dns-root-data.
inline constexpr const char* k_default_trust_anchor_file = "/usr/share/dns/root.key";

using AnswersCallback = std::function<void(std::vector<Answer>)>;

class Resolver {
public:
  virtual ~Resolver() = default;
  // Resolve every query concurrently; returns one Answer per query, in order.
  // Any query unanswered at `deadline` is returned as Failed("timeout"). Blocks the caller.
  virtual std::vector<Answer> resolve(const std::vector<Query>& queries,
                                      std::chrono::steady_clock::time_point deadline) = 0;
  // The same without blocking: `done` gets the answers (see the header comment for the thread).
  // The default runs resolve() inline: right for fakes, wrong for anything that waits on a network.
  virtual void resolve_async(const std::vector<Query>& queries, std::chrono::steady_clock::time_point deadline,
                             AnswersCallback done) {
    done(resolve(queries, deadline));
  }
  virtual std::chrono::milliseconds timeout() const = 0;
};

// Real resolver over libunbound, configured once and then immutable.
// create() fails (with a message naming the option) on an unreadable config or
// trust-anchor file; it never touches the network.
Expected<std::unique_ptr<Resolver>> make_unbound_resolver(const ResolverConfig& config);

} // namespace dane
