// process.hpp — running programs from tests: one runner for short commands, one spawner for
// long-running processes.
//
// run_process(): runs argv to completion with stdin fed from a string (or /dev/null), stdout and
// stderr captured (separately, or interleaved with merge_stderr), in its own process group, and
// kills that group when the timeout passes (timed_out = true), so a hung tool fails the test
// instead of hanging it. argv[0] without a '/' is looked up on PATH and in /usr/sbin, /usr/bin.
// Options: working directory, extra environment variables, another user (root only).
//
// ChildProcess: starts argv in the background with stdout+stderr appended to a file (or
// /dev/null), stdin from /dev/null; optional extra environment, file descriptors handed over at
// 3, 4, ... (socket activation), a variable set to the child's own pid (LISTEN_PID), a
// death signal (PR_SET_PDEATHSIG) and its own process group. The destructor stops it (SIGTERM,
// then SIGKILL to its group); stop()/wait() report the exit status (128+N when killed by signal N).
//
// Failure modes: run_process() reports fork/pipe errors in error_output with exit_code -1; an
// exec failure is exit code 127. ChildProcess::start() returns an error when it cannot fork or
// open the output file. Trust: test-only; arguments are passed to exec, never through a shell.
// Not thread-safe per object.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "dane/core/expected.hpp"

namespace dane::test {

using Environment = std::vector<std::pair<std::string, std::string>>;

struct RunOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(120);
  std::string stdin_data;       // fed to stdin, then closed (empty: /dev/null)
  bool merge_stderr = false;    // stderr into `output` too
  std::string cwd;              // working directory ("" = the test's)
  Environment env;              // added to (or replacing in) the test's environment
  std::optional<uid_t> as_user; // setgroups(0), setgid(uid), setuid(uid) before exec (root only)
};

struct ProcessResult {
  int exit_code = -1; // -1 when it did not exit normally (signal, timeout, not started)
  bool timed_out = false;
  std::string output;       // stdout (and stderr with merge_stderr); at most 8 MiB kept per stream
  std::string error_output; // stderr; also why it could not be started
};

ProcessResult run_process(const std::vector<std::string>& argv, const RunOptions& options);
// The older form: stdin /dev/null, a time limit, stderr merged into `output` unless told not to.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                          bool merge_stderr = true);

// The older Postfix-rig form: stdout+stderr interleaved, stdin from `stdin_data`.
struct CommandResult {
  int exit_code = -1; // -1 when killed by a signal or not started
  std::string output; // stdout and stderr, interleaved
};
CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_data = {});

struct SpawnOptions {
  std::string output_path;       // stdout+stderr appended here ("" = /dev/null)
  std::string cwd;               // working directory ("" = the test's)
  Environment env;               // added to (or replacing in) the test's environment
  std::vector<int> pass_fds;     // become fds 3, 4, ... in the child (without FD_CLOEXEC)
  std::string own_pid_variable;  // e.g. "LISTEN_PID": set to the child's pid before exec
  int death_signal = 0;          // PR_SET_PDEATHSIG (0: none); the child dies with the test
  bool own_process_group = true; // setpgid(0, 0): stop() also reaches what it forks
};

// A background process, stopped when this object dies.
class ChildProcess {
public:
  ChildProcess() = default;
  static Expected<ChildProcess> start(const std::vector<std::string>& argv, const SpawnOptions& options);
  // The older Postfix-rig form: output appended to `log_path`; throws std::runtime_error on failure.
  static ChildProcess spawn(const std::vector<std::string>& argv, const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return m_pid; }
  bool running(); // false once it exited (reaps it)
  std::optional<int> exit_status() const { return m_status; }
  void signal(int signo) const;                               // no-op once it exited
  std::optional<int> wait(std::chrono::milliseconds timeout); // exit status, nullopt on timeout
  int wait();                                                 // blocks until it exits
  // Sends `signo`, waits up to `timeout`, then SIGKILLs its group. Returns the exit status, or
  // -1 when it had to be killed. Idempotent (returns the status again).
  int stop(int signo = 15, std::chrono::milliseconds timeout = std::chrono::seconds(5));

private:
  pid_t m_pid = -1;
  bool m_group = false;
  std::optional<int> m_status;
};

} // namespace dane::test
