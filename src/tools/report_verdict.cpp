// Verdict-log line parsing (docs/design.md §6) for dane-policyctl report.
//
// A small pull parser over the line (no DOM): a million-line log must be summarised in seconds,
// and building an nlohmann::json tree per line cost ~20 µs. Full JSON syntax is checked (strings
// with escapes including \uXXXX surrogate pairs, numbers, literals, nesting); unknown fields are
// skipped; the pinned fields are type-checked and their values checked against the pinned lists.
#include <algorithm>
#include <cstring>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"
#include "report_json_cursor.hpp"

namespace dane::tools::report {

namespace {

using detail::Cursor;
using detail::k_max_depth;

bool one_of(const std::string& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) {
      return true;
    }
  }
  return false;
}

// Shrinks `v` to `n` elements, keeping the removed ones (and their heap buffers) in `spare`.
template <typename T> void shrink_into(std::vector<T>& v, std::size_t n, std::vector<T>& spare) {
  while (v.size() > n) {
    spare.push_back(std::move(v.back()));
    v.pop_back();
  }
}
// Appends an element, reusing a spare one when there is one.
template <typename T> T& grow_from(std::vector<T>& v, std::vector<T>& spare) {
  if (spare.empty()) {
    return v.emplace_back();
  }
  v.push_back(std::move(spare.back()));
  spare.pop_back();
  return v.back();
}

// Errors: a syntax error is reported as "not valid JSON"; a type or value error names the field.
struct Fail {
  std::string message;
};

class VerdictParser {
public:
  VerdictParser(std::string_view line, Verdict& out) : m_c(line), m_v(out) {}

  // One pass over the top-level object (each pinned field of docs/design.md §6 in one branch of
  // member()), then the required-field and cross-field checks.
  Expected<Ok> run() {
    if (m_c.peek() != '{') {
      if (!m_c.skip() || !m_c.at_end()) {
        return syntax();
      }
      return make_error("not a JSON object");
    }
    Seen seen;
    auto st = members([&]() { return member(seen); });
    if (!st) {
      return st;
    }
    if (!m_c.at_end()) {
      return syntax();
    }
    if (auto required = check_required(seen); !required) {
      return required;
    }
    auto t = parse_rfc3339(m_time);
    if (!t) {
      return make_error("field 'time': " + t.error());
    }
    m_v.time = *t;
    if (m_v.destination.empty()) {
      return make_error("field 'destination' is empty");
    }
    if (!one_of(m_v.policy, {"dane-only", "dane", "encrypt", "fingerprint", "secure", "notfound", "tempfail"})) {
      return make_error("field 'policy' has unknown value '" + m_v.policy + "'");
    }
    // Only evaluations (no event) and probe lines are known; anything else would be miscounted.
    if (!m_v.event.empty() && m_v.event != "probe") {
      return make_error("field 'event' has unknown value '" + m_v.event + "'");
    }
    return monitor_fields();
  }

private:
  // The required fields met so far.
  struct Seen {
    bool time = false;
    bool destination = false;
    bool policy = false;
    bool answer = false;
    bool hosts = false;
  };

  // One member of the top-level object (m_key is its name): pinned fields are read, others skipped.
  Expected<Ok> member(Seen& seen) {
    if (m_key == "time") {
      seen.time = true;
      return required_string([] { return "time"; }, m_time);
    }
    if (m_key == "destination") {
      seen.destination = true;
      return required_string([] { return "destination"; }, m_v.destination);
    }
    if (m_key == "policy") {
      seen.policy = true;
      return required_string([] { return "policy"; }, m_v.policy);
    }
    if (m_key == "answer") {
      seen.answer = true;
      return required_string([] { return "answer"; }, m_v.answer);
    }
    if (m_key == "mode") {
      return optional_string(m_v.mode);
    }
    if (m_key == "reason") {
      return optional_string(m_v.reason);
    }
    if (m_key == "event") {
      return optional_string(m_v.event);
    }
    if (m_key == "would_answer") {
      return optional_string(m_v.would_answer);
    }
    if (m_key == "outcome") {
      return optional_string(m_v.outcome);
    }
    if (m_key == "cached") {
      if (m_c.literal("true")) {
        m_v.cached = true;
        return Ok{};
      }
      if (m_c.literal("false")) {
        m_v.cached = false;
        return Ok{};
      }
      return type_error([] { return "cached"; }, "a boolean");
    }
    if (m_key == "hosts") {
      seen.hosts = true;
      return hosts();
    }
    if (m_key == "sts") {
      return sts();
    }
    return skip_value();
  }

  // The "sts" object: the fields the report uses, type-checked; others skipped. null = absent.
  Expected<Ok> sts() {
    StsVerdict& s = m_v.sts;
    if (m_c.literal("null")) {
      return Ok{};
    }
    if (Expected<Ok> error = Ok{}; !expect_object([] { return std::string("sts"); }, error)) {
      return error;
    }
    s.present = true;
    auto st = members([&]() -> Expected<Ok> {
      if (m_key == "domain") {
        return required_string([] { return "sts.domain"; }, s.domain);
      }
      if (m_key == "source") {
        return required_string([] { return "sts.source"; }, s.source);
      }
      if (m_key == "policy_id") {
        return required_string([] { return "sts.policy_id"; }, s.policy_id);
      }
      if (m_key == "mode") {
        return required_string([] { return "sts.mode"; }, s.mode);
      }
      if (m_key == "mx") {
        return string_list([] { return "sts.mx"; }, s.mx);
      }
      if (m_key == "policy_string") {
        return string_list([] { return "sts.policy_string"; }, s.policy_string);
      }
      return skip_value();
    });
    if (!st) {
      return st;
    }
    if (!s.source.empty() && !one_of(s.source, {"fetched", "cached", "none"})) {
      return make_error("field 'sts.source' has unknown value '" + s.source + "'");
    }
    if (!s.mode.empty() && !one_of(s.mode, {"enforce", "testing", "none"})) {
      return make_error("field 'sts.mode' has unknown value '" + s.mode + "'");
    }
    return Ok{};
  }

  static Expected<Ok> check_required(const Seen& seen) {
    if (!seen.time) {
      return make_error("missing field 'time'");
    }
    if (!seen.destination) {
      return make_error("missing field 'destination'");
    }
    if (!seen.policy) {
      return make_error("missing field 'policy'");
    }
    if (!seen.answer) {
      return make_error("missing field 'answer'");
    }
    if (!seen.hosts) {
      return make_error("field 'hosts' missing or not a list");
    }
    return Ok{};
  }

  // Monitor mode: Postfix was told NOTFOUND; the report counts what enforcement would have answered
  // (`would_answer`, which every monitor-mode line carries, cache hits included; else `outcome`).
  Expected<Ok> monitor_fields() {
    if (m_v.mode != "monitor") {
      return Ok{}; // `would_answer` (when present) equals `answer` then; `outcome` is not needed
    }
    if (!m_v.outcome.empty() && !one_of(m_v.outcome, {"tempfail", "not-dane", "dane-only", "dane", "encrypt"})) {
      return make_error("field 'outcome' has unknown value '" + m_v.outcome + "'");
    }
    std::optional<std::string> would;
    if (!m_v.would_answer.empty()) {
      would = policy_of_answer(m_v.would_answer);
      if (!would) {
        return make_error("field 'would_answer' is not a reply dane-policyd gives: '" + m_v.would_answer + "'");
      }
    }
    m_v.monitored = true;
    if (!would && !m_v.outcome.empty()) {
      // The native answer of each DNS outcome (docs/design.md §3): encrypt is answered `dane`.
      would = m_v.outcome == "not-dane"  ? std::string("notfound")
              : m_v.outcome == "encrypt" ? std::string("dane")
                                         : m_v.outcome;
    }
    if (!would) {
      return make_error("monitor-mode line without 'would_answer' or 'outcome': what it would have answered is "
                        "unknown");
    }
    m_v.would_policy = std::move(*would);
    return Ok{};
  }

  Expected<Ok> syntax() { return make_error("not valid JSON (at byte " + std::to_string(m_c.pos() + 1) + ")"); }

  // Field names are built only when an error needs them (no allocation on the hot path).
  template <typename Name> Expected<Ok> type_error(const Name& field, const char* want) {
    // Keep a syntax error a syntax error: the value must still be valid JSON.
    if (!m_c.skip()) {
      return syntax();
    }
    return make_error("field '" + std::string(field()) + "' is not " + want);
  }

  template <typename Name> Expected<Ok> required_string(const Name& field, std::string& out) {
    if (m_c.peek() != '"') {
      return type_error(field, "a string");
    }
    return m_c.string(out) ? Expected<Ok>(Ok{}) : syntax();
  }

  Expected<Ok> optional_string(std::string& out) {
    if (m_c.peek() == '"') {
      return m_c.string(out) ? Expected<Ok>(Ok{}) : syntax();
    }
    out.clear();
    return m_c.skip() ? Expected<Ok>(Ok{}) : syntax();
  }

  Expected<Ok> skip_value() { return m_c.skip() ? Expected<Ok>(Ok{}) : syntax(); }

  // Walks the members of the object at the cursor, which must be at '{': `field()` reads or skips
  // the value of member m_key. The one loop for the line, its hosts and their addresses.
  template <typename Field> Expected<Ok> members(Field&& field) {
    if (!m_c.eat('{')) {
      return syntax();
    }
    if (m_c.eat('}')) {
      return Ok{};
    }
    do {
      if (m_c.peek() != '"' || !m_c.string(m_key) || !m_c.eat(':')) {
        return syntax();
      }
      if (auto st = field(); !st) {
        return st;
      }
    } while (m_c.eat(','));
    return m_c.eat('}') ? Expected<Ok>(Ok{}) : syntax();
  }

  // At a value that should be an object: false (with the error in `error`) when it is not.
  template <typename Where> bool expect_object(const Where& where, Expected<Ok>& error) {
    if (m_c.peek() == '{') {
      return true;
    }
    error = m_c.skip() ? make_error("'" + where() + "' is not an object") : syntax();
    return false;
  }

  Expected<Ok> hosts() {
    if (m_c.peek() != '[') {
      return type_error([] { return "hosts"; }, "a list");
    }
    m_c.eat('[');
    std::size_t n = 0;
    if (m_c.eat(']')) {
      return Ok{};
    }
    do {
      if (m_v.hosts.size() <= n) {
        grow_from(m_v.hosts, m_v.spare_hosts);
      }
      HostVerdict& h = m_v.hosts[n];
      h.name.clear();
      h.dnssec.clear();
      shrink_into(h.tlsa, 0, m_v.spare_strings);
      h.tlsa_base.clear();
      h.status.clear();
      h.probed = false;
      shrink_into(h.addresses, 0, m_v.spare_addresses);
      auto st = host(h, n);
      if (!st) {
        return st;
      }
      ++n;
    } while (m_c.eat(','));
    m_hosts_used = n;
    return m_c.eat(']') ? Expected<Ok>(Ok{}) : syntax();
  }

  Expected<Ok> host(HostVerdict& h, std::size_t index) {
    auto where = [index] { return "hosts[" + std::to_string(index) + "]"; };
    if (Expected<Ok> error = Ok{}; !expect_object(where, error)) {
      return error;
    }
    bool have_name = false, have_dnssec = false, have_tlsa = false;
    auto st = members([&]() -> Expected<Ok> {
      if (m_key == "name") {
        have_name = true;
        return required_string([&] { return where() + ".name"; }, h.name);
      }
      if (m_key == "dnssec") {
        have_dnssec = true;
        return required_string([&] { return where() + ".dnssec"; }, h.dnssec);
      }
      if (m_key == "tlsa") {
        have_tlsa = true;
        return string_list([&] { return where() + ".tlsa"; }, h.tlsa);
      }
      if (m_key == "tlsa_base") {
        return optional_string(h.tlsa_base);
      }
      if (m_key == "status") {
        return optional_string(h.status);
      }
      if (m_key == "addresses") {
        if (m_c.literal("null")) {
          h.probed = false;
          return Ok{};
        }
        return addresses([&] { return where() + ".addresses"; }, h);
      }
      return skip_value();
    });
    if (!st) {
      return st;
    }
    if (!have_name) {
      return make_error("missing field '" + where() + ".name'");
    }
    if (!have_dnssec) {
      return make_error("missing field '" + where() + ".dnssec'");
    }
    if (!one_of(h.dnssec, {"secure", "insecure", "bogus", "error"})) {
      return make_error("field '" + where() + ".dnssec' has unknown value '" + h.dnssec + "'");
    }
    if (!have_tlsa) {
      return make_error("field '" + where() + ".tlsa' missing or not a list");
    }
    return Ok{};
  }

  template <typename Name> Expected<Ok> string_list(const Name& field, std::vector<std::string>& out) {
    if (m_c.peek() != '[') {
      return type_error(field, "a list");
    }
    m_c.eat('[');
    if (m_c.eat(']')) {
      return Ok{};
    }
    do {
      if (m_c.peek() != '"') {
        return type_error(field, "a list of strings");
      }
      if (!m_c.string(grow_from(out, m_v.spare_strings))) {
        return syntax();
      }
    } while (m_c.eat(','));
    return m_c.eat(']') ? Expected<Ok>(Ok{}) : syntax();
  }

  template <typename Name> Expected<Ok> addresses(const Name& field, HostVerdict& h) {
    if (m_c.peek() != '[') {
      return type_error(field, "a list");
    }
    m_c.eat('[');
    h.probed = true;
    if (m_c.eat(']')) {
      return Ok{};
    }
    std::size_t j = 0;
    do {
      const std::size_t index = j++;
      auto where = [&] { return field() + "[" + std::to_string(index) + "]"; };
      if (Expected<Ok> error = Ok{}; !expect_object(where, error)) {
        return error;
      }
      AddressProbe& p = grow_from(h.addresses, m_v.spare_addresses);
      p.address.clear();
      p.port = 25;
      p.result.clear();
      p.matched.clear();
      p.depth = -1;
      bool have_address = false, have_result = false;
      auto st = members([&]() -> Expected<Ok> {
        if (m_key == "address") {
          have_address = true;
          return required_string([&] { return where() + ".address"; }, p.address);
        }
        if (m_key == "result") {
          have_result = true;
          return required_string([&] { return where() + ".result"; }, p.result);
        }
        if (m_key == "matched") {
          return optional_string(p.matched);
        }
        if ((m_key == "port" || m_key == "depth") && (m_c.peek() == '-' || (m_c.peek() >= '0' && m_c.peek() <= '9'))) {
          bool is_int = false;
          long long v = 0;
          if (!m_c.number(is_int, v)) {
            return syntax();
          }
          if (is_int) {
            (m_key == "port" ? p.port : p.depth) = static_cast<int>(v);
          }
          return Ok{};
        }
        return skip_value();
      });
      if (!st) {
        return st;
      }
      if (!have_address) {
        return make_error("missing field '" + where() + ".address'");
      }
      if (!have_result) {
        return make_error("missing field '" + where() + ".result'");
      }
      if (!one_of(p.result, {"pass", "tlsa-mismatch", "name-mismatch", "cert-expired", "starttls-not-offered",
                             "connect-failed", "tls-failed", "cert-untrusted", "mx-mismatch"})) {
        return make_error("field '" + where() + ".result' has unknown value '" + p.result + "'");
      }
    } while (m_c.eat(','));
    return m_c.eat(']') ? Expected<Ok>(Ok{}) : syntax();
  }

public:
  std::size_t hosts_used() const { return m_hosts_used; }

private:
  Cursor m_c;
  Verdict& m_v;
  std::string m_key;
  std::string m_time;
  std::size_t m_hosts_used = 0;
};

} // namespace

Expected<Ok> parse_verdict_line(std::string_view line, Verdict& out) {
  out.destination.clear();
  out.mode.clear();
  out.policy.clear();
  out.answer.clear();
  out.reason.clear();
  out.cached = false;
  out.event.clear();
  out.monitored = false;
  out.would_answer.clear();
  out.outcome.clear();
  out.would_policy.clear();
  out.time = 0;
  out.sts.present = false;
  out.sts.domain.clear();
  out.sts.source.clear();
  out.sts.policy_id.clear();
  out.sts.mode.clear();
  shrink_into(out.sts.mx, 0, out.spare_strings);
  shrink_into(out.sts.policy_string, 0, out.spare_strings);
  VerdictParser p(line, out);
  auto st = p.run();
  shrink_into(out.hosts, p.hosts_used(), out.spare_hosts);
  return st;
}

std::optional<std::string> policy_of_answer(std::string_view answer) {
  auto word = [&](std::string_view w) {
    return answer.substr(0, w.size()) == w && (answer.size() == w.size() || answer[w.size()] == ' ');
  };
  if (word("TEMP") || word("TIMEOUT") || word("PERM")) {
    return "tempfail";
  }
  if (word("NOTFOUND")) {
    return "notfound";
  }
  if (!word("OK")) {
    return std::nullopt;
  }
  std::string_view data = answer.substr(std::min<std::size_t>(3, answer.size()));
  const std::string_view level = data.substr(0, data.find(' '));
  for (std::string_view known : {"dane-only", "dane", "encrypt", "fingerprint", "secure"}) {
    if (level == known) {
      return std::string(known);
    }
  }
  return std::nullopt;
}

Expected<Verdict> parse_verdict_line(std::string_view line) {
  Verdict v;
  auto st = parse_verdict_line(line, v);
  if (!st) {
    return make_error(st.error());
  }
  return v;
}

} // namespace dane::tools::report
