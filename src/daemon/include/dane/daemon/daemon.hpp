// dane/daemon/daemon.hpp — start-up, privilege drop, signals, shutdown of dane-policyd.
//
// run_daemon() is everything main() does after parsing options: take the listening
// sockets systemd passed (socket activation: LISTEN_FDS/LISTEN_FDNAMES; with them no
// default listener is bound), open the verdict log, create the resolver (reads the
// unbound config and trust anchor), bind the other listeners and create the state
// directory as root, detach unless --foreground, drop to the run user, then serve
// until SIGTERM/SIGINT (graceful drain: listeners close, in-flight requests are
// answered, exit 0). SIGHUP reopens the verdict log. Logs "dane-policyd: ready: ..."
// once it serves (stderr in the foreground, see --log-to), and tells systemd
// (sd_notify, when NOTIFY_SOCKET is set): READY=1 and STATUS= then, RELOADING=1 and
// READY=1 around a SIGHUP, STOPPING=1 on SIGTERM/SIGINT.
//
// Works under systemd's CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN (no
// CAP_DAC_OVERRIDE, no CAP_FOWNER): socket modes are set before the chown, the
// verdict log is opened as the run user when it may (LogWriter), and the logs
// directory systemd made for the service ($LOGS_DIRECTORY) is given to the run user.
//
// Exit codes: 0 clean stop; 1 start-up failure (cannot bind, open a file, create
// the resolver, change user); 2 bad usage/configuration (from main()).
#pragma once

#include <optional>
#include <string>

#include "dane/core/expected.hpp"
#include "dane/daemon/settings.hpp"

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
