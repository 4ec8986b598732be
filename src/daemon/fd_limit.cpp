// The file-descriptor budget of dane-policyd and its soft RLIMIT_NOFILE (see fd_limit.hpp).
#include "dane/daemon/fd_limit.hpp"

#include <algorithm>
#include <string>

#include <sys/resource.h>

namespace dane::policyd {
namespace {

std::string limit_text(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
}

} // namespace

std::uint64_t fd_budget(const Settings& settings, std::size_t listeners) {
  constexpr std::uint64_t k_margin = 256;     // resolver sockets, logs, epoll, eventfds, stdio
  constexpr std::uint64_t k_per_worker = 4;   // a worker's resolver and probe sockets in flight
  constexpr std::uint64_t k_per_listener = 2; // the listening socket and its spare descriptor
  const std::uint64_t per_listener = static_cast<std::uint64_t>(settings.max_connections) + k_per_listener;
  return static_cast<std::uint64_t>(std::max<std::size_t>(listeners, 1)) * per_listener + k_margin +
         k_per_worker * settings.workers;
}

void fit_fd_limit(const Settings& settings, std::size_t listeners, LogWriter& log) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return;
  }
  const auto need = static_cast<rlim_t>(fd_budget(settings, listeners));
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    const rlim_t soft = rl.rlim_max == RLIM_INFINITY ? need : std::min(need, rl.rlim_max);
    struct rlimit raised = rl;
    raised.rlim_cur = soft;
    if (soft > rl.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      rl = raised;
    }
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) {
    return;
  }
  log.message(Severity::Warning, "fd-limit need=" + std::to_string(need) + " soft=" + limit_text(rl.rlim_cur) +
                                     " hard=" + limit_text(rl.rlim_max) +
                                     ": the file descriptor limit cannot hold --max-connections " +
                                     std::to_string(settings.max_connections) + " on " + std::to_string(listeners) +
                                     " listener(s); beyond it new connections are closed at once (raise the hard " +
                                     "limit, e.g. LimitNOFILE=, or lower --max-connections)");
}

} // namespace dane::policyd
