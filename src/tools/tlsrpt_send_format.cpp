// tlsrpt-send's formats: the RFC 8460 §3 TXT record and its rua URIs, gzip, base64, the §5.1 file
// name and the §5.3 MIME message. Pure functions (no I/O).
#include <array>
#include <cstdio>
#include <ctime>

#include <zlib.h>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"
#include "dane/tools/tlsrpt_send.hpp"

namespace dane::tools::tlsrpt {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_wsp(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// tlsrpt-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool valid_ext_name(std::string_view n) {
  if (n.empty() || n.size() > 32 || !is_alnum(n.front())) {
    return false;
  }
  for (char c : n) {
    if (!is_alnum(c) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}
// tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
bool valid_ext_value(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == ';' || c == '=') {
      return false;
    }
  }
  return true;
}

// A URI of the rua list: printable ASCII, no space, no ";" (the field delimiter), no ","/"!"
// unencoded (§3: they must be %-encoded inside a URI).
bool valid_uri_text(std::string_view u) {
  if (u.empty()) {
    return false;
  }
  for (char c : u) {
    auto x = static_cast<unsigned char>(c);
    if (x <= 0x20 || x >= 0x7f || c == ';' || c == '!') {
      return false;
    }
  }
  return u.find(':') != std::string_view::npos;
}

Expected<std::vector<std::string>> parse_rua_list(std::string_view value) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = value.find(',', pos);
    std::string_view uri = trim_wsp(value.substr(pos, comma == std::string_view::npos ? value.npos : comma - pos));
    if (!valid_uri_text(uri)) {
      return make_error("rua: '" + quote_untrusted(uri) + "' is not a URI");
    }
    out.emplace_back(uri);
    if (comma == std::string_view::npos) {
      return out;
    }
    pos = comma + 1;
  }
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    if (!is_alnum(c) && c != '-' && c != '_') {
      return false;
    }
    if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

Expected<RuaTarget> parse_https(std::string_view uri) {
  RuaTarget t;
  t.kind = RuaTarget::Kind::Https;
  t.uri = std::string(uri);
  std::string_view rest = uri.substr(8);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos) {
    t.target = std::string(rest.substr(end));
    if (t.target.front() == '?') {
      t.target.insert(0, "/");
    }
    if (auto hash = t.target.find('#'); hash != std::string::npos) {
      t.target.erase(hash);
    }
  }
  if (authority.find('@') != std::string_view::npos) {
    return make_error("https URI with user information");
  }
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    unsigned long value = 0;
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        (value = std::stoul(std::string(port))) == 0 || value > 65535) {
      return make_error("https URI with a bad port");
    }
    t.port = static_cast<std::uint16_t>(value);
    authority = authority.substr(0, colon);
  }
  if (!authority.empty() && authority.back() == '.') {
    authority.remove_suffix(1);
  }
  t.host = ascii_lower(authority);
  if (!valid_dns_name(t.host)) {
    return make_error("https URI without a DNS host name");
  }
  return t;
}

} // namespace

Expected<TlsrptRecord> parse_tlsrpt_record(std::string_view text) {
  constexpr std::string_view k_version = "v=TLSRPTv1";
  if (text.substr(0, k_version.size()) != k_version) {
    return make_error("does not start with v=TLSRPTv1");
  }
  std::string_view rest = text.substr(k_version.size());
  TlsrptRecord record;
  bool have_rua = false;
  bool any_field = false;
  while (!rest.empty()) {
    // field-delim = *WSP ";" *WSP
    std::string_view lead = trim_wsp(rest);
    if (lead.empty() || lead.front() != ';') {
      return make_error("expected ';' after " + std::string(any_field ? "a field" : "v=TLSRPTv1"));
    }
    rest = trim_wsp(lead.substr(1));
    if (rest.empty()) {
      break; // a trailing delimiter
    }
    std::size_t semi = rest.find(';');
    std::string_view field = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi);
    // Trailing spaces before the next ';' belong to the delimiter.
    field = trim_wsp(field);
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      return make_error("field '" + quote_untrusted(field) + "' has no '='");
    }
    std::string_view name = field.substr(0, eq);
    std::string_view value = field.substr(eq + 1);
    any_field = true;
    if (name == "rua") {
      if (have_rua) {
        return make_error("rua given twice");
      }
      auto list = parse_rua_list(value);
      if (!list) {
        return make_error(list.error());
      }
      record.rua = std::move(*list);
      have_rua = true;
      continue;
    }
    if (!valid_ext_name(name) || !valid_ext_value(value)) {
      return make_error("field '" + quote_untrusted(field) + "' is not name=value");
    }
  }
  if (!have_rua) {
    return make_error("no rua field");
  }
  return record;
}

Expected<TlsrptRecord> select_tlsrpt_record(const std::vector<std::string>& records) {
  std::vector<const std::string*> candidates;
  for (const auto& r : records) {
    if (r.rfind("v=TLSRPTv1", 0) == 0) {
      candidates.push_back(&r);
    }
  }
  if (candidates.empty()) {
    return make_error("no v=TLSRPTv1 TXT record");
  }
  if (candidates.size() > 1) {
    return make_error(std::to_string(candidates.size()) + " v=TLSRPTv1 TXT records (RFC 8460 §3 wants one)");
  }
  auto parsed = parse_tlsrpt_record(*candidates.front());
  if (!parsed) {
    return make_error("TXT record " + quote_untrusted(*candidates.front()) + ": " + parsed.error());
  }
  return parsed;
}

Expected<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return make_error("truncated %-escape");
    }
    int hi = hex_digit_value(text[i + 1]);
    int lo = hex_digit_value(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return make_error("bad %-escape");
    }
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') {
      return make_error("%00 in a URI");
    }
    out += c;
    i += 2;
  }
  return out;
}

Expected<RuaTarget> parse_rua(std::string_view uri) {
  const std::string lower = ascii_lower(uri.substr(0, 8));
  if (lower.rfind("mailto:", 0) == 0) {
    std::string_view addr = uri.substr(7);
    if (addr.find('?') != std::string_view::npos) {
      return make_error("mailto URI with header fields");
    }
    auto decoded = percent_decode(addr);
    if (!decoded) {
      return make_error("mailto URI: " + decoded.error());
    }
    const std::string& a = *decoded;
    auto at = a.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 >= a.size() || !valid_dns_name(a.substr(at + 1)) ||
        a.find_first_of(" \t\r\n<>,\"") != std::string::npos || a.front() == '-') {
      return make_error("mailto URI without a usable address");
    }
    RuaTarget t;
    t.kind = RuaTarget::Kind::Mailto;
    t.uri = std::string(uri);
    t.address = a;
    return t;
  }
  if (lower == "https://") {
    return parse_https(uri);
  }
  return make_error("unsupported URI scheme (mailto: and https: are)");
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper.
  if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return {};
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Expected<std::string> gunzip(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) {
    return make_error("zlib: inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  std::array<char, 16384> buf{};
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (out.size() > (std::size_t{64} << 20)) {
      rc = Z_MEM_ERROR;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return make_error("not a complete gzip stream");
  }
  return out;
}

std::string base64_mime(std::string_view data) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t line = 0;
  auto put = [&](char c) {
    out += c;
    if (++line == 76) {
      out += "\r\n";
      line = 0;
    }
  };
  for (std::size_t i = 0; i < data.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size()) {
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    }
    if (i + 2 < data.size()) {
      n |= static_cast<unsigned char>(data[i + 2]);
    }
    put(k_alphabet[(n >> 18) & 63]);
    put(k_alphabet[(n >> 12) & 63]);
    put(i + 1 < data.size() ? k_alphabet[(n >> 6) & 63] : '=');
    put(i + 2 < data.size() ? k_alphabet[n & 63] : '=');
  }
  if (line != 0) {
    out += "\r\n";
  }
  return out;
}

std::string report_file_name(const std::string& submitter, const std::string& domain, UnixMicros begin, UnixMicros end,
                             const std::string& report_id) {
  std::string unique;
  std::uint64_t h = report::name_hash(report_id);
  static constexpr char k_hex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) {
    unique += k_hex[(h >> shift) & 15];
  }
  return submitter + "!" + domain + "!" + std::to_string(begin / k_usec_per_sec) + "!" +
         std::to_string(end / k_usec_per_sec) + "!" + unique + ".json.gz";
}

std::string rfc5322_date(UnixMicros t) {
  std::time_t secs = static_cast<std::time_t>(t / k_usec_per_sec);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static constexpr std::array<const char*, 7> k_days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                k_days.at(static_cast<std::size_t>(tm.tm_wday)), tm.tm_mday,
                k_months.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string build_report_mail(const MailFields& f, std::string_view gzipped) {
  const std::string boundary = "tlsrpt-" + f.message_id.substr(0, f.message_id.find('@'));
  std::string m;
  m += "From: " + f.from + "\r\n";
  m += "To: " + f.to + "\r\n";
  m += "Date: " + f.date + "\r\n";
  m += "Message-ID: <" + f.message_id + ">\r\n";
  m += "Subject: Report Domain: " + f.domain + " Submitter: " + f.submitter + " Report-ID: <" + f.report_id + ">\r\n";
  m += "TLS-Report-Domain: " + f.domain + "\r\n";
  m += "TLS-Report-Submitter: " + f.submitter + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a multi-part message in MIME format.\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";
  m += "This is an aggregate TLS report from " + f.submitter + " for " + f.domain + "\r\n";
  m += "(RFC 8460), covering " + format_rfc3339(f.begin) + " to " + format_rfc3339(f.end) + ".\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: application/tlsrpt+gzip; name=\"" + f.file_name + "\"\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment; filename=\"" + f.file_name + "\"\r\n\r\n";
  m += base64_mime(gzipped);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

} // namespace dane::tools::tlsrpt
