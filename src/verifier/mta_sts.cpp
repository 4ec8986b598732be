// The MTA-STS model (RFC 8461): strict parsers for the TXT record (§3.1) and the policy file (§3.2),
// and the MX pattern rule (§4.1). Pure functions over untrusted bytes; errors quote what they saw.
#include "dane/verifier/mta_sts.hpp"

#include <algorithm>
#include <cstddef>

#include "dane/core/text.hpp"

namespace dane {
namespace {

constexpr std::string_view k_txt_version = "v=STSv1";
constexpr std::size_t k_max_id_length = 32;
constexpr std::size_t k_max_ext_name_length = 32;
constexpr std::size_t k_max_name_length = 253;
constexpr std::size_t k_max_label_length = 63;
constexpr std::size_t k_max_age_digits = 10;

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}
// VCHAR (%x21-7E).
bool is_vchar(char c) {
  return c >= 0x21 && c <= 0x7e;
}

std::string_view trim_wsp_left(std::string_view text) {
  while (!text.empty() && is_wsp(text.front())) {
    text.remove_prefix(1);
  }
  return text;
}
std::string_view trim_wsp_right(std::string_view text) {
  while (!text.empty() && is_wsp(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// sts-ext-name / sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
bool is_ext_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_ext_name_length || !is_alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E): visible characters except "=" and ";".
bool is_txt_ext_value(std::string_view value) {
  return !value.empty() &&
         std::all_of(value.begin(), value.end(), [](char c) { return is_vchar(c) && c != '=' && c != ';'; });
}

// sts-id: 1*32(ALPHA / DIGIT).
bool is_sts_id(std::string_view id) {
  return !id.empty() && id.size() <= k_max_id_length && std::all_of(id.begin(), id.end(), is_alnum);
}

std::string_view without_trailing_dot(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return name;
}

// One field of a TXT record after "v=STSv1": either the id or an extension.
Status parse_txt_field(std::string_view field, StsTxt& out, bool& have_id) {
  const std::size_t eq = field.find('=');
  if (eq == std::string_view::npos) {
    return make_error("field '" + quote_untrusted(field) + "' is not name=value");
  }
  const std::string_view name = field.substr(0, eq);
  const std::string_view value = field.substr(eq + 1);
  if (name == "id") {
    if (have_id) {
      return make_error("more than one id field");
    }
    if (!is_sts_id(value)) {
      return make_error("id '" + quote_untrusted(value) + "' is not 1 to 32 letters and digits");
    }
    out.id = std::string(value);
    have_id = true;
    return Ok{};
  }
  if (!is_ext_name(name)) {
    return make_error("field name '" + quote_untrusted(name) + "' is not a valid extension name");
  }
  if (!is_txt_ext_value(value)) {
    return make_error("field '" + quote_untrusted(field) + "' has an empty or invalid value");
  }
  return Ok{};
}

// A policy line "key: value" (RFC 8461 §3.2: ":" *WSP between them, WSP allowed at the end).
struct PolicyLine {
  std::string_view key;
  std::string_view value;
};

Expected<PolicyLine> split_policy_line(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return make_error("'" + quote_untrusted(line) + "' is not 'key: value'");
  }
  PolicyLine out{line.substr(0, colon), trim_wsp_right(trim_wsp_left(line.substr(colon + 1)))};
  if (!is_ext_name(out.key)) {
    return make_error("key '" + quote_untrusted(out.key) + "' is not a valid field name");
  }
  if (out.value.empty()) {
    return make_error("key '" + std::string(out.key) + "' has no value");
  }
  // sts-policy-ext-value: VCHAR with inner spaces (trimmed above); no other bytes.
  if (!std::all_of(out.value.begin(), out.value.end(), [](char c) { return is_vchar(c) || c == ' '; })) {
    return make_error("value of '" + std::string(out.key) + "' holds control or non-ASCII bytes: '" +
                      quote_untrusted(out.value) + "'");
  }
  return out;
}

Expected<StsMode> parse_mode(std::string_view value) {
  if (value == "enforce") {
    return StsMode::Enforce;
  }
  if (value == "testing") {
    return StsMode::Testing;
  }
  if (value == "none") {
    return StsMode::None;
  }
  return make_error("mode '" + quote_untrusted(value) + "' is not enforce, testing or none");
}

Expected<std::uint32_t> parse_max_age(std::string_view value) {
  if (value.size() > k_max_age_digits || !std::all_of(value.begin(), value.end(), is_digit)) {
    return make_error("max_age '" + quote_untrusted(value) + "' is not 1 to 10 digits");
  }
  std::uint64_t seconds = 0;
  for (const char c : value) {
    seconds = seconds * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (seconds > k_sts_max_age_limit) {
    return make_error("max_age " + std::string(value) + " is larger than " + std::to_string(k_sts_max_age_limit));
  }
  return static_cast<std::uint32_t>(seconds);
}

Expected<std::string> parse_mx_pattern(std::string_view value) {
  const std::string pattern = ascii_lower(value);
  const std::string_view host = pattern.starts_with("*.") ? std::string_view(pattern).substr(2) : pattern;
  if (!is_sts_domain_name(host)) {
    return make_error("mx '" + quote_untrusted(value) + "' is not a host name or *.<host name>");
  }
  return pattern;
}

// The body split into lines (LF or CRLF); a lone CR inside a line is left for the line check to refuse.
std::vector<std::string_view> split_lines(std::string_view body) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    const bool last = end == std::string_view::npos;
    if (last) {
      end = body.size();
    }
    std::string_view line = body.substr(start, end - start);
    if (!last && !line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// What parse_sts_policy has seen so far.
struct PolicyState {
  StsPolicy policy;
  bool have_mode = false;
  bool have_max_age = false;
};

Status apply_policy_line(const PolicyLine& line, PolicyState& state) {
  if (line.key == "version") {
    return make_error("duplicate version");
  }
  if (line.key == "mode") {
    if (state.have_mode) {
      return make_error("duplicate mode");
    }
    auto mode = parse_mode(line.value);
    if (!mode) {
      return make_error(mode.error());
    }
    state.policy.mode = *mode;
    state.have_mode = true;
  } else if (line.key == "max_age") {
    if (state.have_max_age) {
      return make_error("duplicate max_age");
    }
    auto age = parse_max_age(line.value);
    if (!age) {
      return make_error(age.error());
    }
    state.policy.max_age = *age;
    state.have_max_age = true;
  } else if (line.key == "mx") {
    auto pattern = parse_mx_pattern(line.value);
    if (!pattern) {
      return make_error(pattern.error());
    }
    state.policy.mx.push_back(std::move(*pattern));
  }
  return Ok{}; // unknown keys are ignored (§3.2)
}

} // namespace

std::string to_string(StsMode mode) {
  switch (mode) {
  case StsMode::Enforce:
    return "enforce";
  case StsMode::Testing:
    return "testing";
  case StsMode::None:
    return "none";
  }
  return "none";
}

std::string to_string(StsSource source) {
  switch (source) {
  case StsSource::None:
    return "none";
  case StsSource::Fetched:
    return "fetched";
  case StsSource::Cached:
    return "cached";
  }
  return "none";
}

Expected<StsTxt> parse_sts_txt(std::string_view record) {
  if (!record.starts_with(k_txt_version)) {
    return make_error("TXT record '" + quote_untrusted(record) + "' does not start with v=STSv1");
  }
  std::string_view rest = record.substr(k_txt_version.size());
  StsTxt out;
  bool have_id = false;
  // 1*(sts-field-delim sts-field) [sts-field-delim], sts-field-delim = *WSP ";" *WSP.
  while (!rest.empty()) {
    rest = trim_wsp_left(rest);
    if (rest.empty() || rest.front() != ';') {
      return make_error("TXT record '" + quote_untrusted(record) + "': fields must be separated by ';'");
    }
    rest = trim_wsp_left(rest.substr(1));
    if (rest.empty()) {
      break; // the optional final delimiter
    }
    std::size_t end = 0;
    while (end < rest.size() && rest[end] != ';' && !is_wsp(rest[end])) {
      ++end;
    }
    if (auto st = parse_txt_field(rest.substr(0, end), out, have_id); !st) {
      return make_error("TXT record '" + quote_untrusted(record) + "': " + st.error());
    }
    rest = rest.substr(end);
  }
  if (!have_id) {
    return make_error("TXT record '" + quote_untrusted(record) + "' has no id field");
  }
  return out;
}

Expected<StsTxt> select_sts_txt(const std::vector<std::string>& records) {
  const std::string* chosen = nullptr;
  for (const std::string& record : records) {
    // §3.1: records that do not begin with "v=STSv1;" are discarded (white space may precede the ';').
    if (!record.starts_with(k_txt_version)) {
      continue;
    }
    const std::string_view after = std::string_view(record).substr(k_txt_version.size());
    if (!after.empty() && after.front() != ';' && !is_wsp(after.front())) {
      continue;
    }
    if (chosen != nullptr) {
      return make_error("more than one v=STSv1 TXT record");
    }
    chosen = &record;
  }
  if (chosen == nullptr) {
    return make_error("no v=STSv1 TXT record");
  }
  return parse_sts_txt(*chosen);
}

Expected<std::string> parse_txt_rdata(const std::vector<std::uint8_t>& rdata) {
  if (rdata.empty()) {
    return make_error("empty TXT RDATA");
  }
  std::string text;
  std::size_t at = 0;
  while (at < rdata.size()) {
    const std::size_t length = rdata[at];
    if (at + 1 + length > rdata.size()) {
      return make_error("TXT RDATA: a character-string of " + std::to_string(length) + " octets at offset " +
                        std::to_string(at) + " runs past the end (" + std::to_string(rdata.size()) + " octets)");
    }
    text.append(reinterpret_cast<const char*>(rdata.data() + at + 1), length);
    at += 1 + length;
  }
  return text;
}

Expected<StsPolicy> parse_sts_policy(std::string_view body) {
  if (body.size() > k_sts_policy_max_bytes) {
    return make_error("policy of " + std::to_string(body.size()) + " bytes is larger than " +
                      std::to_string(k_sts_policy_max_bytes));
  }
  std::vector<std::string_view> lines = split_lines(body);
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back(); // empty lines at the end are tolerated; anywhere else they are an error
  }
  if (lines.empty()) {
    return make_error("empty policy");
  }
  PolicyState state;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string prefix = "policy line " + std::to_string(i + 1) + ": ";
    auto line = split_policy_line(lines[i]);
    if (!line) {
      return make_error(prefix + line.error());
    }
    if (i == 0) {
      if (line->key != "version" || line->value != "STSv1") {
        return make_error(prefix + "the first line must be 'version: STSv1'");
      }
      continue;
    }
    if (auto st = apply_policy_line(*line, state); !st) {
      return make_error(prefix + st.error());
    }
  }
  if (!state.have_mode) {
    return make_error("policy has no mode");
  }
  if (!state.have_max_age) {
    return make_error("policy has no max_age");
  }
  if (state.policy.mx.empty() && state.policy.mode != StsMode::None) {
    return make_error("policy in mode " + to_string(state.policy.mode) + " has no mx");
  }
  state.policy.text = std::string(body);
  return std::move(state.policy);
}

std::vector<std::string> sts_policy_lines(std::string_view body) {
  std::vector<std::string> out;
  for (const std::string_view line : split_lines(body)) {
    out.emplace_back(line);
  }
  return out;
}

bool sts_mx_matches(std::string_view pattern, std::string_view host) {
  const std::string p = ascii_lower(without_trailing_dot(pattern));
  const std::string h = ascii_lower(without_trailing_dot(host));
  if (p.empty() || h.empty()) {
    return false;
  }
  if (!p.starts_with("*.")) {
    return p == h;
  }
  const std::string_view rest = std::string_view(p).substr(1); // ".<rest>"
  if (rest.size() < 2 || h.size() <= rest.size() || !h.ends_with(rest)) {
    return false;
  }
  const std::string_view label = std::string_view(h).substr(0, h.size() - rest.size());
  return label.find('.') == std::string_view::npos;
}

bool sts_mx_allowed(const StsPolicy& policy, std::string_view host) {
  return std::any_of(policy.mx.begin(), policy.mx.end(),
                     [host](const std::string& pattern) { return sts_mx_matches(pattern, host); });
}

// RFC 5321 Domain: Let-dig [Ldh-str] labels of at most 63 octets, at most 253 in all, no trailing dot.
bool is_sts_domain_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_name_length) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > k_max_label_length || !is_alnum(label.front()) || !is_alnum(label.back()) ||
        !std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::string normalize_sts_domain(std::string_view name) {
  std::string out = ascii_lower(name);
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

} // namespace dane
