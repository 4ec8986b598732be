// One DNS exchange over UDP, then TCP when truncated (contract: dns_exchange.hpp).
#include "dns_exchange.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dane/core/fd.hpp"

namespace dane::tools {

namespace {

std::optional<sockaddr_storage> socket_address(const UpdateServer& server, socklen_t& length) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage); // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  if (::inet_pton(AF_INET, server.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(server.port);
    length = sizeof(sockaddr_in);
    return storage;
  }
  if (::inet_pton(AF_INET6, server.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(server.port);
    length = sizeof(sockaddr_in6);
    return storage;
  }
  return std::nullopt;
}

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60000));
}

// Waits until `fd` is ready for `events` or the deadline passes; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) {
      return true;
    }
    if (n == 0 || errno != EINTR) {
      return false;
    }
  }
}

Fd connected_socket(const sockaddr_storage& to, socklen_t length, int type, Clock::time_point deadline,
                    std::string& failure) {
  Fd fd(::socket(to.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    failure = std::string("socket: ") + std::strerror(errno);
    return Fd();
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), length) != 0) {
    if (errno != EINPROGRESS || !wait_for(fd.get(), POLLOUT, deadline)) {
      failure = errno == EINPROGRESS ? "connect: timed out" : std::string("connect: ") + std::strerror(errno);
      return Fd();
    }
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      failure = std::string("connect: ") + std::strerror(error);
      return Fd();
    }
  }
  return fd;
}

// One UDP exchange: the first datagram whose ID matches the query's.
std::vector<std::uint8_t> udp_exchange(const std::vector<std::uint8_t>& query, const sockaddr_storage& to,
                                       socklen_t length, Clock::time_point deadline, std::string& failure) {
  Fd fd = connected_socket(to, length, SOCK_DGRAM, deadline, failure);
  if (fd.get() < 0) {
    return {};
  }
  if (::send(fd.get(), query.data(), query.size(), 0) < 0) {
    failure = std::string("send: ") + std::strerror(errno);
    return {};
  }
  std::vector<std::uint8_t> answer(65535);
  while (wait_for(fd.get(), POLLIN, deadline)) {
    const ssize_t n = ::recv(fd.get(), answer.data(), answer.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      failure = std::string("recv: ") + std::strerror(errno);
      return {};
    }
    if (n >= 12 && answer[0] == query[0] && answer[1] == query[1]) {
      answer.resize(static_cast<std::size_t>(n));
      return answer;
    }
  }
  failure = "timed out";
  return {};
}

bool transfer(int fd, std::uint8_t* data, std::size_t size, bool sending, Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < size) {
    if (!wait_for(fd, sending ? POLLOUT : POLLIN, deadline)) {
      return false;
    }
    const ssize_t n =
        sending ? ::send(fd, data + done, size - done, MSG_NOSIGNAL) : ::recv(fd, data + done, size - done, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      return false;
    }
    done += n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  return true;
}

// One TCP exchange (RFC 1035 §4.2.2: two-octet length prefix).
std::vector<std::uint8_t> tcp_exchange(const std::vector<std::uint8_t>& query, const sockaddr_storage& to,
                                       socklen_t length, Clock::time_point deadline, std::string& failure) {
  Fd fd = connected_socket(to, length, SOCK_STREAM, deadline, failure);
  if (fd.get() < 0) {
    failure = "TCP " + failure;
    return {};
  }
  std::vector<std::uint8_t> framed(query.size() + 2);
  framed[0] = static_cast<std::uint8_t>(query.size() >> 8);
  framed[1] = static_cast<std::uint8_t>(query.size() & 0xff);
  std::copy(query.begin(), query.end(), framed.begin() + 2);
  std::array<std::uint8_t, 2> prefix{};
  if (!transfer(fd.get(), framed.data(), framed.size(), true, deadline) ||
      !transfer(fd.get(), prefix.data(), prefix.size(), false, deadline)) {
    failure = "TCP: no answer";
    return {};
  }
  std::vector<std::uint8_t> answer((static_cast<std::size_t>(prefix[0]) << 8) | prefix[1]);
  if (!transfer(fd.get(), answer.data(), answer.size(), false, deadline)) {
    failure = "TCP: answer cut short";
    return {};
  }
  if (answer.size() < 12 || answer[0] != query[0] || answer[1] != query[1]) {
    failure = "TCP: the answer does not belong to the update (wrong ID)";
    return {};
  }
  return answer;
}

} // namespace

std::vector<std::uint8_t> dns_exchange(const std::vector<std::uint8_t>& query, const UpdateServer& server,
                                       std::chrono::milliseconds timeout, std::string& failure) {
  socklen_t length = 0;
  auto to = socket_address(server, length);
  if (!to) {
    failure = "not an IP address";
    return {};
  }
  if (query.size() < 12) {
    failure = "not a DNS message";
    return {};
  }
  const auto deadline = Clock::now() + timeout;
  auto answer = udp_exchange(query, *to, length, deadline, failure);
  constexpr std::uint8_t k_tc_bit = 0x02;
  if (answer.size() >= 3 && (answer[2] & k_tc_bit) != 0) {
    answer = tcp_exchange(query, *to, length, deadline, failure);
  }
  return answer;
}

} // namespace dane::tools
