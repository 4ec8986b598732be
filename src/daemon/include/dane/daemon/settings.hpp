// dane/daemon/settings.hpp — every dane-policyd setting, declared once.
//
// One table (k_settings: name, type, default, value name, help) is the single
// source of the Boost.Program_options description (and so of `--help`, from which
// the man page's option list is checked), of the config-file parser (INI syntax,
// same names without `--`) and of the typed Settings struct. Command-line values
// override config-file values. Errors name the option and, for config files,
// FILE:LINE. The resolver options (--unbound-config, --forwarder,
// --trust-anchor-file, --dns-timeout) are shared with dane-policyctl and appended from
// resolver_options.hpp.
//
// Configuration file: the one named by --config, else the built-in default path
// (default_config_file(), the CMake cache variable DANE_DEFAULT_CONFIG) when it exists.
// A missing default file means the embedded defaults; a missing --config file, or a
// directory in either place, is an error. `--config /dev/null` reads no settings.
//
// Values are checked here, where the errors can name FILE:LINE: numbers in range
// (idle-timeout, max-connections, workers, probe settings at least 1), a fingerprint
// digest the daemon can compute and Postfix accepts, a stats map name that does not
// shadow the policy map, and no directory where a file is expected (config, trust
// anchor, unbound config). What needs the system (paths, users, a resolver context) is
// checked by check_config.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/dns.hpp"

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

// What check_policy_service answers for a destination whose DANE policy is TEMP: PolicyFailureAction
// (dane/policy/answer.hpp, with the encoder that applies it); its option spellings here.
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
  // Warm restarts (cache_file.hpp): the cache saved to this file at shutdown and every
  // cache_file_interval (0: at shutdown only), read at start. Empty: off.
  std::string cache_file;
  std::chrono::seconds cache_file_interval{300};
  // SO_REUSEPORT on inet listeners: several daemons may share one port.
  bool reuse_port = false;
  // --shared-cache (shared_cache.hpp): Redis URL ("" = off), the MAC key file, the GET budget.
  std::string shared_cache;
  std::string shared_cache_key;
  unsigned shared_cache_timeout_ms = 20;
  // --mta-sts: MTA-STS (RFC 8461) for destinations without DANE; policies fetched with PKIX against
  // mta_sts_ca_file (empty: the system's trust store) and kept under <state_dir>/mta-sts.
  bool mta_sts = false;
  std::string mta_sts_ca_file;
  std::chrono::seconds idle_timeout{300};
  // A request must be complete this long after its first byte (slow senders); 0: idle_timeout.
  std::chrono::seconds request_timeout{0};
  // Per listener: each listener serves at most this many connections at once.
  std::size_t max_connections = 4096;
  unsigned workers = 4; // threads finishing evaluations (no thread waits for DNS)
  // The asynchronous engine's admission limits (docs/engine.md): evaluations in flight at once, in
  // total and under one destination zone.
  unsigned max_evaluations = 4096;
  unsigned max_evaluations_per_zone = 1024;
  PolicyFailureAction policy_failure_action = PolicyFailureAction::Dunno;
  std::string policy_prepend_header = "X-DANE-Policy";
  std::string fingerprint_digest = "sha256";
  std::string stats_name = "stats";
  // --metrics inet:HOST:PORT: the Prometheus endpoint (metrics_http.hpp); none: off.
  std::optional<Endpoint> metrics;
  ResolverConfig resolver;
  LogTo log_to = LogTo::Auto;
  LogLevel log_level = LogLevel::Info;
};

// The configuration file read when no --config is given and it exists (build-time
// DANE_DEFAULT_CONFIG, normally /etc/dane-policyd/dane-policyd.conf).
const char* default_config_file();

// Result of parsing a command line: settings, or a request to print help/version or to
// check the configuration.
struct ParsedCommandLine {
  Settings settings;
  bool help = false;
  bool version = false;
  bool check_config = false; // --check-config: check, report, exit (check_config.hpp)
  // Where each option that is not at its default came from, by name without "--":
  // "FILE:LINE: option 'NAME'" for the configuration file, "--NAME" for the command line.
  std::map<std::string, std::string> origins;
};

// Where option `name` got its value, as a message prefix (see ParsedCommandLine::origins;
// "--NAME (default)" for a default).
std::string origin_of(const ParsedCommandLine& parsed, const std::string& name);

// Parses argv and the configuration file: the --config one, else `default_config` when
// that file exists ("" = none). Errors name the option and, for config-file values,
// FILE:LINE. Never exits, never prints.
Expected<ParsedCommandLine> parse_command_line(int argc, const char* const* argv,
                                               const std::string& default_config = default_config_file());
// True when argv asks for --check-config (even if the rest of the configuration is bad), so
// that main() can print errors in the checker's FILE:LINE format.
bool requests_check_config(int argc, const char* const* argv);
// Checks a --fingerprint-digest value: a digest OpenSSL computes with a fixed output size,
// which is what Postfix's smtp_tls_fingerprint_digest accepts. Returns the lowercase name.
Expected<std::string> check_fingerprint_digest(const std::string& name);
// Checks a --stats-name value: a socketmap map name (non-empty, no white space or ':') that
// is not a name the documentation uses for the policy map (dane, tlspolicy).
Status check_stats_name(const std::string& name);
// The `--help` text: usage line plus every option with its default and help.
std::string help_text();
// Fills in run-time defaults that depend on the machine (default listener when none
// is given). Does not touch the system.
void apply_embedded_defaults(Settings& settings);

} // namespace dane::policyd
