// Shared pieces of the protocol codecs: error names, safe excerpts, line framing.
#include <cstring>

#include "dane/core/text.hpp"
#include "dane/policy/codecs.hpp"

namespace dane::policyd {

std::string_view to_string(CodecErrorKind kind) {
  switch (kind) {
  case CodecErrorKind::BadLength:
    return "bad-length";
  case CodecErrorKind::MissingComma:
    return "missing-comma";
  case CodecErrorKind::TooLong:
    return "too-long";
  case CodecErrorKind::EmptyName:
    return "empty-name";
  case CodecErrorKind::MissingKey:
    return "missing-key";
  case CodecErrorKind::BadCommand:
    return "bad-command";
  case CodecErrorKind::BadEncoding:
    return "bad-encoding";
  case CodecErrorKind::BadAttribute:
    return "bad-attribute";
  case CodecErrorKind::DuplicateAttribute:
    return "duplicate-attribute";
  case CodecErrorKind::TooManyAttributes:
    return "too-many-attributes";
  case CodecErrorKind::EmptyRequest:
    return "empty-request";
  case CodecErrorKind::BadRequestType:
    return "bad-request-type";
  }
  return "unknown";
}

std::string printable_excerpt(std::string_view bytes, std::size_t max) {
  return dane::quote_untrusted(bytes, max, dane::Spaces::Code); // tcp_table's coding, spaces included
}

bool LineDecoder::feed(std::string_view bytes, std::vector<std::string>& out) {
  if (m_error) {
    return false;
  }
  while (!bytes.empty()) {
    const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
    std::size_t take =
        nl == nullptr ? bytes.size() : static_cast<std::size_t>(static_cast<const char*>(nl) - bytes.data());
    // m_line + take bytes + '\n' must fit in m_max; a partial line of m_max bytes can never fit.
    if (m_line.size() + take + (nl == nullptr ? 0 : 1) > m_max || (nl == nullptr && m_line.size() + take >= m_max)) {
      m_error = CodecError{CodecErrorKind::TooLong,
                           "line exceeds " + std::to_string(m_max) + " bytes (including the newline)"};
      m_line.clear();
      return false;
    }
    if (nl == nullptr) {
      m_line.append(bytes);
      return true;
    }
    if (m_line.empty()) {
      out.emplace_back(bytes.substr(0, take));
    } else {
      m_line.append(bytes.substr(0, take));
      out.push_back(std::move(m_line));
      m_line.clear();
    }
    bytes.remove_prefix(take + 1);
  }
  return true;
}

} // namespace dane::policyd
