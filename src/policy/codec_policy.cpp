// Policy delegation codec (Postfix SMTPD_POLICY_README): name=value lines, an empty line, action=... replies.
#include <algorithm>

#include "dane/core/text.hpp"
#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// Attribute names are printable ASCII without space (Postfix sends lower-case words with '_').
bool valid_name(std::string_view name) {
  return !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u >= 0x7f;
  });
}

} // namespace

std::optional<std::string_view> PolicyRequest::find(std::string_view name) const {
  for (const auto& [key, value] : attributes) {
    if (key == name) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

std::string_view PolicyRequest::get(std::string_view name) const {
  return find(name).value_or(std::string_view());
}

std::optional<std::string> PolicyRequest::recipient_domain() const {
  std::string_view rcpt = recipient();
  std::size_t at = rcpt.rfind('@');
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string domain(rcpt.substr(at + 1));
  if (!domain.empty() && domain.back() == '.') {
    domain.pop_back();
  }
  if (domain.empty()) {
    return std::nullopt;
  }
  ascii_lower_in_place(domain);
  return domain;
}

PolicyDecoder::PolicyDecoder(PolicyLimits limits) : m_limits(limits), m_lines(limits.max_line) {}

bool PolicyDecoder::fail(CodecErrorKind kind, std::string message) {
  m_error = CodecError{kind, "policy: " + std::move(message)};
  m_current = PolicyRequest{};
  return false;
}

bool PolicyDecoder::feed(std::string_view bytes, std::vector<PolicyRequest>& out) {
  if (m_error) {
    return false;
  }
  m_buffer.clear();
  bool ok = m_lines.feed(bytes, m_buffer);
  for (const std::string& line : m_buffer) {
    m_current_bytes += line.size() + 1;
    if (m_current_bytes > m_limits.max_request) {
      return fail(CodecErrorKind::TooLong,
                  "request exceeds " + std::to_string(m_limits.max_request) + " bytes (including newlines)");
    }
    if (line.empty()) {
      if (m_current.attributes.empty()) {
        return fail(CodecErrorKind::EmptyRequest, "empty line without any attribute before it");
      }
      auto request = m_current.find("request");
      if (!request) {
        return fail(CodecErrorKind::BadRequestType, "request has no 'request' attribute");
      }
      if (*request != "smtpd_access_policy") {
        return fail(CodecErrorKind::BadRequestType,
                    "unsupported request type " + printable_excerpt(*request) + " (expected smtpd_access_policy)");
      }
      out.push_back(std::move(m_current));
      m_current = PolicyRequest{};
      m_current_bytes = 0;
      continue;
    }
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return fail(CodecErrorKind::BadAttribute, "line " + printable_excerpt(line) + " is not name=value");
    }
    std::string_view name = std::string_view(line).substr(0, eq);
    if (!valid_name(name)) {
      return fail(CodecErrorKind::BadAttribute,
                  "attribute name " + printable_excerpt(name) + " is empty or not printable ASCII");
    }
    if (m_current.find(name)) {
      return fail(CodecErrorKind::DuplicateAttribute, "attribute " + printable_excerpt(name) + " appears twice");
    }
    if (m_current.attributes.size() + 1 > m_limits.max_attributes) {
      return fail(CodecErrorKind::TooManyAttributes,
                  "request has more than " + std::to_string(m_limits.max_attributes) + " attributes");
    }
    m_current.attributes.emplace_back(std::string(name), line.substr(eq + 1));
  }
  if (!ok) {
    m_error = CodecError{m_lines.error()->kind, "policy: " + m_lines.error()->message};
    m_current = PolicyRequest{};
  }
  return ok;
}

std::string encode_policy_reply(std::string_view action) {
  std::string out = "action=";
  std::size_t n = std::min(action.size(), k_policy_max_action);
  out.reserve(out.size() + n + 2);
  for (std::size_t i = 0; i < n; ++i) {
    char c = action[i];
    out += is_control(static_cast<unsigned char>(c)) ? ' ' : c;
  }
  out += "\n\n";
  return out;
}

Expected<std::string> encode_policy_request(const std::vector<std::pair<std::string, std::string>>& attributes) {
  std::string out;
  for (const auto& [name, value] : attributes) {
    if (!valid_name(name) || name.find('=') != std::string::npos) {
      return make_error("policy: attribute name " + printable_excerpt(name) + " is not a valid name");
    }
    if (value.find('\n') != std::string::npos) {
      return make_error("policy: value of " + name + " contains a newline");
    }
    out += name;
    out += '=';
    out += value;
    out += '\n';
  }
  out += '\n';
  return out;
}

Expected<std::string> parse_policy_reply(std::string_view reply) {
  if (!reply.starts_with("action=")) {
    return make_error("policy: reply " + printable_excerpt(reply) + " does not start with 'action='");
  }
  reply.remove_prefix(7);
  if (reply.ends_with("\n\n")) {
    reply.remove_suffix(2);
  } else if (reply.ends_with('\n')) {
    reply.remove_suffix(1);
  }
  if (reply.find('\n') != std::string_view::npos) {
    return make_error("policy: reply has more than one attribute line");
  }
  return std::string(reply);
}

} // namespace dane::policyd
