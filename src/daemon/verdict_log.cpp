// Verdict log writer thread, syslog/stderr lines, and the verdict JSON shape.
#include "dane/daemon/verdict_log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>

#include <cstdlib>

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/core/time.hpp"
#include "dane/policy/json.hpp"

namespace dane::policyd {
namespace {

Expected<Fd> open_append(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) {
    return make_error(path + ": cannot open verdict log: " + std::strerror(errno));
  }
  return Fd(fd);
}

// The calling thread's file-system identity switched to another user for the lifetime of the
// object (setfsuid/setfsgid are per thread). Root without CAP_DAC_OVERRIDE (systemd's
// CapabilityBoundingSet) cannot open a file the run user owns, but the run user can.
class FsIdentity {
public:
  FsIdentity(unsigned uid, unsigned gid)
      : m_old_gid(::setfsgid(static_cast<gid_t>(gid))), m_old_uid(::setfsuid(static_cast<uid_t>(uid))) {}
  ~FsIdentity() {
    ::setfsuid(static_cast<uid_t>(m_old_uid));
    ::setfsgid(static_cast<gid_t>(m_old_gid));
  }
  FsIdentity(const FsIdentity&) = delete;
  FsIdentity& operator=(const FsIdentity&) = delete;

private:
  int m_old_gid;
  int m_old_uid;
};

// Started as root: first as the run user (a file it owns, or may create: no privilege needed,
// and it can reopen the path itself after rotation), else as root (root's own file or
// directory), then the file is given to the run user.
Expected<Fd> open_for_owner(const std::string& path, const FileOwner& owner) {
  int as_user_errno = 0;
  {
    FsIdentity as_user(owner.uid, owner.gid);
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd >= 0) {
      return Fd(fd);
    }
    as_user_errno = errno;
  }
  auto fd = open_append(path);
  if (!fd) {
    return make_error(fd.error() + " (as the run user: " + std::strerror(as_user_errno) + ")");
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return make_error(path + ": cannot stat verdict log: " + std::strerror(errno));
  }
  if (st.st_uid != owner.uid) {
    // A file root just created gets the run user's group too; an existing file keeps its group
    // (e.g. adm, from logrotate's create line).
    const gid_t gid = st.st_gid == 0 ? static_cast<gid_t>(owner.gid) : static_cast<gid_t>(-1);
    if (::fchown(fd->get(), static_cast<uid_t>(owner.uid), gid) != 0) {
      return make_error(path + ": cannot give the verdict log to the run user: " + std::strerror(errno));
    }
  }
  return fd;
}

void write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

std::string severity_prefix(Severity s) {
  switch (s) {
  case Severity::Debug:
    return "debug: ";
  case Severity::Info:
    return "";
  case Severity::Warning:
    return "warning: ";
  case Severity::Error:
    return "error: ";
  }
  return "";
}

int syslog_priority(Severity s) {
  switch (s) {
  case Severity::Debug:
    return LOG_DEBUG;
  case Severity::Info:
    return LOG_INFO;
  case Severity::Warning:
    return LOG_WARNING;
  case Severity::Error:
    return LOG_ERR;
  }
  return LOG_INFO;
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

} // namespace

LogDestinations choose_log_destinations(LogTo log_to, bool foreground, bool stdio, bool journal) {
  switch (log_to) {
  case LogTo::Stderr:
    return {true, false};
  case LogTo::Syslog:
    return {false, true};
  case LogTo::Auto:
    break;
  }
  // stdio: stdout is the protocol and spawn(8) may hand stderr to the client; detached: stderr
  // is /dev/null; the journal: systemd stores syslog and stderr alike, so say it once, by syslog
  // (with priority and facility mail).
  if (stdio || !foreground || journal) {
    return {false, true};
  }
  return {true, false};
}

bool may_create_files_in(const std::string& dir, const FileOwner& owner) {
  FsIdentity as_user(owner.uid, owner.gid);
  return ::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) == 0;
}

bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) {
    return false;
  }
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) {
    return false;
  }
  const std::string expected = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                               std::to_string(static_cast<unsigned long long>(st.st_ino));
  return expected == env;
}

LogWriter::LogWriter(LogOptions options) : m_options(std::move(options)) {}

Expected<std::unique_ptr<LogWriter>> LogWriter::open(const LogOptions& options) {
  std::unique_ptr<LogWriter> w(new LogWriter(options));
  if (!options.verdict_log.empty()) {
    auto fd = options.owner ? open_for_owner(options.verdict_log, *options.owner) : open_append(options.verdict_log);
    if (!fd) {
      return make_error(fd.error());
    }
    w->m_fd = std::move(*fd);
  }
  if (options.to_syslog) {
    ::openlog("dane-policyd", LOG_PID | LOG_NDELAY, LOG_MAIL);
  }
  return w;
}

void LogWriter::start() {
  std::lock_guard lock(m_mutex);
  if (!m_started) {
    m_started = true;
    m_thread = std::thread([this] { run(); });
  }
}

LogWriter::~LogWriter() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  } else {
    for (const auto& e : m_queue) { // never started (e.g. a start-up error): write what was said
      write_entry(e);
    }
  }
}

bool LogWriter::enqueue(Entry entry) {
  {
    std::lock_guard lock(m_mutex);
    if (m_queue.size() >= m_options.queue_capacity && entry.kind != Entry::Kind::Reopen) {
      ++m_dropped;
      return false;
    }
    m_queue.push_back(std::move(entry));
  }
  m_cv.notify_one();
  return true;
}

bool LogWriter::verdict(std::string json_line) {
  if (!m_fd) {
    return true;
  }
  return enqueue(Entry{Entry::Kind::Verdict, Severity::Info, std::move(json_line), {}});
}

bool LogWriter::message(Severity severity, std::string text) {
  if (!enabled(severity)) {
    return true;
  }
  return enqueue(Entry{Entry::Kind::Message, severity, std::move(text), {}});
}

void LogWriter::reopen(std::function<void(bool)> done) {
  enqueue(Entry{Entry::Kind::Reopen, Severity::Info, {}, std::move(done)});
}

void LogWriter::flush() {
  std::unique_lock lock(m_mutex);
  if (!m_started) {
    return;
  }
  m_idle_cv.wait(lock, [this] { return m_queue.empty() && !m_busy; });
}

std::uint64_t LogWriter::dropped() const {
  std::lock_guard lock(m_mutex);
  return m_dropped;
}

std::uint64_t LogWriter::reopens() const {
  std::lock_guard lock(m_mutex);
  return m_reopens;
}

void LogWriter::run() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv.wait(lock, [this] { return m_stop || !m_queue.empty(); });
    if (m_queue.empty() && m_stop) {
      break;
    }
    std::deque<Entry> batch;
    batch.swap(m_queue);
    m_busy = true;
    lock.unlock();
    for (const auto& e : batch) {
      write_entry(e);
    }
    lock.lock();
    m_busy = false;
    if (m_queue.empty()) {
      m_idle_cv.notify_all();
    }
  }
  m_idle_cv.notify_all();
}

void LogWriter::write_entry(const Entry& entry) {
  switch (entry.kind) {
  case Entry::Kind::Verdict:
    if (m_fd) {
      write_all(m_fd.get(), entry.text + "\n");
    }
    break;
  case Entry::Kind::Message: {
    // One message is one log line, whatever bytes a quoted request smuggled in.
    std::string text = entry.text;
    scrub_control_bytes(text);
    if (m_options.to_syslog) {
      ::syslog(syslog_priority(entry.severity), "%s%s", severity_prefix(entry.severity).c_str(), text.c_str());
    }
    if (m_options.to_stderr) {
      write_all(STDERR_FILENO, "dane-policyd: " + severity_prefix(entry.severity) + text + "\n");
    }
    break;
  }
  case Entry::Kind::Reopen: {
    if (m_options.verdict_log.empty()) {
      if (entry.done) {
        entry.done(true);
      }
      break;
    }
    auto fd = open_append(m_options.verdict_log);
    if (!fd) {
      write_entry(Entry{Entry::Kind::Message,
                        Severity::Warning,
                        "verdict log reopen failed, keeping the old file: " + fd.error(),
                        {}});
      if (entry.done) {
        entry.done(false);
      }
      break;
    }
    m_fd = std::move(*fd);
    {
      std::lock_guard lock(m_mutex);
      ++m_reopens;
    }
    if (enabled(Severity::Info)) {
      write_entry(Entry{Entry::Kind::Message, Severity::Info, "reopened verdict log " + m_options.verdict_log, {}});
    }
    if (entry.done) {
      entry.done(true);
    }
    break;
  }
  }
}

std::string render_verdict(const VerdictRecord& r) {
  nlohmann::json j;
  if (r.facts != nullptr) {
    // The shared shape of dane-policyctl policy/check --json (json.hpp), plus probe results per host.
    HostJsonHook hook;
    if (r.probes != nullptr) {
      hook = [&r](const HostResult& host, nlohmann::json& object) {
        object["addresses"] = nlohmann::json::array();
        for (const auto& p : *r.probes) {
          if (p.host != host.name) {
            continue;
          }
          object["addresses"].push_back(probe_to_json(p.report, ProbeJson::Summary));
        }
      };
    }
    j = to_json(*r.facts, r.answer, hook);
  } else {
    j["policy"] = to_string(r.answer.policy);
    j["answer"] = r.answer.answer;
    j["reason"] = r.answer.reason;
    j["hosts"] = nlohmann::json::array();
  }
  j["time"] = format_rfc3339(r.time);
  j["destination"] = r.destination;
  j["mode"] = to_string(r.mode);
  j["cached"] = r.cached;
  if (!r.event.empty()) {
    j["event"] = r.event;
  }
  if (r.mode == Mode::Monitor) {
    j["would_answer"] = r.answer.would_answer;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string summary_line(const VerdictRecord& r) {
  std::string line = (r.event.empty() ? std::string("verdict") : r.event) + " destination=" + quote(r.destination) +
                     " mode=" + to_string(r.mode) + " policy=" + to_string(r.answer.policy) +
                     " answer=" + quote(r.answer.answer) + " cached=" + (r.cached ? "yes" : "no");
  if (r.mode == Mode::Monitor) {
    line += " would_answer=" + quote(r.answer.would_answer);
  }
  if (r.probes != nullptr) {
    for (const auto& p : *r.probes) {
      line += " probe=" + p.host + "[" + p.report.address + "]:" + to_string(p.report.result);
    }
  }
  line += " reason=" + quote(r.answer.reason);
  return line;
}

} // namespace dane::policyd
