// Start-up sequence, privilege drop, signals and shutdown of dane-policyd.
// file-size: about 660 lines, one unit: run_daemon()'s start-up steps and the helpers each step is.
#include "dane/daemon/daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "dane/daemon/asio.hpp"
#include "dane/daemon/cache_file.hpp"
#include "dane/daemon/error_boundary.hpp"
#include "dane/daemon/fd_limit.hpp"
#include "dane/daemon/metrics_http.hpp"
#include "dane/daemon/server.hpp"
#include "dane/daemon/service.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/sts_evaluator.hpp"
#include "dane/daemon/verdict_log.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/probe.hpp"

namespace asio = boost::asio;

namespace dane::policyd {
namespace {

std::optional<RunUser> lookup_user(const std::string& name) {
  struct passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    return std::nullopt;
  }
  return RunUser{name, static_cast<int>(pw->pw_uid), static_cast<int>(pw->pw_gid)};
}

std::optional<int> lookup_group(const std::string& name) {
  struct group* gr = ::getgrnam(name.c_str());
  if (gr == nullptr) {
    return std::nullopt;
  }
  return static_cast<int>(gr->gr_gid);
}

// Listeners the daemon will serve: those passed by the service manager and those configured
// (an upper bound: a configured one may be served by a passed one).
std::size_t listener_count(const Settings& settings, const std::vector<InheritedListener>& inherited) {
  if (settings.stdio != StdioProtocol::None) {
    return 1;
  }
  return inherited.size() + settings.socketmap.size() + settings.tcp_table.size() + settings.policy_service.size();
}

// The run user as the owner of the files the daemon creates (none: it keeps its identity).
std::optional<FileOwner> file_owner(const RunUser& user) {
  if (user.uid < 0) {
    return std::nullopt;
  }
  return FileOwner{static_cast<unsigned>(user.uid), static_cast<unsigned>(user.gid)};
}

Status detach() {
  pid_t pid = ::fork();
  if (pid < 0) {
    return make_error(std::string("cannot fork: ") + std::strerror(errno));
  }
  if (pid > 0) {
    ::_exit(0);
  }
  ::setsid();
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) {
      ::close(null);
    }
  }
  return Ok{};
}

// Tells the service manager (systemd, Type=notify) about the daemon's state: READY=1,
// RELOADING=1, STOPPING=1, STATUS=... . sd_notify() does nothing without NOTIFY_SOCKET.
void notify(const std::string& state) {
  ::sd_notify(0, state.c_str());
}

std::string monotonic_usec() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                        static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL);
}

// Listening sockets passed by the service manager (socket activation). sd_listen_fds_with_names
// checks LISTEN_PID, marks the fds close-on-exec and clears the variables, so children never
// see them.
std::vector<InheritedListener> take_inherited_listeners() {
  char** names = nullptr;
  int n = ::sd_listen_fds_with_names(1, &names);
  std::vector<InheritedListener> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(InheritedListener{SD_LISTEN_FDS_START + i, names != nullptr && names[i] != nullptr ? names[i] : ""});
  }
  if (names != nullptr) {
    for (int i = 0; i < n; ++i) {
      std::free(names[i]);
    }
    std::free(names);
  }
  return out;
}

Severity to_severity(LogLevel level) {
  switch (level) {
  case LogLevel::Debug:
    return Severity::Debug;
  case LogLevel::Info:
    return Severity::Info;
  case LogLevel::Warning:
    return Severity::Warning;
  case LogLevel::Error:
    return Severity::Error;
  }
  return Severity::Info;
}

// A SIGHUP after log rotation, or a deleted verdict log, re-creates the verdict log as the run
// user, who must be able to create files in its directory. systemd's LogsDirectory= (passed as
// $LOGS_DIRECTORY) is the service's own directory, made by systemd for root: when the verdict log
// lives there, that directory is given to the run user (opened with O_NOFOLLOW, changed through
// the descriptor; owned_files.hpp). Any other directory is left alone, with a warning when the run
// user cannot write it.
void prepare_verdict_log_dir(const std::string& verdict_log, const RunUser& user, LogWriter& log) {
  namespace fs = std::filesystem;
  const auto owner = file_owner(user);
  if (verdict_log.empty() || !owner) {
    return;
  }
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(fs::absolute(fs::path(verdict_log), ec).parent_path(), ec);
  if (ec || may_create_files_in(dir.string(), *owner)) {
    return;
  }
  if (is_service_directory(dir.string(), "LOGS_DIRECTORY")) {
    auto st = take_service_directory(dir.string(), *owner);
    if (st) {
      return;
    }
    log.message(Severity::Warning, "cannot give the logs directory to user " + user.name + ": " + st.error());
  }
  log.message(Severity::Warning, "user " + user.name + " cannot create files in " + dir.string() +
                                     ": after log rotation, SIGHUP reopens " + verdict_log +
                                     " only if the rotation re-creates it (logrotate's create), and a deleted "
                                     "verdict log is not re-created");
}

// Whether the verdict log lies in systemd's LogsDirectory= (owned_files.hpp's one exception).
bool in_service_logs_dir(const std::string& verdict_log) {
  namespace fs = std::filesystem;
  if (verdict_log.empty()) {
    return false;
  }
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(verdict_log), ec).parent_path();
  return !ec && is_service_directory(dir.string(), "LOGS_DIRECTORY");
}

} // namespace

Expected<RunUser> resolve_run_user(const std::string& requested) {
  if (::geteuid() != 0) {
    if (!requested.empty() && requested != "root") {
      auto u = lookup_user(requested);
      if (!u) {
        return make_error("--user " + requested + ": no such user");
      }
      if (u->uid != static_cast<int>(::geteuid())) {
        return make_error("--user " + requested + ": not started as root, cannot change user");
      }
    }
    return RunUser{"", -1, -1};
  }
  if (requested == "root") {
    return RunUser{"root", -1, -1};
  }
  if (!requested.empty()) {
    auto u = lookup_user(requested);
    if (!u) {
      return make_error("--user " + requested + ": no such user");
    }
    return *u;
  }
  if (auto u = lookup_user("dane-policyd")) {
    return *u;
  }
  if (auto u = lookup_user("nobody")) {
    return *u;
  }
  return make_error("--user: neither user dane-policyd nor nobody exists; name one (or --user root)");
}

Status drop_privileges(const RunUser& user) {
  if (user.uid < 0) {
    return Ok{};
  }
  const gid_t gid = static_cast<gid_t>(user.gid);
  if (::setgroups(1, &gid) != 0) {
    return make_error("--user " + user.name + ": setgroups failed: " + std::strerror(errno));
  }
  if (::setgid(gid) != 0) {
    return make_error("--user " + user.name + ": setgid failed: " + std::strerror(errno));
  }
  if (::setuid(static_cast<uid_t>(user.uid)) != 0) {
    return make_error("--user " + user.name + ": setuid failed: " + std::strerror(errno));
  }
  if (user.uid != 0 && ::setuid(0) == 0) {
    return make_error("--user " + user.name + ": could regain root after dropping privileges");
  }
  return Ok{};
}

namespace {

// Start-up errors go where messages go; a daemon about to detach also prints them on the
// terminal it was started from (it would exit silently otherwise).
class StartupErrors {
public:
  StartupErrors(const LogDestinations& destinations, bool foreground, bool stdio)
      : m_destinations(destinations), m_foreground(foreground), m_stdio(stdio) {}
  void detached() { m_detached = true; }
  int fail(const std::string& message, int exit_code = k_exit_failure) const {
    notify("STATUS=error: " + message);
    if (m_destinations.to_syslog) {
      ::syslog(LOG_ERR, "error: %s", message.c_str());
    }
    if (m_destinations.to_stderr || (!m_foreground && !m_stdio && !m_detached)) {
      std::cerr << "dane-policyd: error: " << message << "\n";
    }
    return exit_code;
  }

private:
  LogDestinations m_destinations;
  bool m_foreground;
  bool m_stdio;
  bool m_detached = false;
};

// --log-to stderr where it cannot work: the exit code (usage), else nullopt.
std::optional<int> check_log_target(const Settings& settings, bool stdio) {
  if (settings.log_to == LogTo::Stderr && stdio) {
    // Said on syslog: with --stdio, standard error may be the client's connection.
    ::openlog("dane-policyd", LOG_PID, LOG_MAIL);
    ::syslog(LOG_ERR, "error: --log-to stderr: not with --stdio (standard error may be the client's connection)");
    return k_exit_usage;
  }
  if (settings.log_to == LogTo::Stderr && !settings.foreground) {
    std::cerr << "dane-policyd: error: --log-to stderr: needs --foreground (a detached daemon has no standard error)\n";
    return k_exit_usage;
  }
  return std::nullopt;
}

Expected<std::unique_ptr<LogWriter>> open_log(const Settings& settings, const LogDestinations& destinations,
                                              const RunUser& run_user) {
  LogOptions log_options;
  log_options.verdict_log = settings.verdict_log;
  log_options.to_stderr = destinations.to_stderr;
  log_options.to_syslog = destinations.to_syslog;
  log_options.min_severity = to_severity(settings.log_level);
  log_options.owner = file_owner(run_user);
  log_options.service_logs_dir = log_options.owner.has_value() && in_service_logs_dir(settings.verdict_log);
  auto log_or = LogWriter::open(log_options);
  if (!log_or) {
    return make_error("--verdict-log " + log_or.error());
  }
  return std::move(*log_or);
}

// Unix socket ownership: --socket-owner (default: the run user), --socket-group
// (default: postfix when it exists), --socket-mode.
Expected<SocketOwnership> socket_ownership(const Settings& settings, const RunUser& run_user) {
  SocketOwnership ownership;
  ownership.mode = settings.socket_mode;
  if (::geteuid() != 0) {
    return ownership;
  }
  if (!settings.socket_owner.empty()) {
    auto u = lookup_user(settings.socket_owner);
    if (!u) {
      return make_error("--socket-owner " + settings.socket_owner + ": no such user");
    }
    ownership.uid = u->uid;
  } else {
    ownership.uid = run_user.uid;
  }
  if (!settings.socket_group.empty()) {
    auto g = lookup_group(settings.socket_group);
    if (!g) {
      return make_error("--socket-group " + settings.socket_group + ": no such group");
    }
    ownership.gid = *g;
  } else if (auto g = lookup_group("postfix")) {
    ownership.gid = *g;
  }
  return ownership;
}

// Usage errors found before anything starts: the exit code (2), else nullopt.
std::optional<int> check_usage(const Settings& settings, bool stdio) {
  if (auto usage = check_log_target(settings, stdio)) {
    return usage;
  }
  if (settings.mta_sts) {
    if (auto st = check_mta_sts_ca_file(settings.mta_sts_ca_file); !st) {
      if (stdio) { // standard error may be the client's connection
        ::openlog("dane-policyd", LOG_PID, LOG_MAIL);
        ::syslog(LOG_ERR, "error: --mta-sts-ca-file %s", st.error().c_str());
      } else {
        std::cerr << "dane-policyd: error: --mta-sts-ca-file " << st.error() << "\n";
      }
      return k_exit_usage;
    }
  }
  return std::nullopt;
}

// Ownership of files, as root: the verdict log's directory and the state directory (a state
// directory the run user cannot use is a start-up failure: owned_files.hpp).
Status prepare_files(const Settings& settings, const RunUser& run_user, const std::vector<InheritedListener>& inherited,
                     LogWriter& log) {
  prepare_verdict_log_dir(settings.verdict_log, run_user, log);
  for (const auto& l : inherited) {
    log.message(Severity::Debug, "socket activation: fd " + std::to_string(l.fd) + " named '" + l.name +
                                     "' passed by the service manager");
  }
  warn_if_cache_file_unwritable(settings, file_owner(run_user), run_user.name, log);
  if (settings.mode == Mode::Pinned || settings.mta_sts || cache_file_in_state_dir(settings)) {
    return prepare_state_dir(settings.state_dir, file_owner(run_user));
  }
  return Ok{};
}

// Ownership of sockets, as root: adopted ones, then the configured ones, with their mode and
// owner. Returns what is served.
Expected<std::vector<std::string>> take_sockets(const Settings& settings, const RunUser& run_user,
                                                const std::vector<InheritedListener>& inherited, Server& server) {
  auto ownership = socket_ownership(settings, run_user);
  if (!ownership) {
    return make_error(ownership.error());
  }
  if (settings.stdio != StdioProtocol::None) {
    return std::vector<std::string>{};
  }
  if (auto st = server.adopt(inherited); !st) {
    return make_error(st.error());
  }
  if (auto st = server.bind(*ownership); !st) {
    return make_error(st.error());
  }
  return server.bound();
}

// Detaches from the terminal (unless --foreground or --stdio). The resolver may run threads of
// its own, which fork() would not carry over: it was created before only to report
// configuration errors on the terminal; it is made anew in the child.
Status daemonise(const Settings& settings, asio::io_context& io, std::shared_ptr<Resolver>& resolver,
                 StartupErrors& errors) {
  if (settings.foreground || settings.stdio != StdioProtocol::None) {
    return Ok{};
  }
  resolver.reset();
  io.notify_fork(asio::io_context::fork_prepare);
  if (auto st = detach(); !st) {
    return st;
  }
  errors.detached();
  io.notify_fork(asio::io_context::fork_child);
  auto again = make_unbound_resolver(settings.resolver);
  if (!again) {
    return make_error(again.error());
  }
  resolver = std::move(*again);
  return Ok{};
}

// SIGHUP reopens the verdict log; SIGTERM/SIGINT stop the server gracefully, with a deadline
// after which the remaining connections are closed. When the server has drained, the I/O loop stops.
class SignalHandling {
public:
  SignalHandling(asio::io_context& io, const Settings& settings, Server& server, LogWriter& log, std::string status)
      : m_io(io), m_settings(settings), m_server(server), m_log(log), m_status(std::move(status)),
        m_signals(io, SIGTERM, SIGINT, SIGHUP), m_drain_deadline(io) {
    wait();
    m_server.set_on_drained([this] {
      boost::system::error_code ec;
      m_signals.cancel(ec);
      m_drain_deadline.cancel();
      m_io.stop();
    });
  }
  bool stopped_cleanly() const { return m_stopped_cleanly; }

private:
  void wait() {
    m_signals.async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) {
        return;
      }
      if (signo == SIGHUP) {
        reopen();
      } else {
        stop(signo);
      }
      wait();
    });
  }

  void reopen() {
    notify("RELOADING=1\nSTATUS=reopening the verdict log\nMONOTONIC_USEC=" + monotonic_usec());
    m_log.message(Severity::Info, "SIGHUP: reopening logs");
    // READY=1 once the writer thread has reopened the file (sd_notify is thread-safe).
    m_log.reopen([status = m_status](bool ok) {
      notify("READY=1\nSTATUS=" + status + (ok ? "" : "; verdict log reopen failed, still writing the old file"));
    });
  }

  void stop(int signo) {
    if (!m_server.stopping()) {
      notify("STOPPING=1\nSTATUS=stopping: draining " + std::to_string(m_server.open_sessions()) + " connections");
    }
    m_log.message(Severity::Info,
                  std::string(signo == SIGTERM ? "SIGTERM" : "SIGINT") + ": stopping; answering in-flight requests");
    m_server.stop();
    m_drain_deadline.expires_after(m_settings.resolver.timeout + std::chrono::seconds(5));
    m_drain_deadline.async_wait([this](const boost::system::error_code& e) {
      if (!e) {
        notify("STATUS=drain deadline passed; closing " + std::to_string(m_server.open_sessions()) + " connections");
        m_log.message(Severity::Warning, "drain deadline passed; closing the remaining connections");
        m_stopped_cleanly = false;
        m_server.close_all();
      }
    });
  }

  asio::io_context& m_io;
  const Settings& m_settings;
  Server& m_server;
  LogWriter& m_log;
  std::string m_status;
  asio::signal_set m_signals;
  asio::steady_timer m_drain_deadline;
  bool m_stopped_cleanly = true;
};

// The policy service with the real evaluator (DNS through `resolver`; with --mta-sts, MTA-STS after a
// NotDane outcome: sts_evaluator.hpp) and prober. Fails only on the --mta-sts trust store.
Expected<std::unique_ptr<PolicyService>> make_service(const Settings& settings,
                                                      const std::shared_ptr<Resolver>& resolver, asio::io_context& io,
                                                      LogWriter& log, Stats& stats,
                                                      const std::shared_ptr<SharedCache>& shared) {
  const unsigned probe_concurrency = std::max(1u, settings.probe_concurrency);
  Prober prober = [probe_concurrency](const std::vector<ProbeRequest>& requests) {
    return probe_all(requests, probe_concurrency);
  };
  auto sts = start_mta_sts(settings, io, *resolver); // after daemonise(): the resolver is the child's
  if (!sts) {
    return make_error(sts.error());
  }
  Evaluator evaluator = make_evaluator(resolver, std::move(*sts), stats);
  auto service = std::make_unique<PolicyService>(settings, evaluator, prober, log, stats);
  service->attach_shared_cache(shared); // --shared-cache: consulted, and connecting from now on
  return service;
}

// The service attached to the server, and with --stdio the one client on standard input/output.
Status attach_service(const Settings& settings, Server& server, PolicyService& service) {
  server.attach(service);
  if (settings.stdio != StdioProtocol::None) {
    return server.serve_stdio(settings.stdio, STDIN_FILENO, STDOUT_FILENO);
  }
  return Ok{};
}

// Socket activation: the listeners systemd passed replace the default one (never with --stdio).
std::vector<InheritedListener> take_listeners(Settings& settings) {
  std::vector<InheritedListener> inherited;
  if (settings.stdio == StdioProtocol::None) {
    inherited = take_inherited_listeners();
  }
  if (inherited.empty()) {
    apply_embedded_defaults(settings);
  }
  return inherited;
}

// STATUS= while serving.
std::string status_text(const Settings& settings, const std::string& serving) {
  if (settings.stdio != StdioProtocol::None) {
    return std::string("serving one client on standard input/output; mode ") + to_string(settings.mode);
  }
  return "serving " + serving + "; mode " + to_string(settings.mode);
}

// What the daemon serves, for STATUS= and the ready line.
std::string serving_text(const std::vector<std::string>& bound) {
  std::string serving;
  for (const auto& b : bound) {
    serving += (serving.empty() ? "" : ", ") + b;
  }
  return serving;
}

// Readiness: the ready line (not with --stdio) and READY=1 to the service manager.
void announce_ready(const Settings& settings, const RunUser& run_user, const std::string& serving,
                    const std::string& status, LogWriter& log) {
  if (settings.stdio == StdioProtocol::None) {
    log.message(Severity::Info, std::string("ready: mode ") + to_string(settings.mode) + "; serving " + serving +
                                    (run_user.uid >= 0 ? "; running as " + run_user.name : std::string()));
  }
  notify("READY=1\nSTATUS=" + status);
}

// --metrics (metrics_http.hpp): bound as root with the listeners and listed in the ready line;
// /healthz says "draining" once the server stops.
Expected<std::unique_ptr<MetricsServer>> bind_metrics(const Settings& settings, asio::io_context& io, Stats& stats,
                                                      const Server& server, LogWriter& log,
                                                      std::vector<std::string>& bound) {
  auto health = [&server] { return server.stopping() ? Health::Draining : Health::Serving; };
  auto metrics = start_metrics(io, settings, stats, health, log);
  if (metrics && *metrics) {
    bound.push_back((*metrics)->description());
  }
  return metrics;
}

// The I/O loop, with the last error boundary around it (error_boundary.hpp): sessions and
// listeners catch their own exceptions; anything else that escapes a handler is reported and the
// loop goes on serving.
void run_io(asio::io_context& io, LogWriter& log, Stats& stats) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      report_internal_error(log, stats, "the I/O loop", "serving on");
    }
  }
}

// The resolver, with libunbound's outgoing limits sized for --max-evaluations and the descriptor
// limit fitted to them (docs/engine.md).
Expected<std::shared_ptr<Resolver>> start_resolver(Settings& settings, std::size_t listeners, LogWriter& log) {
  size_resolver_limits(settings);
  fit_fd_limit(settings, listeners, log);
  auto resolver = make_unbound_resolver(settings.resolver);
  if (!resolver) {
    return make_error(resolver.error());
  }
  return std::shared_ptr<Resolver>(std::move(*resolver));
}

} // namespace

int run_daemon(Settings settings) {
  const bool stdio = settings.stdio != StdioProtocol::None;
  std::signal(SIGPIPE, SIG_IGN);
  if (auto usage = check_usage(settings, stdio)) {
    return *usage;
  }
  const LogDestinations destinations =
      choose_log_destinations(settings.log_to, settings.foreground, stdio, stderr_is_journal());
  if (destinations.to_syslog) {
    ::openlog("dane-policyd", LOG_PID | LOG_NDELAY, LOG_MAIL);
  }
  StartupErrors errors(destinations, settings.foreground, stdio);
  std::vector<InheritedListener> inherited = take_listeners(settings);
  auto run_user = resolve_run_user(settings.user);
  if (!run_user) {
    return errors.fail(run_user.error());
  }
  Stats stats; // before the log writer, which counts into it and is destroyed first
  auto log_or = open_log(settings, destinations, *run_user);
  if (!log_or) {
    return errors.fail(log_or.error());
  }
  std::unique_ptr<LogWriter> log = std::move(*log_or);
  log->count_into(&stats);
  if (auto st = prepare_files(settings, *run_user, inherited, *log); !st) {
    return errors.fail(st.error());
  }
  auto resolver_or = start_resolver(settings, listener_count(settings, inherited), *log);
  if (!resolver_or) {
    return errors.fail(resolver_or.error());
  }
  std::shared_ptr<Resolver> resolver = std::move(*resolver_or);
  asio::io_context io(1);
  // Bind (as root) before detaching so that errors reach the operator's terminal; the
  // service's threads and the log writer thread start only after fork() and the
  // privilege drop.
  auto server = std::make_unique<Server>(io, settings, stats, *log);
  auto bound = take_sockets(settings, *run_user, inherited, *server);
  if (!bound) {
    return errors.fail(bound.error());
  }
  auto metrics = bind_metrics(settings, io, stats, *server, *log, *bound);
  if (!metrics) {
    return errors.fail(metrics.error());
  }
  auto shared = open_shared_cache(settings, run_user->uid, io, *log, stats); // reads a root-only key file
  if (!shared) {
    return errors.fail(shared.error(), k_exit_usage);
  }
  if (auto st = daemonise(settings, io, resolver, errors); !st) {
    return errors.fail(st.error());
  }
  if (auto st = drop_privileges(*run_user); !st) {
    return errors.fail(st.error());
  }
  auto service = make_service(settings, resolver, io, *log, stats, *shared);
  if (!service) {
    return errors.fail(service.error(), k_exit_usage);
  }
  if (auto st = attach_service(settings, *server, **service); !st) {
    return errors.fail(st.error());
  }
  const std::string serving = serving_text(*bound);
  const std::string status = status_text(settings, serving);
  SignalHandling signals(io, settings, *server, *log, status);
  log->start();
  server->start();
  announce_ready(settings, *run_user, serving, status, *log);

  run_io(io, *log, stats);

  (*service)->shutdown();
  if (!stdio) {
    server->remove_socket_files();
  }
  server.reset();
  service->reset();
  log->message(Severity::Info, signals.stopped_cleanly() ? "stopped" : "stopped after the drain deadline");
  log->flush();
  return k_exit_ok;
}

} // namespace dane::policyd
