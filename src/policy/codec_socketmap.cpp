// socketmap codec (Postfix socketmap_table(5)): netstrings, "NAME KEY" requests, OK/NOTFOUND/TEMP/... replies.
#include <algorithm>

#include "dane/policy/codecs.hpp"

namespace dane::policyd {

NetstringDecoder::NetstringDecoder(std::size_t max_payload) : m_max(max_payload) {}

bool NetstringDecoder::fail(CodecErrorKind kind, std::string message) {
  m_error = CodecError{kind, "netstring: " + std::move(message)};
  m_payload.clear();
  m_payload.shrink_to_fit();
  return false;
}

bool NetstringDecoder::feed(std::string_view bytes, std::vector<std::string>& out) {
  if (m_error) {
    return false;
  }
  std::size_t i = 0;
  while (i < bytes.size()) {
    switch (m_state) {
    case State::Length: {
      char c = bytes[i++];
      if (c == ':') {
        if (m_length_digits == 0) {
          return fail(CodecErrorKind::BadLength, "empty length before ':'");
        }
        m_state = State::Payload;
        m_payload.clear();
        m_payload.reserve(m_length);
        if (m_length == 0) {
          m_state = State::Comma;
        }
        break;
      }
      if (c < '0' || c > '9') {
        return fail(CodecErrorKind::BadLength,
                    "length contains " + printable_excerpt(std::string_view(&c, 1)) + " (expected a digit or ':')");
      }
      if (m_length_digits == 1 && m_length == 0) {
        return fail(CodecErrorKind::BadLength, "length has a leading zero");
      }
      m_length = m_length * 10 + static_cast<std::size_t>(c - '0');
      ++m_length_digits;
      if (m_length > m_max) {
        return fail(CodecErrorKind::TooLong, "length exceeds the limit of " + std::to_string(m_max) + " bytes");
      }
      break;
    }
    case State::Payload: {
      std::size_t take = std::min(bytes.size() - i, m_length - m_payload.size());
      m_payload.append(bytes.substr(i, take));
      i += take;
      if (m_payload.size() == m_length) {
        m_state = State::Comma;
      }
      break;
    }
    case State::Comma: {
      char c = bytes[i++];
      if (c != ',') {
        return fail(CodecErrorKind::MissingComma, "expected ',' after " + std::to_string(m_length) +
                                                      " payload bytes, got " +
                                                      printable_excerpt(std::string_view(&c, 1)));
      }
      out.push_back(std::move(m_payload));
      m_payload = std::string();
      m_state = State::Length;
      m_length = 0;
      m_length_digits = 0;
      break;
    }
    }
  }
  return true;
}

std::string encode_netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out.reserve(out.size() + payload.size() + 2);
  out += ':';
  out.append(payload);
  out += ',';
  return out;
}

namespace {

// Where "NAME KEY" splits; an error when it does not.
std::optional<CodecError> check_request(std::string_view payload, std::size_t& space) {
  space = payload.find(' ');
  if (space == std::string_view::npos) {
    return CodecError{CodecErrorKind::MissingKey,
                      "socketmap: request " + printable_excerpt(payload) + " has no space between name and key"};
  }
  if (space == 0) {
    return CodecError{CodecErrorKind::EmptyName,
                      "socketmap: request " + printable_excerpt(payload) + " has an empty map name"};
  }
  return std::nullopt;
}

} // namespace

Expected<SocketmapRequest> parse_socketmap_request(std::string_view payload) {
  std::size_t space = 0;
  if (auto error = check_request(payload, space)) {
    return make_error(std::move(error->message));
  }
  return SocketmapRequest{std::string(payload.substr(0, space)), std::string(payload.substr(space + 1))};
}

bool SocketmapDecoder::feed(std::string_view bytes, std::vector<SocketmapRequest>& out) {
  if (m_error) {
    return false;
  }
  m_payloads.clear();
  bool ok = m_netstrings.feed(bytes, m_payloads);
  for (std::string& payload : m_payloads) {
    std::size_t space = 0;
    if (auto error = check_request(payload, space)) {
      m_error = std::move(error);
      return false;
    }
    SocketmapRequest request;
    request.name.assign(payload, 0, space);
    payload.erase(0, space + 1);
    request.key = std::move(payload);
    out.push_back(std::move(request));
  }
  return ok;
}

Expected<std::string> encode_socketmap_request(std::string_view name, std::string_view key, std::size_t max_query) {
  if (name.empty()) {
    return make_error("socketmap: empty map name");
  }
  if (name.find(' ') != std::string_view::npos) {
    return make_error("socketmap: map name contains a space");
  }
  std::size_t size = name.size() + 1 + key.size();
  if (size > max_query) {
    return make_error("socketmap: query of " + std::to_string(size) + " bytes exceeds the limit of " +
                      std::to_string(max_query));
  }
  std::string payload;
  payload.reserve(size);
  payload.append(name);
  payload += ' ';
  payload.append(key);
  return encode_netstring(payload);
}

std::string_view to_string(SocketmapStatus status) {
  switch (status) {
  case SocketmapStatus::Ok:
    return "OK";
  case SocketmapStatus::NotFound:
    return "NOTFOUND";
  case SocketmapStatus::Temp:
    return "TEMP";
  case SocketmapStatus::Timeout:
    return "TIMEOUT";
  case SocketmapStatus::Perm:
    return "PERM";
  }
  return "TEMP";
}

std::string format_socketmap_answer(const SocketmapReply& reply) {
  if (reply.status == SocketmapStatus::NotFound) {
    return "NOTFOUND ";
  }
  std::string out(to_string(reply.status));
  out += ' ';
  out += reply.data;
  return out;
}

Expected<SocketmapReply> parse_socketmap_answer(std::string_view payload) {
  if (payload == "NOTFOUND" || payload.starts_with("NOTFOUND ")) {
    return SocketmapReply{SocketmapStatus::NotFound, {}};
  }
  std::size_t space = payload.find(' ');
  if (space == std::string_view::npos) {
    return make_error("socketmap: answer " + printable_excerpt(payload) + " has no space after the status");
  }
  std::string_view word = payload.substr(0, space);
  std::string data(payload.substr(space + 1));
  for (SocketmapStatus status :
       {SocketmapStatus::Ok, SocketmapStatus::Temp, SocketmapStatus::Timeout, SocketmapStatus::Perm}) {
    if (word == to_string(status)) {
      return SocketmapReply{status, std::move(data)};
    }
  }
  return make_error("socketmap: answer has unknown status " + printable_excerpt(word));
}

std::string encode_socketmap_reply(const SocketmapReply& reply, std::size_t max_reply) {
  std::string payload = format_socketmap_answer(reply);
  if (payload.size() <= max_reply) {
    return encode_netstring(payload);
  }
  if (reply.status == SocketmapStatus::Ok) {
    // Refuse rather than truncate: a cut policy (e.g. a shorter match= list) would be a different policy.
    payload = "TEMP reply too long (" + std::to_string(payload.size()) + " bytes)";
  }
  if (payload.size() > max_reply) {
    payload.resize(max_reply); // a reason may be cut; the status word stays
  }
  return encode_netstring(payload);
}

std::string encode_socketmap_answer(std::string_view answer, std::size_t max_reply) {
  // Fast path (every cache hit): an answer already in canonical form is framed as it is, which
  // is exactly what parsing and re-formatting it would give.
  if (answer.size() <= max_reply &&
      (answer == "NOTFOUND " || answer.starts_with("OK ") || answer.starts_with("TEMP ") ||
       answer.starts_with("TIMEOUT ") || answer.starts_with("PERM "))) {
    return encode_netstring(answer);
  }
  auto reply = parse_socketmap_answer(answer);
  if (!reply) {
    return encode_socketmap_reply(SocketmapReply{SocketmapStatus::Temp, "internal error: malformed answer"}, max_reply);
  }
  return encode_socketmap_reply(*reply, max_reply);
}

} // namespace dane::policyd
