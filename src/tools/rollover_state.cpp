// The rollover state file: JSON (de)serialisation, default path, atomic save
// (contract: dane/tools/rollover.hpp).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/fd.hpp"
#include "dane/core/private_file.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/verifier/pem.hpp"

namespace dane::tools {

namespace {

constexpr int k_state_version = 1;
constexpr std::int64_t k_year_2000 = 946684800;

std::string errno_text(int err) {
  return std::strerror(err);
}

// mkdir -p with mode 0700 for the directories it creates.
Status make_parents(const std::string& path) {
  std::size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos) {
    std::string dir = path.substr(0, pos);
    if (dir.empty()) {
      continue;
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error("cannot create directory " + dir + ": " + errno_text(errno));
    }
  }
  return Ok{};
}

// The optional "servers" array (files written before the authoritative check have none).
Expected<std::vector<RolloverServerSeen>> parse_servers(const nlohmann::json& j) {
  std::vector<RolloverServerSeen> out;
  if (!j.contains("servers")) {
    return out;
  }
  if (!j["servers"].is_array()) {
    return make_error("non-array \"servers\"");
  }
  for (const auto& s : j["servers"]) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !s.contains("address") ||
        !s["address"].is_string() || !s.contains("rrset") || !s["rrset"].is_string() || !s.contains("first_seen") ||
        !s["first_seen"].is_number_integer()) {
      return make_error("a server entry lacks a string \"name\", \"address\" or \"rrset\" or an integer "
                        "\"first_seen\"");
    }
    const auto first_seen = s["first_seen"].get<std::int64_t>();
    if (first_seen < k_year_2000) {
      return make_error("server " + s["name"].get<std::string>() + ": first_seen " + std::to_string(first_seen) +
                        " is before the year 2000");
    }
    out.push_back({s["name"].get<std::string>(), s["address"].get<std::string>(), s["rrset"].get<std::string>(),
                   std::chrono::sys_seconds(std::chrono::seconds(first_seen))});
  }
  return out;
}

} // namespace

std::string serialize_state(const RolloverState& state) {
  nlohmann::ordered_json j;
  j["version"] = k_state_version;
  j["host"] = state.host;
  j["port"] = state.port;
  j["max_ttl"] = state.max_ttl;
  j["records"] = nlohmann::ordered_json::array();
  for (const auto& seen : state.records) {
    nlohmann::ordered_json r;
    r["tlsa"] = seen.tlsa;
    r["first_seen"] = seen.first_seen.time_since_epoch().count();
    r["first_seen_utc"] = format_rfc3339(seen.first_seen);
    j["records"].push_back(std::move(r));
  }
  j["servers"] = nlohmann::ordered_json::array();
  for (const auto& seen : state.servers) {
    nlohmann::ordered_json r;
    r["name"] = seen.name;
    r["address"] = seen.address;
    r["rrset"] = seen.rrset;
    r["first_seen"] = seen.first_seen.time_since_epoch().count();
    r["first_seen_utc"] = format_rfc3339(seen.first_seen);
    j["servers"].push_back(std::move(r));
  }
  return j.dump(2) + "\n";
}

Expected<RolloverState> parse_state(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return make_error("not valid JSON");
  }
  if (!j.is_object()) {
    return make_error("not a JSON object");
  }
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != k_state_version) {
    return make_error("missing or unsupported \"version\" (expected 1)");
  }
  RolloverState state;
  if (!j.contains("host") || !j["host"].is_string()) {
    return make_error("missing or non-string \"host\"");
  }
  state.host = j["host"].get<std::string>();
  if (!j.contains("port") || !j["port"].is_number_unsigned() || j["port"].get<std::uint64_t>() == 0 ||
      j["port"].get<std::uint64_t>() > 65535) {
    return make_error("missing or invalid \"port\" (1-65535)");
  }
  state.port = static_cast<std::uint16_t>(j["port"].get<std::uint64_t>());
  if (!j.contains("max_ttl") || !j["max_ttl"].is_number_unsigned() ||
      j["max_ttl"].get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    return make_error("missing or invalid \"max_ttl\"");
  }
  state.max_ttl = static_cast<std::uint32_t>(j["max_ttl"].get<std::uint64_t>());
  if (!j.contains("records") || !j["records"].is_array()) {
    return make_error("missing or non-array \"records\"");
  }
  for (const auto& r : j["records"]) {
    if (!r.is_object() || !r.contains("tlsa") || !r["tlsa"].is_string() || !r.contains("first_seen") ||
        !r["first_seen"].is_number_integer()) {
      return make_error("a record entry lacks a string \"tlsa\" or an integer \"first_seen\"");
    }
    auto record = parse_tlsa(r["tlsa"].get<std::string>());
    if (!record) {
      return make_error("record \"" + r["tlsa"].get<std::string>() + "\": " + record.error());
    }
    const auto first_seen = r["first_seen"].get<std::int64_t>();
    if (first_seen < k_year_2000) {
      return make_error("record \"" + record->short_string() + "\": first_seen " + std::to_string(first_seen) +
                        " is before the year 2000");
    }
    std::string key = record->to_string();
    for (const auto& seen : state.records) {
      if (seen.tlsa == key) {
        return make_error("record \"" + record->short_string() + "\" listed twice");
      }
    }
    state.records.push_back({key, std::chrono::sys_seconds(std::chrono::seconds(first_seen))});
  }
  if (auto servers = parse_servers(j); !servers) {
    return make_error(servers.error());
  } else {
    state.servers = std::move(*servers);
  }
  return state;
}

std::string default_state_path(std::string_view host, std::uint16_t port, std::string_view xdg_state_home,
                               std::string_view home, bool is_root) {
  std::string file = std::string(host) + "_" + std::to_string(port) + ".json";
  if (!xdg_state_home.empty() && xdg_state_home.front() == '/') {
    return std::string(xdg_state_home) + "/dane-policyd/rollover/" + file;
  }
  if (is_root || home.empty()) {
    return "/var/lib/dane-policyd/rollover/" + file;
  }
  return std::string(home) + "/.local/state/dane-policyd/rollover/" + file;
}

LoadedState load_state(const std::string& path, std::string_view host, std::uint16_t port) {
  LoadedState out;
  out.state.host = std::string(host);
  out.state.port = port;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return out; // the first run for this host
  }
  // A state file is a few hundred bytes per record; the PEM file bound is far above any real one.
  auto text = read_text_file(path, k_max_pem_file_bytes);
  if (!text) {
    out.warning = "cannot read state file: " + text.error() + "; the wait clock starts again";
    return out;
  }
  auto parsed = parse_state(*text);
  if (!parsed) {
    out.warning = "state file " + path + " is corrupt (" + parsed.error() + "); the wait clock starts again";
    return out;
  }
  if (parsed->host != host || parsed->port != port) {
    out.warning = "state file " + path + " belongs to " + parsed->host + " port " + std::to_string(parsed->port) +
                  ", not " + std::string(host) + " port " + std::to_string(port) + "; the wait clock starts again";
    return out;
  }
  out.state = std::move(*parsed);
  return out;
}

Status save_state(const std::string& path, const RolloverState& state) {
  if (path.empty()) {
    return make_error("empty state file path");
  }
  if (auto st = make_parents(path); !st) {
    return make_error("cannot write state file " + path + ": " + st.error());
  }
  if (auto st = write_file_atomically(path, serialize_state(state), {}, 0644); !st) {
    return make_error("cannot write state file " + path + ": " + st.error());
  }
  return Ok{};
}

} // namespace dane::tools
