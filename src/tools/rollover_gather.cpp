// The DNS and live-server inputs of `dane-policyctl rollover` (contract: dane/tools/rollover.hpp).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "dane/tools/rollover.hpp"
#include "dane/verifier/pem.hpp"

namespace dane::tools {

namespace {

bool lookup_failed(const Answer& answer) {
  return answer.security == DnsSecurity::Bogus || answer.security == DnsSecurity::Failed;
}

// The addresses in the A and AAAA answers; an Unknown observation for each lookup that failed.
std::vector<std::string> addresses_from(const std::vector<Answer>& answers, RolloverInput& input) {
  std::vector<std::string> addresses;
  for (const auto& answer : answers) {
    if (lookup_failed(answer)) {
      input.servers.push_back({input.host, input.port, Presented::Unknown,
                               to_string(answer.query.type) + " lookup " + to_string(answer.security) +
                                   (answer.reason.empty() ? "" : ": " + answer.reason)});
      continue;
    }
    for (const auto& rdata : answer.rdata) {
      if (auto address = parse_address_rdata(answer.query.type, rdata)) {
        addresses.push_back(*address);
      }
    }
  }
  if (addresses.empty() && input.servers.empty()) {
    input.servers.push_back({input.host, input.port, Presented::Unknown, "no A/AAAA records"});
  }
  return addresses;
}

std::vector<ProbeRequest> probe_requests(const RolloverInput& input, const std::vector<std::string>& addresses,
                                         std::chrono::milliseconds timeout) {
  std::vector<ProbeRequest> requests;
  for (const auto& address : addresses) {
    ProbeRequest request;
    request.address = address;
    request.port = input.port;
    request.tlsa = input.published.records;
    request.tlsa_base = input.host;
    request.timeout = timeout;
    requests.push_back(std::move(request));
  }
  return requests;
}

} // namespace

ServerObservation observe(const ProbeReport& report, const CertificateRecords& current,
                          const CertificateRecords& next) {
  ServerObservation obs{report.address, report.port, Presented::Unknown, ""};
  std::string cert_sha256;
  std::string spki_sha256 = report.leaf_spki_sha256;
  if (!report.chain_pem.empty()) {
    auto certs = parse_pem_chain(report.chain_pem.front(), "input");
    if (certs && !certs->certs.empty()) {
      auto presented = certificate_records({certs->certs[0].get()});
      if (presented) {
        cert_sha256 = presented->cert_sha256;
        spki_sha256 = presented->spki_sha256;
      }
    }
  }
  if (cert_sha256.empty() && spki_sha256.empty()) {
    obs.detail = to_string(report.result) + (report.reason.empty() ? "" : ": " + report.reason);
    return obs;
  }
  obs.presented = classify_presented(cert_sha256, spki_sha256, current, next);
  obs.detail = spki_sha256;
  return obs;
}

Status gather_rollover_facts(RolloverInput& input, const RolloverGather& gather, Resolver& resolver,
                             const Prober& prober) {
  const std::string tlsa_owner = "_" + std::to_string(input.port) + "._tcp." + input.host;
  std::vector<Query> queries{{tlsa_owner, RrType::Tlsa}};
  const bool lookup_addresses = gather.probe && gather.addresses.empty();
  if (lookup_addresses) {
    queries.push_back({input.host, RrType::A});
    queries.push_back({input.host, RrType::Aaaa});
  }
  auto answers = resolver.resolve(queries, std::chrono::steady_clock::now() + resolver.timeout());
  if (answers.empty()) {
    return make_error("resolver returned no answer");
  }
  input.published = published_from_answer(answers[0]);

  // Probe the live server only when the published RRset can be trusted at all.
  if (!gather.probe || input.published.security != DnsSecurity::Secure || !input.published.exists) {
    return Ok{};
  }
  std::vector<std::string> addresses = gather.addresses;
  if (lookup_addresses) {
    addresses = addresses_from(std::vector<Answer>(answers.begin() + 1, answers.end()), input);
  }
  for (const auto& report : prober(probe_requests(input, addresses, gather.probe_timeout))) {
    input.servers.push_back(observe(report, input.current, input.next));
  }
  return Ok{};
}

} // namespace dane::tools
