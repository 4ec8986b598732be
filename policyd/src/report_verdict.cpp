// Verdict-log line parsing (DESIGN.md §6) for danectl report.
#include <nlohmann/json.hpp>

#include "dane/policyd/report.hpp"

namespace dane::policyd::report {

namespace {

using nlohmann::json;

bool one_of(const std::string& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) {
      return true;
    }
  }
  return false;
}

Expected<std::string> get_string(const json& obj, const char* name, const std::string& where) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    return make_error("missing field '" + where + name + "'");
  }
  if (!it->is_string()) {
    return make_error("field '" + where + name + "' is not a string");
  }
  return it->get<std::string>();
}

Expected<Ok> parse_host(const json& h, std::size_t index, HostVerdict& out) {
  const std::string where = "hosts[" + std::to_string(index) + "].";
  if (!h.is_object()) {
    return make_error("'" + where.substr(0, where.size() - 1) + "' is not an object");
  }
  auto name = get_string(h, "name", where);
  if (!name) {
    return make_error(name.error());
  }
  out.name = std::move(*name);
  auto dnssec = get_string(h, "dnssec", where);
  if (!dnssec) {
    return make_error(dnssec.error());
  }
  if (!one_of(*dnssec, {"secure", "insecure", "bogus", "error"})) {
    return make_error("field '" + where + "dnssec' has unknown value '" + *dnssec + "'");
  }
  out.dnssec = std::move(*dnssec);
  auto tlsa = h.find("tlsa");
  if (tlsa == h.end() || !tlsa->is_array()) {
    return make_error("field '" + where + "tlsa' missing or not a list");
  }
  for (const auto& r : *tlsa) {
    if (!r.is_string()) {
      return make_error("field '" + where + "tlsa' holds a non-string");
    }
    out.tlsa.push_back(r.get<std::string>());
  }
  if (auto b = h.find("tlsa_base"); b != h.end() && b->is_string()) {
    out.tlsa_base = b->get<std::string>();
  }
  if (auto s = h.find("status"); s != h.end() && s->is_string()) {
    out.status = s->get<std::string>();
  }
  auto addrs = h.find("addresses");
  if (addrs != h.end() && !addrs->is_null()) {
    if (!addrs->is_array()) {
      return make_error("field '" + where + "addresses' is not a list");
    }
    out.probed = true;
    std::size_t j = 0;
    for (const auto& a : *addrs) {
      const std::string aw = where + "addresses[" + std::to_string(j++) + "].";
      if (!a.is_object()) {
        return make_error("'" + aw.substr(0, aw.size() - 1) + "' is not an object");
      }
      AddressProbe p;
      auto address = get_string(a, "address", aw);
      if (!address) {
        return make_error(address.error());
      }
      p.address = std::move(*address);
      auto result = get_string(a, "result", aw);
      if (!result) {
        return make_error(result.error());
      }
      if (!one_of(*result, {"pass", "tlsa-mismatch", "name-mismatch", "cert-expired", "starttls-not-offered",
                            "connect-failed", "tls-failed"})) {
        return make_error("field '" + aw + "result' has unknown value '" + *result + "'");
      }
      p.result = std::move(*result);
      if (auto port = a.find("port"); port != a.end() && port->is_number_integer()) {
        p.port = port->get<int>();
      }
      if (auto m = a.find("matched"); m != a.end() && m->is_string()) {
        p.matched = m->get<std::string>();
      }
      if (auto d = a.find("depth"); d != a.end() && d->is_number_integer()) {
        p.depth = d->get<int>();
      }
      out.addresses.push_back(std::move(p));
    }
  }
  return Ok{};
}

} // namespace

Expected<Verdict> parse_verdict_line(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) {
    return make_error("not valid JSON");
  }
  if (!j.is_object()) {
    return make_error("not a JSON object");
  }
  Verdict v;
  auto time = get_string(j, "time", "");
  if (!time) {
    return make_error(time.error());
  }
  auto t = parse_rfc3339(*time);
  if (!t) {
    return make_error("field 'time': " + t.error());
  }
  v.time = *t;
  for (auto [name, dst] : {std::pair{"destination", &v.destination}, std::pair{"policy", &v.policy},
                           std::pair{"answer", &v.answer}}) {
    auto s = get_string(j, name, "");
    if (!s) {
      return make_error(s.error());
    }
    *dst = std::move(*s);
  }
  if (v.destination.empty()) {
    return make_error("field 'destination' is empty");
  }
  if (!one_of(v.policy, {"dane-only", "dane", "encrypt", "fingerprint", "secure", "notfound", "tempfail"})) {
    return make_error("field 'policy' has unknown value '" + v.policy + "'");
  }
  if (auto m = j.find("mode"); m != j.end() && m->is_string()) {
    v.mode = m->get<std::string>();
  }
  if (auto r = j.find("reason"); r != j.end() && r->is_string()) {
    v.reason = r->get<std::string>();
  }
  if (auto c = j.find("cached"); c != j.end()) {
    if (!c->is_boolean()) {
      return make_error("field 'cached' is not a boolean");
    }
    v.cached = c->get<bool>();
  }
  auto hosts = j.find("hosts");
  if (hosts == j.end() || !hosts->is_array()) {
    return make_error("field 'hosts' missing or not a list");
  }
  v.hosts.resize(hosts->size());
  std::size_t i = 0;
  for (const auto& h : *hosts) {
    if (auto st = parse_host(h, i, v.hosts[i]); !st) {
      return make_error(st.error());
    }
    ++i;
  }
  return v;
}

} // namespace dane::policyd::report
