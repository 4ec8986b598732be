// Shared by the fuzz targets: a property check that crashes (so libFuzzer reports it) and a splitter that
// turns one input into a sequence of feed() chunks, so chunk boundaries are fuzzed too.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);                               \
      std::abort();                                                                                                    \
    }                                                                                                                  \
  } while (0)

namespace dane::fuzz {

// Replaces the whole content of the file behind fd (a memfd the target reuses for every input) by the
// input; false on a write error.
inline bool rewrite_file(int fd, const std::uint8_t* data, std::size_t size) {
  if (::ftruncate(fd, 0) != 0) {
    return false;
  }
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The first input byte seeds the chunk sizes (1..16 bytes, or everything at once when it is 0); the rest
// is the byte stream.
inline std::vector<std::string_view> chunks(const std::uint8_t* data, std::size_t size, std::string_view& whole) {
  std::vector<std::string_view> out;
  if (size == 0) {
    whole = {};
    return out;
  }
  unsigned seed = data[0];
  whole = std::string_view(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view rest = whole;
  while (!rest.empty()) {
    std::size_t n = seed == 0 ? rest.size() : 1 + (seed % 16);
    seed = seed * 33 + 7;
    if (n > rest.size()) {
      n = rest.size();
    }
    out.push_back(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  return out;
}

} // namespace dane::fuzz
