// Streaming line reader for dane-policyctl report: plain files and gzip (by magic bytes, multi-member).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "dane/tools/report.hpp"

namespace dane::tools::report {

namespace {

constexpr std::size_t k_chunk = std::size_t{256} * 1024;

class FileLineReader final : public LineReader {
public:
  FileLineReader(int fd, std::string path) : m_fd(fd), m_path(std::move(path)) {}
  ~FileLineReader() override {
    if (m_gzip) {
      inflateEnd(&m_zs);
    }
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  FileLineReader(const FileLineReader&) = delete;
  FileLineReader& operator=(const FileLineReader&) = delete;

  Status init() {
    // Sniff the magic bytes without consuming them.
    unsigned char magic[2] = {0, 0};
    std::size_t got = 0;
    while (got < 2) {
      ssize_t n = ::read(m_fd, magic + got, 2 - got);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return make_error(std::strerror(errno));
      }
      if (n == 0) {
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    m_gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    m_in.assign(reinterpret_cast<const char*>(magic), got);
    if (m_gzip) {
      std::memset(&m_zs, 0, sizeof m_zs);
      if (inflateInit2(&m_zs, 16 + MAX_WBITS) != Z_OK) {
        m_gzip = false;
        return make_error("zlib initialisation failed");
      }
      m_in.reserve(k_chunk);
    } else {
      m_buf = m_in;
      m_in.clear();
    }
    return Ok{};
  }

  bool next(std::string_view& line) override {
    for (;;) {
      const std::string_view buffered(m_buf);
      const std::size_t end = m_start < buffered.size() ? buffered.find('\n', m_start) : std::string_view::npos;
      if (end != std::string_view::npos) {
        give(line, buffered.substr(m_start, end - m_start), false);
        m_start = end + 1;
        return true;
      }
      if (m_eof) {
        if (m_skipping || m_start < m_buf.size()) {
          give(line, buffered.substr(std::min(m_start, buffered.size())), true);
          m_start = m_buf.size();
          return true;
        }
        return false;
      }
      if (m_skipping || m_buf.size() - m_start > k_max_line_bytes) {
        // Too long to be a log line: drop what is buffered and skip to the next newline.
        m_skipping = true;
        m_buf.clear();
      } else if (m_start > 0) {
        m_buf.erase(0, m_start); // keep the partial line, read more
      }
      m_start = 0;
      fill();
    }
  }

  std::size_t line_number() const override { return m_line; }
  bool last_line_unterminated() const override { return m_unterminated; }
  bool last_line_too_long() const override { return m_too_long; }
  const std::string& error() const override { return m_error; }
  bool compressed() const override { return m_gzip; }

private:
  // Hands out one line (or, for one longer than k_max_line_bytes or skipped in part, an empty view).
  void give(std::string_view& line, std::string_view text, bool unterminated) {
    ++m_line;
    m_unterminated = unterminated;
    m_too_long = m_skipping || text.size() > k_max_line_bytes;
    m_skipping = false;
    line = m_too_long ? std::string_view() : text;
  }

  // Reads raw bytes; returns 0 at EOF, -1 on error (m_error set).
  ssize_t read_raw(char* dst, std::size_t n) {
    for (;;) {
      ssize_t r = ::read(m_fd, dst, n);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r < 0) {
        m_error = std::string("read error: ") + std::strerror(errno);
      }
      return r;
    }
  }

  void fill() {
    std::size_t old = m_buf.size();
    if (!m_gzip) {
      m_buf.resize(old + k_chunk);
      ssize_t r = read_raw(m_buf.data() + old, k_chunk);
      m_buf.resize(old + static_cast<std::size_t>(r > 0 ? r : 0));
      if (r <= 0) {
        m_eof = true;
      }
      return;
    }
    // gzip: produce up to k_chunk bytes of output.
    m_buf.resize(old + k_chunk);
    m_zs.next_out = reinterpret_cast<Bytef*>(m_buf.data() + old);
    m_zs.avail_out = static_cast<uInt>(k_chunk);
    while (m_zs.avail_out > 0) {
      if (m_zs.avail_in == 0) {
        if (m_in_eof) {
          if (m_in_member) {
            m_error = "truncated gzip stream (unexpected end of file)";
          }
          m_eof = true;
          break;
        }
        // The sniffed magic bytes are already in m_in on the first call.
        std::size_t have = m_magic_pending ? m_in.size() : 0;
        m_magic_pending = false;
        m_in.resize(k_chunk);
        ssize_t r = read_raw(m_in.data() + have, k_chunk - have);
        if (r < 0) {
          m_eof = true;
          break;
        }
        m_in.resize(have + static_cast<std::size_t>(r));
        if (r == 0) {
          m_in_eof = true;
        }
        m_zs.next_in = reinterpret_cast<Bytef*>(m_in.data());
        m_zs.avail_in = static_cast<uInt>(m_in.size());
        if (m_in.empty()) {
          continue;
        }
        m_in_member = true;
      }
      int rc = inflate(&m_zs, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        m_in_member = false;
        // Another member may follow (concatenated gzip, e.g. appended rotation).
        if (inflateReset(&m_zs) != Z_OK) {
          m_error = "zlib reset failed";
          m_eof = true;
          break;
        }
        if (m_zs.avail_in > 0) {
          m_in_member = true;
          if (m_zs.next_in[0] != 0x1f) {
            // Trailing garbage after a complete member (e.g. zero padding): stop here.
            m_error = "garbage after the end of the gzip data";
            m_zs.avail_in = 0;
            m_in_member = false;
            m_eof = true;
            break;
          }
        }
        continue;
      }
      if (rc == Z_BUF_ERROR) {
        continue; // needs more input
      }
      if (rc != Z_OK) {
        m_error = std::string("corrupt gzip data: ") + (m_zs.msg != nullptr ? m_zs.msg : "inflate failed");
        m_eof = true;
        break;
      }
    }
    m_buf.resize(old + (k_chunk - m_zs.avail_out));
    // A file ending without a complete member is reported once all its output was consumed.
  }

  int m_fd;
  std::string m_path;
  std::string m_buf;
  std::size_t m_start = 0;
  std::size_t m_line = 0;
  bool m_unterminated = false;
  bool m_too_long = false;
  bool m_skipping = false; // inside a line longer than k_max_line_bytes, not buffered
  bool m_eof = false;
  std::string m_error;
  bool m_gzip = false;
  z_stream m_zs{};
  std::string m_in;
  bool m_in_eof = false;
  bool m_in_member = false;
  bool m_magic_pending = true;
};

} // namespace

Expected<std::unique_ptr<LineReader>> LineReader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(path + ": " + std::strerror(errno));
  }
  auto reader = std::make_unique<FileLineReader>(fd, path);
  if (auto st = reader->init(); !st) {
    return make_error(path + ": " + st.error());
  }
  return std::unique_ptr<LineReader>(std::move(reader));
}

} // namespace dane::tools::report
