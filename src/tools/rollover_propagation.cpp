// The pure helpers of the authoritative-server check: names, the lagging list, the state's per-server clocks
// (contract: dane/tools/rollover.hpp, "propagation at every authoritative server").
#include <algorithm>
#include <string>
#include <vector>

#include "dane/core/text.hpp"
#include "dane/tools/rollover.hpp"

namespace dane::tools {

std::string to_string(AuthSignature signature) {
  switch (signature) {
  case AuthSignature::NotChecked:
    return "not-checked";
  case AuthSignature::Valid:
    return "valid";
  case AuthSignature::Missing:
    return "missing";
  case AuthSignature::Invalid:
    return "invalid";
  }
  return "not-checked";
}

std::vector<std::string> AuthorityCheck::lagging() const {
  std::vector<std::string> out;
  for (const auto& server : servers) {
    if (server.serves_intended_signed()) {
      continue;
    }
    std::string why = server.detail;
    if (why.empty()) {
      why = !server.serves_intended ? "serves another TLSA RRset" : "signature " + to_string(server.signature);
    }
    out.push_back(server.name + (server.address.empty() ? "" : " " + server.address) + ": " + why);
  }
  return out;
}

std::string rrset_key(const std::vector<TlsaRecord>& records) {
  std::vector<std::string> texts;
  for (const auto& record : records) {
    texts.push_back(record.to_string());
  }
  std::sort(texts.begin(), texts.end());
  texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
  return join(texts, ", ");
}

void note_authority(RolloverState& state, const AuthorityCheck& check, std::chrono::sys_seconds now) {
  if (check.security != DnsSecurity::Secure) {
    return;
  }
  const std::string intended = rrset_key(check.intended);
  std::vector<RolloverServerSeen> servers;
  for (const auto& server : check.servers) {
    if (server.answered && !server.records.empty()) {
      state.max_ttl = std::max(state.max_ttl, server.ttl);
    }
    if (!server.serves_intended_signed()) {
      continue;
    }
    RolloverServerSeen seen{server.name, server.address, intended, now};
    for (const auto& old : state.servers) {
      if (old.name == seen.name && old.address == seen.address && old.rrset == seen.rrset && old.first_seen <= now) {
        seen.first_seen = old.first_seen;
        break;
      }
    }
    servers.push_back(std::move(seen));
  }
  state.servers = std::move(servers);
}

} // namespace dane::tools
