// dane/policyd/daemon.hpp — start-up, privilege drop, signals, shutdown of dane-policyd.
//
// run_daemon() is everything main() does after parsing options: open the verdict
// log, create the resolver (reads the unbound config and trust anchor), bind the
// listeners and create the state directory as root, detach unless --foreground,
// drop to the run user, then serve until SIGTERM/SIGINT (graceful drain: listeners
// close, in-flight requests are answered, exit 0). SIGHUP reopens the verdict log.
// Prints "dane-policyd: ready: ..." (stderr, foreground) once it serves.
//
// Exit codes: 0 clean stop; 1 start-up failure (cannot bind, open a file, create
// the resolver, change user); 2 bad usage/configuration (from main()).
#pragma once

#include <optional>
#include <string>

#include "dane/expected.hpp"
#include "dane/policyd/settings.hpp"

namespace dane::policyd {

inline constexpr const char* k_version = "0.1.0"; // keep in step with project() in CMakeLists.txt
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failure = 1;
inline constexpr int k_exit_usage = 2;

struct RunUser {
  std::string name;
  int uid = -1; // -1: do not change
  int gid = -1;
};

// The user to run as: --user, else dane-policyd if it exists, else nobody; "root" or a
// non-root start means no change. Error when a named user does not exist.
Expected<RunUser> resolve_run_user(const std::string& requested);
// setgroups/setgid/setuid, verified (regaining root must fail afterwards).
Status drop_privileges(const RunUser& user);

int run_daemon(Settings settings);

} // namespace dane::policyd
