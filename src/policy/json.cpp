// JSON rendering of DestinationFacts + PolicyAnswer (see dane/policyd/json.hpp).
#include "dane/policy/json.hpp"

#include "dane/core/time.hpp"

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

nlohmann::json sts_to_json(const StsFacts& sts) {
  nlohmann::json j = {{"domain", sts.domain}, {"source", to_string(sts.source)}};
  auto put = [&j](const char* key, const std::string& value) {
    if (!value.empty()) {
      j[key] = value;
    }
  };
  put("txt_id", sts.txt_id);
  put("txt_error", sts.txt_error);
  put("policy_id", sts.policy_id);
  if (sts.policy) {
    j["mode"] = to_string(sts.policy->mode);
    j["mx"] = sts.policy->mx;
    j["max_age"] = sts.policy->max_age;
  }
  if (sts.fetched) {
    j["fetched"] = format_rfc3339(*sts.fetched);
  }
  if (sts.expires) {
    j["expires"] = format_rfc3339(*sts.expires);
  }
  put("fetch_error", sts.fetch_error);
  put("store_error", sts.store_error);
  if (sts.policy && !sts.policy->text.empty()) {
    j["policy_string"] = sts_policy_lines(sts.policy->text);
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
      {"destination", facts.next_hop.key}, {"policy", to_string(answer.policy)},  {"answer", answer.answer},
      {"reason", answer.reason},           {"outcome", to_string(facts.outcome)}, {"ttl", facts.ttl},
      {"hosts", std::move(hosts)},
  };
  if (!facts.next_hop.parent_key && !facts.next_hop.ip_literal && !facts.next_hop.domain.empty()) {
    j["mx_dnssec"] = to_string(facts.mx_security); // of the MX RRset, or of the host for "[host]" keys
  }
  if (!answer.would_answer.empty() && answer.would_answer != answer.answer) {
    j["would_answer"] = answer.would_answer;
  }
  if (facts.sts) {
    j["sts"] = sts_to_json(*facts.sts);
  }
  return j;
}

nlohmann::json probe_to_json(const ProbeReport& report, ProbeJson detail) {
  nlohmann::json out;
  out["address"] = report.address;
  out["port"] = report.port;
  out["result"] = to_string(report.result);
  out["matched"] = report.matched ? nlohmann::json(report.matched->to_string()) : nlohmann::json(nullptr);
  out["depth"] = report.matched ? nlohmann::json(report.depth) : nlohmann::json(nullptr);
  out["reason"] = report.reason;
  if (detail == ProbeJson::Summary) {
    return out;
  }
  out["authenticated"] = report.authenticated;
  out["banner"] = report.banner;
  out["tls_version"] = report.tls_version;
  out["cipher"] = report.cipher;
  nlohmann::json leaf = nullptr;
  if (!report.chain_pem.empty()) {
    leaf = {{"subject", report.leaf_subject},
            {"issuer", report.leaf_issuer},
            {"san", report.leaf_san},
            {"not_before", report.leaf_not_before},
            {"not_after", report.leaf_not_after},
            {"spki_sha256", report.leaf_spki_sha256}};
  }
  out["leaf"] = leaf;
  out["chain_pem"] = report.chain_pem;
  return out;
}

} // namespace dane::policyd
