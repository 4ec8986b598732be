// dane/daemon/owned_files.hpp — opening the files and directories dane-policyd writes (the
// verdict log, the --state-dir directory, the verdict log's directory) without letting a path
// trick root into writing, re-owning or opening up something else.
//
// Inputs: paths from the command line or the config file (the operator's), and what is found
// at them (which the run user, or anyone who may write the parent directory, may have put
// there). Started as root, the daemon later runs as the run user (--user).
//
// Rules (docs/hardening.md, "Files"):
// - The last path component is never followed when it is a symbolic link (O_NOFOLLOW), and
//   opening never makes a terminal the controlling one (O_NOCTTY) or blocks on a FIFO
//   (O_NONBLOCK); descriptors are close-on-exec.
// - The verdict log must be a regular file with one link, owned by root or the run user; the
//   state directory must be a directory owned by root or the run user. Anything else is refused
//   with a message naming the path and what is wrong (a start-up failure, exit 1).
// - Ownership and mode are changed only of what this start created (the file or directory made
//   with O_EXCL / mkdir just now), never of what was found. One documented exception: systemd's
//   LogsDirectory= and StateDirectory= (named in $LOGS_DIRECTORY / $STATE_DIRECTORY) are made by
//   systemd for this service, owned by root; the daemon gives those directories (and, in the
//   logs directory, a root-owned verdict log with a single link) to the run user.
//
// Trust assumptions: the directories above the last component are the operator's (not writable
// by the run user); the run user may own the last directory. Failures: Expected errors whose text
// names the path.
#pragma once

#include <optional>
#include <string>

#include "dane/core/expected.hpp"
#include "dane/core/fd.hpp"

namespace dane::policyd {

// Who owns the verdict log and the state directory (the run user, when started as root).
struct FileOwner {
  unsigned uid = 0;
  unsigned gid = 0;
};

// The calling thread's file-system identity switched to another user for the lifetime of the
// object (setfsuid/setfsgid are per thread). Root without CAP_DAC_OVERRIDE (systemd's
// CapabilityBoundingSet) cannot open a file the run user owns, but the run user can.
class FsIdentity {
public:
  explicit FsIdentity(const FileOwner& owner);
  ~FsIdentity();
  FsIdentity(const FsIdentity&) = delete;
  FsIdentity& operator=(const FsIdentity&) = delete;

private:
  int m_old_gid;
  int m_old_uid;
};

// The verdict log as opened at start-up.
struct OpenedLog {
  Fd fd;
  std::string warning; // non-empty: said once the log is running (e.g. the run user cannot reopen it)
};

// Opens (creating it if missing) the verdict log for appending. `owner` set (started as root):
// first with the run user's identity (its own file, or one it may create: no privilege used);
// else as root, an existing file is accepted as it is (root's own file: written through this
// descriptor, not re-owned; see OpenedLog::warning) and a missing one is created with O_EXCL and
// given to the run user. `service_logs_dir`: the file lies in systemd's LogsDirectory= (the
// exception above). Without `owner`: with the process's own identity.
Expected<OpenedLog> open_verdict_log(const std::string& path, const std::optional<FileOwner>& owner,
                                     bool service_logs_dir);
// The running daemon (re)opens the verdict log with its own identity (after rotation or
// deletion), `create`: creating it when missing. Same checks.
Expected<Fd> reopen_verdict_log(const std::string& path, bool create);

// Makes --state-dir usable by the run user: created (with missing parents) when absent, and then
// — only then — given mode 0755 and the run user; an existing directory is used as it is and
// refused when it is not a directory, is owned by another user, or the run user cannot create
// files in it. `owner` empty: the process keeps its identity.
Status prepare_state_dir(const std::string& dir, const std::optional<FileOwner>& owner);

// Whether `dir` is one of the directories systemd named in the environment variable `variable`
// (LOGS_DIRECTORY, STATE_DIRECTORY: colon-separated absolute paths), compared after resolving.
bool is_service_directory(const std::string& dir, const char* variable);
// Gives a service directory (is_service_directory) that root owns to `owner`: opened with
// O_DIRECTORY|O_NOFOLLOW, changed through the descriptor. Error text names the directory.
Status take_service_directory(const std::string& dir, const FileOwner& owner);

} // namespace dane::policyd
