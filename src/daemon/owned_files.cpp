// Opening the verdict log, the state directory and the logs directory safely (owned_files.hpp).
#include "dane/daemon/owned_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dane::policyd {
namespace {

// Append-only, never through a symbolic link, never a controlling terminal, never blocking on a FIFO.
constexpr int k_log_flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
constexpr mode_t k_log_mode = 0640;

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) {
    return "a directory";
  }
  if (S_ISFIFO(mode)) {
    return "a FIFO";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    return "a device";
  }
  if (S_ISLNK(mode)) {
    return "a symbolic link";
  }
  return "not a regular file";
}

// Why open() failed, in the words an operator needs.
std::string open_failure(int err) {
  switch (err) {
  case ELOOP:
    return "is a symbolic link (refused: the daemon does not follow a symbolic link there)";
  case ENXIO:
    return "is a FIFO or socket, not a regular file (refused)";
  case EISDIR:
    return "is a directory, not a regular file (refused)";
  default:
    return std::strerror(err);
  }
}

// A verdict log found open at `fd`: a regular file with one link, owned by root or `uid`.
// Clears O_NONBLOCK (used only so that opening a FIFO could not block).
Status check_log_file(int fd, const std::string& path, unsigned uid) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return make_error(path + ": cannot stat: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(path + ": is " + kind_of(st.st_mode) + ", not a regular file (refused)");
  }
  if (st.st_uid != 0 && st.st_uid != uid) {
    return make_error(path + ": owned by uid " + std::to_string(st.st_uid) + ", neither root nor the run user (uid " +
                      std::to_string(uid) + ") (refused)");
  }
  if (st.st_nlink != 1) {
    return make_error(path + ": has " + std::to_string(st.st_nlink) +
                      " hard links (refused: another name of the file could be anything)");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) {
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  return Ok{};
}

// Opens with the calling thread's identity; `create`: O_CREAT (missing file made, mode 0640).
Expected<Fd> open_checked(const std::string& path, unsigned uid, int extra_flags) {
  Fd fd(::open(path.c_str(), k_log_flags | extra_flags, k_log_mode));
  if (!fd) {
    return make_error(path + ": " + open_failure(errno));
  }
  if (auto st = check_log_file(fd.get(), path, uid); !st) {
    return make_error(st.error());
  }
  return fd;
}

// As root: the file exists but the run user could not open it (e.g. root's own 0600 file).
Expected<OpenedLog> adopt_roots_file(Fd fd, const std::string& path, const FileOwner& owner, bool service_logs_dir,
                                     int as_user_errno) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(path + ": cannot stat: " + std::strerror(errno));
  }
  if (st.st_uid == owner.uid) {
    return OpenedLog{std::move(fd), {}};
  }
  if (service_logs_dir) {
    // systemd made the logs directory and gave its files back to root at this start: they are
    // this service's own (one link, checked above), the run user must be able to reopen them.
    const gid_t gid = st.st_gid == 0 ? static_cast<gid_t>(owner.gid) : static_cast<gid_t>(-1);
    if (::fchown(fd.get(), static_cast<uid_t>(owner.uid), gid) != 0) {
      return make_error(path + ": cannot give the verdict log in the service's logs directory to the run user: " +
                        std::strerror(errno));
    }
    return OpenedLog{std::move(fd), {}};
  }
  return OpenedLog{std::move(fd),
                   "verdict log " + path + " is root's and the run user may not open it (" +
                       std::strerror(as_user_errno) +
                       "): it is written through the descriptor opened at start and left as it is; a reopen "
                       "(SIGHUP after rotation, or after the file was deleted) needs a file the run user may "
                       "open: give the file to the run user, use logrotate's create or copytruncate, or let "
                       "the daemon create the file in a directory the run user owns"};
}

} // namespace

FsIdentity::FsIdentity(const FileOwner& owner)
    : m_old_gid(::setfsgid(static_cast<gid_t>(owner.gid))), m_old_uid(::setfsuid(static_cast<uid_t>(owner.uid))) {}

FsIdentity::~FsIdentity() {
  ::setfsuid(static_cast<uid_t>(m_old_uid));
  ::setfsgid(static_cast<gid_t>(m_old_gid));
}

Expected<OpenedLog> open_verdict_log(const std::string& path, const std::optional<FileOwner>& owner,
                                     bool service_logs_dir) {
  if (!owner) {
    auto fd = open_checked(path, static_cast<unsigned>(::geteuid()), O_CREAT);
    if (!fd) {
      return make_error(fd.error());
    }
    return OpenedLog{std::move(*fd), {}};
  }
  int as_user_errno = 0;
  {
    FsIdentity as_user(*owner);
    Fd fd(::open(path.c_str(), k_log_flags | O_CREAT, k_log_mode));
    if (fd) {
      if (auto st = check_log_file(fd.get(), path, owner->uid); !st) {
        return make_error(st.error());
      }
      return OpenedLog{std::move(fd), {}};
    }
    as_user_errno = errno;
  }
  if (as_user_errno == ELOOP || as_user_errno == ENXIO || as_user_errno == EISDIR) {
    return make_error(path + ": " + open_failure(as_user_errno));
  }
  // As root: an existing file is used as it is found (never re-owned)...
  Fd fd(::open(path.c_str(), k_log_flags));
  if (fd) {
    if (auto st = check_log_file(fd.get(), path, owner->uid); !st) {
      return make_error(st.error());
    }
    return adopt_roots_file(std::move(fd), path, *owner, service_logs_dir, as_user_errno);
  }
  if (errno != ENOENT) {
    return make_error(path + ": " + open_failure(errno) + " (as the run user: " + std::strerror(as_user_errno) + ")");
  }
  // ... and a missing one is made now (O_EXCL: this very file, no link followed) and given to the
  // run user, so that it can reopen the file itself.
  fd.reset(::open(path.c_str(), k_log_flags | O_CREAT | O_EXCL, k_log_mode));
  if (!fd) {
    return make_error(path + ": cannot create: " + open_failure(errno) +
                      " (as the run user: " + std::strerror(as_user_errno) + ")");
  }
  if (auto st = check_log_file(fd.get(), path, owner->uid); !st) {
    return make_error(st.error());
  }
  if (::fchown(fd.get(), static_cast<uid_t>(owner->uid), static_cast<gid_t>(owner->gid)) != 0) {
    return make_error(path + ": cannot give the new verdict log to the run user: " + std::strerror(errno));
  }
  return OpenedLog{std::move(fd), {}};
}

Expected<Fd> reopen_verdict_log(const std::string& path, bool create) {
  return open_checked(path, static_cast<unsigned>(::geteuid()), create ? O_CREAT : 0);
}

bool is_service_directory(const std::string& dir, const char* variable) {
  namespace fs = std::filesystem;
  const char* env = std::getenv(variable);
  if (env == nullptr) {
    return false;
  }
  std::error_code ec;
  const fs::path wanted = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (ec) {
    return false;
  }
  const std::string list = env;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = list.find(':', start);
    const std::string entry = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::error_code e2;
    if (!entry.empty() && entry.front() == '/' && fs::weakly_canonical(entry, e2) == wanted && !e2) {
      return true;
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return false;
}

Status take_service_directory(const std::string& dir, const FileOwner& owner) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    return make_error(
        dir + ": " +
        (errno == ENOTDIR ? std::string("not a directory (or a symbolic link)") : std::string(std::strerror(errno))));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(dir + ": cannot stat: " + std::strerror(errno));
  }
  if (st.st_uid == owner.uid) {
    return Ok{};
  }
  if (st.st_uid != 0) {
    return make_error(dir + ": owned by uid " + std::to_string(st.st_uid) + ", neither root nor the run user");
  }
  if (::fchown(fd.get(), static_cast<uid_t>(owner.uid), static_cast<gid_t>(-1)) != 0) {
    return make_error(dir + ": cannot give it to the run user: " + std::strerror(errno));
  }
  return Ok{};
}

namespace {

// mkdir of `dir` (missing parents made as they would be by mkdir -p, left as made): true when
// this call created `dir` itself.
Expected<bool> make_state_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path path(dir);
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return make_error("--state-dir " + dir + ": cannot create its parent: " + ec.message());
    }
  }
  if (::mkdir(dir.c_str(), 0755) == 0) {
    return true;
  }
  if (errno == EEXIST) {
    return false;
  }
  return make_error("--state-dir " + dir + ": cannot create: " + std::strerror(errno));
}

// An existing state directory must already be usable by the run user: it is not changed.
Status check_existing_state_dir(int fd, const std::string& dir, const struct stat& st,
                                const std::optional<FileOwner>& owner) {
  const unsigned uid = owner ? owner->uid : static_cast<unsigned>(::geteuid());
  if (st.st_uid != 0 && st.st_uid != uid) {
    return make_error("--state-dir " + dir + ": owned by uid " + std::to_string(st.st_uid) +
                      ", neither root nor the run user (uid " + std::to_string(uid) + ") (refused)");
  }
  int usable = 0;
  if (owner) {
    FsIdentity as_user(*owner);
    usable = ::faccessat(fd, ".", W_OK | X_OK, AT_EACCESS);
  } else {
    usable = ::faccessat(fd, ".", W_OK | X_OK, AT_EACCESS);
  }
  if (usable != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error("--state-dir " + dir + ": the run user (uid " + std::to_string(uid) +
                      ") cannot create files in it (owner uid " + std::to_string(st.st_uid) + ", mode " + mode +
                      "); the daemon changes the owner and mode only of a directory it creates itself: give this "
                      "one to the run user or name a new path");
  }
  return Ok{};
}

} // namespace

Status prepare_state_dir(const std::string& dir, const std::optional<FileOwner>& owner) {
  auto created = make_state_dir(dir);
  if (!created) {
    return make_error(created.error());
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    struct stat st {};
    const bool link = ::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
    return make_error("--state-dir " + dir + ": " +
                      (link ? std::string("is a symbolic link (refused: the daemon does not follow one there)")
                       : err == ENOTDIR ? std::string("not a directory (refused)")
                                        : std::string(std::strerror(err))));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error("--state-dir " + dir + ": cannot stat: " + std::strerror(errno));
  }
  const bool systemds = !*created && owner && st.st_uid == 0 && is_service_directory(dir, "STATE_DIRECTORY");
  if (!*created && !systemds) {
    return check_existing_state_dir(fd.get(), dir, st, owner);
  }
  // Made by this start (or by systemd for this service): Postfix's smtp(8) reads the trust-anchor
  // files in it, so it is world-readable; the run user writes them.
  if (*created && ::fchmod(fd.get(), 0755) != 0) {
    return make_error("--state-dir " + dir + ": cannot set mode 0755: " + std::strerror(errno));
  }
  if (owner && ::fchown(fd.get(), static_cast<uid_t>(owner->uid), static_cast<gid_t>(owner->gid)) != 0) {
    return make_error("--state-dir " + dir + ": cannot give it to the run user: " + std::strerror(errno));
  }
  return Ok{};
}

} // namespace dane::policyd
