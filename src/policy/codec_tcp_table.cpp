// tcp_table codec (Postfix tcp_table(5)): "get KEY\n" requests, "200/400/500 TEXT\n" replies, %XX encoding.
#include "dane/core/text.hpp"
#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

constexpr char k_upper_hex[] = "0123456789ABCDEF";

// Postfix's hex_quote encodes ISSPACE || !ISPRINT || '%'; with ASCII that leaves 0x21..0x7e except '%'.
bool needs_quoting(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || c == '%';
}

// Undo %XX; when `strict`, a raw byte that needs quoting is an error too.
Expected<std::string> unquote(std::string_view quoted, bool strict) {
  std::string out;
  out.reserve(quoted.size());
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '%') {
      int high = i + 1 < quoted.size() ? hex_digit_value(quoted[i + 1]) : -1;
      int low = i + 2 < quoted.size() ? hex_digit_value(quoted[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return make_error("bad %XX escape " + printable_excerpt(quoted.substr(i, 3)) + " at offset " +
                          std::to_string(i));
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
      continue;
    }
    if (strict && needs_quoting(static_cast<unsigned char>(c))) {
      return make_error("unencoded byte " + printable_excerpt(std::string_view(&c, 1)) + " at offset " +
                        std::to_string(i));
    }
    out += c;
  }
  return out;
}

// Cut `quoted` to at most `max` characters without splitting a %XX triple.
void truncate_quoted(std::string& quoted, std::size_t max) {
  if (quoted.size() <= max) {
    return;
  }
  std::size_t cut = max;
  if (cut >= 1 && quoted[cut - 1] == '%') {
    cut -= 1;
  } else if (cut >= 2 && quoted[cut - 2] == '%') {
    cut -= 2;
  }
  quoted.resize(cut);
}

std::string reply_line(TcpTableStatus status, std::string_view quoted_text) {
  std::string line = std::to_string(static_cast<int>(status));
  line.reserve(line.size() + quoted_text.size() + 2);
  line += ' ';
  line.append(quoted_text);
  line += '\n';
  return line;
}

} // namespace

std::string tcp_table_quote(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    if (needs_quoting(u)) {
      out += '%';
      out += k_upper_hex[u >> 4];
      out += k_upper_hex[u & 0x0f];
    } else {
      out += c;
    }
  }
  return out;
}

Expected<std::string> tcp_table_unquote(std::string_view quoted) {
  return unquote(quoted, false);
}

namespace {

std::optional<CodecError> decode_request(std::string_view line, TcpTableRequest& request) {
  if (!line.starts_with("get ")) {
    std::size_t space = line.find(' ');
    return CodecError{CodecErrorKind::BadCommand, "tcp_table: unsupported command " +
                                                      printable_excerpt(line.substr(0, space)) +
                                                      " (expected 'get KEY')"};
  }
  auto key = unquote(line.substr(4), true);
  if (!key) {
    return CodecError{CodecErrorKind::BadEncoding, "tcp_table: key: " + key.error()};
  }
  request.key = std::move(*key);
  return std::nullopt;
}

} // namespace

Expected<TcpTableRequest> parse_tcp_table_request(std::string_view line) {
  TcpTableRequest request;
  if (auto error = decode_request(line, request)) {
    return make_error(std::move(error->message));
  }
  return request;
}

bool TcpTableDecoder::feed(std::string_view bytes, std::vector<TcpTableRequest>& out) {
  if (m_error) {
    return false;
  }
  m_buffer.clear();
  bool ok = m_lines.feed(bytes, m_buffer);
  for (const std::string& line : m_buffer) {
    TcpTableRequest request;
    if (auto error = decode_request(line, request)) {
      m_error = std::move(error);
      return false;
    }
    out.push_back(std::move(request));
  }
  if (!ok) {
    m_error = CodecError{m_lines.error()->kind, "tcp_table: " + m_lines.error()->message};
  }
  return ok;
}

Expected<std::string> encode_tcp_table_request(std::string_view key, std::size_t max_line) {
  std::string line = "get " + tcp_table_quote(key) + "\n";
  if (line.size() > max_line) {
    return make_error("tcp_table: request of " + std::to_string(line.size()) + " bytes exceeds the limit of " +
                      std::to_string(max_line));
  }
  return line;
}

std::string encode_tcp_table_reply(const TcpTableReply& reply, std::size_t max_line) {
  constexpr std::size_t overhead = 5; // "NNN " + '\n'
  std::string quoted = tcp_table_quote(reply.text);
  if (quoted.size() + overhead <= max_line) {
    return reply_line(reply.status, quoted);
  }
  if (reply.status == TcpTableStatus::Ok) {
    // Refuse rather than truncate: cut data could be a different, weaker policy.
    quoted = tcp_table_quote("reply too long (" + std::to_string(quoted.size()) + " bytes)");
    truncate_quoted(quoted, max_line > overhead ? max_line - overhead : 0);
    return reply_line(TcpTableStatus::TryAgain, quoted);
  }
  truncate_quoted(quoted, max_line > overhead ? max_line - overhead : 0);
  return reply_line(reply.status, quoted);
}

Expected<TcpTableReply> parse_tcp_table_reply(std::string_view line) {
  if (line.ends_with('\n')) {
    line.remove_suffix(1);
  }
  if (line.size() < 4 || line[3] != ' ') {
    return make_error("tcp_table: reply " + printable_excerpt(line) + " is not 'CODE TEXT'");
  }
  std::string_view code = line.substr(0, 3);
  TcpTableStatus status;
  if (code == "200") {
    status = TcpTableStatus::Ok;
  } else if (code == "400") {
    status = TcpTableStatus::TryAgain;
  } else if (code == "500") {
    status = TcpTableStatus::NotFound;
  } else {
    return make_error("tcp_table: reply code " + printable_excerpt(code) + " is not 200, 400 or 500");
  }
  auto text = unquote(line.substr(4), true);
  if (!text) {
    return make_error("tcp_table: reply text: " + text.error());
  }
  return TcpTableReply{status, std::move(*text)};
}

} // namespace dane::policyd
