// dane/daemon/fd_limit.hpp — the daemon's file-descriptor budget and RLIMIT_NOFILE at start-up.
//
// What it does: fd_budget() says how many descriptors the daemon may need: for each listener
// --max-connections clients (the limit is per listener), the listening socket and its spare
// descriptor (listener.hpp), plus libunbound's sockets (size_resolver_limits), the logs, epoll and
// the service's threads. fit_fd_limit() raises the soft RLIMIT_NOFILE to that, never beyond the hard
// limit, which stays as the administrator set it (systemd's LimitNOFILE=, ulimit -Hn).
// Inputs: the settings (trusted: the administrator's) and the number of listeners.
// Failure modes: a hard limit too low for the budget is a warning (fd-limit need=N soft=S
// hard=H: ...), not a refusal: the daemon works with fewer descriptors, only fewer connections
// fit, and beyond the limit new connections are accepted and closed at once (listener.hpp)
// instead of hanging. Refusing to start would turn a capacity limit into an outage of mail
// delivery. getrlimit/setrlimit failures leave the limit as it is.
// Threading: call once at start-up, before threads are started.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dane/daemon/settings.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

// libunbound's outgoing limits (outgoing-range, num-queries-per-thread, outgoing-num-tcp) sized for
// --max-evaluations, where the operator did not set them: twice as many sockets and queries as
// evaluations (an evaluation's widest round asks A and AAAA of every MX host at once; the
// validator's own DNSKEY/DS queries come on top), between 1024 and 32768 sockets. An
// --unbound-config that sets them wins (it is read after). docs/engine.md says why.
void size_resolver_limits(Settings& settings);

// Descriptors needed by `listeners` listeners (at least 1 is counted) under `settings`, the
// resolver's sockets included (size_resolver_limits() first).
std::uint64_t fd_budget(const Settings& settings, std::size_t listeners);

// Raises the soft RLIMIT_NOFILE towards fd_budget() (up to the hard limit); when the hard limit
// cannot hold it, lowers libunbound's outgoing-range in `settings` first (not below 1024) and warns
// on `log` about what still does not fit.
void fit_fd_limit(Settings& settings, std::size_t listeners, LogWriter& log);

} // namespace dane::policyd
