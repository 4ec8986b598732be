// bench/bench_net.hpp — socket helpers shared by the benchmark programs (floor_server, loadgen).
//
// Endpoints are "unix:PATH" or "inet:HOST:PORT" (the daemon's spelling, docs/design.md §5). Benchmarks stay on
// the machine: inet hosts must be loopback (127.0.0.0/8, ::1, localhost); anything else is refused.
// Errors throw std::runtime_error with the failing call and errno text (these are programs, not libraries).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dane::bench {

struct Endpoint {
  bool is_unix = true;
  std::string path; // unix
  std::string host; // inet
  std::string port; // inet
};

[[noreturn]] inline void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

inline Endpoint parse_endpoint(const std::string& text) {
  Endpoint e;
  if (text.rfind("unix:", 0) == 0 && text.size() > 5) {
    e.path = text.substr(5);
    if (e.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      throw std::runtime_error("unix socket path too long: " + e.path);
    }
    return e;
  }
  if (text.rfind("inet:", 0) == 0) {
    std::string rest = text.substr(5);
    std::size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      throw std::runtime_error("expected inet:HOST:PORT, got " + text);
    }
    e.is_unix = false;
    e.host = rest.substr(0, colon);
    e.port = rest.substr(colon + 1);
    if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
      e.host = e.host.substr(1, e.host.size() - 2);
    }
    bool loopback = e.host == "localhost" || e.host == "::1" || e.host.rfind("127.", 0) == 0;
    if (!loopback) {
      throw std::runtime_error("benchmarks stay on loopback; refusing host " + e.host);
    }
    return e;
  }
  throw std::runtime_error("expected unix:PATH or inet:HOST:PORT, got " + text);
}

inline void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    fail_errno("fcntl(O_NONBLOCK)");
  }
}

// Returns a bound, listening socket; for inet with port 0, `bound_port` receives the chosen port.
inline int listen_on(const Endpoint& e, std::string& bound_port) {
  if (e.is_unix) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      fail_errno("socket(AF_UNIX)");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, e.path.c_str(), e.path.size() + 1);
    unlink(e.path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      fail_errno("bind(" + e.path + ")");
    }
    if (listen(fd, 1024) < 0) {
      fail_errno("listen");
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error("getaddrinfo(" + e.host + "): " + gai_strerror(rc));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    fail_errno("socket");
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
    freeaddrinfo(res);
    fail_errno("bind(" + e.host + ":" + e.port + ")");
  }
  freeaddrinfo(res);
  if (listen(fd, 1024) < 0) {
    fail_errno("listen");
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                     : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  bound_port = std::to_string(port);
  return fd;
}

// A blocking connect; the caller makes the socket non-blocking afterwards if it wants.
inline int connect_to(const Endpoint& e) {
  if (e.is_unix) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      fail_errno("socket(AF_UNIX)");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, e.path.c_str(), e.path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      fail_errno("connect(" + e.path + ")");
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error("getaddrinfo(" + e.host + "): " + gai_strerror(rc));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    fail_errno("socket");
  }
  if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
    int saved = errno;
    freeaddrinfo(res);
    close(fd);
    errno = saved;
    fail_errno("connect(" + e.host + ":" + e.port + ")");
  }
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

} // namespace dane::bench
