// Postfix log parsing for dane-policyctl report: syslog / RFC 3339 syslog / postlogd prefixes, and the
// smtp(8) messages about TLS sessions, certificate verification and deliveries.
#include <ctime>

#include "dane/core/text.hpp"
#include "dane/tools/report.hpp"

namespace dane::tools::report {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int month_number(std::string_view m) {
  static constexpr std::string_view k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == k_months[i]) {
      return i + 1;
    }
  }
  return 0;
}

bool two_digits(std::string_view s, std::size_t pos, int& out) {
  if (pos + 2 > s.size() || !is_digit(s[pos]) || !is_digit(s[pos + 1])) {
    return false;
  }
  out = (s[pos] - '0') * 10 + (s[pos + 1] - '0');
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// "host[addr]:port" at the start of s; returns the number of characters used, 0 on failure.
std::size_t parse_endpoint(std::string_view s, std::string& host, std::string& address, int& port) {
  auto lb = s.find('[');
  if (lb == std::string_view::npos || lb == 0) {
    return 0;
  }
  auto rb = s.find(']', lb);
  if (rb == std::string_view::npos || rb == lb + 1) {
    return 0;
  }
  host = ascii_lower(s.substr(0, lb));
  if (host.find(' ') != std::string::npos) {
    return 0;
  }
  address = std::string(s.substr(lb + 1, rb - lb - 1));
  std::size_t pos = rb + 1;
  port = 25;
  if (pos < s.size() && s[pos] == ':' && pos + 1 < s.size() && is_digit(s[pos + 1])) {
    ++pos;
    int p = 0;
    while (pos < s.size() && is_digit(s[pos]) && p < 100000) {
      p = p * 10 + (s[pos] - '0');
      ++pos;
    }
    if (p == 0 || p > 65535) {
      return 0;
    }
    port = p;
  }
  return pos;
}

// Value of "name=" in a ", "-separated field list; empty view when absent.
std::string_view field(std::string_view text, std::string_view name) {
  std::size_t pos = 0;
  while ((pos = text.find(name, pos)) != std::string_view::npos) {
    if (pos == 0 || text[pos - 1] == ' ') {
      std::size_t start = pos + name.size();
      std::size_t end = text.find(", ", start);
      return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    }
    pos += name.size();
  }
  return {};
}

} // namespace

std::string to_string(TlsLevel level) {
  switch (level) {
  case TlsLevel::Anonymous:
    return "Anonymous";
  case TlsLevel::Untrusted:
    return "Untrusted";
  case TlsLevel::Trusted:
    return "Trusted";
  case TlsLevel::Verified:
    return "Verified";
  }
  return "unknown";
}

MaillogPrefixParser::MaillogPrefixParser(MaillogOptions options) : m_options(options) {
  m_reference_year = std::stoll(format_rfc3339(m_options.reference).substr(0, 4));
}

TimePoint MaillogPrefixParser::classic_time(int month, int day, int hour, int minute, int second, std::int64_t usec) {
  auto compute = [&](std::int64_t year) -> TimePoint {
    std::int64_t local =
        unix_seconds(year, static_cast<unsigned>(month), static_cast<unsigned>(day), hour, minute, second);
    if (!m_options.local_time_is_utc) {
      std::int64_t key = ((year * 100 + month) * 100 + day) * 100 + hour;
      if (key != m_cached_key) {
        std::tm tm{};
        tm.tm_year = static_cast<int>(year - 1900);
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_isdst = -1;
        std::time_t utc = std::mktime(&tm);
        std::int64_t local_hour = unix_seconds(year, static_cast<unsigned>(month), static_cast<unsigned>(day), hour);
        m_cached_offset = utc == static_cast<std::time_t>(-1) ? 0 : static_cast<std::int64_t>(utc) - local_hour;
        m_cached_key = key;
      }
      local += m_cached_offset;
    }
    return local * k_usec_per_sec + usec;
  };
  TimePoint t = compute(m_reference_year);
  if (t > m_options.reference + 86400 * k_usec_per_sec) {
    t = compute(m_reference_year - 1);
  }
  return t;
}

Expected<TimePoint> MaillogPrefixParser::parse_classic_stamp(std::string_view line, std::size_t& pos) {
  // "Mon DD HH:MM:SS[.ffffff] " with DD space- or zero-padded.
  if (line.size() < 16) {
    return make_error("line too short for a syslog time stamp");
  }
  int month = month_number(line.substr(0, 3));
  if (month == 0 || line[3] != ' ') {
    return make_error("no syslog time stamp (want 'Mon DD HH:MM:SS' or RFC 3339)");
  }
  pos = 4;
  int day = 0;
  if (line[pos] == ' ' && is_digit(line[pos + 1])) {
    day = line[pos + 1] - '0';
    pos += 2;
  } else if (two_digits(line, pos, day)) {
    pos += 2;
  } else if (is_digit(line[pos]) && line[pos + 1] == ' ') {
    day = line[pos] - '0';
    pos += 1;
  } else {
    return make_error("bad day in the syslog time stamp");
  }
  int hh = 0, mm = 0, ss = 0;
  if (pos >= line.size() || line[pos] != ' ' || !two_digits(line, pos + 1, hh) || line.size() < pos + 9 ||
      line[pos + 3] != ':' || !two_digits(line, pos + 4, mm) || line[pos + 6] != ':' ||
      !two_digits(line, pos + 7, ss) || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) {
    return make_error("bad time of day in the syslog time stamp");
  }
  pos += 9;
  std::int64_t usec = 0;
  if (pos < line.size() && line[pos] == '.') {
    ++pos;
    std::int64_t scale = 100000;
    while (pos < line.size() && is_digit(line[pos])) {
      if (scale > 0) {
        usec += (line[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
  }
  if (pos >= line.size() || line[pos] != ' ') {
    return make_error("no space after the time stamp");
  }
  ++pos;
  return classic_time(month, day, hh, mm, ss > 59 ? 59 : ss, usec);
}

Expected<MaillogPrefix> MaillogPrefixParser::parse(std::string_view line) {
  MaillogPrefix out;
  std::size_t pos = 0;
  if (line.size() >= 20 && is_digit(line[0]) && line[4] == '-') {
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) {
      return make_error("no space after the time stamp");
    }
    auto t = parse_rfc3339(line.substr(0, sp));
    if (!t) {
      return make_error("bad time stamp: " + t.error());
    }
    out.time = *t;
    pos = sp + 1;
  } else {
    auto t = parse_classic_stamp(line, pos);
    if (!t) {
      return make_error(t.error());
    }
    out.time = *t;
  }
  auto hs = line.find(' ', pos);
  if (hs == std::string_view::npos || hs == pos) {
    return make_error("no host name after the time stamp");
  }
  out.host = line.substr(pos, hs - pos);
  pos = hs + 1;
  // program[pid]: text   or   program: text
  std::size_t p = pos;
  while (p < line.size() && line[p] != '[' && line[p] != ':' && line[p] != ' ') {
    ++p;
  }
  if (p == pos || p >= line.size() || line[p] == ' ') {
    return make_error("no 'program[pid]:' after the host name");
  }
  out.program = line.substr(pos, p - pos);
  if (line[p] == '[') {
    auto rb = line.find(']', p);
    if (rb == std::string_view::npos) {
      return make_error("unterminated [pid]");
    }
    out.pid = line.substr(p + 1, rb - p - 1);
    p = rb + 1;
  }
  if (p >= line.size() || line[p] != ':') {
    return make_error("no ':' after 'program[pid]'");
  }
  ++p;
  if (p < line.size() && line[p] == ' ') {
    ++p;
  }
  out.text = line.substr(p);
  return out;
}

bool is_smtp_client_program(std::string_view program) {
  auto slash = program.rfind('/');
  if (slash == std::string_view::npos || !starts_with(program, "postfix")) {
    return false;
  }
  auto name = program.substr(slash + 1);
  return name == "smtp" || name == "lmtp";
}

namespace {

// "QUEUEID: to=<...>, relay=..., dsn=..., status=... (detail)"; an empty optional for any other line.
Expected<std::optional<SmtpMessage>> parse_delivery(std::string_view text) {
  // "QUEUEID: to=<...>, ..."
  std::size_t q = 0;
  while (q < text.size() && ((text[q] >= '0' && text[q] <= '9') || (text[q] >= 'A' && text[q] <= 'Z') ||
                             (text[q] >= 'a' && text[q] <= 'z'))) {
    ++q;
  }
  if (q >= 5 && starts_with(text.substr(q), ": to=<")) {
    Delivery d;
    d.queue_id = std::string(text.substr(0, q));
    auto fields = text.substr(q + 2);
    auto to = fields.substr(4);
    auto gt = to.find(">, ");
    if (gt == std::string_view::npos) {
      return make_error("delivery line with unterminated to=<...>");
    }
    auto rcpt = to.substr(0, gt);
    auto at = rcpt.rfind('@');
    if (at != std::string_view::npos) {
      d.recipient_domain = ascii_lower(rcpt.substr(at + 1));
    }
    auto relay = field(fields, "relay=");
    if (!relay.empty() && relay != "none") {
      int port = 0;
      if (parse_endpoint(relay, d.relay_host, d.relay_address, port) != 0) {
        d.relay_port = port;
      }
    }
    d.dsn = std::string(field(fields, "dsn="));
    auto status = field(fields, "status=");
    if (status.empty()) {
      return make_error("delivery line without status=");
    }
    auto sp = status.find(' ');
    d.status = std::string(status.substr(0, sp));
    // The detail is everything after "status=X (" up to the final ')', even if it contains ", ".
    auto spos = fields.find("status=");
    auto open = fields.find(" (", spos);
    if (open != std::string_view::npos) {
      auto detail = fields.substr(open + 2);
      if (!detail.empty() && detail.back() == ')') {
        detail.remove_suffix(1);
      }
      d.detail = std::string(detail);
    }
    return std::optional<SmtpMessage>(std::move(d));
  }
  return std::optional<SmtpMessage>();
}

} // namespace

Expected<std::optional<SmtpMessage>> parse_smtp_message(std::string_view text) {
  static constexpr std::pair<std::string_view, TlsLevel> k_levels[] = {
      {"Verified ", TlsLevel::Verified},
      {"Trusted ", TlsLevel::Trusted},
      {"Untrusted ", TlsLevel::Untrusted},
      {"Anonymous ", TlsLevel::Anonymous},
  };
  constexpr std::string_view k_established = "TLS connection established to ";
  for (const auto& [prefix, level] : k_levels) {
    if (starts_with(text, prefix) && starts_with(text.substr(prefix.size()), k_established)) {
      TlsEstablished e;
      e.level = level;
      auto rest = text.substr(prefix.size() + k_established.size());
      std::size_t used = parse_endpoint(rest, e.host, e.address, e.port);
      if (used == 0) {
        return make_error("TLS connection line without 'host[address]:port'");
      }
      rest = rest.substr(used);
      if (starts_with(rest, ": ")) {
        rest = rest.substr(2);
        e.protocol = std::string(rest.substr(0, rest.find(' ')));
      }
      return std::optional<SmtpMessage>(std::move(e));
    }
  }
  if (starts_with(text, "warning: ")) {
    text = text.substr(9);
    // "TLS policy lookup for NEXTHOP/MXHOST: REASON" (smtp_tls_policy.c, Postfix 2.11-3.10)
    constexpr std::string_view k_policy = "TLS policy lookup for ";
    if (starts_with(text, k_policy)) {
      auto rest = text.substr(k_policy.size());
      auto colon = rest.find(": ");
      auto slash = rest.substr(0, colon).rfind('/');
      if (colon == std::string_view::npos || slash == std::string_view::npos || slash == 0 || slash + 1 == colon) {
        return make_error("TLS policy lookup line without 'nexthop/host: reason'");
      }
      PolicyLookupFailed f;
      f.destination = ascii_lower(rest.substr(0, slash));
      f.host = ascii_lower(rest.substr(slash + 1, colon - slash - 1));
      f.reason = std::string(rest.substr(colon + 2));
      return std::optional<SmtpMessage>(std::move(f));
    }
    // "socketmap:unix:PATH:NAME socketmap server temporary error: TEXT" (dict_sockmap.c)
    constexpr std::string_view k_table_error = " socketmap server temporary error: ";
    if (auto pos = text.find(k_table_error); pos != std::string_view::npos) {
      return std::optional<SmtpMessage>(PolicyTableError{std::string(text.substr(pos + k_table_error.size()))});
    }
  }
  constexpr std::string_view k_verify = "server certificate verification failed for ";
  if (starts_with(text, k_verify)) {
    VerifyFailed v;
    auto rest = text.substr(k_verify.size());
    std::size_t used = parse_endpoint(rest, v.host, v.address, v.port);
    if (used == 0) {
      return make_error("verification failure line without 'host[address]:port'");
    }
    rest = rest.substr(used);
    if (starts_with(rest, ": ")) {
      rest = rest.substr(2);
    }
    v.reason = std::string(rest);
    return std::optional<SmtpMessage>(std::move(v));
  }
  return parse_delivery(text);
}

} // namespace dane::tools::report
