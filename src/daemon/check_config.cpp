// dane-policyd --check-config (see dane/policyd/check_config.hpp).
#include "dane/daemon/check_config.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "dane/daemon/daemon.hpp"
#include "dane/daemon/sts_evaluator.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::policyd {
namespace {

namespace fs = std::filesystem;

std::optional<struct stat> stat_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return st;
}

std::string kind_of(const struct stat& st) {
  if (S_ISREG(st.st_mode)) {
    return "a file";
  }
  if (S_ISDIR(st.st_mode)) {
    return "a directory";
  }
  if (S_ISSOCK(st.st_mode)) {
    return "a socket";
  }
  if (S_ISFIFO(st.st_mode)) {
    return "a FIFO";
  }
  return "a device";
}

// Collects "ORIGIN: message" lines.
class Problems {
public:
  explicit Problems(const ParsedCommandLine& parsed) : m_parsed(parsed) {}
  void add(const std::string& option, const std::string& message) {
    m_lines.push_back(origin_of(m_parsed, option) + ": " + message);
  }
  void add_raw(std::string line) { m_lines.push_back(std::move(line)); }
  std::vector<std::string> take() { return std::move(m_lines); }
  const ParsedCommandLine& parsed() const { return m_parsed; }

private:
  const ParsedCommandLine& m_parsed;
  std::vector<std::string> m_lines;
};

// A directory the daemon creates when missing (create_directories): it must be a directory
// if it exists, else its nearest existing ancestor must be one.
void check_creatable_directory(Problems& problems, const std::string& option, const std::string& value,
                               const fs::path& dir) {
  fs::path p = dir;
  while (!p.empty()) {
    if (auto st = stat_of(p.string())) {
      if (!S_ISDIR(st->st_mode)) {
        problems.add(option, value + ": " + p.string() + " is " + kind_of(*st) + ", not a directory");
      }
      return;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
      problems.add(option, value + ": cannot look at " + p.string() + ": " + std::strerror(errno));
      return;
    }
    if (p == p.parent_path()) {
      return;
    }
    p = p.parent_path();
  }
}

void check_resolver(Problems& problems) {
  const Settings& s = problems.parsed().settings;
  auto resolver = make_unbound_resolver(s.resolver);
  if (resolver) {
    return;
  }
  // The resolver's messages start with the option they are about ("--trust-anchor-file X: ...").
  const std::string& error = resolver.error();
  for (const char* name : {"unbound-config", "trust-anchor-file", "forwarder", "dns-timeout"}) {
    if (error.rfind(std::string("--") + name, 0) == 0) {
      const std::string origin = origin_of(problems.parsed(), name);
      if (origin.rfind("--", 0) == 0) {
        problems.add_raw(error); // a command-line value: the message already starts with --NAME
      } else {
        problems.add_raw(origin + ": " + error);
      }
      return;
    }
  }
  problems.add_raw("resolver: " + error);
}

void check_verdict_log(Problems& problems) {
  const std::string& log = problems.parsed().settings.verdict_log;
  if (log.empty()) {
    return;
  }
  fs::path dir = fs::path(log).parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  auto dst = stat_of(dir.string());
  if (!dst) {
    problems.add("verdict-log", log + ": directory " + dir.string() + " " +
                                    (errno == ENOENT ? std::string("does not exist") : std::strerror(errno)) +
                                    " (the daemon creates the log file, not its directory)");
    return;
  }
  if (!S_ISDIR(dst->st_mode)) {
    problems.add("verdict-log", log + ": " + dir.string() + " is " + kind_of(*dst) + ", not a directory");
    return;
  }
  // As the daemon's start (owned_files.hpp): a regular file, never through a symbolic link.
  if (struct stat st{}; ::lstat(log.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    problems.add("verdict-log", log + ": is " + (S_ISLNK(st.st_mode) ? std::string("a symbolic link") : kind_of(st)) +
                                    ", expected a regular file (the daemon refuses anything else)");
  }
}

void check_state_dir(Problems& problems) {
  const std::string& dir = problems.parsed().settings.state_dir;
  check_creatable_directory(problems, "state-dir", dir, fs::path(dir));
}

// --mta-sts: the CA file must be readable (as at the daemon's start) and the policy directory creatable.
void check_mta_sts(Problems& problems) {
  const Settings& s = problems.parsed().settings;
  if (!s.mta_sts) {
    return;
  }
  if (auto st = check_mta_sts_ca_file(s.mta_sts_ca_file); !st) {
    problems.add("mta-sts-ca-file", st.error());
  }
}

void check_listeners(Problems& problems) {
  // The default socketmap listener (none configured) reports as "--socketmap (default)".
  Settings with_defaults = problems.parsed().settings;
  apply_embedded_defaults(with_defaults);
  auto check = [&](const std::string& option, const std::vector<Endpoint>& endpoints) {
    for (const auto& e : endpoints) {
      if (e.kind != Endpoint::Kind::Unix) {
        continue;
      }
      struct stat st {};
      if (::lstat(e.path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
        problems.add(option, e.text + ": " + e.path + " exists and is " + kind_of(st) +
                                 ", not a socket (the daemon replaces only stale sockets)");
        continue;
      }
      check_creatable_directory(problems, option, e.text, fs::path(e.path).parent_path());
    }
  };
  check("socketmap", with_defaults.socketmap);
  check("policy-service", with_defaults.policy_service);
}

bool user_exists(const std::string& name) {
  return ::getpwnam(name.c_str()) != nullptr;
}
bool group_exists(const std::string& name) {
  return ::getgrnam(name.c_str()) != nullptr;
}

void check_accounts(Problems& problems) {
  const Settings& s = problems.parsed().settings;
  if (!s.user.empty()) {
    if (s.user != "root" && !user_exists(s.user)) {
      problems.add("user", "no such user '" + s.user + "'");
    }
  } else if (!user_exists("dane-policyd") && !user_exists("nobody")) {
    problems.add("user", "neither user dane-policyd nor nobody exists; name one with --user");
  }
  if (!s.socket_owner.empty() && !user_exists(s.socket_owner)) {
    problems.add("socket-owner", "no such user '" + s.socket_owner + "'");
  }
  if (!s.socket_group.empty() && !group_exists(s.socket_group)) {
    problems.add("socket-group", "no such group '" + s.socket_group + "'");
  }
}

} // namespace

std::vector<std::string> check_config(const ParsedCommandLine& parsed) {
  Problems problems(parsed);
  check_accounts(problems);
  check_verdict_log(problems);
  check_state_dir(problems);
  check_mta_sts(problems);
  check_listeners(problems);
  check_resolver(problems);
  return problems.take();
}

int run_check_config(const ParsedCommandLine& parsed, std::ostream& out, std::ostream& err) {
  std::vector<std::string> problems = check_config(parsed);
  const std::string& file = parsed.settings.config_file;
  if (problems.empty()) {
    if (file.empty()) {
      out << "dane-policyd: no configuration file (" << default_config_file()
          << " does not exist), built-in defaults: configuration OK\n";
    } else {
      out << file << ": configuration OK\n";
    }
    return k_exit_ok;
  }
  for (const auto& p : problems) {
    err << p << "\n";
  }
  err << "dane-policyd: " << problems.size() << (problems.size() == 1 ? " problem" : " problems") << " in "
      << (file.empty() ? std::string("the configuration") : file) << "\n";
  return k_exit_usage;
}

} // namespace dane::policyd
