// RFC 2136 DNS UPDATE of one TLSA RRset with TSIG, through libldns (contract: dane/tools/dns_update.hpp).
#include "dane/tools/dns_update.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dane/core/text.hpp"
#include "dns_exchange.hpp"
#include "ldns_handles.hpp"

// libldns last: its headers define C-compatibility macros that must not precede the C++ library headers.
#include <ldns/ldns.h>

namespace dane::tools {

namespace {

constexpr std::uint16_t k_tsig_fudge = 300;

// ---- the update message ----

// One TLSA RR: OWNER TTL CLASS TLSA u s m data (data empty: no RDATA, the "RRset does not exist" form).
Expected<ldns_rr*> tlsa_rr(const std::string& owner, std::uint32_t ttl, ldns_rr_class rr_class,
                           const TlsaRecord* record) {
  std::string text = absolute(owner) + " " + std::to_string(ttl) + " IN TLSA";
  if (record != nullptr) {
    text += " " + record->to_string();
  }
  ldns_rr* rr = nullptr;
  ldns_status status = LDNS_STATUS_OK;
  if (record != nullptr) {
    status = ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr);
  } else {
    rr = ldns_rr_new();
    RdfPtr owner_rdf(ldns_dname_new_frm_str(absolute(owner).c_str()));
    if (rr == nullptr || !owner_rdf) {
      ldns_rr_free(rr);
      return make_error("bad owner name " + owner);
    }
    ldns_rr_set_owner(rr, owner_rdf.release());
    ldns_rr_set_type(rr, LDNS_RR_TYPE_TLSA);
    ldns_rr_set_ttl(rr, ttl);
  }
  if (status != LDNS_STATUS_OK || rr == nullptr) {
    return make_error("cannot build the record '" + text + "': " + ldns_get_errorstr_by_id(status));
  }
  ldns_rr_set_class(rr, rr_class);
  ldns_rr_set_ttl(rr, ttl);
  return rr;
}

Status append(ldns_rr_list* list, const std::string& owner, std::uint32_t ttl, ldns_rr_class rr_class,
              const TlsaRecord* record) {
  auto rr = tlsa_rr(owner, ttl, rr_class, record);
  if (!rr) {
    return make_error(rr.error());
  }
  ldns_rr_list_push_rr(list, *rr);
  return Ok{};
}

// The prerequisite: the whole RRset exactly as seen (RFC 2136 §2.4.2), or "RRset does not exist" (§2.4.3).
Status add_prerequisites(const TlsaUpdate& u, ldns_rr_list* pr) {
  if (u.seen.empty()) {
    return append(pr, u.owner, 0, LDNS_RR_CLASS_NONE, nullptr);
  }
  for (const auto& record : u.seen) {
    if (auto added = append(pr, u.owner, 0, LDNS_RR_CLASS_IN, &record); !added) {
      return added;
    }
  }
  return Ok{};
}

// Publish adds (class IN, TTL); remove deletes single RRs (class NONE, TTL 0, RFC 2136 §2.5.4).
Status add_changes(const TlsaUpdate& u, ldns_rr_list* up) {
  for (const auto& record : u.change) {
    const bool add = u.action == UpdateAction::Publish;
    if (auto added = append(up, u.owner, add ? u.ttl : 0, add ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE, &record);
        !added) {
      return added;
    }
  }
  return Ok{};
}

Expected<PktPtr> update_packet(const TlsaUpdate& u) {
  if (u.change.empty()) {
    return make_error("nothing to " + to_string(u.action));
  }
  RrListPtr pr(ldns_rr_list_new());
  RrListPtr up(ldns_rr_list_new());
  if (!pr || !up) {
    return make_error("out of memory");
  }
  if (auto s = add_prerequisites(u, pr.get()); !s) {
    return make_error(s.error());
  }
  if (auto s = add_changes(u, up.get()); !s) {
    return make_error(s.error());
  }
  ldns_rdf* zone = ldns_dname_new_frm_str(absolute(u.zone).c_str());
  if (zone == nullptr) {
    return make_error("bad zone name " + u.zone);
  }
  // ldns_update_pkt_new takes the zone name and clones the lists.
  PktPtr pkt(ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, pr.get(), up.get(), nullptr));
  if (!pkt) {
    return make_error("cannot build the UPDATE message");
  }
  ldns_pkt_set_random_id(pkt.get());
  return pkt;
}

Expected<std::vector<std::uint8_t>> to_wire(ldns_pkt* pkt) {
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK || wire == nullptr) {
    return make_error("cannot encode the UPDATE message");
  }
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire); // NOLINT(cppcoreguidelines-no-malloc): ldns allocates with malloc
  return out;
}

std::string rcode_name(unsigned rcode) {
  static const std::array<const char*, 12> names = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                    "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI"};
  return rcode < names.size() ? names.at(rcode) : "RCODE" + std::to_string(rcode);
}

std::string tsig_error_name(unsigned error) {
  switch (error) {
  case 0:
    return "";
  case 16:
    return "BADSIG";
  case 17:
    return "BADKEY";
  case 18:
    return "BADTIME";
  case 22:
    return "BADTRUNC";
  default:
    return "TSIG error " + std::to_string(error);
  }
}

// A failed prerequisite or a server in trouble: the next run re-reads the zone (exit 3).
bool temporary_rcode(const std::string& rcode) {
  return rcode == "SERVFAIL" || rcode == "YXRRSET" || rcode == "NXRRSET" || rcode == "YXDOMAIN" || rcode == "NXDOMAIN";
}

std::string rcode_meaning(const UpdateResult& r) {
  if (r.tsig_error == "BADKEY") {
    return "the server does not accept this key for this zone (unknown key name or no update rule for it)";
  }
  if (r.tsig_error == "BADSIG") {
    return "the server knows the key name but the signature does not match: wrong secret or algorithm";
  }
  if (r.tsig_error == "BADTIME") {
    return "the clocks of this host and the server differ by more than the TSIG fudge (300 s)";
  }
  if (r.rcode == "REFUSED") {
    return "the server's policy refuses this update (no update rule for this key/zone, or not the primary)";
  }
  if (r.rcode == "NOTAUTH") {
    return "the server is not authoritative for the zone, or did not accept the key";
  }
  if (r.rcode == "NOTZONE") {
    return "the record is not inside the zone named in the update";
  }
  if (r.rcode == "YXRRSET" || r.rcode == "NXRRSET") {
    return "the TLSA RRset changed since it was read (prerequisite failed); nothing was changed, run again";
  }
  return "nothing was changed";
}

UpdateResult interpret(const std::vector<std::uint8_t>& wire, const ldns_rdf* request_mac, const TsigKey& key,
                       const std::string& what) {
  UpdateResult r;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK || raw == nullptr) {
    r.outcome = UpdateOutcome::NoAnswer;
    r.message = what + ": the answer is not a DNS message";
    return r;
  }
  PktPtr answer(raw);
  const unsigned rcode = ldns_pkt_get_rcode(answer.get());
  r.rcode = rcode_name(rcode);
  const ldns_rr* tsig = ldns_pkt_tsig(answer.get());
  constexpr std::size_t k_tsig_error_field = 5;
  if (tsig != nullptr && ldns_rr_rd_count(tsig) > k_tsig_error_field) {
    r.tsig_error = tsig_error_name(ldns_rdf2native_int16(ldns_rr_rdf(tsig, k_tsig_error_field)));
  }
  const bool verified =
      ldns_pkt_tsig_verify(answer.get(), wire.data(), wire.size(), key.name.c_str(), key.secret.c_str(), request_mac);
  if (rcode == LDNS_RCODE_NOERROR && r.tsig_error.empty()) {
    r.outcome = verified ? UpdateOutcome::Applied : UpdateOutcome::Unauthenticated;
    r.temporary = !verified;
    r.message = verified ? what + ": NOERROR (applied)"
                         : what + ": NOERROR, but the answer's TSIG signature does not verify (not trusted; "
                                  "the next run's lookup shows whether the change was made)";
    return r;
  }
  r.outcome = UpdateOutcome::Rejected;
  r.temporary = temporary_rcode(r.rcode) && r.tsig_error.empty();
  r.message = what + ": " + r.rcode + (r.tsig_error.empty() ? "" : " (TSIG " + r.tsig_error + ")") + ": " +
              rcode_meaning(r) + (verified ? "" : " [answer not TSIG-signed]");
  return r;
}

} // namespace

std::string UpdateServer::label() const {
  return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + "@" + std::to_string(port);
}

Expected<UpdateServer> parse_update_server(std::string_view text) {
  UpdateServer server;
  std::string address(text);
  if (const auto at = address.rfind('@'); at != std::string::npos) {
    const std::string port = address.substr(at + 1);
    address.resize(at);
    char* end = nullptr;
    const long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || end == nullptr || *end != '\0' || value < 1 || value > 65535) {
      return make_error("--update-server " + std::string(text) + ": the port must be from 1 to 65535");
    }
    server.port = static_cast<std::uint16_t>(value);
  }
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  std::array<unsigned char, 16> buf{};
  if (::inet_pton(AF_INET, address.c_str(), buf.data()) != 1 &&
      ::inet_pton(AF_INET6, address.c_str(), buf.data()) != 1) {
    return make_error("--update-server " + std::string(text) + ": not an IPv4 or IPv6 address (ADDR[@PORT])");
  }
  server.address = address;
  return server;
}

std::string to_string(UpdateAction action) {
  return action == UpdateAction::Publish ? "publish" : "remove";
}

Expected<std::vector<std::uint8_t>> build_tlsa_update(const TlsaUpdate& update) {
  auto pkt = update_packet(update);
  if (!pkt) {
    return make_error(pkt.error());
  }
  return to_wire(pkt->get());
}

UpdateResult send_tlsa_update(const TlsaUpdate& update, const TsigKey& key, const UpdateServer& server,
                              std::chrono::milliseconds timeout) {
  const std::string what = "DNS UPDATE (" + to_string(update.action) + " at " + update.owner + ", zone " + update.zone +
                           ") to " + server.label();
  UpdateResult result;
  auto pkt = update_packet(update);
  if (!pkt) {
    result.message = what + ": " + pkt.error();
    result.temporary = false;
    return result;
  }
  if (ldns_pkt_tsig_sign(pkt->get(), key.name.c_str(), key.secret.c_str(), k_tsig_fudge, (key.algorithm + ".").c_str(),
                         nullptr) != LDNS_STATUS_OK) {
    result.message = what + ": cannot TSIG-sign the message with key \"" + key.name + "\"";
    result.temporary = false;
    return result;
  }
  auto wire = to_wire(pkt->get());
  if (!wire) {
    result.message = what + ": " + wire.error();
    result.temporary = false;
    return result;
  }
  std::string failure;
  auto answer = dns_exchange(*wire, server, timeout, failure);
  if (answer.empty()) {
    result.outcome = UpdateOutcome::NoAnswer;
    result.message = what + ": no answer (" + failure + ", time limit " + std::to_string(timeout.count()) + " ms)";
    return result;
  }
  const ldns_rr* request_tsig = ldns_pkt_tsig(pkt->get());
  constexpr std::size_t k_tsig_mac_field = 3;
  const ldns_rdf* mac = request_tsig != nullptr ? ldns_rr_rdf(request_tsig, k_tsig_mac_field) : nullptr;
  return interpret(answer, mac, key, what);
}

} // namespace dane::tools
