// Reading and atomically replacing a program's own small files (dane/core/private_file.hpp).
#include "dane/core/private_file.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dane/core/fd.hpp"

namespace dane {
namespace {

Status check_private(const struct stat& st, const PrivateFileRules& rules) {
  if (!S_ISREG(st.st_mode)) {
    return make_error("not a regular file");
  }
  if (st.st_uid != ::geteuid() && (!rules.also_owner || st.st_uid != *rules.also_owner)) {
    return make_error("owned by uid " + std::to_string(st.st_uid) + ", not by this process's user (uid " +
                      std::to_string(::geteuid()) + ")" + (rules.also_owner ? " nor the directory's owner" : ""));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return make_error("writable by group or others");
  }
  if (rules.single_link && st.st_nlink != 1) {
    return make_error("has " + std::to_string(st.st_nlink) + " hard links");
  }
  if (static_cast<std::uint64_t>(st.st_size) > rules.max_bytes) {
    return make_error("larger than " + std::to_string(rules.max_bytes) + " bytes");
  }
  return Ok{};
}

Status write_all(int fd, std::string_view content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error("cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok{};
}

} // namespace

Expected<std::optional<std::string>> read_private_file(const std::string& path, const PrivateFileRules& rules) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) {
      return std::optional<std::string>();
    }
    if (errno == ELOOP) {
      return make_error("is a symbolic link (never followed)");
    }
    return make_error(std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(std::string("cannot stat: ") + std::strerror(errno));
  }
  if (auto ok = check_private(st, rules); !ok) {
    return make_error(ok.error());
  }
  std::string content(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return make_error(std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) {
      return make_error("shrank while it was read");
    }
    got += static_cast<std::size_t>(n);
  }
  return std::optional<std::string>(std::move(content));
}

Status write_file_atomically(const std::string& path, std::string_view content, std::string_view temp_prefix,
                             mode_t mode) {
  const std::filesystem::path target(path);
  std::string dir = target.parent_path().string();
  if (dir.empty()) {
    dir = ".";
  }
  std::string tmp =
      dir + "/" + (temp_prefix.empty() ? target.filename().string() + "." : std::string(temp_prefix)) + "XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) {
    return make_error("cannot create a temporary file in " + dir + ": " + std::strerror(errno));
  }
  auto fail = [&tmp](const std::string& what) -> Status {
    const int err = errno;
    ::unlink(tmp.c_str());
    return make_error(what + " " + tmp + ": " + std::strerror(err));
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return fail("cannot set the mode of");
  }
  if (!write_all(fd.get(), content)) {
    return fail("cannot write");
  }
  if (::fsync(fd.get()) != 0) {
    return fail("cannot fsync");
  }
  if (::close(fd.release()) != 0) {
    return fail("cannot close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("cannot rename to " + path + ":");
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd || ::fsync(dfd.get()) != 0) {
    return make_error("cannot fsync directory " + dir + ": " + std::strerror(errno));
  }
  return Ok{};
}

} // namespace dane
