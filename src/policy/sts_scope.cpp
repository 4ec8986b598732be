// When an evaluation consults MTA-STS, and the MX host list of an insecure MX RRset (see
// dane/policy/sts_scope.hpp).
#include "dane/policy/sts_scope.hpp"

#include <algorithm>

namespace dane::policyd {

bool consults_sts(const DestinationFacts& facts) {
  const NextHop& hop = facts.next_hop;
  return facts.outcome == DestinationOutcome::NotDane && !hop.domain.empty() && !hop.bracketed && !hop.ip_literal &&
         !hop.parent_key;
}

bool needs_mx_hosts(const DestinationFacts& facts) {
  return consults_sts(facts) && facts.hosts.empty() && facts.mx_security == DnsSecurity::Insecure;
}

std::vector<HostResult> mx_hosts_from(const DestinationFacts& facts, const Answer& mx) {
  std::vector<HostResult> hosts;
  if (mx.security == DnsSecurity::Bogus || mx.security == DnsSecurity::Failed || mx.nxdomain) {
    return hosts;
  }
  auto add = [&](const std::string& name, std::uint16_t preference) {
    if (std::any_of(hosts.begin(), hosts.end(), [&](const HostResult& h) { return h.name == name; })) {
      return;
    }
    HostResult h;
    h.name = name;
    h.preference = preference;
    h.dnssec = mx.security;
    h.status = HostStatus::Insecure;
    h.reason = "MX RRset of " + facts.next_hop.domain + " is insecure: no DANE for " + name;
    h.ttl = mx.ttl;
    hosts.push_back(std::move(h));
  };
  if (!mx.havedata) {
    add(facts.next_hop.domain, 0); // implicit MX (RFC 5321 §5.1)
  }
  for (const auto& rdata : mx.rdata) {
    auto record = parse_mx_rdata(rdata);
    if (!record) {
      continue; // a malformed record names no host; the others still may
    }
    if (record->exchange == "." || record->exchange.empty()) {
      return {}; // null MX (RFC 7505): no mail, no hosts
    }
    add(record->exchange, record->preference);
  }
  std::stable_sort(hosts.begin(), hosts.end(),
                   [](const HostResult& a, const HostResult& b) { return a.preference < b.preference; });
  return hosts;
}

void attach_sts(DestinationFacts& facts, StsFacts sts, std::chrono::system_clock::time_point now) {
  if (sts.policy && sts.expires) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*sts.expires - now).count();
    auto bound = static_cast<std::uint32_t>(std::clamp<long long>(left, 0, facts.ttl));
    facts.ttl = std::min(facts.ttl, bound);
  }
  facts.sts = std::move(sts);
}

} // namespace dane::policyd
