// floor_server — the throughput floor for socketmap on this machine (docs/design.md §7).
//
// A single-threaded epoll server that answers every socketmap request with one constant reply (default
// "OK dane-only"), using the project's own SocketmapDecoder, so the only work per request is the codec and
// the system calls. Nothing a real policy server does can be cheaper; bench/run.sh compares dane-policyd's
// cache-hit path with it. Benchmark tool only; never a test.
//
//   bench_floor_server --listen unix:PATH|inet:127.0.0.1:PORT [--answer "OK dane-only"] [--max-seconds 600]
//
// Prints "listening on ENDPOINT" once ready (inet port 0: the chosen port), runs until SIGINT/SIGTERM or
// --max-seconds, then prints "served N requests on M connections, E protocol errors".
#include <sys/epoll.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <unordered_map>

#include "bench_net.hpp"
#include "dane/policy/codecs.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct Connection {
  dane::policyd::SocketmapDecoder decoder;
  std::vector<dane::policyd::SocketmapRequest> requests;
  std::string out;
  std::size_t out_sent = 0;
  bool want_out = false; // EPOLLOUT registered
};

void usage() {
  std::cerr << "usage: bench_floor_server --listen unix:PATH|inet:127.0.0.1:PORT [--answer TEXT] [--max-seconds N]\n";
}

} // namespace

int main(int argc, char** argv) {
  std::string listen_text;
  std::string answer = "OK dane-only";
  long max_seconds = 600;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      listen_text = next();
    } else if (arg == "--answer") {
      answer = next();
    } else if (arg == "--max-seconds") {
      max_seconds = std::stol(next());
    } else {
      usage();
      return 2;
    }
  }
  if (listen_text.empty()) {
    usage();
    return 2;
  }
  try {
    auto endpoint = dane::bench::parse_endpoint(listen_text);
    std::string port;
    int listen_fd = dane::bench::listen_on(endpoint, port);
    dane::bench::set_nonblocking(listen_fd);
    const std::string reply = dane::policyd::encode_socketmap_answer(answer);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    std::cout << "listening on " << (endpoint.is_unix ? "unix:" + endpoint.path : "inet:" + endpoint.host + ":" + port)
              << std::endl;

    std::unordered_map<int, std::unique_ptr<Connection>> conns;
    unsigned long long served = 0;
    unsigned long long accepted = 0;
    unsigned long long errors = 0;
    std::vector<char> buf(65536);
    epoll_event events[256];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);

    auto close_conn = [&](int fd) {
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      close(fd);
      conns.erase(fd);
    };

    while (g_stop == 0 && std::chrono::steady_clock::now() < deadline) {
      int n = epoll_wait(ep, events, 256, 500);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        dane::bench::fail_errno("epoll_wait");
      }
      for (int k = 0; k < n; ++k) {
        int fd = events[k].data.fd;
        if (fd == listen_fd) {
          for (;;) {
            int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) {
              break;
            }
            ++accepted;
            epoll_event cev{};
            cev.events = EPOLLIN;
            cev.data.fd = c;
            epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            conns.emplace(c, std::make_unique<Connection>());
          }
          continue;
        }
        auto it = conns.find(fd);
        if (it == conns.end()) {
          continue;
        }
        Connection& conn = *it->second;
        bool drop = false;
        if ((events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
          ssize_t r = read(fd, buf.data(), buf.size());
          if (r <= 0) {
            drop = r == 0 || (errno != EAGAIN && errno != EINTR);
          } else {
            conn.requests.clear();
            bool ok = conn.decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(r)), conn.requests);
            for (std::size_t q = 0; q < conn.requests.size(); ++q) {
              conn.out += reply;
            }
            served += conn.requests.size();
            if (!ok) {
              ++errors;
              std::cerr << "warning: closing connection: " << conn.decoder.error()->message << "\n";
              drop = true;
            }
          }
        }
        if (!drop && conn.out.size() > conn.out_sent) {
          ssize_t w = write(fd, conn.out.data() + conn.out_sent, conn.out.size() - conn.out_sent);
          if (w < 0 && errno != EAGAIN && errno != EINTR) {
            drop = true;
          } else if (w > 0) {
            conn.out_sent += static_cast<std::size_t>(w);
          }
          if (conn.out_sent == conn.out.size()) {
            conn.out.clear();
            conn.out_sent = 0;
          }
          if (conn.want_out != !conn.out.empty()) {
            conn.want_out = !conn.out.empty();
            epoll_event cev{};
            cev.events = EPOLLIN | (conn.want_out ? static_cast<unsigned>(EPOLLOUT) : 0u);
            cev.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
          }
        }
        if (drop) {
          close_conn(fd);
        }
      }
    }
    for (auto& [fd, conn] : conns) {
      close(fd);
    }
    close(listen_fd);
    if (endpoint.is_unix) {
      unlink(endpoint.path.c_str());
    }
    std::cout << "served " << served << " requests on " << accepted << " connections, " << errors << " protocol errors"
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "bench_floor_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
