// tlsrpt-send's state file, rate limit and sendmail pipe (the parts with I/O besides the run itself).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/fd.hpp"
#include "dane/core/private_file.hpp"
#include "dane/tools/tlsrpt_send.hpp"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace dane::tools::tlsrpt {

namespace {

using nlohmann::json;

std::string errno_text(int err) {
  return std::strerror(err); // NOLINT(concurrency-mt-unsafe): dane-policyctl is single-threaded here
}

Expected<Ok> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_error(errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

} // namespace

Expected<SentState> SentState::load(const std::string& path) {
  SentState state;
  state.m_path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return state;
    }
    return make_error("cannot read state file " + path + ": " + errno_text(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 || !j.contains("delivered") ||
      !j["delivered"].is_array()) {
    return make_error("state file " + path + " is not a tlsrpt-send state file (version 1)");
  }
  for (const auto& e : j["delivered"]) {
    if (!e.is_object() || !e.contains("domain") || !e["domain"].is_string() || !e.contains("uri") ||
        !e["uri"].is_string() || !e.contains("begin") || !e["begin"].is_string() || !e.contains("end") ||
        !e["end"].is_string()) {
      return make_error("state file " + path + ": malformed entry " + e.dump());
    }
    auto begin = parse_rfc3339(e["begin"].get<std::string>());
    auto end = parse_rfc3339(e["end"].get<std::string>());
    auto when = parse_rfc3339(e.value("when", std::string("1970-01-01T00:00:00Z")));
    if (!begin || !end || !when) {
      return make_error("state file " + path + ": bad time in entry " + e.dump());
    }
    state.m_entries[Key{e["domain"].get<std::string>(), *begin, *end, e["uri"].get<std::string>()}] =
        Entry{e.value("report_id", std::string()), *when};
  }
  return state;
}

bool SentState::delivered(const std::string& domain, UnixMicros begin, UnixMicros end, const std::string& uri) const {
  return m_entries.count(Key{domain, begin, end, uri}) != 0;
}

void SentState::mark(const std::string& domain, UnixMicros begin, UnixMicros end, const std::string& uri,
                     const std::string& report_id, UnixMicros when) {
  m_entries[Key{domain, begin, end, uri}] = Entry{report_id, when};
}

Expected<Ok> SentState::save() const {
  json list = json::array();
  for (const auto& [key, entry] : m_entries) {
    list.push_back({{"domain", std::get<0>(key)},
                    {"begin", format_rfc3339(std::get<1>(key))},
                    {"end", format_rfc3339(std::get<2>(key))},
                    {"uri", std::get<3>(key)},
                    {"report_id", entry.report_id},
                    {"when", format_rfc3339(entry.when)}});
  }
  const std::string text = json{{"version", 1}, {"delivered", std::move(list)}}.dump(1) + "\n";
  if (auto st = write_file_atomically(m_path, text, {}, 0644); !st) {
    return make_error("cannot write state file " + m_path + ": " + st.error());
  }
  return Ok{};
}

TokenBucket::TokenBucket(double rate)
    : m_rate(rate < 1 ? 1 : rate), m_tokens(m_rate), m_last(std::chrono::steady_clock::now()) {}

void TokenBucket::take() {
  while (true) {
    auto now = std::chrono::steady_clock::now();
    m_tokens = std::min(m_rate, m_tokens + std::chrono::duration<double>(now - m_last).count() * m_rate);
    m_last = now;
    if (m_tokens >= 1) {
      m_tokens -= 1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>((1 - m_tokens) / m_rate));
  }
}

MailSender sendmail_sender(std::string sendmail_path) {
  return [path = std::move(sendmail_path)](const std::string& from, const std::string& to,
                                           const std::string& message) -> Expected<Ok> {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return make_error("pipe: " + errno_text(errno));
    }
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, read_end.get(), 0);
    std::vector<std::string> args = {path, "-oi", "-f", from, "--", to};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      return make_error("cannot run " + path + ": " + errno_text(rc));
    }
    read_end = Fd();
    auto written = write_all(write_end.get(), message);
    write_end = Fd();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!written) {
      return make_error(path + ": writing the message failed: " + written.error());
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      return Ok{};
    }
    if (WIFEXITED(status)) {
      return make_error(path + " exited with status " + std::to_string(WEXITSTATUS(status)));
    }
    return make_error(path + " was killed by signal " + std::to_string(WTERMSIG(status)));
  };
}

} // namespace dane::tools::tlsrpt
