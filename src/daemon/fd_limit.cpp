// The file-descriptor budget of dane-policyd and its soft RLIMIT_NOFILE (see fd_limit.hpp).
#include "dane/daemon/fd_limit.hpp"

#include <algorithm>
#include <string>

#include <sys/resource.h>

namespace dane::policyd {
namespace {

constexpr unsigned k_min_outgoing_range = 1024; // libunbound's own default without libevent

std::string limit_text(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
}

} // namespace

void size_resolver_limits(Settings& settings) {
  ResolverConfig& r = settings.resolver;
  const unsigned twice = 2 * std::max(1u, settings.max_evaluations);
  if (r.outgoing_range == 0) {
    r.outgoing_range = std::clamp(twice, k_min_outgoing_range, 32768u);
  }
  if (r.queries_per_thread == 0) {
    r.queries_per_thread = std::clamp(twice, 1024u, 65536u);
  }
  if (r.outgoing_tcp == 0) {
    r.outgoing_tcp = 64;
  }
}

std::uint64_t fd_budget(const Settings& settings, std::size_t listeners) {
  constexpr std::uint64_t k_margin = 256;     // logs, epoll, eventfds, pipes, stdio
  constexpr std::uint64_t k_per_worker = 4;   // a worker's files (verdict log, trust-anchor files)
  constexpr std::uint64_t k_per_listener = 2; // the listening socket and its spare descriptor
  const std::uint64_t per_listener = static_cast<std::uint64_t>(settings.max_connections) + k_per_listener;
  const std::uint64_t resolver = static_cast<std::uint64_t>(settings.resolver.outgoing_range) +
                                 settings.resolver.outgoing_tcp + settings.probe_concurrency;
  return static_cast<std::uint64_t>(std::max<std::size_t>(listeners, 1)) * per_listener + k_margin +
         k_per_worker * settings.workers + resolver;
}

void fit_fd_limit(Settings& settings, std::size_t listeners, LogWriter& log) {
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
  // Too few descriptors: libunbound's sockets give way first (fewer queries in flight at once is
  // slower; sockets it cannot open would be SERVFAILs), down to a floor.
  const rlim_t short_by = need - rl.rlim_cur;
  unsigned& range = settings.resolver.outgoing_range;
  if (range > k_min_outgoing_range) {
    const unsigned before = range;
    range = static_cast<unsigned>(
        std::max<rlim_t>(k_min_outgoing_range, range > short_by ? range - short_by : k_min_outgoing_range));
    log.message(Severity::Warning, "fd-limit: libunbound outgoing-range lowered from " + std::to_string(before) +
                                       " to " + std::to_string(range) + " to fit the descriptor limit " +
                                       limit_text(rl.rlim_cur));
  }
  if (rl.rlim_cur >= fd_budget(settings, listeners)) {
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
