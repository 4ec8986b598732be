// loadgen — socketmap load generator for dane-policyd and bench_floor_server. Benchmark tool; never a test.
//
//   bench_loadgen --connect unix:PATH|inet:127.0.0.1:PORT [--connections 50] [--requests 200000]
//                 [--duration 30] [--warmup 0] [--name tlspolicy] [--key KEY ...] [--distinct N]
//                 [--suffix bench.test] [--expect "OK dane-only"]
//
// Opens N persistent connections, keeps exactly one request in flight on each (as Postfix does), and sends
// `--requests` requests in total, stopping earlier at `--duration` seconds (both always bounded). Keys:
// the --key values in turn (default example.com), or with --distinct N the keys d0.SUFFIX ... d(N-1).SUFFIX
// in turn (each distinct once when --requests == N). The first --warmup replies are not measured.
// Loopback and unix sockets only. Output: a human summary and one machine-readable line
//   RESULT requests=.. seconds=.. qps=.. p50_us=.. p99_us=.. max_us=.. errors=.. ok=.. notfound=.. temp=..
//          timeout=.. perm=.. unexpected=..
// errors counts broken connections and undecodable replies; unexpected counts replies that differ from
// --expect when given. Exit status 0 when errors == 0, 1 otherwise, 2 on usage errors.
#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <vector>

#include "bench_net.hpp"
#include "dane/policy/codecs.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using dane::policyd::SocketmapStatus;

struct Options {
  std::string connect;
  std::size_t connections = 50;
  std::uint64_t requests = 200000;
  double duration = 30;
  std::uint64_t warmup = 0;
  std::string name = "tlspolicy";
  std::vector<std::string> keys;
  std::uint64_t distinct = 0;
  std::string suffix = "bench.test";
  std::optional<std::string> expect;
};

struct Conn {
  int fd = -1;
  dane::policyd::NetstringDecoder replies{dane::policyd::k_socketmap_max_reply};
  std::vector<std::string> payloads;
  Clock::time_point sent_at;
  bool in_flight = false;
  bool dead = false;
};

[[noreturn]] void usage(const char* why) {
  std::cerr << "bench_loadgen: " << why << "\n"
            << "usage: bench_loadgen --connect unix:PATH|inet:127.0.0.1:PORT [--connections N] [--requests M]\n"
               "                     [--duration SECONDS] [--warmup W] [--name NAME] [--key KEY ...]\n"
               "                     [--distinct N] [--suffix DOMAIN] [--expect ANSWER]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(("missing value for " + arg).c_str());
      }
      return argv[++i];
    };
    try {
      if (arg == "--connect") {
        o.connect = next();
      } else if (arg == "--connections") {
        o.connections = std::stoul(next());
      } else if (arg == "--requests") {
        o.requests = std::stoull(next());
      } else if (arg == "--duration") {
        o.duration = std::stod(next());
      } else if (arg == "--warmup") {
        o.warmup = std::stoull(next());
      } else if (arg == "--name") {
        o.name = next();
      } else if (arg == "--key") {
        o.keys.push_back(next());
      } else if (arg == "--distinct") {
        o.distinct = std::stoull(next());
      } else if (arg == "--suffix") {
        o.suffix = next();
      } else if (arg == "--expect") {
        o.expect = next();
      } else {
        usage(("unknown option " + arg).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + arg).c_str());
    }
  }
  if (o.connect.empty()) {
    usage("--connect is required");
  }
  if (o.connections == 0 || o.connections > 10000) {
    usage("--connections must be 1..10000");
  }
  if (o.duration <= 0 || o.duration > 3600) {
    usage("--duration must be in (0, 3600] seconds");
  }
  if (o.keys.empty()) {
    o.keys.push_back("example.com");
  }
  return o;
}

double percentile(std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  std::size_t idx = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(idx, sorted.size() - 1)] / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    auto endpoint = dane::bench::parse_endpoint(opt.connect);
    // Pre-encode the request for each key (distinct keys are encoded on the fly).
    std::vector<std::string> fixed;
    for (const auto& key : opt.keys) {
      auto wire = dane::policyd::encode_socketmap_request(opt.name, key);
      if (!wire) {
        usage(wire.error().c_str());
      }
      fixed.push_back(std::move(*wire));
    }
    std::uint64_t next_index = 0;
    auto next_request = [&]() -> std::string {
      std::uint64_t i = next_index++;
      if (opt.distinct > 0) {
        return *dane::policyd::encode_socketmap_request(opt.name,
                                                        "d" + std::to_string(i % opt.distinct) + "." + opt.suffix);
      }
      return fixed[i % fixed.size()];
    };

    int ep = epoll_create1(EPOLL_CLOEXEC);
    std::vector<Conn> conns(opt.connections);
    for (std::size_t c = 0; c < conns.size(); ++c) {
      conns[c].fd = dane::bench::connect_to(endpoint);
      dane::bench::set_nonblocking(conns[c].fd);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c;
      epoll_ctl(ep, EPOLL_CTL_ADD, conns[c].fd, &ev);
    }

    std::uint64_t sent = 0;
    std::uint64_t done = 0;
    std::uint64_t errors = 0;
    std::uint64_t unexpected = 0;
    std::uint64_t by_status[5] = {0, 0, 0, 0, 0};
    std::vector<std::uint32_t> latencies_ns;
    latencies_ns.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(opt.requests, 10'000'000)));
    std::size_t live = conns.size();

    auto kill = [&](Conn& c, const std::string& why) {
      if (!c.dead) {
        c.dead = true;
        ++errors;
        --live;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        std::cerr << "bench_loadgen: connection lost: " << why << "\n";
      }
    };
    auto send_one = [&](Conn& c) {
      if (c.dead || sent >= opt.requests) {
        return;
      }
      std::string req = next_request();
      c.sent_at = Clock::now();
      // A request is far below the socket buffer size: one write either sends it all or fails.
      ssize_t w = write(c.fd, req.data(), req.size());
      if (w != static_cast<ssize_t>(req.size())) {
        kill(c, w < 0 ? std::strerror(errno) : "short write");
        return;
      }
      c.in_flight = true;
      ++sent;
    };

    Clock::time_point start = Clock::now();
    Clock::time_point measure_start = start;
    Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));
    if (opt.warmup == 0) {
      measure_start = Clock::now();
    }
    for (auto& c : conns) {
      send_one(c);
    }
    std::vector<char> buf(1 << 16);
    epoll_event events[512];
    bool timed_out = false;
    while (done < sent && live > 0) {
      Clock::time_point now = Clock::now();
      if (now >= deadline) {
        timed_out = true;
        break;
      }
      int n = epoll_wait(ep, events, 512, 100);
      if (n < 0 && errno != EINTR) {
        dane::bench::fail_errno("epoll_wait");
      }
      for (int k = 0; k < n; ++k) {
        Conn& c = conns[events[k].data.u64];
        if (c.dead) {
          continue;
        }
        ssize_t r = read(c.fd, buf.data(), buf.size());
        if (r == 0) {
          kill(c, "closed by the server");
          continue;
        }
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) {
            kill(c, std::strerror(errno));
          }
          continue;
        }
        c.payloads.clear();
        if (!c.replies.feed(std::string_view(buf.data(), static_cast<std::size_t>(r)), c.payloads)) {
          kill(c, c.replies.error()->message);
          continue;
        }
        if (c.payloads.empty()) {
          continue;
        }
        if (c.payloads.size() > 1 || !c.in_flight) {
          kill(c, "more replies than requests");
          continue;
        }
        Clock::time_point got = Clock::now();
        c.in_flight = false;
        ++done;
        if (done == opt.warmup) {
          measure_start = got;
        }
        if (done > opt.warmup) {
          auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(got - c.sent_at).count();
          latencies_ns.push_back(static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX)));
        }
        const std::string& payload = c.payloads[0];
        auto reply = dane::policyd::parse_socketmap_answer(payload);
        if (!reply) {
          ++errors;
        } else {
          ++by_status[static_cast<int>(reply->status)];
        }
        if (opt.expect && payload != *opt.expect) {
          ++unexpected;
        }
        send_one(c);
      }
    }
    Clock::time_point end = Clock::now();
    for (auto& c : conns) {
      if (!c.dead) {
        close(c.fd);
      }
    }
    double seconds = std::chrono::duration<double>(end - measure_start).count();
    std::uint64_t measured = latencies_ns.size();
    double qps = seconds > 0 ? static_cast<double>(measured) / seconds : 0;
    std::sort(latencies_ns.begin(), latencies_ns.end());
    double p50 = percentile(latencies_ns, 0.50);
    double p99 = percentile(latencies_ns, 0.99);
    double max = latencies_ns.empty() ? 0 : latencies_ns.back() / 1000.0;
    if (timed_out) {
      std::cerr << "bench_loadgen: stopped at the --duration limit after " << done << " of " << opt.requests
                << " requests\n";
    }
    std::printf("%" PRIu64 " requests measured (%" PRIu64 " warm-up) over %zu connections in %.3f s: %.0f q/s, "
                "latency p50 %.1f us, p99 %.1f us, max %.1f us, %" PRIu64 " errors\n",
                measured, std::min(opt.warmup, done), opt.connections, seconds, qps, p50, p99, max, errors);
    std::printf("RESULT requests=%" PRIu64 " seconds=%.3f qps=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%" PRIu64
                " ok=%" PRIu64 " notfound=%" PRIu64 " temp=%" PRIu64 " timeout=%" PRIu64 " perm=%" PRIu64
                " unexpected=%" PRIu64 "\n",
                measured, seconds, qps, p50, p99, max, errors, by_status[0], by_status[1], by_status[2], by_status[3],
                by_status[4], unexpected);
    return errors == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_loadgen: " << e.what() << "\n";
    return 1;
  }
}
