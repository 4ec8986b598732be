// The TSIG key file of `rollover --publish` (contract: dane/tools/dns_update.hpp, parse_tsig_key).
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dane/core/text.hpp"
#include "dane/tools/dns_update.hpp"

namespace dane::tools {

namespace {

constexpr std::size_t k_max_key_file = std::size_t{64} * 1024;

// Tokens of the BIND key syntax: words, quoted strings, and the punctuation { } ;. Comments (#, //, /* */) skipped.
struct Token {
  std::string text;
  bool quoted = false;
};

Expected<std::vector<Token>> tokenize(std::string_view text, std::string_view origin) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (c == '#' || text.substr(i, 2) == "//") {
      i = text.find('\n', i);
      i = i == std::string_view::npos ? text.size() : i;
    } else if (text.substr(i, 2) == "/*") {
      const std::size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) {
        return make_error(std::string(origin) + ": unterminated /* comment");
      }
      i = end + 2;
    } else if (c == '"') {
      const std::size_t end = text.find('"', i + 1);
      if (end == std::string_view::npos) {
        return make_error(std::string(origin) + ": unterminated quoted string");
      }
      tokens.push_back({std::string(text.substr(i + 1, end - i - 1)), true});
      i = end + 1;
    } else if (c == '{' || c == '}' || c == ';') {
      tokens.push_back({std::string(1, c), false});
      ++i;
    } else {
      std::size_t end = i;
      while (end < text.size() && std::isspace(static_cast<unsigned char>(text[end])) == 0 && text[end] != '{' &&
             text[end] != '}' && text[end] != ';' && text[end] != '"') {
        ++end;
      }
      tokens.push_back({std::string(text.substr(i, end - i)), false});
      i = end;
    }
  }
  return tokens;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

// Strict base64 (RFC 4648 §4, padding required): the number of decoded octets, or an error.
Expected<std::size_t> base64_length(std::string_view b64) {
  if (b64.empty()) {
    return make_error("the secret is empty");
  }
  if (b64.size() % 4 != 0) {
    return make_error("the secret is not base64 (length " + std::to_string(b64.size()) + " is not a multiple of 4)");
  }
  std::size_t padding = 0;
  for (std::size_t i = 0; i < b64.size(); ++i) {
    if (b64[i] == '=' && i + 2 >= b64.size() && (padding > 0 || i + 1 == b64.size() || b64[i + 1] == '=')) {
      ++padding;
      continue;
    }
    if (padding > 0 || base64_value(b64[i]) < 0) {
      return make_error("the secret is not base64 (character " + std::to_string(i + 1) + ")");
    }
  }
  return b64.size() / 4 * 3 - padding;
}

bool known_algorithm(const std::string& algorithm) {
  return algorithm == "hmac-sha224" || algorithm == "hmac-sha256" || algorithm == "hmac-sha384" ||
         algorithm == "hmac-sha512";
}

// The statements inside key "NAME" { ... };
Status parse_key_body(const std::vector<Token>& t, std::size_t& i, TsigKey& key, std::string_view origin) {
  const std::string where(origin);
  while (i < t.size() && !(t[i].text == "}" && !t[i].quoted)) {
    const std::string statement = ascii_lower(t[i].text);
    if (i + 2 >= t.size() || t[i + 2].text != ";" || t[i + 2].quoted) {
      return make_error(where + ": expected `" + t[i].text + " VALUE;` in the key block");
    }
    if (statement == "algorithm") {
      key.algorithm = ascii_lower(t[i + 1].text);
      if (!key.algorithm.empty() && key.algorithm.back() == '.') {
        key.algorithm.pop_back();
      }
    } else if (statement == "secret") {
      key.secret = t[i + 1].text;
    } else {
      return make_error(where + ": unknown statement '" + t[i].text + "' in the key block");
    }
    i += 3;
  }
  if (i >= t.size()) {
    return make_error(where + ": the key block is not closed with '};'");
  }
  ++i; // }
  if (i >= t.size() || t[i].text != ";") {
    return make_error(where + ": the key block is not closed with '};'");
  }
  ++i;
  return Ok{};
}

Status check_key(const TsigKey& key, std::string_view origin) {
  const std::string where(origin);
  if (key.algorithm.empty()) {
    return make_error(where + ": key \"" + key.name + "\" has no algorithm");
  }
  if (!known_algorithm(key.algorithm)) {
    return make_error(where + ": key \"" + key.name + "\": unknown or unsupported algorithm '" + key.algorithm +
                      "' (expected hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)");
  }
  if (key.secret.empty()) {
    return make_error(where + ": key \"" + key.name + "\" has no secret (or an empty one)");
  }
  auto length = base64_length(key.secret);
  if (!length) {
    return make_error(where + ": key \"" + key.name + "\": " + length.error());
  }
  if (*length == 0) {
    return make_error(where + ": key \"" + key.name + "\": the secret is empty");
  }
  return Ok{};
}

} // namespace

Expected<TsigKey> parse_tsig_key(std::string_view text, std::string_view origin) {
  const std::string where(origin);
  auto tokens = tokenize(text, origin);
  if (!tokens) {
    return make_error(tokens.error());
  }
  const auto& t = *tokens;
  std::optional<TsigKey> found;
  std::size_t i = 0;
  while (i < t.size()) {
    if (ascii_lower(t[i].text) != "key" || t[i].quoted || i + 2 >= t.size() || t[i + 2].text != "{") {
      return make_error(where + ": expected `key \"NAME\" { algorithm ...; secret \"...\"; };`");
    }
    if (found) {
      return make_error(where + ": more than one key in the file (give a file with one key)");
    }
    TsigKey key;
    key.name = ascii_lower(t[i + 1].text);
    if (!key.name.empty() && key.name.back() == '.') {
      key.name.pop_back();
    }
    if (key.name.empty()) {
      return make_error(where + ": the key has no name");
    }
    i += 3;
    if (auto body = parse_key_body(t, i, key, origin); !body) {
      return make_error(body.error());
    }
    if (auto checked = check_key(key, origin); !checked) {
      return make_error(checked.error());
    }
    found = std::move(key);
  }
  if (!found) {
    return make_error(where + ": no key in the file");
  }
  return *found;
}

Expected<TsigKey> load_tsig_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(path + ": cannot read the key file: " + std::strerror(errno));
  }
  std::string text(k_max_key_file + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > k_max_key_file) {
    return make_error(path + ": the key file is larger than 64 KiB");
  }
  return parse_tsig_key(text, path);
}

} // namespace dane::tools
