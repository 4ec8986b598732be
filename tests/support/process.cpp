// Running programs from tests (see process.hpp): the one runner and the one spawner.
#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_env.hpp"

extern char** environ;

namespace dane::test {
namespace {

constexpr std::size_t k_max_kept = 8 * 1024 * 1024;

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  std::string path = find_program(name);
  return path.empty() ? name : path;
}

// argv, environment and the fixed-size slot for a pid variable, all built before fork() so the
// child only calls async-signal-safe functions.
struct ExecImage {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
  char* pid_digits = nullptr; // inside env: 10 spaces, overwritten by the child's pid

  ExecImage(const std::vector<std::string>& argv_in, const Environment& extra, const std::string& pid_variable) {
    args = argv_in;
    args[0] = resolve_program(args[0]);
    auto overridden = [&](const std::string& entry) {
      for (const auto& [k, v] : extra) {
        if (entry.rfind(k + "=", 0) == 0) {
          return true;
        }
      }
      return !pid_variable.empty() && entry.rfind(pid_variable + "=", 0) == 0;
    };
    for (char** e = environ; *e != nullptr; ++e) {
      if (!overridden(*e)) {
        env.emplace_back(*e);
      }
    }
    for (const auto& [k, v] : extra) {
      env.push_back(k + "=" + v);
    }
    if (!pid_variable.empty()) {
      env.push_back(pid_variable + "=" + std::string(10, ' '));
    }
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    for (auto& e : env) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    if (!pid_variable.empty()) {
      pid_digits = env.back().data() + pid_variable.size() + 1;
    }
  }

  // In the child: write getpid() into the slot (digits, then NULs).
  void fill_pid() const {
    if (pid_digits == nullptr) {
      return;
    }
    char tmp[16];
    int n = 0;
    for (auto p = static_cast<unsigned long>(::getpid()); p > 0 || n == 0; p /= 10) {
      tmp[n++] = static_cast<char>('0' + p % 10);
    }
    for (int i = 0; i < 10; ++i) {
      pid_digits[i] = i < n ? tmp[n - 1 - i] : '\0';
    }
  }

  [[noreturn]] void exec() const {
    ::execve(argv[0], argv.data(), envp.data());
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
};

void close_all(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

// Reads both pipes (and writes stdin) until they close or the deadline passes.
void pump(int out_fd, int err_fd, int in_fd, const std::string& input, std::chrono::milliseconds limit,
          ProcessResult& result) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
  std::string* sinks[2] = {&result.output, &result.error_output};
  std::size_t written = 0;
  if (fds[2].fd >= 0 && input.empty()) {
    ::close(fds[2].fd);
    fds[2].fd = -1;
  }
  char buf[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    if (::poll(fds, 3, static_cast<int>(left.count()) + 1) <= 0) {
      continue; // EINTR or timeout: rechecked at the loop head
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) {
      ssize_t n = ::write(fds[2].fd, input.data() + written, input.size() - written);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      }
      if ((n < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) {
        ::close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      if (sinks[i]->size() < k_max_kept) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  close_all({fds[0].fd, fds[1].fd, fds[2].fd});
}

} // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const RunOptions& options) {
  ProcessResult result;
  if (argv.empty()) {
    result.error_output = "run_process: no program";
    return result;
  }
  ExecImage image(argv, options.env, "");
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int in_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || (!options.merge_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0) ||
      (!options.stdin_data.empty() && ::pipe2(in_pipe, O_CLOEXEC) != 0)) {
    result.error_output = std::string("pipe: ") + std::strerror(errno);
    close_all({out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1]});
    return result;
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid < 0) {
    result.error_output = std::string("fork: ") + std::strerror(errno);
    close_all({out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1], null_fd});
    return result;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in_pipe[0] >= 0 ? in_pipe[0] : null_fd, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(options.merge_stderr ? out_pipe[1] : err_pipe[1], STDERR_FILENO);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
      ::_exit(126);
    }
    if (options.as_user) {
      gid_t gid = *options.as_user;
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(*options.as_user) != 0) {
        ::_exit(121);
      }
    }
    image.exec();
  }
  ::setpgid(pid, pid);
  close_all({out_pipe[1], err_pipe[1], in_pipe[0], null_fd});
  if (in_pipe[1] >= 0) {
    ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    ::signal(SIGPIPE, SIG_IGN); // a child that exits without reading its input must not kill the test
  }
  pump(out_pipe[0], err_pipe[0], in_pipe[1], options.stdin_data, options.timeout, result);
  if (result.timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds limit, bool merge_stderr) {
  RunOptions options;
  options.timeout = limit;
  options.merge_stderr = merge_stderr;
  return run_process(argv, options);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data) {
  RunOptions options;
  options.stdin_data = stdin_data;
  options.merge_stderr = true;
  options.timeout = std::chrono::minutes(5);
  ProcessResult r = run_process(argv, options);
  return CommandResult{r.exit_code, r.output + r.error_output};
}

// ---------------------------------------------------------------------------------------------------------
// ChildProcess

Expected<ChildProcess> ChildProcess::start(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) {
    return make_error("ChildProcess::start: no program");
  }
  ExecImage image(argv, options.env, options.own_pid_variable);
  const std::string out_path = options.output_path.empty() ? "/dev/null" : options.output_path;
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    return make_error("open " + out_path + ": " + std::strerror(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int first_free = 3 + static_cast<int>(options.pass_fds.size()) + 16;
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    close_all({out, null_fd});
    return make_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    if (options.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, options.death_signal);
      if (::getppid() != parent) {
        ::_exit(127);
      }
    }
    if (options.own_process_group) {
      ::setpgid(0, 0);
    }
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    // Handed-over fds: first above the target range (so none is overwritten), then to 3, 4, ...
    int moved[64];
    const std::size_t n = options.pass_fds.size() < 64 ? options.pass_fds.size() : 64;
    for (std::size_t i = 0; i < n; ++i) {
      moved[i] = ::fcntl(options.pass_fds[i], F_DUPFD_CLOEXEC, first_free);
    }
    for (std::size_t i = 0; i < n; ++i) {
      ::dup2(moved[i], 3 + static_cast<int>(i)); // dup2 clears FD_CLOEXEC on the target
    }
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
      ::_exit(126);
    }
    image.fill_pid();
    image.exec();
  }
  if (options.own_process_group) {
    ::setpgid(pid, pid);
  }
  close_all({out, null_fd});
  ChildProcess child;
  child.m_pid = pid;
  child.m_group = options.own_process_group;
  return child;
}

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  SpawnOptions options;
  options.output_path = log_path;
  auto child = start(argv, options);
  if (!child) {
    throw std::runtime_error(child.error());
  }
  return std::move(*child);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)), m_group(other.m_group), m_status(other.m_status) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    stop();
    m_pid = std::exchange(other.m_pid, -1);
    m_group = other.m_group;
    m_status = other.m_status;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  stop();
}

bool ChildProcess::running() {
  if (m_pid <= 0 || m_status) {
    return false;
  }
  int status = 0;
  pid_t r = ::waitpid(m_pid, &status, WNOHANG);
  if (r == m_pid || (r < 0 && errno == ECHILD)) {
    m_status = r == m_pid ? decode_status(status) : -1;
    return false;
  }
  return true;
}

void ChildProcess::signal(int signo) const {
  if (m_pid > 0 && !m_status) {
    ::kill(m_pid, signo);
  }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return m_status;
}

int ChildProcess::wait() {
  if (m_pid > 0 && !m_status) {
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_status = decode_status(status);
  }
  return m_status.value_or(-1);
}

int ChildProcess::stop(int signo, std::chrono::milliseconds timeout) {
  if (m_pid <= 0) {
    return -1;
  }
  if (m_status) {
    return *m_status;
  }
  ::kill(m_pid, signo);
  if (auto st = wait(timeout)) {
    return *st;
  }
  if (m_group) {
    ::kill(-m_pid, SIGKILL);
  }
  ::kill(m_pid, SIGKILL);
  wait();
  return -1; // did not stop in time
}

} // namespace dane::test
