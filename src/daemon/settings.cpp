// The command-line and config-file parser of dane-policyd (the options themselves: settings_table.cpp).
#include "dane/daemon/settings.hpp"
#include "dane/core/text.hpp"
#include "settings_table.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>

#include <sys/stat.h>

#include <boost/program_options.hpp>

#include "dane/daemon/resolver_options.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"

#ifndef DANE_DEFAULT_CONFIG
#error "DANE_DEFAULT_CONFIG (the default configuration file) is set by policyd/CMakeLists.txt"
#endif

namespace po = boost::program_options;

namespace dane::policyd {
namespace {

po::options_description make_description() {
  // Wide enough that no option name or path in a help text is ever split across lines
  // (man/dane-policyd.8 is checked against this output).
  po::options_description desc("Options (every option may also be set in the --config file, same name without --)", 120,
                               72);
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "check-config",
      "check the configuration file and the command line (values, files, directories, users, the resolver's "
      "trust anchor and unbound config), print each problem as FILE:LINE: message, and exit: 0 when it is fine, "
      "2 otherwise; binds nothing and sends no DNS query");
  for (const auto& s : setting_specs()) {
    std::string help = s.help;
    if (std::string_view(s.name) == "config") {
      help += "; default: " + std::string(default_config_file()) + " when that file exists (--config /dev/null: none)";
    }
    switch (s.type) {
    case SettingType::Flag:
      desc.add_options()(s.name, po::bool_switch(), help.c_str());
      break;
    case SettingType::String:
    case SettingType::Unsigned: {
      auto* v = po::value<std::string>()->value_name(s.value_name);
      if (*s.default_value != '\0') {
        v->default_value(s.default_value);
      }
      desc.add_options()(s.name, v, help.c_str());
      break;
    }
    case SettingType::List:
      desc.add_options()(s.name, po::value<std::vector<std::string>>()->value_name(s.value_name), help.c_str());
      break;
    }
  }
  add_resolver_options(desc);
  return desc;
}

// The shared resolver options alone (for config-file values).
po::options_description resolver_description() {
  po::options_description desc;
  add_resolver_options(desc);
  return desc;
}

bool is_resolver_option(std::string_view name) {
  static const po::options_description desc = resolver_description();
  return desc.find_nothrow(std::string(name), false) != nullptr;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

struct ConfigValue {
  std::vector<std::string> values;
  int line = 0;
};

// Reads the INI file ourselves so that every error names FILE:LINE.
// What kind of file system object `st` is, for messages ("a directory").
std::string file_kind(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) {
    return "a directory";
  }
  if (S_ISFIFO(st.st_mode)) {
    return "a FIFO";
  }
  if (S_ISSOCK(st.st_mode)) {
    return "a socket";
  }
  if (S_ISBLK(st.st_mode)) {
    return "a block device";
  }
  return "not a regular file";
}

Expected<std::map<std::string, ConfigValue>> read_config_file(const std::string& path) {
  // A directory opens as an empty stream: refuse it (and FIFOs, which would block) by name.
  // Character devices pass, so that --config /dev/null means "no settings".
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(path + ": cannot read config file: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
    return make_error(path + ": config file is " + file_kind(st) + ", expected a file");
  }
  // Read whole with a bound (a character device such as /dev/zero never ends; getline grew without one).
  auto text = read_text_file(path, k_max_pem_file_bytes);
  if (!text) {
    return make_error(path + ": cannot read config file: " + text.error());
  }
  std::istringstream in(*text);
  std::map<std::string, ConfigValue> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') {
      continue;
    }
    const std::string where = path + ":" + std::to_string(number);
    auto eq = t.find('=');
    if (eq == std::string::npos) {
      return make_error(where + ": expected 'name = value', got '" + t + "'");
    }
    std::string name = trim(std::string_view(t).substr(0, eq));
    std::string value = trim(std::string_view(t).substr(eq + 1));
    if (name.size() >= 2 && name.rfind("--", 0) == 0) {
      name = name.substr(2);
    }
    if (name.empty()) { // "= value": an empty name matches every option (Boost throws "ambiguous")
      return make_error(where + ": expected 'name = value', got '" + t + "'");
    }
    const SettingSpec* spec = find_spec(name);
    if ((spec == nullptr && !is_resolver_option(name)) || name == "config") {
      return make_error(where + ": unknown option '" + name + "'");
    }
    auto& cv = out[name];
    if (spec == nullptr) { // resolver option: the shared parser converts it
      if (name != "forwarder") {
        cv.values.clear();
      }
      cv.values.push_back(value);
      cv.line = number;
      continue;
    }
    if (spec->type != SettingType::List) {
      cv.values.clear();
    }
    if (spec->type == SettingType::Flag) {
      std::string lower = ascii_lower(value);
      if (lower == "yes" || lower == "true" || lower == "on" || lower == "1" || lower.empty()) {
        value = "1";
      } else if (lower == "no" || lower == "false" || lower == "off" || lower == "0") {
        value = "0";
      } else {
        return make_error(where + ": option '" + name + "': '" + value + "' is not yes/no");
      }
    }
    cv.values.push_back(value);
    cv.line = number;
  }
  return out;
}

} // namespace

Expected<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint e;
  e.text = std::string(text);
  if (text.rfind("unix:", 0) == 0) {
    e.kind = Endpoint::Kind::Unix;
    e.path = std::string(text.substr(5));
    if (e.path.empty() || e.path[0] != '/') {
      return make_error("'" + e.text + "': unix socket path must be absolute");
    }
    if (e.path.size() > 100) {
      return make_error("'" + e.text + "': unix socket path too long");
    }
    return e;
  }
  if (text.rfind("inet:", 0) == 0) {
    std::string_view rest = text.substr(5);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      return make_error("'" + e.text + "': expected inet:HOST:PORT");
    }
    std::string host(rest.substr(0, colon));
    std::string port(rest.substr(colon + 1));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    auto p = to_unsigned(port, 0, 65535);
    if (host.empty() || !p) {
      return make_error("'" + e.text + "': expected inet:HOST:PORT with a port from 0 to 65535");
    }
    e.kind = Endpoint::Kind::Inet;
    e.host = host;
    e.port = static_cast<std::uint16_t>(*p);
    return e;
  }
  return make_error("'" + e.text + "': expected unix:PATH or inet:HOST:PORT");
}

std::string to_string(PolicyFailureAction action) {
  switch (action) {
  case PolicyFailureAction::Dunno:
    return "dunno";
  case PolicyFailureAction::DeferIfPermit:
    return "defer_if_permit";
  case PolicyFailureAction::Warn:
    return "warn";
  case PolicyFailureAction::Prepend:
    return "prepend";
  }
  return "dunno";
}

Expected<PolicyFailureAction> parse_policy_failure_action(std::string_view text) {
  for (auto a : {PolicyFailureAction::Dunno, PolicyFailureAction::DeferIfPermit, PolicyFailureAction::Warn,
                 PolicyFailureAction::Prepend}) {
    if (text == to_string(a)) {
      return a;
    }
  }
  return make_error("unknown action '" + std::string(text) + "' (expected dunno, defer_if_permit, warn or prepend)");
}

std::string help_text() {
  std::ostringstream out;
  out << "Usage: dane-policyd [options]\n"
         "DANE (RFC 7672) TLS policy daemon for Postfix: answers smtp_tls_policy_maps lookups (socketmap, "
         "tcp_table)\nand check_policy_service requests from in-process DNSSEC validation.\n\n"
      << make_description();
  return out.str();
}

const char* default_config_file() {
  return DANE_DEFAULT_CONFIG;
}

std::string origin_of(const ParsedCommandLine& parsed, const std::string& name) {
  auto it = parsed.origins.find(name);
  return it != parsed.origins.end() ? it->second : "--" + name + " (default)";
}

Expected<std::string> check_fingerprint_digest(const std::string& name) {
  std::string lower = ascii_lower(name);
  // Postfix looks the name up in OpenSSL (EVP_get_digestbyname) and refuses to start TLS when
  // it is unknown; the daemon computes the same digest for `3 x 0` records. Computing it once
  // here proves both, also under a provider configuration that hides an algorithm.
  static const std::uint8_t k_probe[1] = {0};
  auto digest = lower.empty() ? Expected<std::vector<std::uint8_t>>(make_error("empty name"))
                              : named_digest(lower, std::span<const std::uint8_t>(k_probe, 1));
  if (!digest || digest->empty()) {
    return make_error("unknown digest '" + name +
                      "': expected an algorithm that Postfix's smtp_tls_fingerprint_digest accepts and OpenSSL "
                      "computes here, such as sha256 (Postfix's default), sha1, sha512 or md5");
  }
  return lower;
}

Status check_stats_name(const std::string& name) {
  if (name.empty()) {
    return make_error("empty map name");
  }
  for (unsigned char c : name) {
    if (std::isspace(c) || std::iscntrl(c) || c == ':' || c == ',') {
      return make_error("'" + name + "' is not a socketmap map name (no white space, ':' or ',')");
    }
  }
  std::string lower = ascii_lower(name);
  // The daemon answers every other map name with policies: a control map name equal to the
  // policy map's name would turn Postfix's policy lookups into (refused) control requests.
  for (const char* policy_map : {"dane", "tlspolicy"}) {
    if (lower == policy_map) {
      return make_error("'" + name +
                        "' is the policy map's name in the documented Postfix settings "
                        "(smtp_tls_policy_maps = socketmap:...:" +
                        policy_map +
                        "); Postfix's policy lookups would get control replies instead of policies: choose "
                        "another name, such as stats");
    }
  }
  return Ok{};
}

namespace {

Expected<po::variables_map> store_command_line(int argc, const char* const* argv, const po::options_description& desc) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
  } catch (const po::error& e) {
    return make_error(e.what());
  }
  return vm;
}

// The configuration file to read: --config FILE (which must exist), else the default one if it
// does; "" for none.
Expected<std::string> choose_config_file(const po::variables_map& vm, const std::string& default_config) {
  if (vm.count("config") != 0) {
    std::string config_path = vm["config"].as<std::string>();
    if (config_path.empty()) {
      return make_error("--config: empty file name (--config /dev/null reads no file)");
    }
    return config_path;
  }
  if (!default_config.empty()) {
    struct stat st {};
    if (::stat(default_config.c_str(), &st) == 0 || errno != ENOENT) {
      return default_config;
    }
  }
  return std::string();
}

// The values of one table option and where they come from: the command line first, then the
// file, then the default. No values: the option stays unset.
std::vector<std::string> values_of(const SettingSpec& spec, const po::variables_map& vm,
                                   const std::map<std::string, ConfigValue>& file_values,
                                   const std::string& config_path, std::string& where) {
  std::vector<std::string> values;
  bool from_cmdline = vm.count(spec.name) != 0 && !vm[spec.name].defaulted();
  if (spec.type == SettingType::Flag) {
    from_cmdline = vm.count(spec.name) != 0 && vm[spec.name].as<bool>();
  }
  if (from_cmdline) {
    where = std::string("--") + spec.name;
    switch (spec.type) {
    case SettingType::Flag:
      values.push_back("1");
      break;
    case SettingType::String:
    case SettingType::Unsigned:
      values.push_back(vm[spec.name].as<std::string>());
      break;
    case SettingType::List:
      values = vm[spec.name].as<std::vector<std::string>>();
      break;
    }
  } else if (auto it = file_values.find(spec.name); it != file_values.end()) {
    values = it->second.values;
    where = config_path + ":" + std::to_string(it->second.line) + ": option '" + spec.name + "'";
  } else if (*spec.default_value != '\0') {
    values.push_back(spec.default_value);
  }
  return values;
}

Status apply_table(const po::variables_map& vm, const std::map<std::string, ConfigValue>& file_values,
                   const std::string& config_path, ParsedCommandLine& result) {
  for (const auto& spec : setting_specs()) {
    std::string where;
    std::vector<std::string> values = values_of(spec, vm, file_values, config_path, where);
    if (values.empty()) {
      continue;
    }
    if (!where.empty()) {
      result.origins[spec.name] = where;
    }
    Status st = spec.apply(result.settings, values);
    if (!st) {
      return make_error(origin_of(result, spec.name) + ": " + st.error());
    }
  }
  return Ok{};
}

// The file's resolver options (those not on the command line) into `vm`; `resolver_lines` gets
// the line of each.
Status store_file_resolver_options(po::variables_map& vm, const std::map<std::string, ConfigValue>& file_values,
                                   const std::string& config_path, ParsedCommandLine& result,
                                   std::map<std::string, int>& resolver_lines) {
  std::ostringstream ini;
  for (const auto& [name, cv] : file_values) {
    if (find_spec(name) != nullptr || (vm.count(name) != 0 && !vm[name].defaulted())) {
      continue;
    }
    resolver_lines[name] = cv.line;
    result.origins[name] = config_path + ":" + std::to_string(cv.line) + ": option '" + name + "'";
    for (const auto& v : cv.values) {
      ini << name << " = " << v << "\n";
    }
  }
  std::istringstream in(ini.str());
  try {
    po::store(po::parse_config_file(in, resolver_description()), vm);
  } catch (const po::error_with_option_name& e) {
    std::string name = e.get_option_name();
    while (!name.empty() && name[0] == '-') {
      name.erase(0, 1);
    }
    auto it = resolver_lines.find(name);
    if (it != resolver_lines.end()) {
      return make_error(config_path + ":" + std::to_string(it->second) + ": option '" + name + "': " + e.what());
    }
    return make_error(e.what());
  } catch (const po::error& e) {
    return make_error(config_path + ": " + e.what());
  }
  return Ok{};
}

// Resolver options: command line first, then the file's values for options not on the command line.
Status apply_resolver_options(po::variables_map& vm, const std::map<std::string, ConfigValue>& file_values,
                              const std::string& config_path, ParsedCommandLine& result) {
  std::map<std::string, int> resolver_lines;
  if (auto st = store_file_resolver_options(vm, file_values, config_path, result, resolver_lines); !st) {
    return st;
  }
  const po::options_description resolver_options = resolver_description();
  for (const auto& opt : resolver_options.options()) {
    const std::string& name = opt->long_name();
    if (vm.count(name) != 0 && !vm[name].defaulted() && resolver_lines.count(name) == 0) {
      result.origins[name] = "--" + name;
    }
  }
  auto resolver = resolver_config_from(vm);
  if (!resolver) {
    for (const auto& [name, line] : resolver_lines) {
      if (resolver.error().rfind("--" + name, 0) == 0) {
        return make_error(config_path + ":" + std::to_string(line) + ": option '" + name + "': " + resolver.error());
      }
    }
    return make_error(resolver.error());
  }
  result.settings.resolver = *resolver;
  return Ok{};
}

} // namespace

bool requests_check_config(int argc, const char* const* argv) {
  auto vm = store_command_line(argc, argv, make_description());
  return vm && vm->count("check-config") != 0;
}

Expected<ParsedCommandLine> parse_command_line(int argc, const char* const* argv, const std::string& default_config) {
  ParsedCommandLine result;
  po::options_description desc = make_description();
  auto stored = store_command_line(argc, argv, desc);
  if (!stored) {
    return make_error(stored.error());
  }
  po::variables_map& vm = *stored;
  if (vm.count("help") != 0) {
    result.help = true;
    return result;
  }
  if (vm.count("version") != 0) {
    result.version = true;
    return result;
  }
  result.check_config = vm.count("check-config") != 0;

  auto config_path = choose_config_file(vm, default_config);
  if (!config_path) {
    return make_error(config_path.error());
  }
  std::map<std::string, ConfigValue> file_values;
  if (!config_path->empty()) {
    auto read = read_config_file(*config_path);
    if (!read) {
      return make_error(read.error());
    }
    file_values = std::move(*read);
  }
  if (auto st = apply_table(vm, file_values, *config_path, result); !st) {
    return make_error(st.error());
  }
  Settings& s = result.settings;
  // The file actually read ("" when none); set after the table, whose "config" entry only
  // sees the command line.
  s.config_file = *config_path;
  if (auto st = apply_resolver_options(vm, file_values, *config_path, result); !st) {
    return make_error(st.error());
  }
  if (s.cache_min_ttl > s.cache_max_ttl) {
    return make_error(origin_of(result, "cache-min-ttl") + ": " + std::to_string(s.cache_min_ttl.count()) +
                      " is larger than cache-max-ttl (" + std::to_string(s.cache_max_ttl.count()) + ")");
  }
  return result;
}

void apply_embedded_defaults(Settings& settings) {
  if (settings.stdio == StdioProtocol::None && settings.socketmap.empty() && settings.tcp_table.empty() &&
      settings.policy_service.empty()) {
    settings.socketmap.push_back(*parse_endpoint(k_default_socketmap));
  }
}

} // namespace dane::policyd
