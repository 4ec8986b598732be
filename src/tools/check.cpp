// The verdict logic of `dane-policyctl check` (dane/tools/check.hpp).
#include "dane/tools/check.hpp"
#include "dane/verifier/pem.hpp"

#include <algorithm>
#include <utility>

#include "dane/core/text.hpp"
#include "dane/tools/rollover.hpp"

namespace dane::tools {

namespace {

bool has_tlsa(const HostResult& host) {
  return host.status == HostStatus::DaneUsable || host.status == HostStatus::TlsaUnusable;
}

std::vector<std::string> unique_names(std::vector<std::string> names) {
  std::vector<std::string> out;
  for (auto& name : names) {
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(std::move(name));
    }
  }
  return out;
}

// Why a host is not probed, or empty when it is. May add the warning about a TLSA host without addresses.
std::string skip_note(const HostResult& host, const CheckSettings& settings, HostCheck& check) {
  if (host.status == HostStatus::Failed && host.addresses.empty()) {
    return "not probed: DNS lookups failed";
  }
  if (!has_tlsa(host) && !settings.all) {
    return host.status == HostStatus::Failed ? "not probed: TLSA lookup failed (--all probes it)"
                                             : "not probed: no TLSA records (--all probes it)";
  }
  if (host.addresses.empty()) {
    if (has_tlsa(host)) {
      check.warnings.push_back(host.name + " publishes TLSA records but has no A or AAAA records");
    }
    return "not probed: no addresses";
  }
  return {};
}

// The usable records of a host (RFC 7672 §3.1).
std::vector<TlsaRecord> usable_records(const HostResult& host) {
  std::vector<TlsaRecord> usable;
  for (const auto& record : host.tlsa) {
    if (smtp_usability(record) == TlsaUsability::Usable) {
      usable.push_back(record);
    }
  }
  return usable;
}

// The records a presented chain (PEM, leaf first) would match; nullopt when nothing parses.
std::optional<CertificateRecords> presented_records(const std::vector<std::string>& chain_pem) {
  std::vector<X509Ptr> owned;
  for (const auto& pem : chain_pem) {
    if (auto certs = parse_pem_chain(pem); certs && !certs->certs.empty()) {
      owned.push_back(std::move(certs->certs.front()));
    }
  }
  std::vector<X509*> chain;
  for (auto& cert : owned) {
    chain.push_back(cert.get());
  }
  auto records = certificate_records(chain);
  if (!records) {
    return std::nullopt;
  }
  return std::move(*records);
}

std::string fail_text(std::size_t failed, std::size_t probed, const std::vector<std::string>& failures) {
  return std::to_string(failed) + " of " + std::to_string(probed) + " probed address" + (probed == 1 ? "" : "es") +
         " failed (" + join(failures, ", ") + ")";
}

std::string dns_failed_text(const std::vector<std::string>& dns_failed, std::size_t probed) {
  std::string text = "DNS lookups failed for " + join(dns_failed, ", ");
  if (probed > 0) {
    text += "; the " + std::to_string(probed) + " probed addresses pass";
  }
  return text;
}

} // namespace

std::string to_string(CheckResult result) {
  switch (result) {
  case CheckResult::Pass:
    return "pass";
  case CheckResult::Fail:
    return "fail";
  case CheckResult::TempFail:
    return "tempfail";
  case CheckResult::None:
    return "none";
  }
  return "none";
}

int check_exit_code(CheckResult result) {
  switch (result) {
  case CheckResult::Fail:
    return 1;
  case CheckResult::TempFail:
    return 3;
  case CheckResult::Pass:
  case CheckResult::None:
    return 0;
  }
  return 3;
}

bool is_sts_check(const DestinationFacts& facts, const CheckSettings& settings) {
  return settings.mta_sts_ca_file && facts.sts && facts.sts->policy && facts.sts->policy->mode != StsMode::None &&
         facts.outcome == DestinationOutcome::NotDane;
}

namespace {

std::string lower_host(const std::string& name) {
  std::string host = ascii_lower(name);
  if (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  return host;
}

// MTA-STS: PKIX probes of the allowed MX hosts; mx-mismatch for the others (RFC 8461 §4.1, §4.2).
std::vector<PlannedProbe> plan_sts_probes(const DestinationFacts& facts, const CheckSettings& settings,
                                          std::vector<HostCheck>& checks) {
  std::vector<PlannedProbe> plan;
  const StsPolicy& policy = *facts.sts->policy;
  const std::uint16_t port = settings.port.value_or(facts.next_hop.port);
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    const HostResult& host = facts.hosts[i];
    HostCheck& check = checks[i];
    const std::string name = lower_host(host.name);
    if (host.addresses.empty()) {
      check.note = "not probed: no addresses";
      continue;
    }
    check.probed = true;
    for (const auto& address : host.addresses) {
      if (!sts_mx_allowed(policy, name)) {
        ProbeReport report;
        report.address = address;
        report.port = port;
        report.result = ProbeResult::MxMismatch;
        report.reason =
            "MX host " + name + " is not allowed by the MTA-STS policy's mx patterns (" + join(policy.mx, ", ") + ")";
        check.reports.push_back(std::move(report));
        continue;
      }
      PlannedProbe planned;
      planned.host = i;
      planned.request.address = address;
      planned.request.port = port;
      planned.request.tlsa_base = name;
      planned.request.helo_name = settings.helo;
      planned.request.timeout = settings.probe_timeout;
      planned.request.pkix_ca_file = *settings.mta_sts_ca_file;
      plan.push_back(std::move(planned));
    }
  }
  return plan;
}

} // namespace

std::vector<PlannedProbe> plan_probes(const DestinationFacts& facts, const CheckSettings& settings,
                                      std::vector<HostCheck>& checks) {
  if (is_sts_check(facts, settings)) {
    return plan_sts_probes(facts, settings, checks);
  }
  std::vector<PlannedProbe> plan;
  std::uint16_t port = settings.port.value_or(facts.next_hop.port);
  for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
    const HostResult& host = facts.hosts[i];
    HostCheck& check = checks[i];
    check.note = skip_note(host, settings, check);
    if (!check.note.empty()) {
      continue;
    }
    check.probed = true;
    std::vector<std::string> names = {host.tlsa_base, host.name};
    names.insert(names.end(), facts.reference_names.begin(), facts.reference_names.end());
    names = unique_names(std::move(names));
    for (const auto& address : host.addresses) {
      PlannedProbe planned;
      planned.host = i;
      planned.request.address = address;
      planned.request.port = port;
      planned.request.tlsa = host.tlsa;
      planned.request.tlsa_base = host.tlsa_base.empty() ? host.name : host.tlsa_base;
      planned.request.reference_names.assign(names.begin(), names.end());
      planned.request.helo_name = settings.helo;
      planned.request.timeout = settings.probe_timeout;
      plan.push_back(std::move(planned));
    }
  }
  return plan;
}

void add_rollover_warnings(const HostResult& host, HostCheck& check) {
  const std::vector<TlsaRecord> usable = usable_records(host);
  if (usable.size() == 1) {
    check.warnings.push_back(host.name + " publishes a single TLSA record (" + usable.front().short_string() +
                             ") with no rollover partner: a key or certificate change will break delivery; "
                             "publish the next key's record beside it (current + next) or a DANE-TA record for the "
                             "issuer (current + issuer)");
    return;
  }
  if (usable.size() < 2) {
    return;
  }
  for (const auto& report : check.reports) {
    if (report.chain_pem.empty()) {
      continue;
    }
    auto presented = presented_records(report.chain_pem);
    if (!presented) {
      continue;
    }
    bool leaf_only = std::all_of(usable.begin(), usable.end(), [&](const TlsaRecord& record) {
      return record.usage == TlsaUsage::DaneEe &&
             std::find(presented->leaf.begin(), presented->leaf.end(), record) != presented->leaf.end();
    });
    if (leaf_only) {
      check.warnings.push_back(host.name + " publishes " + std::to_string(usable.size()) +
                               " TLSA records that all match only the current key (" + report.address +
                               "): a key change will break delivery; publish the next key's record (current + "
                               "next) or a DANE-TA record for the issuer (current + issuer)");
    }
    return; // one presented chain is enough
  }
}

CheckVerdict final_verdict(const DestinationFacts& facts, const std::vector<HostCheck>& checks) {
  CheckVerdict verdict;
  std::vector<std::string> failures;
  for (const auto& check : checks) {
    for (const auto& report : check.reports) {
      ++verdict.probed;
      if (report.result != ProbeResult::Pass) {
        ++verdict.failed;
        failures.push_back(endpoint(report.address, report.port) + " " + to_string(report.result));
      }
    }
  }
  std::vector<std::string> dns_failed;
  for (const auto& host : facts.hosts) {
    if (host.status == HostStatus::Failed) {
      dns_failed.push_back(host.name);
    }
  }
  if (facts.outcome == DestinationOutcome::TempFail) {
    verdict.result = CheckResult::TempFail;
    verdict.text = "temporary DNS failure: " + facts.reason;
  } else if (verdict.failed > 0) {
    verdict.result = CheckResult::Fail;
    verdict.text = fail_text(verdict.failed, verdict.probed, failures);
  } else if (!dns_failed.empty()) {
    verdict.result = CheckResult::TempFail;
    verdict.text = dns_failed_text(dns_failed, verdict.probed);
  } else if (verdict.probed == 0) {
    verdict.result = CheckResult::None;
    verdict.text =
        "nothing to probe: " + (facts.reason.empty() ? std::string("no MX host publishes TLSA records") : facts.reason);
  } else {
    verdict.result = CheckResult::Pass;
    verdict.text = verdict.probed == 1 ? std::string("the 1 probed address passes")
                                       : "all " + std::to_string(verdict.probed) + " probed addresses pass";
  }
  verdict.exit_code = check_exit_code(verdict.result);
  return verdict;
}

CheckOutcome run_check(DestinationFacts facts, const CheckSettings& settings, const Prober& prober) {
  CheckOutcome outcome;
  outcome.facts = std::move(facts);
  const DestinationFacts& f = outcome.facts;
  outcome.answer = policyd::decide(f, policyd::Mode::Native);
  outcome.hosts.resize(f.hosts.size());
  if (f.outcome != DestinationOutcome::TempFail) {
    std::vector<PlannedProbe> plan = plan_probes(f, settings, outcome.hosts);
    std::vector<ProbeRequest> requests;
    requests.reserve(plan.size());
    for (const auto& planned : plan) {
      requests.push_back(planned.request);
    }
    std::vector<ProbeReport> reports = prober(requests);
    for (std::size_t i = 0; i < plan.size() && i < reports.size(); ++i) {
      outcome.hosts[plan[i].host].reports.push_back(std::move(reports[i]));
    }
  } else {
    for (auto& check : outcome.hosts) {
      check.note = "not probed: temporary DNS failure";
    }
  }
  for (std::size_t i = 0; i < f.hosts.size(); ++i) {
    if (has_tlsa(f.hosts[i])) {
      add_rollover_warnings(f.hosts[i], outcome.hosts[i]);
    }
  }
  outcome.verdict = final_verdict(f, outcome.hosts);
  return outcome;
}

} // namespace dane::tools
