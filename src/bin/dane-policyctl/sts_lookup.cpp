// dane-policyctl's --mta-sts step (see sts_lookup.hpp).
#include "sts_lookup.hpp"

#include <chrono>

#include "dane/policy/sts_scope.hpp"
#include "dane/sts/policy_store.hpp"
#include "dane/sts/sts_engine.hpp"

namespace dane::ctl {
namespace {

// A and AAAA of every host without addresses, in one round.
void resolve_addresses(Resolver& resolver, DestinationFacts& facts, std::chrono::steady_clock::time_point deadline) {
  std::vector<Query> queries;
  std::vector<std::size_t> owners;
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    if (facts.hosts[i].addresses.empty()) {
      queries.push_back(Query{facts.hosts[i].name, RrType::A});
      queries.push_back(Query{facts.hosts[i].name, RrType::Aaaa});
      owners.push_back(i);
      owners.push_back(i);
    }
  }
  if (queries.empty()) {
    return;
  }
  const std::vector<Answer> answers = resolver.resolve(queries, deadline);
  for (std::size_t q = 0; q < answers.size() && q < owners.size(); ++q) {
    const Answer& answer = answers[q];
    if (answer.security == DnsSecurity::Bogus || answer.security == DnsSecurity::Failed) {
      continue;
    }
    for (const auto& rdata : answer.rdata) {
      if (auto address = parse_address_rdata(queries[q].type, rdata)) {
        facts.hosts[owners[q]].addresses.push_back(*address);
      }
    }
  }
}

} // namespace

void add_sts_blocking(Resolver& resolver, DestinationFacts& facts, const std::string& ca_file,
                      const std::string& store_dir, bool with_addresses) {
  if (!policyd::consults_sts(facts)) {
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + resolver.timeout();
  if (policyd::needs_mx_hosts(facts)) {
    auto answers = resolver.resolve({Query{facts.next_hop.domain, RrType::Mx}}, deadline);
    if (!answers.empty()) {
      facts.hosts = policyd::mx_hosts_from(facts, answers.front());
    }
  }
  if (with_addresses) {
    resolve_addresses(resolver, facts, deadline);
  }
  sts::PolicyStore store(store_dir, true);
  StsFacts result = sts::evaluate_sts_blocking(resolver, ca_file, store, facts.next_hop.domain,
                                               std::chrono::steady_clock::now() + resolver.timeout());
  policyd::attach_sts(facts, std::move(result), std::chrono::system_clock::now());
}

} // namespace dane::ctl
