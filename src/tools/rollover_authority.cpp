// Asking every authoritative server of the zone for the TLSA RRset and checking its RRSIG under the validated
// DNSKEY set (contract: dane/tools/rollover_authority.hpp).
#include "dane/tools/rollover_authority.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dane/core/text.hpp"
#include "dane/tools/dns_update.hpp"
#include "dns_exchange.hpp"
#include "ldns_handles.hpp"

// libldns last: its headers define C-compatibility macros that must not precede the C++ library headers.
#include <ldns/ldns.h>

namespace dane::tools {

namespace {

constexpr std::size_t k_max_ns_hosts = 16;
constexpr std::uint16_t k_edns_size = 1232;

std::string dname_text(const ldns_rdf* name) {
  char* text = ldns_rdf2str(name);
  if (text == nullptr) {
    return {};
  }
  std::string out = ascii_lower(text);
  std::free(text); // NOLINT(cppcoreguidelines-no-malloc): ldns allocates with malloc
  if (out.size() > 1 && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

// The host names of NS RDATA (wire format), lowercase without the trailing dot, at most k_max_ns_hosts.
std::vector<std::string> ns_hosts(const Answer& answer) {
  std::vector<std::string> hosts;
  for (const auto& rdata : answer.rdata) {
    ldns_rdf* name = nullptr;
    std::size_t pos = 0;
    if (ldns_wire2dname(&name, rdata.data(), rdata.size(), &pos) != LDNS_STATUS_OK || name == nullptr) {
      continue;
    }
    RdfPtr owned(name);
    std::string host = dname_text(owned.get());
    if (!host.empty() && std::find(hosts.begin(), hosts.end(), host) == hosts.end() && hosts.size() < k_max_ns_hosts) {
      hosts.push_back(std::move(host));
    }
  }
  std::sort(hosts.begin(), hosts.end());
  return hosts;
}

// The validated DNSKEY RRset as ldns RRs (RDATA as libunbound returned it).
RrListPtr dnskey_list(const std::string& zone, const Answer& answer) {
  RrListPtr list(ldns_rr_list_new());
  for (const auto& rdata : answer.rdata) {
    ldns_rr* rr = ldns_rr_new();
    ldns_rdf* owner = ldns_dname_new_frm_str(absolute(zone).c_str());
    if (rr == nullptr || owner == nullptr) {
      ldns_rr_free(rr);
      ldns_rdf_deep_free(owner);
      continue;
    }
    ldns_rr_set_owner(rr, owner);
    ldns_rr_set_type(rr, LDNS_RR_TYPE_DNSKEY);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, answer.ttl);
    std::vector<std::uint8_t> wire{static_cast<std::uint8_t>(rdata.size() >> 8),
                                   static_cast<std::uint8_t>(rdata.size() & 0xff)};
    wire.insert(wire.end(), rdata.begin(), rdata.end());
    std::size_t pos = 0;
    if (ldns_wire2rdf(rr, wire.data(), wire.size(), &pos) != LDNS_STATUS_OK) {
      ldns_rr_free(rr);
      continue;
    }
    ldns_rr_list_push_rr(list.get(), rr);
  }
  return list;
}

// One query (RD=0, EDNS DO=1) to one server; the answer when it is authoritative (AA) NOERROR/NXDOMAIN.
Expected<PktPtr> ask(const UpdateServer& server, const std::string& name, ldns_rr_type type,
                     std::chrono::milliseconds timeout) {
  ldns_rdf* qname = ldns_dname_new_frm_str(absolute(name).c_str());
  if (qname == nullptr) {
    return make_error("bad name " + name);
  }
  PktPtr query(ldns_pkt_query_new(qname, type, LDNS_RR_CLASS_IN, 0)); // takes qname; flags 0: RD=0
  if (!query) {
    return make_error("cannot build a query for " + name);
  }
  ldns_pkt_set_random_id(query.get());
  ldns_pkt_set_edns_udp_size(query.get(), k_edns_size);
  ldns_pkt_set_edns_do(query.get(), true);
  std::uint8_t* raw = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&raw, query.get(), &size) != LDNS_STATUS_OK || raw == nullptr) {
    return make_error("cannot encode a query for " + name);
  }
  std::vector<std::uint8_t> wire(raw, raw + size);
  std::free(raw); // NOLINT(cppcoreguidelines-no-malloc): ldns allocates with malloc
  std::string failure;
  const auto answer = dns_exchange(wire, server, timeout, failure);
  if (answer.empty()) {
    return make_error("no answer (" + failure + ")");
  }
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, answer.data(), answer.size()) != LDNS_STATUS_OK || parsed == nullptr) {
    return make_error("the answer is not a DNS message");
  }
  PktPtr pkt(parsed);
  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
    return make_error("answered rcode " + std::to_string(static_cast<int>(rcode)) + " for " + name);
  }
  if (!ldns_pkt_aa(pkt.get())) {
    return make_error("not authoritative for " + name + " (no AA bit: the zone is not loaded there)");
  }
  return pkt;
}

// The TLSA records an answer holds for `owner` (and their smallest TTL).
void read_records(AuthoritativeServer& s, ldns_rr_list* rrs) {
  using BufferPtr = std::unique_ptr<ldns_buffer, BufferDeleter>;
  for (std::size_t i = 0; rrs != nullptr && i < ldns_rr_list_rr_count(rrs); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
    BufferPtr buffer(ldns_buffer_new(LDNS_MAX_PACKETLEN));
    if (!buffer || ldns_rr_rdata2buffer_wire(buffer.get(), rr) != LDNS_STATUS_OK) {
      continue;
    }
    const auto* begin = ldns_buffer_begin(buffer.get());
    auto record = parse_tlsa_rdata(std::span<const std::uint8_t>(begin, ldns_buffer_position(buffer.get())));
    if (!record) {
      s.detail = "malformed TLSA RDATA served (" + record.error() + ")";
      continue;
    }
    s.ttl = s.records.empty() ? ldns_rr_ttl(rr) : std::min(s.ttl, ldns_rr_ttl(rr));
    s.records.push_back(std::move(*record));
  }
}

// Does an RRSIG by the zone over the TLSA RRset verify under the validated keys?
void check_signature(AuthoritativeServer& s, ldns_pkt* pkt, ldns_rdf* owner, ldns_rr_list* tlsa,
                     const std::string& zone, ldns_rr_list* keys) {
  RrListPtr sigs(ldns_pkt_rr_list_by_name_and_type(pkt, owner, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER));
  RdfPtr zone_rdf(ldns_dname_new_frm_str(absolute(zone).c_str()));
  s.signature = AuthSignature::Missing;
  std::string problem = "no RRSIG over the TLSA RRset";
  for (std::size_t i = 0; sigs && zone_rdf && i < ldns_rr_list_rr_count(sigs.get()); ++i) {
    ldns_rr* sig = ldns_rr_list_rr(sigs.get(), i);
    const ldns_rdf* covered = ldns_rr_rrsig_typecovered(sig);
    if (covered == nullptr || ldns_rdf2rr_type(covered) != LDNS_RR_TYPE_TLSA) {
      continue;
    }
    s.signature = AuthSignature::Invalid;
    const ldns_rdf* signer = ldns_rr_rrsig_signame(sig);
    if (signer == nullptr || ldns_dname_compare(signer, zone_rdf.get()) != 0) {
      problem = "RRSIG signer is not the zone " + zone;
      continue;
    }
    const ldns_status status = ldns_verify_rrsig_keylist(tlsa, sig, keys, nullptr);
    if (status == LDNS_STATUS_OK) {
      s.signature = AuthSignature::Valid;
      return;
    }
    problem = std::string("RRSIG does not verify: ") + ldns_get_errorstr_by_id(status);
  }
  s.detail = problem;
}

// The TLSA answer of one server: records, TTL, whether they are the intended set, the signature.
void evaluate_tlsa(AuthoritativeServer& s, ldns_pkt* pkt, const std::string& owner, const std::string& zone,
                   const std::vector<TlsaRecord>& intended, ldns_rr_list* keys) {
  RdfPtr owner_rdf(ldns_dname_new_frm_str(absolute(owner).c_str()));
  if (!owner_rdf) {
    s.detail = "bad owner name " + owner;
    return;
  }
  RrListPtr tlsa(ldns_pkt_rr_list_by_name_and_type(pkt, owner_rdf.get(), LDNS_RR_TYPE_TLSA, LDNS_SECTION_ANSWER));
  read_records(s, tlsa.get());
  s.serves_intended = s.detail.empty() && rrset_key(s.records) == rrset_key(intended);
  if (!s.serves_intended && s.detail.empty()) {
    s.detail = s.records.empty() ? "serves no TLSA RRset" : "serves another TLSA RRset (" + rrset_key(s.records) + ")";
  }
  if (!s.records.empty()) {
    std::string before = s.detail;
    check_signature(s, pkt, owner_rdf.get(), tlsa.get(), zone, keys);
    if (s.signature == AuthSignature::Valid) {
      s.detail = before;
    } else if (!before.empty()) {
      s.detail = before + "; " + s.detail;
    }
  }
}

std::optional<std::uint32_t> soa_serial(ldns_pkt* pkt, const std::string& zone) {
  RdfPtr zone_rdf(ldns_dname_new_frm_str(absolute(zone).c_str()));
  if (!zone_rdf) {
    return std::nullopt;
  }
  RrListPtr soa(ldns_pkt_rr_list_by_name_and_type(pkt, zone_rdf.get(), LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER));
  constexpr std::size_t k_serial_field = 2;
  if (!soa || ldns_rr_list_rr_count(soa.get()) == 0 ||
      ldns_rr_rd_count(ldns_rr_list_rr(soa.get(), 0)) <= k_serial_field) {
    return std::nullopt;
  }
  return ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(soa.get(), 0), k_serial_field));
}

AuthoritativeServer ask_server(const std::string& host, const std::string& address, const std::string& owner,
                               const AuthorityCheck& check, ldns_rr_list* keys, std::chrono::milliseconds timeout) {
  AuthoritativeServer s;
  s.name = host;
  s.address = address;
  const UpdateServer server{address, 53};
  auto tlsa = ask(server, owner, LDNS_RR_TYPE_TLSA, timeout);
  if (!tlsa) {
    s.detail = tlsa.error();
    return s;
  }
  s.answered = true;
  evaluate_tlsa(s, tlsa->get(), owner, check.zone, check.intended, keys);
  if (auto soa = ask(server, check.zone, LDNS_RR_TYPE_SOA, timeout)) {
    s.serial = soa_serial(soa->get(), check.zone);
  }
  return s;
}

std::string describe(const Answer& answer, const std::string& what) {
  return what + " lookup of " + answer.query.name + " " + to_string(answer.security) +
         (answer.reason.empty() ? "" : " (" + answer.reason + ")");
}

// Steps 2 and 3: the validated NS and DNSKEY sets; the addresses of every NS host (a failed host is a
// lagging entry). Returns false (with check.error/security set) when the check cannot run.
bool zone_facts(AuthorityCheck& check, Resolver& resolver, std::vector<std::pair<std::string, std::string>>& targets,
                RrListPtr& keys) {
  const auto deadline = std::chrono::steady_clock::now() + resolver.timeout();
  auto answers = resolver.resolve({{check.zone, RrType::Ns}, {check.zone, RrType::Dnskey}}, deadline);
  if (answers.size() != 2) {
    check.error = "the resolver returned no answer for the NS/DNSKEY lookups of " + check.zone;
    return false;
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const Answer& a = answers.at(i);
    if (a.security != DnsSecurity::Secure || !a.havedata || a.rdata.empty()) {
      check.security = a.security == DnsSecurity::Bogus ? DnsSecurity::Bogus : DnsSecurity::Failed;
      check.error = describe(a, i == 0 ? "NS" : "DNSKEY") + (a.havedata ? "" : ", no records");
      return false;
    }
  }
  keys = dnskey_list(check.zone, answers[1]);
  std::vector<Query> address_queries;
  const auto hosts = ns_hosts(answers[0]);
  for (const auto& host : hosts) {
    address_queries.push_back({host, RrType::A});
    address_queries.push_back({host, RrType::Aaaa});
  }
  auto addresses = resolver.resolve(address_queries, std::chrono::steady_clock::now() + resolver.timeout());
  std::vector<bool> reached(hosts.size(), false); // an address found, or a failure entry made
  for (std::size_t i = 0; i < addresses.size() && i / 2 < hosts.size(); ++i) {
    const Answer& a = addresses[i];
    const std::string& host = hosts[i / 2];
    if (a.security == DnsSecurity::Bogus || a.security == DnsSecurity::Failed) {
      AuthoritativeServer failed;
      failed.name = host;
      failed.detail = describe(a, to_string(a.query.type));
      check.servers.push_back(std::move(failed));
      reached[i / 2] = true;
      continue;
    }
    for (const auto& rdata : a.rdata) {
      if (auto text = parse_address_rdata(a.query.type, rdata)) {
        targets.emplace_back(host, *text);
        reached[i / 2] = true;
      }
    }
  }
  // A host without any address cannot be asked: it lags (the zone's NS set names a server nobody can reach).
  for (std::size_t h = 0; h < hosts.size(); ++h) {
    if (!reached[h]) {
      AuthoritativeServer none;
      none.name = hosts[h];
      none.detail = "no A/AAAA records for the NS host";
      check.servers.push_back(std::move(none));
    }
  }
  return true;
}

} // namespace

AuthorityCheck check_authoritative(const std::string& owner, const std::vector<TlsaRecord>& intended,
                                   Resolver& resolver, std::chrono::milliseconds timeout) {
  AuthorityCheck check;
  check.intended = intended;
  // Step 1: the zone (find_update_target walks up to the SOA; a given address skips the MNAME lookup).
  auto target = find_update_target(owner, UpdateServer{"0.0.0.0", 53}, resolver);
  if (!target.ok) {
    check.error = target.error;
    return check;
  }
  check.zone = target.target.zone;
  std::vector<std::pair<std::string, std::string>> targets;
  RrListPtr keys;
  if (!zone_facts(check, resolver, targets, keys)) {
    return check;
  }
  check.security = DnsSecurity::Secure;
  for (const auto& [host, address] : targets) {
    check.servers.push_back(ask_server(host, address, owner, check, keys.get(), timeout));
  }
  std::stable_sort(check.servers.begin(), check.servers.end(),
                   [](const AuthoritativeServer& a, const AuthoritativeServer& b) { return a.name < b.name; });
  return check;
}

} // namespace dane::tools
