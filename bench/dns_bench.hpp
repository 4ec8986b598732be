// bench/dns_bench.hpp — DNS-over-UDP/TCP socket helpers of bench_dns_delay_proxy (the cold-path benchmark,
// bench/cold.sh): IPv4 loopback addresses "ADDR:PORT", non-blocking sockets with large buffers, a free port
// for UDP and TCP, a burst of "NAME TXT" queries to check a server answers them all (nsd's response rate
// limiting off), and "NAME TYPE" of a message's question for query logs.
// Addresses outside 127.0.0.0/8 are refused (benchmarks stay on the machine). Errors throw
// std::runtime_error naming the call and errno (these serve programs, not libraries).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dane::bench::dns {

using Clock = std::chrono::steady_clock;
constexpr int k_socket_buffer = 8 << 20;

[[noreturn]] inline void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

inline sockaddr_in parse_address(const std::string& text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw std::runtime_error("expected ADDRESS:PORT, got " + text);
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  std::string host = text.substr(0, colon);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + host);
  }
  if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
    throw std::runtime_error("benchmarks stay on loopback; refusing " + host);
  }
  unsigned long port = std::stoul(text.substr(colon + 1));
  if (port > 65535) {
    throw std::runtime_error("bad port in " + text);
  }
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  return sa;
}

inline std::string to_text(const sockaddr_in& sa) {
  char host[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(sa.sin_port));
}

inline int make_socket(int type) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_errno("socket");
  }
  return fd;
}

inline void grow_buffers(int fd) {
  // SO_*BUFFORCE passes the system limits when running as root; the plain options are the fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &k_socket_buffer, sizeof k_socket_buffer) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &k_socket_buffer, sizeof k_socket_buffer);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &k_socket_buffer, sizeof k_socket_buffer) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &k_socket_buffer, sizeof k_socket_buffer);
  }
}

inline int bind_socket(int type, const sockaddr_in& sa) {
  int fd = make_socket(type);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    fail_errno("bind " + std::string(type == SOCK_DGRAM ? "UDP " : "TCP ") + to_text(sa));
  }
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) {
    fail_errno("listen " + to_text(sa));
  }
  if (type == SOCK_DGRAM) {
    grow_buffers(fd);
  }
  return fd;
}

// Prints a port on `host` that is free for both UDP and TCP right now.
inline int print_free_port(const std::string& host) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    sockaddr_in sa = parse_address(host + ":0");
    int udp = make_socket(SOCK_DGRAM);
    if (bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      close(udp);
      continue;
    }
    socklen_t len = sizeof sa;
    getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &len);
    int tcp = make_socket(SOCK_STREAM);
    bool ok = bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(tcp);
    close(udp);
    if (ok) {
      std::printf("%u\n", static_cast<unsigned>(ntohs(sa.sin_port)));
      return 0;
    }
  }
  std::cerr << "bench_dns_delay_proxy: no free port on " << host << "\n";
  return 1;
}

// "QNAME TXT IN" as a DNS query with the given ID.
inline std::string make_query(const std::string& qname, std::uint16_t id) {
  std::string q = {static_cast<char>(id >> 8), static_cast<char>(id & 0xff), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (start < qname.size()) {
    std::size_t dot = qname.find('.', start);
    std::size_t end = dot == std::string::npos ? qname.size() : dot;
    q += static_cast<char>(end - start);
    q += qname.substr(start, end - start);
    start = end + 1;
  }
  q += std::string{0, 0, 16, 0, 1}; // root label, TXT, IN
  return q;
}

inline int burst_check(const std::string& target, int count, const std::string& qname) {
  sockaddr_in sa = parse_address(target);
  int fd = make_socket(SOCK_DGRAM);
  grow_buffers(fd);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    fail_errno("connect " + target);
  }
  std::vector<bool> seen(static_cast<std::size_t>(count), false);
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    std::string q = make_query(qname, static_cast<std::uint16_t>(i));
    if (send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
      ++sent;
    }
  }
  int answered = 0;
  auto deadline = Clock::now() + std::chrono::seconds(3);
  std::array<char, 4096> buf{};
  while (answered < sent && Clock::now() < deadline) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      usleep(1000);
      continue;
    }
    if (n >= 12) {
      auto id =
          static_cast<std::size_t>((static_cast<unsigned char>(buf[0]) << 8) | static_cast<unsigned char>(buf[1]));
      bool truncated = (static_cast<unsigned char>(buf[2]) & 0x02) != 0;
      if (id < seen.size() && !seen[id] && !truncated) {
        seen[id] = true;
        ++answered;
      }
    }
  }
  close(fd);
  std::printf("BURST sent=%d answered=%d\n", sent, answered);
  return answered == count ? 0 : 1;
}

// "NAME TYPE" of a DNS message's first question ("?" when it cannot be read).
inline std::string describe_question(std::string_view message) {
  std::string name;
  std::size_t pos = 12;
  while (pos < message.size()) {
    auto len = static_cast<unsigned char>(message[pos]);
    if (len == 0 || len > 63 || pos + 1 + len > message.size()) {
      break;
    }
    name.append(message.substr(pos + 1, len)).append(".");
    pos += 1 + len;
  }
  if (pos + 3 >= message.size() || message[pos] != 0) {
    return "?";
  }
  unsigned type = (static_cast<unsigned char>(message[pos + 1]) << 8) | static_cast<unsigned char>(message[pos + 2]);
  static const std::map<unsigned, const char*> names = {{1, "A"},       {2, "NS"},   {5, "CNAME"}, {6, "SOA"},
                                                        {15, "MX"},     {16, "TXT"}, {28, "AAAA"}, {43, "DS"},
                                                        {48, "DNSKEY"}, {52, "TLSA"}};
  auto it = names.find(type);
  return (name.empty() ? "." : name) + " " + (it != names.end() ? it->second : "TYPE" + std::to_string(type));
}

} // namespace dane::bench::dns
