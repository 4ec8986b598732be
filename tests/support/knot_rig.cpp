// A Knot DNS primary (signing, TSIG update ACL) and secondary on loopback (contract: knot_rig.hpp).
#include "knot_rig.hpp"

#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {

namespace {

std::string random_secret() {
  std::random_device device;
  std::array<std::uint8_t, 32> bytes{};
  for (auto& b : bytes) {
    b = static_cast<std::uint8_t>(device());
  }
  std::array<unsigned char, 64> text{};
  const int n = EVP_EncodeBlock(text.data(), bytes.data(), static_cast<int>(bytes.size()));
  return n > 0 ? std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(n)) : std::string();
}

std::string bind_key(const std::string& name, const std::string& secret) {
  return "key \"" + name + "\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + secret + "\";\n};\n";
}

std::string trim(const std::string& line) {
  const auto start = line.find_first_not_of(" \t");
  return start == std::string::npos ? std::string() : line.substr(start);
}

} // namespace

struct KnotRig::Impl {
  std::string zone;
  std::string records;
  std::uint32_t ttl = 5;
  std::unique_ptr<TempDir> temp;
  std::string dir;
  std::string primary;
  std::string secondary;
  std::string update_secret = random_secret();
  std::string other_secret = random_secret();
  std::string ds;
  ChildProcess primary_process;
  ChildProcess secondary_process;
  ChildProcess impostor_process;

  std::string impostor_config() const {
    const std::string d = dir + "/impostor";
    return "server:\n    rundir: " + d + "\n    listen: " + secondary + "@53\n    pidfile: " + d +
           "/knot.pid\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
           "log:\n  - target: " +
           d + "/knot.log\n    any: info\ndatabase:\n    storage: " + d +
           "\ntemplate:\n  - id: default\n    storage: " + d +
           "\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\nzone:\n  - domain: " + zone +
           "\n";
  }

  std::string common_config(const std::string& name, const std::string& address) const {
    const std::string d = dir + "/" + name;
    return "server:\n    rundir: " + d + "\n    listen: " + address + "@53\n    pidfile: " + d +
           "/knot.pid\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
           "log:\n  - target: " +
           d + "/knot.log\n    any: info\ndatabase:\n    storage: " + d +
           "\nkey:\n  - id: upd\n    algorithm: hmac-sha256\n    secret: " + update_secret +
           "\n  - id: other\n    algorithm: hmac-sha256\n    secret: " + other_secret +
           "\ntemplate:\n  - id: default\n    storage: " + d + "\n    file: \"%s.zone\"\n";
  }

  std::string primary_config() const {
    const std::string t = std::to_string(ttl);
    return common_config("primary", primary) + "remote:\n  - id: secondary\n    address: " + secondary +
           "@53\nacl:\n  - id: update\n    key: upd\n    action: update\n"
           "  - id: transfer\n    address: 127.0.0.0/8\n    action: transfer\n"
           "policy:\n  - id: rig\n    algorithm: ecdsap256sha256\n    ksk-lifetime: 0\n    zsk-lifetime: 0\n"
           "    dnskey-ttl: " +
           t + "\n    zone-max-ttl: " + t +
           "\n    propagation-delay: 0\n    rrsig-lifetime: 14d\n    rrsig-refresh: 7d\n"
           "zone:\n  - domain: " +
           zone +
           "\n    dnssec-signing: on\n    dnssec-policy: rig\n    notify: secondary\n"
           "    acl: [update, transfer]\n    zonefile-sync: -1\n    zonefile-load: difference-no-serial\n"
           "    journal-content: all\n";
  }

  std::string secondary_config() const {
    return common_config("secondary", secondary) + "remote:\n  - id: primary\n    address: " + primary +
           "@53\nacl:\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\n"
           "zone:\n  - domain: " +
           zone + "\n    master: primary\n    acl: [notify]\n";
  }

  std::string zone_file() const {
    const std::string t = std::to_string(ttl);
    std::string text = "$ORIGIN " + zone + ".\n$TTL " + t + "\n@ SOA ns1 hostmaster 1 60 10 3600 " + t +
                       "\n@ NS ns1\n@ NS ns2\nns1 A " + primary + "\nns2 A " + secondary + "\n";
    std::istringstream in(records);
    std::string line;
    while (std::getline(in, line)) {
      if (!trim(line).empty()) {
        text += trim(line) + "\n";
      }
    }
    return text;
  }

  Expected<ChildProcess> launch(const std::string& name) const {
    SpawnOptions options;
    options.output_path = dir + "/" + name + "/knotd.out";
    options.death_signal = SIGTERM;
    return ChildProcess::start({find_program("knotd"), "-c", dir + "/" + name + "/knot.conf"}, options);
  }

  // The SOA serial `address` serves with a signature, or "" (no answer yet / unsigned).
  std::string signed_serial(const KnotRig& rig, const std::string& address) const {
    auto lines = rig.query(address, zone, "SOA");
    if (!lines || lines->size() < 2) {
      return {};
    }
    std::istringstream soa(lines->front());
    std::string mname, rname, serial;
    soa >> mname >> rname >> serial;
    return serial;
  }
};

KnotRig::KnotRig(std::string zone, std::string records, std::uint32_t ttl) : m_impl(std::make_unique<Impl>()) {
  m_impl->zone = std::move(zone);
  m_impl->records = std::move(records);
  m_impl->ttl = ttl;
}

KnotRig::~KnotRig() {
  m_impl->impostor_process.stop();
  m_impl->secondary_process.stop();
  m_impl->primary_process.stop();
  if (m_impl->temp && std::getenv("DANE_KEEP_RIG") != nullptr) {
    m_impl->temp->keep();
  }
}

bool KnotRig::tools_available() {
  return is_root() && !find_program("knotd").empty() && !find_program("keymgr").empty() &&
         !find_program("kdig").empty();
}

std::string KnotRig::missing_tools_message() {
  return "the Knot DNS rig needs root (port 53 on loopback aliases) and knotd, keymgr, kdig "
         "(packages knot, knot-dnsutils: scripts/install-deps.sh test)";
}

Status KnotRig::start() {
  Impl& m = *m_impl;
  m.temp = std::make_unique<TempDir>("knot-rig");
  m.dir = m.temp->path();
  m.primary = unique_loopback_address();
  m.secondary = unique_loopback_address();
  for (const std::string name : {"primary", "secondary"}) {
    if (::mkdir((m.dir + "/" + name).c_str(), 0700) != 0) {
      return make_error("knot rig: cannot create " + m.dir + "/" + name);
    }
  }
  write_text_file_or_throw(m.dir + "/primary/knot.conf", m.primary_config());
  write_text_file_or_throw(m.dir + "/secondary/knot.conf", m.secondary_config());
  write_text_file_or_throw(m.dir + "/primary/" + m.zone + ".zone", m.zone_file());
  write_text_file_or_throw(m.dir + "/update.key", bind_key("upd", m.update_secret));
  write_text_file_or_throw(m.dir + "/other.key", bind_key("other", m.other_secret));
  write_text_file_or_throw(m.dir + "/wrong.key", bind_key("upd", random_secret()));
  auto primary = m.launch("primary");
  if (!primary) {
    return make_error("knot rig: starting the primary: " + primary.error());
  }
  m.primary_process = std::move(*primary);
  if (auto secondary = start_secondary(); !secondary) {
    return secondary;
  }
  auto ds =
      run_process({find_program("keymgr"), "-c", m.dir + "/primary/knot.conf", m.zone, "ds"}, std::chrono::seconds(20));
  for (const auto& line : split_lines(ds.output)) {
    if (line.find(" DS ") != std::string::npos && line.find(" 13 2 ") != std::string::npos) {
      m.ds = line;
    }
  }
  if (m.ds.empty()) {
    return make_error("knot rig: no DS from keymgr: " + ds.output + logs());
  }
  return Ok{};
}

Status KnotRig::start_secondary() {
  Impl& m = *m_impl;
  m.impostor_process.stop();
  auto secondary = m.launch("secondary");
  if (!secondary) {
    return make_error("knot rig: starting the secondary: " + secondary.error());
  }
  m.secondary_process = std::move(*secondary);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string p = m.signed_serial(*this, m.primary);
    if (!p.empty() && p == m.signed_serial(*this, m.secondary)) {
      return Ok{};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return make_error("knot rig: the primary and the secondary did not serve the signed zone within 15 s\n" + logs());
}

void KnotRig::stop_secondary() {
  m_impl->secondary_process.stop();
}

Expected<std::string> KnotRig::zone_transfer() const {
  auto r = run_process({find_program("kdig"), "@" + m_impl->primary, m_impl->zone, "AXFR", "+nocomments", "+nostats",
                        "+noheader", "+time=2", "+retry=0"},
                       std::chrono::seconds(10));
  if (r.exit_code != 0 || r.output.find(" SOA") == std::string::npos) {
    return make_error("kdig AXFR " + m_impl->zone + " @" + m_impl->primary + ": " + r.output);
  }
  std::string text;
  for (const auto& line : split_lines(r.output)) {
    if (!trim(line).empty() && line.rfind(';', 0) != 0) {
      text += line + "\n";
    }
  }
  return text;
}

Status KnotRig::impersonate_secondary(const std::string& zone_text) {
  Impl& m = *m_impl;
  m.secondary_process.stop();
  m.impostor_process.stop();
  const std::string d = m.dir + "/impostor";
  std::filesystem::remove_all(d);
  if (::mkdir(d.c_str(), 0700) != 0) {
    return make_error("knot rig: cannot create " + d);
  }
  write_text_file_or_throw(d + "/knot.conf", m.impostor_config());
  write_text_file_or_throw(d + "/" + m.zone + ".zone", zone_text);
  SpawnOptions options;
  options.output_path = d + "/knotd.out";
  options.death_signal = SIGTERM;
  auto impostor = ChildProcess::start({find_program("knotd"), "-c", d + "/knot.conf"}, options);
  if (!impostor) {
    return make_error("knot rig: starting the impostor secondary: " + impostor.error());
  }
  m.impostor_process = std::move(*impostor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m.signed_serial(*this, m.secondary).empty()) {
      return Ok{};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return make_error("knot rig: the impostor secondary did not serve the zone within 10 s\n" +
                    read_text_file(d + "/knot.log") + read_text_file(d + "/knotd.out"));
}

std::string KnotRig::delegation_records() const {
  const Impl& m = *m_impl;
  return m.zone + ". NS ns1." + m.zone + ".\n" + m.zone + ". NS ns2." + m.zone + ".\nns1." + m.zone + ". A " +
         m.primary + "\nns2." + m.zone + ". A " + m.secondary + "\n" + m.ds + "\n";
}

const std::string& KnotRig::zone() const {
  return m_impl->zone;
}
const std::string& KnotRig::primary_address() const {
  return m_impl->primary;
}
const std::string& KnotRig::secondary_address() const {
  return m_impl->secondary;
}
const std::string& KnotRig::dir() const {
  return m_impl->dir;
}

std::string KnotRig::key_file(Key key) const {
  switch (key) {
  case Key::Update:
    return m_impl->dir + "/update.key";
  case Key::Other:
    return m_impl->dir + "/other.key";
  case Key::UpdateWrongSecret:
    return m_impl->dir + "/wrong.key";
  }
  return {};
}

Expected<std::vector<std::string>> KnotRig::query(const std::string& address, const std::string& name,
                                                  const std::string& type) const {
  auto r = run_process(
      {find_program("kdig"), "@" + address, name, type, "+dnssec", "+short", "+norecurse", "+time=2", "+retry=0"},
      std::chrono::seconds(10));
  if (r.exit_code != 0) {
    return make_error("kdig @" + address + " " + name + " " + type + ": " + r.output);
  }
  std::vector<std::string> lines;
  for (const auto& line : split_lines(r.output)) {
    if (!trim(line).empty() && line.rfind(";;", 0) != 0) {
      lines.push_back(trim(line));
    }
  }
  return lines;
}

std::string KnotRig::logs() const {
  return "\n--- primary knot.log ---\n" + read_text_file(m_impl->dir + "/primary/knot.log") +
         "\n--- secondary knot.log ---\n" + read_text_file(m_impl->dir + "/secondary/knot.log");
}

} // namespace dane::test
