// ldns_handles.hpp (internal to dane_tools) — owning handles for libldns objects and the one
// absolute-name helper, shared by the DNS UPDATE code (dns_update.cpp) and the authoritative checks
// (rollover_authority.cpp). No I/O; each deleter calls the matching ldns free function.
#pragma once

#include <memory>
#include <string>

#include <ldns/ldns.h>

namespace dane::tools {

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RrListDeleter {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
struct RdfDeleter {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct BufferDeleter {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktDeleter>;
using RrListPtr = std::unique_ptr<ldns_rr_list, RrListDeleter>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;

// A domain name with its trailing dot (what ldns_dname_new_frm_str and zone-file text expect).
inline std::string absolute(const std::string& name) {
  return !name.empty() && name.back() == '.' ? name : name + ".";
}

} // namespace dane::tools
