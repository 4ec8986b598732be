// Where a TLSA update goes: the zone (SOA of the closest enclosing zone) and the update server (contract:
// dane/tools/dns_update.hpp, find_update_target).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <ldns/ldns.h>

#include "dane/core/text.hpp"
#include "dane/tools/dns_update.hpp"

namespace dane::tools {

namespace {

bool unusable(const Answer& answer) {
  return answer.security == DnsSecurity::Bogus || answer.security == DnsSecurity::Failed;
}

std::string describe_failure(const Answer& answer) {
  return to_string(answer.query.type) + " lookup of " + answer.query.name + " " + to_string(answer.security) +
         (answer.reason.empty() ? "" : " (" + answer.reason + ")");
}

// The MNAME (first field) of SOA RDATA in wire format, lowercase without the trailing dot.
std::optional<std::string> soa_mname(const std::vector<std::uint8_t>& rdata) {
  ldns_rdf* name = nullptr;
  std::size_t pos = 0;
  if (ldns_wire2dname(&name, rdata.data(), rdata.size(), &pos) != LDNS_STATUS_OK || name == nullptr) {
    return std::nullopt;
  }
  char* text = ldns_rdf2str(name);
  ldns_rdf_deep_free(name);
  if (text == nullptr) {
    return std::nullopt;
  }
  std::string out = ascii_lower(text);
  std::free(text); // NOLINT(cppcoreguidelines-no-malloc): ldns allocates with malloc
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

Answer lookup(Resolver& resolver, const std::string& name, RrType type) {
  auto answers = resolver.resolve({Query{name, type}}, std::chrono::steady_clock::now() + resolver.timeout());
  if (answers.empty()) {
    Answer none;
    none.query = {name, type};
    none.reason = "no answer from the resolver";
    return none;
  }
  return answers.front();
}

} // namespace

UpdateTargetResult find_update_target(const std::string& owner, const UpdateServer& given, Resolver& resolver) {
  UpdateTargetResult result;
  std::string name = owner;
  if (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  while (!name.empty()) {
    const Answer soa = lookup(resolver, name, RrType::Soa);
    if (unusable(soa)) {
      result.error = "finding the zone of " + owner + ": " + describe_failure(soa);
      return result;
    }
    if (soa.havedata && !soa.rdata.empty()) {
      auto mname = soa_mname(soa.rdata.front());
      if (!mname) {
        result.error = "finding the zone of " + owner + ": unreadable SOA record at " + name;
        return result;
      }
      result.target.zone = ascii_lower(name);
      result.target.mname = *mname;
      break;
    }
    const auto dot = name.find('.');
    name = dot == std::string::npos ? std::string() : name.substr(dot + 1);
  }
  if (result.target.zone.empty()) {
    result.error = "finding the zone of " + owner + ": no SOA record at or above it";
    result.temporary = false;
    return result;
  }
  if (!given.address.empty()) {
    result.target.server = given;
    result.ok = true;
    return result;
  }
  for (const RrType type : {RrType::A, RrType::Aaaa}) {
    const Answer address = lookup(resolver, result.target.mname, type);
    if (unusable(address)) {
      result.error =
          "finding the update server (SOA MNAME of " + result.target.zone + "): " + describe_failure(address);
      return result;
    }
    for (const auto& rdata : address.rdata) {
      if (auto text = parse_address_rdata(type, rdata)) {
        result.target.server.address = *text;
        result.ok = true;
        return result;
      }
    }
  }
  result.error = "the SOA MNAME " + result.target.mname + " of zone " + result.target.zone +
                 " has no address; give --update-server ADDR[@PORT]";
  result.temporary = false;
  return result;
}

} // namespace dane::tools
