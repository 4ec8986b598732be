// Warm restarts: the cache file's format and its safe reading and atomic writing (cache_file.hpp);
// the keeper that loads and saves it is in cache_file_keeper.cpp.
#include "dane/daemon/cache_file.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <span>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dane/core/fd.hpp"
#include "dane/core/private_file.hpp"
#include "dane/core/text.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::policyd {
namespace {

constexpr std::string_view k_magic = "dane-policyd cache-file 1";
constexpr std::string_view k_magic_prefix = "dane-policyd cache-file ";
constexpr std::size_t k_identity_file_max = std::size_t{1024} * 1024;

std::string sha256_hex(std::string_view bytes) {
  const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  auto digest = tlsa_digest(TlsaMatchingType::Sha2_256, data);
  return digest ? to_hex(*digest) : std::string();
}

// "name=value sha256=HEX|unreadable" for a configuration file the resolver reads.
std::string file_identity(const std::string& name, const std::string& path) {
  std::string out = name + "=" + path;
  if (path.empty()) {
    return out + "\n";
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  std::string content;
  bool ok = static_cast<bool>(fd);
  char buf[8192];
  while (ok) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0 || content.size() > k_identity_file_max) {
      ok = n == 0;
      break;
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  return out + " sha256=" + (ok ? sha256_hex(content) : std::string("unreadable")) + "\n";
}

void append_field(std::string& out, std::string_view text) {
  out += ' ';
  if (text.empty()) {
    out += '-';
    return;
  }
  if (text == "-") {
    out += "%2D";
    return;
  }
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      append_percent_escape(out, c);
    } else {
      out += ch;
    }
  }
}

Expected<std::string> decode_field(std::string_view field) {
  if (field == "-") {
    return std::string();
  }
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return make_error("a control byte, space or non-ASCII byte in a text field");
    }
    if (c != '%') {
      out += field[i];
      continue;
    }
    if (i + 2 >= field.size()) {
      return make_error("a truncated %XX escape");
    }
    const int hi = hex_digit_value(field[i + 1]);
    const int lo = hex_digit_value(field[i + 2]);
    if (hi < 0 || lo < 0) {
      return make_error("a malformed %XX escape");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <typename T> Expected<T> decode_number(std::string_view field, T min, T max) {
  T v{};
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || p != field.data() + field.size() || v < min || v > max ||
      (field.size() > 1 && field[0] == '0')) {
    return make_error("'" + quote_untrusted(field, 40) + "' is not a number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return v;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= line.size()) {
    const std::size_t end = line.find(' ', start);
    out.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return out;
}

Expected<PolicyKind> decode_policy(std::string_view name) {
  for (auto k : {PolicyKind::DaneOnly, PolicyKind::Dane, PolicyKind::Encrypt, PolicyKind::Fingerprint,
                 PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    if (name == to_string(k)) {
      return k;
    }
  }
  return make_error("unknown policy '" + quote_untrusted(name, 40) + "'");
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// An answer this daemon could have cached for `policy` (never TEMP: temporary answers are not saved).
bool answer_fits(PolicyKind policy, std::string_view answer) {
  if (policy == PolicyKind::TempFail) {
    return false;
  }
  if (policy == PolicyKind::NotFound) {
    return starts_with(answer, "NOTFOUND");
  }
  const std::string word = "OK " + to_string(policy);
  return answer == word || starts_with(answer, word + " ");
}

bool printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f;
  });
}

// One "E ..." line (without its '\n').
Expected<CacheFileEntry> parse_entry(std::string_view line) {
  auto f = split_spaces(line);
  if (f.size() != 8 || f[0] != "E") {
    return make_error("not an entry line (E EXPIRES_MS LIFETIME_S POLICY KEY ANSWER REASON WOULD)");
  }
  CacheFileEntry e;
  auto expires = decode_number<std::int64_t>(f[1], 0, 4'102'444'800'000); // 2100-01-01
  if (!expires) {
    return make_error("expiry: " + expires.error());
  }
  auto lifetime = decode_number<std::uint32_t>(f[2], 0, 0x7fffffffu);
  if (!lifetime) {
    return make_error("lifetime: " + lifetime.error());
  }
  auto policy = decode_policy(f[3]);
  if (!policy) {
    return make_error(policy.error());
  }
  e.expires_ms = *expires;
  e.lifetime_s = *lifetime;
  e.policy = *policy;
  std::string* texts[] = {&e.key, &e.answer, &e.reason, &e.would_answer};
  for (std::size_t i = 0; i < 4; ++i) {
    auto text = decode_field(f[4 + i]);
    if (!text) {
      return make_error(text.error());
    }
    *texts[i] = std::move(*text);
  }
  if (e.key.empty() || e.key != ascii_lower(e.key) || !printable(e.key)) {
    return make_error("the key is not a normalised lookup key");
  }
  auto hop = parse_next_hop(e.key);
  if (!hop || hop->parent_key) {
    return make_error("the key is not a destination");
  }
  if (!printable(e.answer) || !printable(e.would_answer) || !answer_fits(e.policy, e.answer)) {
    return make_error("the answer does not fit policy " + to_string(e.policy));
  }
  if (starts_with(e.would_answer, "TEMP")) {
    return make_error("a temporary answer (never saved)");
  }
  return e;
}

// The header lines; `lines` are the file's lines before the checksum line.
Status parse_header(const std::vector<std::string_view>& lines, CacheFileContents& out, std::size_t& count) {
  if (lines.size() < 5) {
    return make_error("truncated header");
  }
  auto field = [&](std::size_t i, std::string_view name) -> Expected<std::string_view> {
    const std::string prefix = std::string(name) + " ";
    if (!starts_with(lines[i], prefix)) {
      return make_error("line " + std::to_string(i + 1) + ": expected '" + std::string(name) + " ...'");
    }
    return lines[i].substr(prefix.size());
  };
  auto identity = field(1, "identity");
  auto mode = field(2, "mode");
  auto saved = field(3, "saved");
  auto entries = field(4, "entries");
  for (const auto* f : {&identity, &mode, &saved, &entries}) {
    if (!*f) {
      return make_error(f->error());
    }
  }
  if (identity->size() != 64 || !std::all_of(identity->begin(), identity->end(),
                                             [](char c) { return hex_digit_value(c) >= 0 && ascii_lower(c) == c; })) {
    return make_error("line 2: the identity is not 64 lowercase hex digits");
  }
  out.identity = std::string(*identity);
  auto m = parse_mode(std::string(*mode));
  if (!m) {
    return make_error("line 3: " + m.error());
  }
  out.mode = *m;
  auto s = decode_number<std::int64_t>(*saved, 0, 4'102'444'800'000);
  auto n = decode_number<std::size_t>(*entries, 0, k_cache_file_max_entries);
  if (!s || !n) {
    return make_error(!s ? "line 4: " + s.error() : "line 5: " + n.error());
  }
  out.saved_ms = *s;
  count = *n;
  return Ok{};
}

} // namespace

std::string cache_identity(const Settings& settings) {
  std::string text = "dane-policyd cache identity 1\n";
  text += "mode=" + to_string(settings.mode) + "\n";
  text += "fingerprint-digest=" + settings.fingerprint_digest + "\n";
  text += "state-dir=" + settings.state_dir + "\n";
  text += file_identity("unbound-config", settings.resolver.unbound_config);
  text += file_identity("trust-anchor-file",
                        settings.resolver.trust_anchor_file.empty() && settings.resolver.unbound_config.empty()
                            ? std::string(k_default_trust_anchor_file)
                            : settings.resolver.trust_anchor_file);
  for (const auto& f : settings.resolver.forwarders) {
    text += "forwarder=" + f + "\n";
  }
  // --mta-sts changes the answers of destinations without DANE: a cache saved without it must not answer
  // NOTFOUND where an enforce policy now applies (added only when on, so older files stay valid without it).
  if (settings.mta_sts) {
    text += "mta-sts=yes\n";
    text += file_identity("mta-sts-ca-file", settings.mta_sts_ca_file);
  }
  return sha256_hex(text);
}

std::string serialize_cache_file(const CacheFileContents& contents) {
  std::string out;
  out.reserve(256 + contents.entries.size() * 160);
  out += k_magic;
  out += "\nidentity " + contents.identity + "\nmode " + to_string(contents.mode) + "\nsaved " +
         std::to_string(contents.saved_ms) + "\nentries " + std::to_string(contents.entries.size()) + "\n";
  for (const auto& e : contents.entries) {
    out += "E " + std::to_string(e.expires_ms) + " " + std::to_string(e.lifetime_s) + " " + to_string(e.policy);
    append_field(out, e.key);
    append_field(out, e.answer);
    append_field(out, e.reason);
    append_field(out, e.would_answer);
    out += '\n';
  }
  out += "sha256 " + sha256_hex(out) + "\n";
  return out;
}

Expected<CacheFileContents> parse_cache_file(std::string_view text) {
  if (!starts_with(text, k_magic_prefix)) {
    return make_error("not a dane-policyd cache file (no '" + std::string(k_magic_prefix) + "' line)");
  }
  if (!starts_with(text, std::string(k_magic) + "\n")) {
    return make_error("format version '" + quote_untrusted(text.substr(k_magic_prefix.size(), 20), 20) +
                      "' is not 1 (written by another version)");
  }
  if (text.empty() || text.back() != '\n') {
    return make_error("truncated (the last line has no end)");
  }
  // The checksum line is the last one; it covers every byte before it.
  const std::size_t last = text.rfind('\n', text.size() - 2);
  const std::size_t sum_at = last == std::string_view::npos ? 0 : last + 1;
  const std::string_view sum_line = text.substr(sum_at, text.size() - sum_at - 1);
  if (!starts_with(sum_line, "sha256 ")) {
    return make_error("truncated (no checksum line at the end)");
  }
  if (sum_line.substr(7) != sha256_hex(text.substr(0, sum_at))) {
    return make_error("checksum mismatch (the file was changed or damaged)");
  }
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < sum_at;) {
    const std::size_t end = text.find('\n', start);
    if (end - start > k_cache_file_max_line) {
      return make_error("line " + std::to_string(lines.size() + 1) + " is longer than " +
                        std::to_string(k_cache_file_max_line) + " bytes");
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  CacheFileContents out;
  std::size_t count = 0;
  if (auto st = parse_header(lines, out, count); !st) {
    return make_error(st.error());
  }
  if (lines.size() != 5 + count) {
    return make_error("the header announces " + std::to_string(count) + " entries, the file has " +
                      std::to_string(lines.size() - 5));
  }
  out.entries.reserve(count);
  for (std::size_t i = 5; i < lines.size(); ++i) {
    auto e = parse_entry(lines[i]);
    if (!e) {
      return make_error("line " + std::to_string(i + 1) + ": " + e.error());
    }
    out.entries.push_back(std::move(*e));
  }
  return out;
}

Expected<std::optional<std::string>> read_cache_file(const std::string& path, std::size_t max_bytes) {
  return read_private_file(path, PrivateFileRules{max_bytes, std::nullopt, true});
}

Status write_cache_file(const std::string& path, std::string_view content) {
  return write_file_atomically(path, content);
}

} // namespace dane::policyd
