// dns_delay_proxy — a DNS proxy on loopback that adds a round-trip time to every answer, for the cold-path
// benchmark (bench/cold.sh). Benchmark tool only; never a test.
//
//   bench_dns_delay_proxy --listen 127.0.0.1:PORT [--listen ADDR:PORT ...] --upstream 127.0.0.1:PORT
//                         [--delay-ms 100] [--blackhole ADDR:PORT ...] [--log-queries FILE] [--max-seconds 3600]
//   bench_dns_delay_proxy --free-port 127.0.0.1           # print a port free for UDP and TCP there
//   bench_dns_delay_proxy --burst-check 127.0.0.1:PORT [--burst 1000] [--qname cold.test]
//
// Proxy mode: every query that arrives over UDP or TCP on a --listen address is forwarded at once to the
// upstream server (nsd) and its answer is sent back no earlier than --delay-ms after the query arrived
// (one timer per query in a heap, never a queue: any number of queries are in flight at once, and the
// answer leaves at arrival + delay, or when the upstream answers if that is later). UDP queries get a
// proxy-unique message ID upstream (restored in the answer); a query whose answer never comes is dropped
// after 10 s. TCP: one upstream connection per client connection, answers in query order. --blackhole
// binds UDP and TCP at an address and swallows everything (a zone whose servers do not answer).
// --log-queries writes one line per query: milliseconds since start, udp|tcp, name, type.
// Single-threaded (epoll). Listening on port 53 needs root. Addresses must be loopback.
// Prints "ready" once every socket is bound. On SIGUSR1 and at exit it prints one line
//   STATS udp_queries=.. tcp_queries=.. answers=.. dropped=.. expired=.. blackholed=.. in_flight=.. max_in_flight=..
// (counters since start, except max_in_flight: the most queries in flight at once since the previous STATS
// line), and exits on SIGINT/SIGTERM or after --max-seconds.
//
// --burst-check sends --burst copies of the query "QNAME TXT" (a NODATA answer in the benchmark's zone) at
// once over UDP and waits up to 3 s for the answers; prints "BURST sent=N answered=M" and exits 0 when all
// were answered (nsd's response rate limiting is off), 1 otherwise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

#include "dns_bench.hpp"

namespace {

using namespace dane::bench::dns;
constexpr std::chrono::seconds k_query_lifetime{10};
constexpr std::size_t k_max_message = 65535;

struct Options {
  std::vector<sockaddr_in> listen;
  std::vector<sockaddr_in> blackhole;
  sockaddr_in upstream{};
  bool have_upstream = false;
  std::chrono::milliseconds delay{100};
  long max_seconds = 3600;
  std::string query_log; // one line per query: milliseconds since start, protocol, name, type
};

// A UDP query waiting for its upstream answer, indexed by the proxy's message ID.
struct PendingUdp {
  bool in_use = false;
  int listen_fd = -1;
  sockaddr_in client{};
  std::uint16_t client_id = 0;
  Clock::time_point arrived;
};

struct TcpPair {
  int client = -1;
  int upstream = -1;
  std::string client_in;   // bytes from the client not yet a whole message
  std::string upstream_in; // bytes from upstream not yet a whole message
  std::string to_upstream; // not yet written upstream
  std::string to_client;   // released answers not yet written to the client
  std::deque<Clock::time_point> arrivals;
};

// An answer waiting for its release time.
struct Release {
  Clock::time_point at;
  std::uint64_t seq = 0;
  bool tcp = false;
  int fd = -1;               // UDP: the listening socket to send from
  sockaddr_in client{};      // UDP
  std::uint64_t pair_id = 0; // TCP
  std::string message;
  bool operator>(const Release& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

enum Kind : std::uint64_t { UdpListen, UdpUpstream, TcpListen, TcpClient, TcpUpstream, HoleUdp, HoleTcp, Signal };

std::uint64_t tag(Kind kind, std::uint64_t value) {
  return (static_cast<std::uint64_t>(kind) << 56) | value;
}

class Proxy {
public:
  explicit Proxy(Options options) : m_opt(std::move(options)), m_pending(65536) {}
  int run();

private:
  void add(int fd, Kind kind, std::uint64_t value, std::uint32_t events = EPOLLIN) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(kind, value);
    if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      fail_errno("epoll_ctl");
    }
  }
  void setup();
  void on_udp_query(int fd);
  void on_udp_answer();
  void on_tcp_accept(int fd);
  void on_tcp_client(std::uint64_t id);
  void on_tcp_upstream(std::uint64_t id);
  void flush_tcp(TcpPair& pair, std::uint64_t id);
  void close_pair(std::uint64_t id);
  void swallow(int fd, bool tcp);
  void release_due();
  void expire_pending();
  int timeout_ms() const;
  void schedule(Release r) {
    r.seq = m_seq++;
    m_releases.push(std::move(r));
  }
  void print_stats() const {
    std::printf("STATS udp_queries=%llu tcp_queries=%llu answers=%llu dropped=%llu expired=%llu blackholed=%llu "
                "in_flight=%llu max_in_flight=%llu\n",
                m_udp_queries, m_tcp_queries, m_answers, m_dropped, m_expired, m_blackholed, m_in_flight,
                m_max_in_flight);
    std::fflush(stdout);
  }
  void started_query(const char* protocol, std::string_view message) {
    ++m_in_flight;
    m_max_in_flight = std::max(m_max_in_flight, m_in_flight);
    if (m_query_log != nullptr) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_started).count();
      std::fprintf(m_query_log, "%lld %s %s\n", static_cast<long long>(ms), protocol,
                   describe_question(message).c_str());
    }
  }

  Options m_opt;
  std::FILE* m_query_log = nullptr;
  Clock::time_point m_started = Clock::now();
  int m_epoll = -1;
  int m_upstream_udp = -1;
  int m_signal_fd = -1;
  std::vector<PendingUdp> m_pending;
  std::uint16_t m_next_id = 0;
  std::map<std::uint64_t, TcpPair> m_pairs;
  std::uint64_t m_next_pair = 1;
  std::priority_queue<Release, std::vector<Release>, std::greater<>> m_releases;
  std::uint64_t m_seq = 0;
  bool m_stop = false;
  unsigned long long m_udp_queries = 0, m_tcp_queries = 0, m_answers = 0, m_dropped = 0, m_expired = 0;
  unsigned long long m_blackholed = 0, m_in_flight = 0, m_max_in_flight = 0;
};

void Proxy::setup() {
  if (!m_opt.query_log.empty()) {
    m_query_log = std::fopen(m_opt.query_log.c_str(), "we");
    if (m_query_log == nullptr) {
      fail_errno("open " + m_opt.query_log);
    }
    setvbuf(m_query_log, nullptr, _IOLBF, 0);
  }
  m_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (m_epoll < 0) {
    fail_errno("epoll_create1");
  }
  auto bound = [](int type, const sockaddr_in& sa) { return static_cast<std::uint64_t>(bind_socket(type, sa)); };
  for (const auto& sa : m_opt.listen) {
    std::uint64_t udp = bound(SOCK_DGRAM, sa);
    add(static_cast<int>(udp), UdpListen, udp);
    std::uint64_t tcp = bound(SOCK_STREAM, sa);
    add(static_cast<int>(tcp), TcpListen, tcp);
  }
  for (const auto& sa : m_opt.blackhole) {
    std::uint64_t udp = bound(SOCK_DGRAM, sa);
    add(static_cast<int>(udp), HoleUdp, udp);
    std::uint64_t tcp = bound(SOCK_STREAM, sa);
    add(static_cast<int>(tcp), HoleTcp, tcp);
  }
  m_upstream_udp = make_socket(SOCK_DGRAM);
  grow_buffers(m_upstream_udp);
  if (connect(m_upstream_udp, reinterpret_cast<const sockaddr*>(&m_opt.upstream), sizeof m_opt.upstream) != 0) {
    fail_errno("connect upstream " + to_text(m_opt.upstream));
  }
  add(m_upstream_udp, UdpUpstream, 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  m_signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (m_signal_fd < 0) {
    fail_errno("signalfd");
  }
  add(m_signal_fd, Signal, 0);
}

void Proxy::on_udp_query(int fd) {
  std::array<char, k_max_message> buf{};
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      return;
    }
    if (n < 12) {
      ++m_dropped;
      continue;
    }
    ++m_udp_queries;
    std::uint16_t id = m_next_id;
    int tries = 0;
    while (m_pending[id].in_use && tries < 65536) {
      ++id;
      ++tries;
    }
    if (m_pending[id].in_use) {
      ++m_dropped; // 65536 queries in flight: more than any benchmark sends
      continue;
    }
    m_next_id = static_cast<std::uint16_t>(id + 1);
    PendingUdp& p = m_pending[id];
    p = PendingUdp{
        true, fd, from,
        static_cast<std::uint16_t>((static_cast<unsigned char>(buf[0]) << 8) | static_cast<unsigned char>(buf[1])),
        Clock::now()};
    buf[0] = static_cast<char>(id >> 8);
    buf[1] = static_cast<char>(id & 0xff);
    if (send(m_upstream_udp, buf.data(), static_cast<std::size_t>(n), 0) != n) {
      p.in_use = false;
      ++m_dropped;
      continue;
    }
    started_query("udp", std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
}

void Proxy::on_udp_answer() {
  std::array<char, k_max_message> buf{};
  for (;;) {
    ssize_t n = recv(m_upstream_udp, buf.data(), buf.size(), 0);
    if (n < 0) {
      return;
    }
    if (n < 12) {
      continue;
    }
    auto id =
        static_cast<std::uint16_t>((static_cast<unsigned char>(buf[0]) << 8) | static_cast<unsigned char>(buf[1]));
    PendingUdp& p = m_pending[id];
    if (!p.in_use) {
      continue; // expired meanwhile
    }
    p.in_use = false;
    buf[0] = static_cast<char>(p.client_id >> 8);
    buf[1] = static_cast<char>(p.client_id & 0xff);
    Release r;
    r.at = std::max(Clock::now(), p.arrived + m_opt.delay);
    r.fd = p.listen_fd;
    r.client = p.client;
    r.message.assign(buf.data(), static_cast<std::size_t>(n));
    schedule(std::move(r));
  }
}

void Proxy::on_tcp_accept(int listen_fd) {
  for (;;) {
    int client = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      return;
    }
    int upstream = make_socket(SOCK_STREAM);
    if (connect(upstream, reinterpret_cast<const sockaddr*>(&m_opt.upstream), sizeof m_opt.upstream) != 0 &&
        errno != EINPROGRESS) {
      close(upstream);
      close(client);
      ++m_dropped;
      continue;
    }
    std::uint64_t id = m_next_pair++;
    TcpPair& pair = m_pairs[id];
    pair.client = client;
    pair.upstream = upstream;
    add(client, TcpClient, id);
    add(upstream, TcpUpstream, id, EPOLLIN | EPOLLOUT);
  }
}

// Appends what `fd` has to `into`; false when the peer closed or the connection broke.
bool read_some(int fd, std::string& into) {
  std::array<char, 16384> buf{};
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n > 0) {
      into.append(buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
  }
}

// Removes whole length-prefixed messages from the front of `buffer`.
std::vector<std::string> take_messages(std::string& buffer) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (buffer.size() - pos >= 2) {
    std::size_t len = (static_cast<unsigned char>(buffer[pos]) << 8) | static_cast<unsigned char>(buffer[pos + 1]);
    if (buffer.size() - pos - 2 < len) {
      break;
    }
    out.push_back(buffer.substr(pos, len + 2));
    pos += len + 2;
  }
  buffer.erase(0, pos);
  return out;
}

void write_some(int fd, std::string& out) {
  while (!out.empty()) {
    ssize_t n = write(fd, out.data(), out.size());
    if (n <= 0) {
      return;
    }
    out.erase(0, static_cast<std::size_t>(n));
  }
}

void Proxy::on_tcp_client(std::uint64_t id) {
  auto it = m_pairs.find(id);
  if (it == m_pairs.end()) {
    return;
  }
  TcpPair& pair = it->second;
  bool open = read_some(pair.client, pair.client_in);
  for (auto& message : take_messages(pair.client_in)) {
    ++m_tcp_queries;
    started_query("tcp", std::string_view(message).substr(2));
    pair.arrivals.push_back(Clock::now());
    pair.to_upstream += message;
  }
  flush_tcp(pair, id);
  if (!open) {
    close_pair(id);
  }
}

void Proxy::on_tcp_upstream(std::uint64_t id) {
  auto it = m_pairs.find(id);
  if (it == m_pairs.end()) {
    return;
  }
  TcpPair& pair = it->second;
  bool open = read_some(pair.upstream, pair.upstream_in);
  for (auto& message : take_messages(pair.upstream_in)) {
    if (pair.arrivals.empty()) {
      continue; // an answer nobody asked for
    }
    Release r;
    r.at = std::max(Clock::now(), pair.arrivals.front() + m_opt.delay);
    pair.arrivals.pop_front();
    r.tcp = true;
    r.pair_id = id;
    r.message = std::move(message);
    schedule(std::move(r));
  }
  flush_tcp(pair, id);
  if (!open) {
    close_pair(id);
  }
}

void Proxy::flush_tcp(TcpPair& pair, std::uint64_t id) {
  write_some(pair.upstream, pair.to_upstream);
  write_some(pair.client, pair.to_client);
  epoll_event ev{};
  ev.events = EPOLLIN | (pair.to_upstream.empty() ? 0U : static_cast<std::uint32_t>(EPOLLOUT));
  ev.data.u64 = tag(TcpUpstream, id);
  epoll_ctl(m_epoll, EPOLL_CTL_MOD, pair.upstream, &ev);
  ev.events = EPOLLIN | (pair.to_client.empty() ? 0U : static_cast<std::uint32_t>(EPOLLOUT));
  ev.data.u64 = tag(TcpClient, id);
  epoll_ctl(m_epoll, EPOLL_CTL_MOD, pair.client, &ev);
}

void Proxy::close_pair(std::uint64_t id) {
  auto it = m_pairs.find(id);
  if (it == m_pairs.end()) {
    return;
  }
  m_dropped += it->second.arrivals.size();
  m_in_flight -= std::min<unsigned long long>(m_in_flight, it->second.arrivals.size());
  close(it->second.client);
  close(it->second.upstream);
  m_pairs.erase(it);
}

void Proxy::swallow(int fd, bool tcp) {
  // UDP: read and forget. TCP: accept and close at once (the resolver then sees the connection end, no answer).
  std::array<char, 4096> buf{};
  for (;;) {
    if (tcp) {
      int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) {
        return;
      }
      close(conn);
    } else if (recv(fd, buf.data(), buf.size(), 0) < 0) {
      return;
    }
    ++m_blackholed;
  }
}

void Proxy::release_due() {
  Clock::time_point now = Clock::now();
  while (!m_releases.empty() && m_releases.top().at <= now) {
    Release r = m_releases.top();
    m_releases.pop();
    m_in_flight -= std::min<unsigned long long>(m_in_flight, 1);
    if (!r.tcp) {
      sendto(r.fd, r.message.data(), r.message.size(), 0, reinterpret_cast<const sockaddr*>(&r.client),
             sizeof r.client);
      ++m_answers;
      continue;
    }
    auto it = m_pairs.find(r.pair_id);
    if (it == m_pairs.end()) {
      ++m_dropped;
      continue;
    }
    it->second.to_client += r.message;
    flush_tcp(it->second, r.pair_id);
    ++m_answers;
  }
}

void Proxy::expire_pending() {
  Clock::time_point limit = Clock::now() - k_query_lifetime;
  for (auto& p : m_pending) {
    if (p.in_use && p.arrived < limit) {
      p.in_use = false;
      ++m_expired;
      m_in_flight -= std::min<unsigned long long>(m_in_flight, 1);
    }
  }
}

int Proxy::timeout_ms() const {
  if (m_releases.empty()) {
    return 1000;
  }
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(m_releases.top().at - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(wait, 0, 1000));
}

int Proxy::run() {
  setup();
  std::printf("ready: %zu listen address(es), upstream %s, delay %lld ms\n", m_opt.listen.size(),
              to_text(m_opt.upstream).c_str(), static_cast<long long>(m_opt.delay.count()));
  std::fflush(stdout);
  Clock::time_point end = Clock::now() + std::chrono::seconds(m_opt.max_seconds);
  Clock::time_point next_sweep = Clock::now() + std::chrono::seconds(1);
  std::array<epoll_event, 256> events{};
  while (!m_stop && Clock::now() < end) {
    int n = epoll_wait(m_epoll, events.data(), static_cast<int>(events.size()), timeout_ms());
    for (int i = 0; i < n; ++i) {
      std::uint64_t value = events[static_cast<std::size_t>(i)].data.u64 & ((1ULL << 56) - 1);
      switch (static_cast<Kind>(events[static_cast<std::size_t>(i)].data.u64 >> 56)) {
      case UdpListen:
        on_udp_query(static_cast<int>(value));
        break;
      case HoleUdp:
      case HoleTcp:
        swallow(static_cast<int>(value), (events[static_cast<std::size_t>(i)].data.u64 >> 56) == HoleTcp);
        break;
      case UdpUpstream:
        on_udp_answer();
        break;
      case TcpListen:
        on_tcp_accept(static_cast<int>(value));
        break;
      case TcpClient:
        on_tcp_client(value);
        break;
      case TcpUpstream:
        on_tcp_upstream(value);
        break;
      case Signal: {
        signalfd_siginfo info{};
        while (read(m_signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          if (info.ssi_signo == SIGUSR1) {
            print_stats();
            m_max_in_flight = m_in_flight; // the next line's maximum is that of the interval since this one
          } else {
            m_stop = true;
          }
        }
        break;
      }
      }
    }
    release_due();
    if (Clock::now() >= next_sweep) {
      expire_pending();
      next_sweep = Clock::now() + std::chrono::seconds(1);
    }
  }
  print_stats();
  return 0;
}

} // namespace

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_dns_delay_proxy: " << why << "\n"
            << "usage: bench_dns_delay_proxy --listen 127.0.0.1:PORT [--listen ...] --upstream 127.0.0.1:PORT\n"
               "                             [--delay-ms 100] [--blackhole ADDR:PORT ...] [--log-queries FILE]\n"
               "                             [--max-seconds 3600]\n"
               "       bench_dns_delay_proxy --free-port 127.0.0.1\n"
               "       bench_dns_delay_proxy --burst-check 127.0.0.1:PORT [--burst 1000] [--qname cold.test]\n";
  std::exit(2);
}

int main(int argc, char** argv) {
  Options opt;
  std::string free_port_host;
  std::string burst_target;
  int burst = 1000;
  std::string qname = "cold.test";
  try {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) {
          usage("missing value for " + arg);
        }
        return argv[++i];
      };
      if (arg == "--listen") {
        opt.listen.push_back(parse_address(next()));
      } else if (arg == "--upstream") {
        opt.upstream = parse_address(next());
        opt.have_upstream = true;
      } else if (arg == "--delay-ms") {
        opt.delay = std::chrono::milliseconds(std::stol(next()));
      } else if (arg == "--blackhole") {
        opt.blackhole.push_back(parse_address(next()));
      } else if (arg == "--log-queries") {
        opt.query_log = next();
      } else if (arg == "--max-seconds") {
        opt.max_seconds = std::stol(next());
      } else if (arg == "--free-port") {
        free_port_host = next();
      } else if (arg == "--burst-check") {
        burst_target = next();
      } else if (arg == "--burst") {
        burst = std::stoi(next());
      } else if (arg == "--qname") {
        qname = next();
      } else {
        usage("unknown option " + arg);
      }
    }
    if (!free_port_host.empty()) {
      return print_free_port(free_port_host);
    }
    if (!burst_target.empty()) {
      if (burst < 1 || burst > 65536) {
        usage("--burst must be 1..65536");
      }
      return burst_check(burst_target, burst, qname);
    }
    if (opt.listen.empty() || !opt.have_upstream) {
      usage("--listen and --upstream are required");
    }
    if (opt.delay.count() < 0 || opt.max_seconds <= 0) {
      usage("--delay-ms must be >= 0 and --max-seconds > 0");
    }
    return Proxy(std::move(opt)).run();
  } catch (const std::logic_error& e) {
    usage(std::string("bad number: ") + e.what());
  } catch (const std::exception& e) {
    std::cerr << "bench_dns_delay_proxy: " << e.what() << "\n";
    return 1;
  }
}
