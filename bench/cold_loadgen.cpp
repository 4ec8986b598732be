// cold_loadgen — "N clients at once, one distinct key each": the cold-path load of bench/cold.sh.
// Benchmark tool; never a test.
//
//   bench_cold_loadgen --connect unix:PATH|inet:127.0.0.1:PORT [--name tlspolicy] [--label TEXT]
//                      [--timeout 120] [--per-request FILE] (--key KEY ... | --prefix d --first 1
//                      --count N [--width 4] [--suffix .cold.test])
//
// Opens one connection per key (all of them first), then sends every request in one burst, one per
// connection, and waits for every answer or --timeout seconds. Each request's latency runs from its own
// write to its answer; "wall" runs from the first write to the last answer. Keys: the --key values, or
// PREFIX + FIRST..FIRST+COUNT-1 zero-padded to --width digits + SUFFIX (d0001.cold.test, ...).
// Output: a human summary, then machine-readable lines
//   RESULT label=.. requests=.. answered=.. unanswered=.. errors=.. wall_ms=.. min_ms=.. p50_ms=.. p99_ms=..
//          max_ms=.. ok=.. notfound=.. temp=.. timeout=.. perm=..
//   KIND count=.. answer="..."      (one per distinct answer kind: "OK dane-only", "NOTFOUND", "TEMP <reason>"
//                                    with the destination's name replaced by "*", most frequent first)
// --per-request FILE gets one line per request: its latency in ms (-1: unanswered), key and answer.
// errors counts connections that failed or closed and undecodable answers; unanswered counts requests
// without an answer at --timeout. Exit status 0 when every connection could be opened and every request
// written (whatever the answers), 1 when that failed, 2 on usage errors.
#include <sys/epoll.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_net.hpp"
#include "dane/policy/codecs.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using dane::policyd::SocketmapStatus;

struct Options {
  std::string connect;
  std::string name = "tlspolicy";
  std::string label = "cold";
  double timeout = 120;
  std::vector<std::string> keys;
  std::string prefix;
  std::string suffix = ".cold.test";
  unsigned long first = 1;
  unsigned long count = 0;
  unsigned width = 4;
  std::string per_request; // file: one line per request
};

struct Conn {
  int fd = -1;
  std::string key;
  std::string answer;
  double latency_ms = -1;
  dane::policyd::NetstringDecoder replies{dane::policyd::k_socketmap_max_reply};
  Clock::time_point sent_at;
  bool answered = false;
  bool dead = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_cold_loadgen: " << why << "\n"
            << "usage: bench_cold_loadgen --connect unix:PATH|inet:127.0.0.1:PORT [--name NAME] [--label TEXT]\n"
               "                          [--timeout SECONDS] [--per-request FILE] (--key KEY ... | --prefix P\n"
               "                          --first F --count N [--width W] [--suffix S])\n";
  std::exit(2);
}

std::string numbered_key(const Options& o, unsigned long n) {
  std::string digits = std::to_string(n);
  if (digits.size() < o.width) {
    digits.insert(0, o.width - digits.size(), '0');
  }
  return o.prefix + digits + o.suffix;
}

Options parse(int argc, char** argv) {
  Options o;
  bool numbered = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage("missing value for " + arg);
      }
      return argv[++i];
    };
    try {
      if (arg == "--connect") {
        o.connect = next();
      } else if (arg == "--name") {
        o.name = next();
      } else if (arg == "--label") {
        o.label = next();
      } else if (arg == "--timeout") {
        o.timeout = std::stod(next());
      } else if (arg == "--key") {
        o.keys.push_back(next());
      } else if (arg == "--prefix") {
        o.prefix = next();
        numbered = true;
      } else if (arg == "--suffix") {
        o.suffix = next();
      } else if (arg == "--first") {
        o.first = std::stoul(next());
      } else if (arg == "--count") {
        o.count = std::stoul(next());
      } else if (arg == "--per-request") {
        o.per_request = next();
      } else if (arg == "--width") {
        o.width = static_cast<unsigned>(std::stoul(next()));
      } else {
        usage("unknown option " + arg);
      }
    } catch (const std::logic_error&) {
      usage("bad value for " + arg);
    }
  }
  if (o.connect.empty()) {
    usage("--connect is required");
  }
  if (o.timeout <= 0 || o.timeout > 3600) {
    usage("--timeout must be in (0, 3600] seconds");
  }
  if (numbered) {
    if (o.count == 0 || o.count > 100000 || o.width > 12) {
      usage("--count must be 1..100000 and --width at most 12");
    }
    for (unsigned long n = o.first; n < o.first + o.count; ++n) {
      o.keys.push_back(numbered_key(o, n));
    }
  }
  if (o.keys.empty()) {
    usage("give --key KEY or --prefix/--count");
  }
  return o;
}

// Up to RLIMIT_NOFILE's hard limit: one descriptor per connection.
void raise_fd_limit(std::size_t needed) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < needed + 64) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, needed + 64);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// The answer with the destination's own name replaced by "*", so answers of one kind group together.
std::string answer_kind(const std::string& payload, const std::string& key) {
  std::string_view text = std::string_view(payload).substr(0, 160);
  std::string_view bare = key;
  if (!bare.empty() && bare.front() == '.') {
    bare.remove_prefix(1);
  }
  std::string kind;
  while (!bare.empty()) {
    std::size_t pos = text.find(bare);
    if (pos == std::string_view::npos) {
      break;
    }
    kind.append(text.substr(0, pos)).append("*");
    text.remove_prefix(pos + bare.size());
  }
  kind.append(text);
  return kind;
}

double percentile_ms(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  auto idx = static_cast<std::size_t>(std::lround(p * static_cast<double>(sorted.size() - 1)));
  return sorted[std::min(idx, sorted.size() - 1)];
}

struct Tally {
  std::vector<double> latencies_ms;
  std::map<std::string, unsigned long> kinds;
  std::array<unsigned long, 5> by_status{};
  unsigned long errors = 0;
  Clock::time_point last_answer;
};

// Reads what `c` has; records its answer once complete. False when the connection is finished with.
bool read_answer(Conn& c, Tally& t) {
  std::array<char, 4096> buf{};
  ssize_t r = read(c.fd, buf.data(), buf.size());
  if (r < 0) {
    return errno == EAGAIN || errno == EINTR;
  }
  if (r == 0) {
    ++t.errors;
    std::cerr << "bench_cold_loadgen: connection for " << c.key << " closed without an answer\n";
    return false;
  }
  std::vector<std::string> payloads;
  if (!c.replies.feed(std::string_view(buf.data(), static_cast<std::size_t>(r)), payloads)) {
    ++t.errors;
    std::cerr << "bench_cold_loadgen: undecodable answer for " << c.key << "\n";
    return false;
  }
  if (payloads.empty()) {
    return true;
  }
  Clock::time_point now = Clock::now();
  t.last_answer = now;
  c.latency_ms = std::chrono::duration<double, std::milli>(now - c.sent_at).count();
  t.latencies_ms.push_back(c.latency_ms);
  c.answered = true;
  c.answer = payloads.front();
  auto reply = dane::policyd::parse_socketmap_answer(payloads.front());
  if (!reply) {
    ++t.errors;
  } else {
    ++t.by_status.at(static_cast<std::size_t>(reply->status));
  }
  ++t.kinds[answer_kind(payloads.front(), c.key)];
  return false;
}

void print_result(const Options& opt, const Tally& t, std::size_t requests, Clock::time_point first_send) {
  std::vector<double> sorted = t.latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  std::size_t answered = sorted.size();
  double wall = answered == 0 ? 0 : std::chrono::duration<double, std::milli>(t.last_answer - first_send).count();
  double min = sorted.empty() ? 0 : sorted.front();
  double max = sorted.empty() ? 0 : sorted.back();
  std::printf("%s: %zu requests over %zu connections: %zu answered, last after %.1f ms; latency min %.1f, p50 %.1f, "
              "p99 %.1f, max %.1f ms; %lu errors\n",
              opt.label.c_str(), requests, requests, answered, wall, min, percentile_ms(sorted, 0.5),
              percentile_ms(sorted, 0.99), max, t.errors);
  std::printf("RESULT label=%s requests=%zu answered=%zu unanswered=%zu errors=%lu wall_ms=%.1f min_ms=%.1f "
              "p50_ms=%.1f p99_ms=%.1f max_ms=%.1f ok=%lu notfound=%lu temp=%lu timeout=%lu perm=%lu\n",
              opt.label.c_str(), requests, answered, requests - answered, t.errors, wall, min,
              percentile_ms(sorted, 0.5), percentile_ms(sorted, 0.99), max, t.by_status[0], t.by_status[1],
              t.by_status[2], t.by_status[3], t.by_status[4]);
  std::vector<std::pair<std::string, unsigned long>> kinds(t.kinds.begin(), t.kinds.end());
  std::stable_sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [kind, count] : kinds) {
    std::printf("KIND count=%lu answer=\"%s\"\n", count, kind.c_str());
  }
}

// One line per request: latency in ms (-1: no answer), the key, the answer.
void write_per_request(const std::string& path, const std::vector<Conn>& conns) {
  std::FILE* out = std::fopen(path.c_str(), "we");
  if (out == nullptr) {
    dane::bench::fail_errno("open " + path);
  }
  for (const auto& c : conns) {
    std::fprintf(out, "%.1f %s %s\n", c.latency_ms, c.key.c_str(), c.answer.c_str());
  }
  std::fclose(out);
}

} // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(opt.keys.size());
  try {
    auto endpoint = dane::bench::parse_endpoint(opt.connect);
    std::vector<std::string> wire;
    wire.reserve(opt.keys.size());
    for (const auto& key : opt.keys) {
      auto request = dane::policyd::encode_socketmap_request(opt.name, key);
      if (!request) {
        usage("key " + key + ": " + request.error());
      }
      wire.push_back(std::move(*request));
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      dane::bench::fail_errno("epoll_create1");
    }
    std::vector<Conn> conns(opt.keys.size());
    for (std::size_t i = 0; i < conns.size(); ++i) {
      conns[i].key = opt.keys[i];
      conns[i].fd = dane::bench::connect_to(endpoint);
      dane::bench::set_nonblocking(conns[i].fd);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) {
        dane::bench::fail_errno("epoll_ctl");
      }
    }
    // Every request in one burst. A request is far below the socket buffer: one write sends it all or fails.
    Clock::time_point first_send = Clock::now();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      conns[i].sent_at = Clock::now();
      if (write(conns[i].fd, wire[i].data(), wire[i].size()) != static_cast<ssize_t>(wire[i].size())) {
        dane::bench::fail_errno("write to the daemon");
      }
    }
    Tally tally;
    std::size_t open = conns.size();
    Clock::time_point deadline =
        first_send + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout));
    std::array<epoll_event, 512> events{};
    while (open > 0 && Clock::now() < deadline) {
      int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
      for (int k = 0; k < n; ++k) {
        Conn& c = conns[events[static_cast<std::size_t>(k)].data.u64];
        if (!c.dead && !read_answer(c, tally)) {
          c.dead = true;
          --open;
          close(c.fd);
        }
      }
    }
    if (open > 0) {
      std::cerr << "bench_cold_loadgen: " << open << " requests unanswered after the --timeout of " << opt.timeout
                << " s\n";
    }
    print_result(opt, tally, conns.size(), first_send);
    if (!opt.per_request.empty()) {
      write_per_request(opt.per_request, conns);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_cold_loadgen: " << e.what() << "\n";
    return 1;
  }
}
