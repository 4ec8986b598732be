// DnsRig: signed zones served by a real nsd on loopback (see dns_rig.hpp for the contract).
#include "dns_rig.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dane/core/fd.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

constexpr const char* k_tools[] = {"nsd", "ldns-keygen", "ldns-signzone"};

std::string absolute_name(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!name.empty() && name.front() == '.') {
    name.erase(0, 1);
  }
  if (name.empty() || name.back() != '.') {
    name += '.';
  }
  return name;
}

bool is_below_or_equal(const std::string& name, const std::string& zone) {
  if (zone == ".") {
    return true;
  }
  if (name == zone) {
    return true;
  }
  return name.size() > zone.size() && name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
         name[name.size() - zone.size() - 1] == '.';
}

struct RunResult {
  int status = -1; // exit status, -1 when it could not run or was killed
  std::string output;
};

// Runs every command in `cwd`, up to 12 at a time (the tools spend their time starting up,
// not computing), each one's stdout+stderr captured; results in order.
std::vector<RunResult> run_all(const std::vector<std::vector<std::string>>& commands, const std::string& cwd) {
  constexpr std::size_t k_parallel = 12;
  std::vector<RunResult> results(commands.size());
  std::deque<std::pair<std::size_t, ChildProcess>> running;
  auto out_file = [&](std::size_t i) { return cwd + "/.run." + std::to_string(i) + ".out"; };
  auto finish_oldest = [&] {
    auto& [i, child] = running.front();
    int status = child.wait();
    results[i].status = status > 127 ? -1 : status;
    results[i].output = read_text_file(out_file(i));
    ::unlink(out_file(i).c_str());
    running.pop_front();
  };
  for (std::size_t i = 0; i < commands.size(); ++i) {
    while (running.size() >= k_parallel) {
      finish_oldest();
    }
    SpawnOptions options;
    options.output_path = out_file(i);
    options.cwd = cwd;
    options.own_process_group = false;
    auto child = ChildProcess::start(commands[i], options);
    if (!child) {
      results[i].output = child.error();
      continue;
    }
    running.emplace_back(i, std::move(*child));
  }
  while (!running.empty()) {
    finish_oldest();
  }
  return results;
}

std::string join_args(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) {
    s += (s.empty() ? "" : " ") + a;
  }
  return s;
}

// A port free for both UDP and TCP on `address` right now.
std::uint16_t free_port(const std::string& address) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    Fd udp(::socket(AF_INET, SOCK_DGRAM, 0));
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      continue;
    }
    socklen_t len = sizeof sa;
    ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    Fd tcp(::socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    ::setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      return ntohs(sa.sin_port);
    }
  }
  return 0;
}

bool can_bind_udp(const std::string& address, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    return false;
  }
  Fd udp(::socket(AF_INET, SOCK_DGRAM, 0));
  return ::bind(udp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

// A DNS query "test. SOA" with the given id.
std::vector<std::uint8_t> soa_query(std::uint16_t id) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id & 0xff),
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x01,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00,
                                 4,
                                 't',
                                 'e',
                                 's',
                                 't',
                                 0,
                                 0x00,
                                 0x06,
                                 0x00,
                                 0x01};
  return q;
}

// True once a server at address:port answers a query (any rcode).
bool dns_answers(const std::string& address, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  Fd s(::socket(AF_INET, SOCK_DGRAM, 0));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return false;
  }
  auto q = soa_query(0x5a5a);
  if (::send(s.get(), q.data(), q.size(), 0) < 0) {
    return false;
  }
  pollfd p{s.get(), POLLIN, 0};
  if (::poll(&p, 1, 100) != 1) {
    return false;
  }
  std::uint8_t buf[512];
  ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
  return n >= 12 && buf[0] == 0x5a && buf[1] == 0x5a;
}

// Change the last hexadecimal digit of `text` (stays a valid digit of the same kind).
bool bump_last_digit(std::string& text) {
  for (auto it = text.rbegin(); it != text.rend(); ++it) {
    char c = *it;
    if (c >= '0' && c <= '8') {
      *it = static_cast<char>(c + 1);
      return true;
    }
    if (c == '9') {
      *it = '0';
      return true;
    }
    bool hex = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (hex) {
      *it = (c == 'f' || c == 'F') ? '0' : static_cast<char>(c + 1);
      return true;
    }
  }
  return false;
}

// One line of ldns-signzone output: owner, ttl, class, type, rdata (tab separated).
struct ZoneLine {
  std::string owner, ttl, klass, type, rdata;
  bool parsed = false;
  std::string raw;
};

ZoneLine parse_line(const std::string& line) {
  ZoneLine z;
  z.raw = line;
  std::istringstream in(line);
  if (!(in >> z.owner >> z.ttl >> z.klass >> z.type)) {
    return z;
  }
  std::getline(in, z.rdata);
  auto start = z.rdata.find_first_not_of(" \t");
  z.rdata = start == std::string::npos ? std::string() : z.rdata.substr(start);
  z.owner = absolute_name(z.owner);
  z.parsed = z.klass == "IN";
  return z;
}

std::string format_line(const ZoneLine& z) {
  if (!z.parsed) {
    return z.raw;
  }
  return z.owner + "\t" + z.ttl + "\tIN\t" + z.type + "\t" + z.rdata;
}

std::string rrsig_covered(const ZoneLine& z) {
  return z.type == "RRSIG" ? z.rdata.substr(0, z.rdata.find_first_of(" \t")) : std::string();
}

std::vector<ZoneLine> parse_zone(const std::string& text) {
  std::vector<ZoneLine> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      lines.push_back(parse_line(line));
    }
  }
  return lines;
}

std::string render_zone(const std::vector<ZoneLine>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += format_line(l) + "\n";
  }
  return out;
}

// Answers REFUSED to every UDP query on address:53 (the lame delegation's server).
class RefusingServer {
public:
  Status start(const std::string& address) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(53);
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    m_socket = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (::bind(m_socket.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      return make_error("cannot bind the REFUSED responder to " + address + ":53 (" + std::strerror(errno) +
                        "; root is needed for LameKind::Refused)");
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return make_error("pipe failed");
    }
    m_wake_read = Fd(pipe_fds[0]);
    m_wake_write = Fd(pipe_fds[1]);
    m_thread = std::thread([this] { serve(); });
    return Ok{};
  }
  ~RefusingServer() {
    if (m_thread.joinable()) {
      char c = 'x';
      [[maybe_unused]] auto n = ::write(m_wake_write.get(), &c, 1);
      m_thread.join();
    }
  }

private:
  void serve() {
    for (;;) {
      pollfd p[2] = {{m_socket.get(), POLLIN, 0}, {m_wake_read.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (p[1].revents != 0) {
        return;
      }
      std::uint8_t buf[4096];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(m_socket.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) {
        continue;
      }
      buf[2] = static_cast<std::uint8_t>((buf[2] | 0x80) & 0xf9); // QR=1, keep opcode/RD, AA=0, TC=0
      buf[3] = static_cast<std::uint8_t>((buf[3] & 0x70) | 0x05); // RCODE=REFUSED
      // Keep only the header and the question section (ANCOUNT/NSCOUNT/ARCOUNT = 0).
      std::size_t end = 12;
      while (end < static_cast<std::size_t>(n) && buf[end] != 0) {
        end += 1 + buf[end];
      }
      end = std::min<std::size_t>(end + 5, static_cast<std::size_t>(n));
      std::fill(buf + 6, buf + 12, 0);
      ::sendto(m_socket.get(), buf, end, 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  Fd m_socket;
  Fd m_wake_read;
  Fd m_wake_write;
  std::thread m_thread;
};

struct Lame {
  std::string name; // absolute
  LameKind kind;
  std::string address;
};

} // namespace

std::string unique_loopback_address() {
  static std::atomic<unsigned> counter{0};
  unsigned n = counter.fetch_add(1);
  auto pid = static_cast<unsigned>(::getpid());
  unsigned second = 64 + ((pid >> 8) & 0x7f);
  unsigned third = pid & 0xff;
  unsigned fourth = 1 + (n % 254);
  return "127." + std::to_string(second) + "." + std::to_string(third) + "." + std::to_string(fourth);
}

struct DnsRig::Impl {
  std::vector<ZoneSpec> zones; // origin stored absolute
  std::vector<Lame> lames;
  std::map<std::string, std::string> key_base; // origin -> "K<origin>+013+NNNNN"
  std::unique_ptr<TempDir> temp_dir;
  std::string dir;
  std::string conf_path;
  std::string ta_path;
  std::string glue_address = "127.0.0.1";
  bool glue_listens = false;
  std::uint16_t port = 0;
  std::uint16_t dead_port = 0;
  mutable ChildProcess nsd;
  bool prepared = false;
  std::unique_ptr<RefusingServer> refuser;
  std::string refuser_address;

  const ZoneSpec* find_zone(const std::string& origin) const {
    for (const auto& z : zones) {
      if (z.origin == origin) {
        return &z;
      }
    }
    return nullptr;
  }

  // Closest enclosing zone strictly above `name` ("" for test.).
  std::string parent_of(const std::string& name) const {
    std::string best;
    for (const auto& z : zones) {
      if (z.origin != name && is_below_or_equal(name, z.origin) && z.origin.size() > best.size()) {
        best = z.origin;
      }
    }
    return best;
  }

  std::string file_for(const std::string& origin, const char* suffix) const {
    return dir + "/" + origin + "zone" + suffix;
  }

  Status make_dir() {
    try {
      temp_dir = std::make_unique<TempDir>("rig"); // mode 0755: nsd may drop privileges on some setups
    } catch (const std::exception& e) {
      return make_error(e.what());
    }
    dir = temp_dir->path();
    return Ok{};
  }

  Status make_keys() {
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> origins;
    for (const auto& z : zones) {
      if (key_base.count(z.origin) == 0) {
        commands.push_back({"ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z.origin});
        origins.push_back(z.origin);
      }
    }
    auto results = run_all(commands, dir);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::string base = r.output.substr(0, r.output.find('\n'));
      if (r.status != 0 || base.empty() || ::access((dir + "/" + base + ".ds").c_str(), R_OK) != 0) {
        return make_error(join_args(commands[i]) + " failed: " + r.output);
      }
      key_base[origins[i]] = base;
    }
    return Ok{};
  }

  std::string ds_line(const ZoneSpec& child) const {
    std::string ds = read_text_file(dir + "/" + key_base.at(child.origin) + ".ds");
    while (!ds.empty() && (ds.back() == '\n' || ds.back() == '\r')) {
      ds.pop_back();
    }
    if (child.signing == ZoneSigning::WrongDs) {
      bump_last_digit(ds);
    }
    return ds;
  }

  std::string zone_text(const ZoneSpec& z) const {
    std::string ttl = std::to_string(z.ttl);
    std::string text = "$ORIGIN " + z.origin + "\n$TTL " + ttl + "\n";
    text += "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 " + ttl + "\n";
    text += "@ IN NS ns.test.\n";
    if (z.origin == "test.") {
      text += "ns.test. IN A " + glue_address + "\n";
    }
    std::istringstream records(z.records);
    std::string line;
    while (std::getline(records, line)) {
      auto start = line.find_first_not_of(" \t");
      if (start != std::string::npos) {
        text += line.substr(start) + "\n"; // indented raw strings: every line names its owner
      }
    }
    for (const auto& child : zones) {
      if (child.origin != z.origin && parent_of(child.origin) == z.origin) {
        text += child.origin + " IN NS ns.test.\n";
        if (child.signing != ZoneSigning::Unsigned) {
          text += ds_line(child) + "\n";
        }
      }
    }
    for (const auto& lame : lames) {
      if (parent_of(lame.name) == z.origin) {
        text += lame.name + " IN NS ns." + lame.name + "\n";
        text += "ns." + lame.name + " IN A " + lame.address + "\n";
      }
    }
    return text;
  }

  std::vector<std::string> sign_command(const ZoneSpec& z, bool expired) const {
    std::vector<std::string> args = {"ldns-signzone", "-f", file_for(z.origin, expired ? ".expired" : ".signed")};
    if (expired) {
      args.insert(args.end(), {"-i", "20200101000000", "-e", "20200201000000"});
    }
    args.push_back(file_for(z.origin, ""));
    args.push_back(key_base.at(z.origin));
    return args;
  }

  // After signing: the file nsd serves, with the zone's deliberate breakage applied.
  Status finish_zone(const ZoneSpec& z) {
    std::string unsigned_file = file_for(z.origin, "");
    std::string served = file_for(z.origin, ".served");
    if (z.signing == ZoneSigning::Unsigned) {
      return write_text_file(served, read_text_file(unsigned_file)) ? Status(Ok{})
                                                                    : make_error("cannot write " + served);
    }
    auto lines = parse_zone(read_text_file(file_for(z.origin, ".signed")));
    std::string owner;
    std::string type;
    if (!z.target.empty()) {
      std::istringstream in(z.target);
      in >> owner >> type;
      owner = absolute_name(owner);
      std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
      bool found = std::any_of(lines.begin(), lines.end(),
                               [&](const ZoneLine& l) { return l.parsed && l.owner == owner && l.type == type; });
      if (!found) {
        return make_error("zone " + z.origin + ": target RRset '" + z.target + "' not found");
      }
    }
    if (z.signing == ZoneSigning::Expired) {
      auto expired_lines = parse_zone(read_text_file(file_for(z.origin, ".expired")));
      if (owner.empty()) {
        lines = expired_lines;
      } else {
        auto is_target_sig = [&](const ZoneLine& l) {
          return l.parsed && l.owner == owner && rrsig_covered(l) == type;
        };
        std::erase_if(lines, is_target_sig);
        for (const auto& l : expired_lines) {
          if (is_target_sig(l)) {
            lines.push_back(l);
          }
        }
      }
    } else if (z.signing == ZoneSigning::BadSignature) {
      if (owner.empty()) {
        return make_error("zone " + z.origin + ": BadSignature needs a target \"OWNER TYPE\"");
      }
      auto it = std::find_if(lines.begin(), lines.end(),
                             [&](const ZoneLine& l) { return l.parsed && l.owner == owner && l.type == type; });
      bool edited = false;
      if (type == "A" || type == "AAAA" || type == "TLSA") {
        edited = bump_last_digit(it->rdata);
      } else if (type == "MX") {
        std::istringstream in(it->rdata);
        unsigned pref = 0;
        std::string exchange;
        in >> pref >> exchange;
        it->rdata = std::to_string(pref + 1) + " " + exchange;
        edited = true;
      } else if (type == "CNAME" || type == "NS") {
        it->rdata = "x" + it->rdata;
        edited = true;
      }
      if (!edited) {
        return make_error("zone " + z.origin + ": BadSignature cannot edit a " + type + " record");
      }
    }
    return write_text_file(served, render_zone(lines)) ? Status(Ok{}) : make_error("cannot write " + served);
  }

  Status write_all_zones() {
    std::vector<std::vector<std::string>> commands;
    for (const auto& z : zones) {
      std::string unsigned_file = file_for(z.origin, "");
      if (!write_text_file(unsigned_file, zone_text(z))) {
        return make_error("cannot write " + unsigned_file);
      }
      if (z.signing != ZoneSigning::Unsigned) {
        commands.push_back(sign_command(z, false));
      }
      if (z.signing == ZoneSigning::Expired) {
        commands.push_back(sign_command(z, true));
      }
    }
    auto results = run_all(commands, dir);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].status != 0) {
        return make_error(join_args(commands[i]) + " failed: " + results[i].output);
      }
    }
    for (const auto& z : zones) {
      if (auto st = finish_zone(z); !st) {
        return st;
      }
    }
    return Ok{};
  }

  Status write_configs() {
    std::string nsd_conf = "server:\n";
    nsd_conf += "  ip-address: 127.0.0.1@" + std::to_string(port) + "\n";
    if (glue_listens) {
      nsd_conf += "  ip-address: " + glue_address + "@53\n";
    }
    nsd_conf += "  do-ip6: no\n  server-count: 1\n  verbosity: 1\n  zonesdir: \"" + dir + "\"\n";
    // No response rate limiting: a test's burst of lookups from one loopback address is not an attack.
    nsd_conf += "  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n";
    nsd_conf += "  database: \"\"\n  pidfile: \"" + dir + "/nsd.pid\"\n  logfile: \"" + dir + "/nsd.log\"\n";
    nsd_conf += "  xfrdfile: \"" + dir + "/xfrd.state\"\n  zonelistfile: \"" + dir + "/zone.list\"\n";
    nsd_conf += "  username: \"\"\n  chroot: \"\"\n";
    nsd_conf += "remote-control:\n  control-enable: no\n";
    for (const auto& z : zones) {
      nsd_conf += "zone:\n  name: \"" + z.origin + "\"\n  zonefile: \"" + file_for(z.origin, ".served") + "\"\n";
    }
    if (!write_text_file(dir + "/nsd.conf", nsd_conf)) {
      return make_error("cannot write nsd.conf");
    }
    std::string ub = "# unbound.conf fragment written by the dane-policyd DNSSEC test rig\nserver:\n";
    ub += "  do-not-query-localhost: no\n  do-ip6: no\n";
    ub += "  local-zone: \"test.\" nodefault\n  local-zone: \"test.\" transparent\n";
    ub += "  local-zone: \".\" refuse\n";
    ub += "  trust-anchor-file: \"" + ta_path + "\"\n";
    ub += "  infra-keep-probing: yes\n";
    ub += "stub-zone:\n  name: \"test.\"\n  stub-addr: 127.0.0.1@" + std::to_string(port) + "\n";
    ub += "forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@" + std::to_string(dead_port) + "\n";
    if (!write_text_file(conf_path, ub)) {
      return make_error("cannot write " + conf_path);
    }
    return Ok{};
  }

  Status prepare() {
    if (auto s = make_dir(); !s) {
      return s;
    }
    conf_path = dir + "/unbound.conf";
    if (is_root()) {
      for (int attempt = 0; attempt < 20 && !glue_listens; ++attempt) {
        std::string candidate = unique_loopback_address();
        if (can_bind_udp(candidate, 53)) {
          glue_address = candidate;
          glue_listens = true;
        }
      }
    }
    for (auto& lame : lames) {
      lame.address = lame.kind == LameKind::Refused ? refusing_address() : unique_loopback_address();
      if (lame.address.empty()) {
        return make_error("no free loopback address for the REFUSED responder");
      }
    }
    if (!lames.empty() && !refuser_address.empty()) {
      refuser = std::make_unique<RefusingServer>();
      if (auto s = refuser->start(refuser_address); !s) {
        return s;
      }
    }
    if (auto s = make_keys(); !s) {
      return s;
    }
    ta_path = dir + "/" + key_base.at("test.") + ".ds";
    if (auto s = write_all_zones(); !s) {
      return s;
    }
    port = free_port("127.0.0.1");
    dead_port = free_port("127.0.0.1");
    if (port == 0 || dead_port == 0) {
      return make_error("no free port on 127.0.0.1");
    }
    return write_configs();
  }

  std::string refusing_address() {
    if (refuser_address.empty()) {
      for (int attempt = 0; attempt < 20; ++attempt) {
        std::string candidate = unique_loopback_address();
        if (can_bind_udp(candidate, 53)) {
          refuser_address = candidate;
          break;
        }
      }
    }
    return refuser_address;
  }

  Status launch() {
    std::string log = dir + "/nsd.stdout";
    SpawnOptions options;
    options.output_path = log;
    options.death_signal = SIGTERM;
    options.own_process_group = false;
    auto child = ChildProcess::start({find_program("nsd"), "-d", "-c", dir + "/nsd.conf"}, options);
    if (!child) {
      return make_error(child.error());
    }
    nsd = std::move(*child);
    for (int i = 0; i < 200; ++i) { // up to ~10-20 s on a loaded machine
      if (dns_answers("127.0.0.1", port) && (!glue_listens || dns_answers(glue_address, 53))) {
        return Ok{};
      }
      ::usleep(50000);
      if (!nsd.running()) {
        return make_error("nsd exited at start-up: " + read_text_file(log) + read_text_file(dir + "/nsd.log"));
      }
    }
    kill_nsd();
    return make_error("nsd did not answer on 127.0.0.1@" + std::to_string(port) + ": " + read_text_file(log) +
                      read_text_file(dir + "/nsd.log"));
  }

  void kill_nsd() {
    nsd.stop(SIGTERM, std::chrono::seconds(5));
    nsd = ChildProcess();
  }
};

DnsRig::DnsRig() : m_impl(std::make_unique<Impl>()) {
  m_impl->zones.push_back(ZoneSpec{"test.", "", ZoneSigning::Signed, "", 300});
}

DnsRig::~DnsRig() {
  m_impl->kill_nsd();
  m_impl->refuser.reset();
  const char* keep = std::getenv("DANE_KEEP_RIG");
  if (m_impl->temp_dir && keep != nullptr && std::string_view(keep) == "1") {
    m_impl->temp_dir->keep();
  }
}

bool DnsRig::start_or_fail(std::unique_ptr<DnsRig>& rig) {
  if (rig == nullptr) {
    return false;
  }
  if (auto started = rig->start(); !started) {
    ADD_FAILURE() << "the DNSSEC rig did not start: " << started.error();
    rig.reset();
    return false;
  }
  return true;
}

bool DnsRig::tools_available() {
  return std::all_of(std::begin(k_tools), std::end(k_tools),
                     [](const char* tool) { return !find_program(tool).empty(); });
}

std::string DnsRig::missing_tools_message() {
  std::string missing;
  for (const char* tool : k_tools) {
    if (find_program(tool).empty()) {
      missing += (missing.empty() ? "" : ", ") + std::string(tool);
    }
  }
  return "the DNSSEC rig needs nsd and ldnsutils (missing: " + (missing.empty() ? "none" : missing) +
         "; run scripts/install-deps.sh)";
}

void DnsRig::add_zone(ZoneSpec zone) {
  zone.origin = absolute_name(zone.origin);
  if (zone.origin == "test.") {
    m_impl->zones.front().records += "\n" + zone.records;
    return;
  }
  m_impl->zones.push_back(std::move(zone));
}

void DnsRig::add_lame_delegation(const std::string& name, LameKind kind) {
  m_impl->lames.push_back(Lame{absolute_name(name), kind, {}});
}

Status DnsRig::start() {
  if (running()) {
    return Ok{};
  }
  if (!tools_available()) {
    return make_error(missing_tools_message());
  }
  if (!m_impl->prepared) {
    for (const auto& z : m_impl->zones) {
      if (!is_below_or_equal(z.origin, "test.")) {
        return make_error("zone " + z.origin + " is not below test.");
      }
    }
    if (auto s = m_impl->prepare(); !s) {
      return s;
    }
    m_impl->prepared = true;
  }
  return m_impl->launch();
}

void DnsRig::stop() {
  m_impl->kill_nsd();
}

bool DnsRig::running() const {
  return m_impl->nsd.running();
}

Status DnsRig::replace_zone(ZoneSpec zone) {
  zone.origin = absolute_name(zone.origin);
  auto it = std::find_if(m_impl->zones.begin(), m_impl->zones.end(),
                         [&](const ZoneSpec& z) { return z.origin == zone.origin; });
  if (it == m_impl->zones.end()) {
    return make_error("replace_zone: no zone " + zone.origin + " in the rig");
  }
  *it = std::move(zone);
  if (!m_impl->prepared) {
    return Ok{};
  }
  bool was_running = running();
  if (auto s = m_impl->write_all_zones(); !s) {
    return s;
  }
  stop();
  return was_running ? m_impl->launch() : Status(Ok{});
}

const std::string& DnsRig::unbound_config_path() const {
  return m_impl->conf_path;
}

ResolverConfig DnsRig::resolver_config(std::chrono::milliseconds timeout) const {
  ResolverConfig config;
  config.unbound_config = m_impl->conf_path;
  config.timeout = timeout;
  return config;
}

std::vector<std::string> DnsRig::cli_args(int dns_timeout_seconds) const {
  return {"--unbound-config", m_impl->conf_path, "--dns-timeout", std::to_string(dns_timeout_seconds)};
}

const std::string& DnsRig::dir() const {
  return m_impl->dir;
}

std::uint16_t DnsRig::port() const {
  return m_impl->port;
}

std::string DnsRig::server_address() const {
  return "127.0.0.1@" + std::to_string(m_impl->port);
}

const std::string& DnsRig::trust_anchor_file() const {
  return m_impl->ta_path;
}

std::string DnsRig::nsd_log() const {
  return read_text_file(m_impl->dir + "/nsd.log");
}

} // namespace dane::test
