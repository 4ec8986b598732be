// THE table of dane-policyd's options and the converters its entries use (settings_table.hpp).
#include "settings_table.hpp"

#include <charconv>
#include <chrono>
#include <map>
#include <utility>

#include "dane/core/text.hpp"
#include "dane/daemon/resolver_options.hpp"
#include "dane/daemon/shared_cache.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane::policyd {

Expected<unsigned long> to_unsigned(const std::string& text, unsigned long min, unsigned long max) {
  unsigned long v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v < min || v > max) {
    return make_error("'" + text + "' is not a number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

namespace {

Expected<std::chrono::seconds> to_seconds(const std::string& text, unsigned long min, unsigned long max = 86400) {
  auto v = to_unsigned(text, min, max);
  if (!v) {
    return make_error(v.error() + " (seconds)");
  }
  return std::chrono::seconds(*v);
}

Status endpoints(std::vector<Endpoint>& out, const std::vector<std::string>& values, bool inet_only) {
  out.clear();
  for (const auto& v : values) {
    auto e = parse_endpoint(v);
    if (!e) {
      return make_error(e.error());
    }
    if (inet_only && e->kind != Endpoint::Kind::Inet) {
      return make_error("'" + v + "': tcp_table listens on inet:HOST:PORT only");
    }
    out.push_back(*e);
  }
  return Ok{};
}

#define DANE_UNSIGNED(field, min, max)                                                                                 \
  [](Settings& s, const std::vector<std::string>& v) -> Status {                                                       \
    auto n = to_unsigned(v.back(), min, max);                                                                          \
    if (!n) {                                                                                                          \
      return make_error(n.error());                                                                                    \
    }                                                                                                                  \
    s.field = static_cast<decltype(s.field)>(*n);                                                                      \
    return Ok{};                                                                                                       \
  }
#define DANE_SECONDS(field, min)                                                                                       \
  [](Settings& s, const std::vector<std::string>& v) -> Status {                                                       \
    auto n = to_seconds(v.back(), min);                                                                                \
    if (!n) {                                                                                                          \
      return make_error(n.error());                                                                                    \
    }                                                                                                                  \
    s.field = *n;                                                                                                      \
    return Ok{};                                                                                                       \
  }
#define DANE_STRING(field)                                                                                             \
  [](Settings& s, const std::vector<std::string>& v) -> Status {                                                       \
    s.field = v.back();                                                                                                \
    return Ok{};                                                                                                       \
  }
#define DANE_FLAG(field)                                                                                               \
  [](Settings& s, const std::vector<std::string>& v) -> Status {                                                       \
    s.field = v.back() == "1";                                                                                         \
    return Ok{};                                                                                                       \
  }

// THE table. Every option of dane-policyd is declared here and nowhere else, except
// the resolver options shared with dane-policyctl, declared once in resolver_options.cpp.
const SettingSpec k_settings[] = {
    {"config", SettingType::String, "", "FILE",
     "read settings from FILE (INI syntax: name = value, same names as the options; command-line values win)",
     DANE_STRING(config_file)},
    {"socketmap", SettingType::List, "", "unix:PATH|inet:HOST:PORT",
     "serve the socketmap protocol (smtp_tls_policy_maps = socketmap:...:NAME); repeatable. Default when no "
     "listener and no --stdio is given: unix:/run/dane-policyd/socketmap",
     [](Settings& s, const std::vector<std::string>& v) { return endpoints(s.socketmap, v, false); }},
    {"tcp-table", SettingType::List, "", "inet:HOST:PORT",
     "serve Postfix's tcp_table protocol (smtp_tls_policy_maps = tcp:HOST:PORT); repeatable",
     [](Settings& s, const std::vector<std::string>& v) { return endpoints(s.tcp_table, v, true); }},
    {"policy-service", SettingType::List, "", "unix:PATH|inet:HOST:PORT",
     "serve the policy delegation protocol (check_policy_service); repeatable",
     [](Settings& s, const std::vector<std::string>& v) { return endpoints(s.policy_service, v, false); }},
    {"mode", SettingType::String, "native", "native|pinned|monitor",
     "native: answer dane-only/dane; pinned: turn DNSSEC-validated TLSA into fingerprint/secure policies; "
     "monitor: always answer NOTFOUND, log what would have been answered",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       auto m = parse_mode(v.back());
       if (!m) {
         return make_error(m.error());
       }
       s.mode = *m;
       return Ok{};
     }},
    {"verdict-log", SettingType::String, "", "FILE", "append one JSON line per evaluation to FILE (reopened on SIGHUP)",
     DANE_STRING(verdict_log)},
    {"log-cache-hits", SettingType::Flag, "", "", "also write a verdict-log line (\"cached\": true) for cache hits",
     DANE_FLAG(log_cache_hits)},
    {"probe", SettingType::Flag, "", "",
     "after an evaluation finds usable TLSA, probe the MX addresses with STARTTLS in the background and log "
     "each address's result (never changes an answer to a weaker one)",
     DANE_FLAG(probe)},
    {"probe-concurrency", SettingType::Unsigned, "4", "N", "at most N probe connections at once",
     DANE_UNSIGNED(probe_concurrency, 1, 256)},
    {"probe-timeout", SettingType::Unsigned, "10", "SECONDS", "timeout of each step of a probe",
     DANE_SECONDS(probe_timeout, 1)},
    {"user", SettingType::String, "", "USER",
     "after binding sockets and opening files as root, run as USER (default: dane-policyd if that user exists, "
     "else nobody; --user root keeps root)",
     DANE_STRING(user)},
    {"foreground", SettingType::Flag, "", "", "do not detach (for systemd)", DANE_FLAG(foreground)},
    {"stdio", SettingType::String, "", "socketmap|policy",
     "serve one client on standard input/output, then exit (for a Postfix spawn(8) service)",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       if (v.back() == "socketmap") {
         s.stdio = StdioProtocol::Socketmap;
       } else if (v.back() == "policy") {
         s.stdio = StdioProtocol::Policy;
       } else {
         return make_error("unknown protocol '" + v.back() + "' (expected socketmap or policy)");
       }
       return Ok{};
     }},
    {"socket-owner", SettingType::String, "", "USER", "owner of unix sockets (default: the user the daemon runs as)",
     DANE_STRING(socket_owner)},
    {"socket-group", SettingType::String, "", "GROUP",
     "group of unix sockets (default: postfix when that group exists)", DANE_STRING(socket_group)},
    {"socket-mode", SettingType::String, "0660", "OCTAL", "permissions of unix sockets",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       const std::string& t = v.back();
       unsigned mode = 0;
       auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), mode, 8);
       if (t.empty() || ec != std::errc() || p != t.data() + t.size() || mode > 0777) {
         return make_error("'" + t + "' is not an octal mode from 0 to 0777");
       }
       s.socket_mode = mode;
       return Ok{};
     }},
    {"state-dir", SettingType::String, k_default_state_dir, "DIR",
     "directory for trust-anchor files of pinned DANE-TA policies (created, owned by --user)", DANE_STRING(state_dir)},
    {"cache-size", SettingType::Unsigned, "10000", "N",
     "keep at most N destinations in the cache (least recently used are evicted); 0 disables caching",
     DANE_UNSIGNED(cache_size, 0, 100000000)},
    {"cache-min-ttl", SettingType::Unsigned, "5", "SECONDS",
     "cache an answer at least this long (its lifetime is the smallest DNS TTL, clamped)",
     DANE_SECONDS(cache_min_ttl, 0)},
    {"cache-max-ttl", SettingType::Unsigned, "3600", "SECONDS", "cache an answer at most this long",
     DANE_SECONDS(cache_max_ttl, 0)},
    {"tempfail-ttl", SettingType::Unsigned, "5", "SECONDS",
     "cache a TEMP answer (DNS failure, bogus data) this long; 0: never", DANE_SECONDS(tempfail_ttl, 0)},
    {"cache-refresh", SettingType::Flag, "", "",
     "re-evaluate popular entries in the background shortly before they expire", DANE_FLAG(cache_refresh)},
    {"cache-file", SettingType::String, "", "FILE",
     "warm restarts: save the cache to FILE at shutdown and every --cache-file-interval, read it at start "
     "(entries keep their remaining TTL; a corrupt or foreign file is ignored with a warning)",
     DANE_STRING(cache_file)},
    {"cache-file-interval", SettingType::Unsigned, "300", "SECONDS",
     "save the --cache-file this often while running; 0: only at shutdown", DANE_SECONDS(cache_file_interval, 0)},
    {"reuse-port", SettingType::Flag, "", "",
     "set SO_REUSEPORT on inet listeners, so that several daemons on one host can share a port", DANE_FLAG(reuse_port)},
    {"shared-cache", SettingType::String, "", "redis://HOST:PORT[/DB]|unix:PATH",
     "on a cache miss, ask this Redis before evaluating, and store evaluations there for the other daemons of a "
     "fleet (entries sealed with --shared-cache-key; a bad or missing entry means: evaluate locally)",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       if (auto url = parse_shared_cache_url(v.back()); !url) {
         return make_error(url.error());
       }
       s.shared_cache = v.back();
       return Ok{};
     }},
    {"shared-cache-key", SettingType::String, "", "FILE",
     "the HMAC-SHA256 key of --shared-cache entries (a file of at least 16 bytes, readable by root or --user only)",
     DANE_STRING(shared_cache_key)},
    {"shared-cache-timeout", SettingType::Unsigned, "20", "MS",
     "wait at most this many milliseconds for Redis before evaluating locally",
     DANE_UNSIGNED(shared_cache_timeout_ms, 1, 10000)},
    {"mta-sts", SettingType::Flag, "", "",
     "MTA-STS (RFC 8461) for destinations without DANE: enforce policies answer secure with the allowed MX "
     "names, testing ones are logged; policies kept in <state-dir>/mta-sts",
     DANE_FLAG(mta_sts)},
    {"mta-sts-ca-file", SettingType::String, "", "FILE",
     "PEM file of the CAs trusted for MTA-STS policy fetches (default: the system's trust store)",
     DANE_STRING(mta_sts_ca_file)},
    {"idle-timeout", SettingType::Unsigned, "300", "SECONDS", "close a client connection idle this long",
     DANE_SECONDS(idle_timeout, 1)},
    {"request-timeout", SettingType::Unsigned, "0", "SECONDS",
     "close a client connection whose request is still incomplete this long after its first byte; "
     "0: the idle timeout",
     DANE_SECONDS(request_timeout, 0)},
    {"max-connections", SettingType::Unsigned, "4096", "N",
     "at most N client connections at once on each listener (further ones are closed with a warning)",
     DANE_UNSIGNED(max_connections, 1, 1000000)},
    {"workers", SettingType::Unsigned, "4", "N",
     "threads finishing evaluations (policy decision, verdict log, answers); DNS waits on none of them",
     DANE_UNSIGNED(workers, 1, 1024)},
    {"max-evaluations", SettingType::Unsigned, "4096", "N",
     "at most N uncached destinations evaluated at once; beyond that a lookup gets TEMP at once (counted)",
     DANE_UNSIGNED(max_evaluations, 1, 1000000)},
    {"max-evaluations-per-zone", SettingType::Unsigned, "1024", "N",
     "at most N of them under one destination zone (its registered domain), so a slow zone cannot take "
     "the whole budget",
     DANE_UNSIGNED(max_evaluations_per_zone, 1, 1000000)},
    {"policy-failure-action", SettingType::String, "dunno", "dunno|defer_if_permit|warn|prepend",
     "policy delegation answer for a destination whose DANE policy is TEMP (DNS failure or bogus); "
     "dunno also logs a warning",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       auto a = parse_policy_failure_action(v.back());
       if (!a) {
         return make_error(a.error());
       }
       s.policy_failure_action = *a;
       return Ok{};
     }},
    {"policy-prepend-header", SettingType::String, "X-DANE-Policy", "NAME",
     "header name used by --policy-failure-action prepend", DANE_STRING(policy_prepend_header)},
    {"fingerprint-digest", SettingType::String, "sha256", "ALGORITHM",
     "digest of pinned fingerprint policies; must equal Postfix's smtp_tls_fingerprint_digest",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       auto digest = check_fingerprint_digest(v.back());
       if (!digest) {
         return make_error(digest.error());
       }
       s.fingerprint_digest = *digest;
       return Ok{};
     }},
    {"stats-name", SettingType::String, "stats", "NAME",
     "socketmap map name reserved for control requests: \"NAME all\" answers the daemon's counters as JSON; "
     "not the policy map's name",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       if (auto st = check_stats_name(v.back()); !st) {
         return st;
       }
       s.stats_name = v.back();
       return Ok{};
     }},
    {"metrics", SettingType::String, "", "inet:HOST:PORT",
     "serve Prometheus metrics (GET /metrics) and a health check (GET /healthz) over HTTP on HOST:PORT; "
     "off by default",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       auto e = parse_endpoint(v.back());
       if (!e || e->kind != Endpoint::Kind::Inet) {
         return make_error("'" + v.back() + "': expected inet:HOST:PORT");
       }
       s.metrics = *e;
       return Ok{};
     }},
    {"log-to", SettingType::String, "auto", "auto|stderr|syslog",
     "where messages go, once: auto is syslog when detached, with --stdio or when stderr is the systemd journal, "
     "else stderr",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       const std::pair<const char*, LogTo> names[] = {
           {"auto", LogTo::Auto}, {"stderr", LogTo::Stderr}, {"syslog", LogTo::Syslog}};
       for (const auto& [name, value] : names) {
         if (v.back() == name) {
           s.log_to = value;
           return Ok{};
         }
       }
       return make_error("unknown destination '" + v.back() + "' (expected auto, stderr or syslog)");
     }},
    {"log-level", SettingType::String, "info", "error|warning|info|debug",
     "write messages of this importance and above (info includes one summary line per evaluation)",
     [](Settings& s, const std::vector<std::string>& v) -> Status {
       const std::pair<const char*, LogLevel> names[] = {{"error", LogLevel::Error},
                                                         {"warning", LogLevel::Warning},
                                                         {"info", LogLevel::Info},
                                                         {"debug", LogLevel::Debug}};
       for (const auto& [name, value] : names) {
         if (v.back() == name) {
           s.log_level = value;
           return Ok{};
         }
       }
       return make_error("unknown level '" + v.back() + "' (expected error, warning, info or debug)");
     }},
};

#undef DANE_UNSIGNED
#undef DANE_SECONDS
#undef DANE_STRING
#undef DANE_FLAG

} // namespace

std::span<const SettingSpec> setting_specs() {
  return k_settings;
}

const SettingSpec* find_spec(std::string_view name) {
  for (const auto& s : k_settings) {
    if (name == s.name) {
      return &s;
    }
  }
  return nullptr;
}

} // namespace dane::policyd
