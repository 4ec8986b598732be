// JSON rendering of DestinationFacts + PolicyAnswer (see dane/policyd/json.hpp).
#include "dane/policyd/json.hpp"

namespace dane::policyd {

nlohmann::json host_to_json(const HostResult& host) {
  nlohmann::json tlsa = nlohmann::json::array();
  for (const auto& r : host.tlsa) {
    tlsa.push_back(r.to_string());
  }
  nlohmann::json j = {
      {"name", host.name},
      {"preference", host.preference},
      {"dnssec", to_string(host.dnssec)},
      {"tlsa", std::move(tlsa)},
      {"tlsa_base", host.tlsa_base},
      {"tlsa_owner", host.tlsa_owner},
      {"status", to_string(host.status)},
      {"reason", host.reason},
      {"ips", host.addresses},
  };
  if (!host.canonname.empty()) {
    j["canonname"] = host.canonname;
  }
  return j;
}

nlohmann::json to_json(const DestinationFacts& facts, const PolicyAnswer& answer, const HostJsonHook& hook) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : facts.hosts) {
    nlohmann::json object = host_to_json(h);
    if (hook) {
      hook(h, object);
    }
    hosts.push_back(std::move(object));
  }
  nlohmann::json j = {
      {"destination", facts.next_hop.key},
      {"policy", to_string(answer.policy)},
      {"answer", answer.answer},
      {"reason", answer.reason},
      {"outcome", to_string(facts.outcome)},
      {"ttl", facts.ttl},
      {"hosts", std::move(hosts)},
  };
  if (!facts.next_hop.parent_key && !facts.next_hop.ip_literal && !facts.next_hop.domain.empty()) {
    j["mx_dnssec"] = to_string(facts.mx_security); // of the MX RRset, or of the host for "[host]" keys
  }
  if (!answer.would_answer.empty() && answer.would_answer != answer.answer) {
    j["would_answer"] = answer.would_answer;
  }
  return j;
}

} // namespace dane::policyd
