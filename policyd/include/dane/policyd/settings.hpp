// dane/policyd/settings.hpp — every dane-policyd setting, declared once.
//
// One table (k_settings: name, type, default, value name, help) is the single
// source of the Boost.Program_options description (and so of `--help`, from which
// the man page's option list is checked), of the config-file parser (INI syntax,
// same names without `--`) and of the typed Settings struct. Command-line values
// override config-file values. Errors name the option and, for config files,
// FILE:LINE. The resolver options (--unbound-config, --forwarder,
// --trust-anchor-file, --dns-timeout) are shared with dane-policyctl and appended from
// resolver_options.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dane/dns.hpp"
#include "dane/expected.hpp"
#include "dane/policyd/policy_engine.hpp"

namespace dane::policyd {

// Where a listener listens: "unix:/path" or "inet:host:port" ("inet:[::1]:port" for IPv6).
struct Endpoint {
  enum class Kind { Unix, Inet };
  Kind kind = Kind::Unix;
  std::string path; // unix
  std::string host; // inet
  std::uint16_t port = 0;
  std::string text; // as given
};
Expected<Endpoint> parse_endpoint(std::string_view text);

// What check_policy_service answers for a destination whose DANE policy is TEMP.
enum class PolicyFailureAction { Dunno, DeferIfPermit, Warn, Prepend };
std::string to_string(PolicyFailureAction action);
Expected<PolicyFailureAction> parse_policy_failure_action(std::string_view text);

enum class StdioProtocol { None, Socketmap, Policy };

// --log-to: where messages go (verdict_log.hpp, choose_log_destinations); --log-level: the least
// important kind of message written.
enum class LogTo { Auto, Stderr, Syslog };
enum class LogLevel { Debug, Info, Warning, Error };

inline constexpr const char* k_default_socketmap = "unix:/run/dane-policyd/socketmap";
inline constexpr const char* k_default_state_dir = "/var/lib/dane-policyd";

struct Settings {
  std::string config_file;
  std::vector<Endpoint> socketmap;
  std::vector<Endpoint> tcp_table;
  std::vector<Endpoint> policy_service;
  Mode mode = Mode::Native;
  std::string verdict_log;
  bool log_cache_hits = false;
  bool probe = false;
  unsigned probe_concurrency = 4;
  std::chrono::seconds probe_timeout{10};
  std::string user; // empty: dane-policyd if it exists, else nobody
  bool foreground = false;
  StdioProtocol stdio = StdioProtocol::None;
  std::string socket_owner;
  std::string socket_group; // empty: postfix when that group exists
  unsigned socket_mode = 0660;
  std::string state_dir = k_default_state_dir;
  std::size_t cache_size = 10000;
  std::chrono::seconds cache_min_ttl{5};
  std::chrono::seconds cache_max_ttl{3600};
  std::chrono::seconds tempfail_ttl{5};
  bool cache_refresh = false;
  std::chrono::seconds idle_timeout{300};
  std::size_t max_connections = 4096;
  unsigned workers = 16;
  PolicyFailureAction policy_failure_action = PolicyFailureAction::Dunno;
  std::string policy_prepend_header = "X-DANE-Policy";
  std::string fingerprint_digest = "sha256";
  std::string stats_name = "stats";
  ResolverConfig resolver;
  LogTo log_to = LogTo::Auto;
  LogLevel log_level = LogLevel::Info;
};

// Result of parsing a command line: settings, or a request to print help/version.
struct ParsedCommandLine {
  Settings settings;
  bool help = false;
  bool version = false;
};

// Parses argv (and the --config file it names). Errors name the option and, for
// config-file values, FILE:LINE. Never exits, never prints.
Expected<ParsedCommandLine> parse_command_line(int argc, const char* const* argv);
// The `--help` text: usage line plus every option with its default and help.
std::string help_text();
// Fills in run-time defaults that depend on the machine (default listener when none
// is given). Does not touch the system.
void apply_embedded_defaults(Settings& settings);

} // namespace dane::policyd
