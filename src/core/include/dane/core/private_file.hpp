// dane/core/private_file.hpp — reading and replacing the small files a program keeps for itself (the
// daemon's warm-restart cache file, the MTA-STS policy store), without being fooled by what someone
// else put at the path.
//
// read_private_file(): the last component is never followed when it is a symbolic link (O_NOFOLLOW),
// opening never blocks on a FIFO or takes a terminal; the file must be a regular file owned by this
// process's effective user (or `also_owner`), not writable by group or others, with one link when
// `single_link`, and at most `max_bytes`. No file at the path is nullopt, not an error. Errors say what
// was wrong in words ("is a symbolic link (never followed)", "writable by group or others", ...), without
// the path (callers name it).
// write_file_atomically(): a temporary file in the same directory (mode 0600 unless told), written, fsync'd, renamed
// over the path, then the directory fsync'd: a reader sees the old file or the new one, never a part.
// Errors name the temporary file and the step. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "dane/core/expected.hpp"

namespace dane {

struct PrivateFileRules {
  std::size_t max_bytes = 0;
  std::optional<uid_t> also_owner; // a second acceptable owner (e.g. the owner of a store directory)
  bool single_link = true;         // refuse a file with other hard links
};

Expected<std::optional<std::string>> read_private_file(const std::string& path, const PrivateFileRules& rules);

// `temp_prefix`: the temporary file's name in the directory, before the random suffix ("" = the
// destination's own name followed by a dot). `mode`: the new file's permission bits.
Status write_file_atomically(const std::string& path, std::string_view content, std::string_view temp_prefix = {},
                             mode_t mode = 0600);

} // namespace dane
