// Verdict log writer thread, syslog/stderr lines, and the verdict JSON shape.
#include "dane/daemon/verdict_log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>

#include <cstdlib>

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/core/time.hpp"
#include "dane/policy/json.hpp"

namespace dane::policyd {
namespace {

// How often, at most, lost verdict lines are summed up in a warning (the first loss is said at once).
constexpr std::chrono::seconds k_loss_report_interval{60};

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

struct AppendResult {
  int error = 0;             // 0: the whole line was written
  bool left_partial = false; // part of the line is still at the end of the file
};

// Appends one line with as few write() calls as the kernel allows (normally one). When the disk
// fills up in the middle of it, the part already written is cut off again (ftruncate to where the
// line began: O_APPEND leaves the offset at the end of what was written), so the next line never
// glues itself onto a fragment. Chosen over "terminate the fragment with a newline" because that
// newline needs the very space that just ran out, and it would still leave a corrupt line.
AppendResult append_line(int fd, const std::string& line) {
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    const int error = n < 0 ? errno : EIO;
    if (off == 0) {
      return {error, false};
    }
    const off_t end = ::lseek(fd, 0, SEEK_CUR);
    const auto written = static_cast<off_t>(off);
    if (end >= written && ::ftruncate(fd, end - written) == 0) {
      return {error, false};
    }
    return {error, true};
  }
  return {};
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
  FsIdentity as_user(owner);
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
    auto opened = open_verdict_log(options.verdict_log, options.owner, options.service_logs_dir);
    if (!opened) {
      return make_error(opened.error());
    }
    w->m_fd = std::move(opened->fd);
    if (!opened->warning.empty()) {
      w->message(Severity::Warning, opened->warning);
    }
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
  if (m_unreported_losses > 0) {
    report_losses("at exit");
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
      write_verdict(entry.text);
    }
    break;
  case Entry::Kind::Message:
    write_message(entry.severity, entry.text);
    break;
  case Entry::Kind::Reopen:
    reopen_now(entry);
    break;
  }
}

void LogWriter::write_message(Severity severity, const std::string& text) const {
  if (!enabled(severity)) {
    return;
  }
  // One message is one line of printable ASCII, whatever bytes a quoted request smuggled in
  // (client-supplied values were coded with quote_untrusted/quote_log_value before this).
  std::string line = text;
  scrub_to_printable_ascii(line);
  if (m_options.to_syslog) {
    ::syslog(syslog_priority(severity), "%s%s", severity_prefix(severity).c_str(), line.c_str());
  }
  if (m_options.to_stderr) {
    write_all(STDERR_FILENO, "dane-policyd: " + severity_prefix(severity) + line + "\n");
  }
}

void LogWriter::reopen_now(const Entry& entry) {
  if (m_options.verdict_log.empty()) {
    if (entry.done) {
      entry.done(true);
    }
    return;
  }
  auto fd = reopen_verdict_log(m_options.verdict_log, true);
  if (!fd) {
    write_message(Severity::Warning, "verdict log reopen failed, keeping the old file: " + fd.error());
    if (entry.done) {
      entry.done(false);
    }
    return;
  }
  m_fd = std::move(*fd);
  m_partial_pending = false;
  {
    std::lock_guard lock(m_mutex);
    ++m_reopens;
  }
  write_message(Severity::Info, "reopened verdict log " + m_options.verdict_log);
  if (entry.done) {
    entry.done(true);
  }
}

// The file still is the one at the path? A log deleted (no link left) is re-created; when
// another file is at the path (moved away and replaced, e.g. by logrotate's create), that one is
// opened. A log moved away with nothing at its path yet keeps being written (nothing is lost,
// and re-creating it here could race logrotate's own create): SIGHUP or the next new file
// switches. Failing, the old file is kept and a warning says so (at most once a minute); false
// when that old file is a deleted one (a line written there would be lost: it counts as lost).
bool LogWriter::follow_path() {
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(m_fd.get(), &by_fd) != 0) {
    return true;
  }
  const bool deleted = by_fd.st_nlink == 0;
  const bool at_path = ::lstat(m_options.verdict_log.c_str(), &by_path) == 0;
  if (!deleted && (!at_path || (by_path.st_dev == by_fd.st_dev && by_path.st_ino == by_fd.st_ino))) {
    return true;
  }
  const std::string what = deleted ? "was deleted" : "was replaced by another file";
  auto fd = reopen_verdict_log(m_options.verdict_log, deleted);
  if (!fd) {
    const auto now = std::chrono::steady_clock::now();
    if (!m_last_follow_warning || now - *m_last_follow_warning >= k_loss_report_interval) {
      m_last_follow_warning = now;
      write_message(Severity::Warning, "verdict log " + m_options.verdict_log + " " + what +
                                           "; opening it anew failed" +
                                           (deleted ? " (verdict lines are lost, counted in log_write_errors, until "
                                                      "it can be re-created): "
                                                    : ", still writing the old file: ") +
                                           fd.error());
    }
    return !deleted;
  }
  m_fd = std::move(*fd);
  m_partial_pending = false;
  {
    std::lock_guard lock(m_mutex);
    ++m_reopens;
  }
  write_message(Severity::Warning, "verdict log " + m_options.verdict_log + " " + what + "; opened it anew");
  return true;
}

void LogWriter::write_verdict(const std::string& json_line) {
  if (!follow_path()) {
    line_lost(ENOENT);
    return;
  }
  const std::string line = (m_partial_pending ? "\n" : "") + json_line + "\n";
  const AppendResult r = append_line(m_fd.get(), line);
  if (r.error == 0) {
    m_partial_pending = false;
    line_written();
    return;
  }
  m_partial_pending = m_partial_pending || r.left_partial;
  line_lost(r.error);
}

void LogWriter::line_lost(int error) {
  m_last_errno = error;
  m_write_errors.fetch_add(1, std::memory_order_relaxed);
  if (m_stats != nullptr) {
    m_stats->log_write_error();
  }
  ++m_unreported_losses;
  const auto now = std::chrono::steady_clock::now();
  if (!m_last_loss_report || now - *m_last_loss_report >= k_loss_report_interval) {
    report_losses(m_last_loss_report ? "still failing" : "first loss");
  }
}

void LogWriter::line_written() {
  if (m_unreported_losses == 0) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!m_last_loss_report || now - *m_last_loss_report >= k_loss_report_interval) {
    report_losses("writing again");
  }
}

// "verdict log PATH: write failed (No space left on device): 3 verdict lines lost since the last
// warning, 17 in all (log_write_errors); ..." — then nothing more about it for a minute.
void LogWriter::report_losses(const char* how) {
  const std::string how_text = how;
  std::string text = "verdict log " + m_options.verdict_log + ": ";
  if (how_text == "writing again") {
    text += "writing again; ";
  } else {
    text += std::string("write failed (") + std::strerror(m_last_errno) + "): ";
  }
  text += std::to_string(m_unreported_losses) + " verdict line(s) lost since the last warning, " +
          std::to_string(m_write_errors.load(std::memory_order_relaxed)) + " in all (log_write_errors)";
  if (how_text == "first loss" || how_text == "still failing") {
    text += "; further losses are summed up at most once a minute";
  }
  write_message(Severity::Warning, text);
  m_unreported_losses = 0;
  m_last_loss_report = std::chrono::steady_clock::now();
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
  // Every value from a client or from DNS goes through the one escape of log values.
  std::string line = (r.event.empty() ? std::string("verdict") : r.event) +
                     " destination=" + quote_log_value(r.destination) + " mode=" + to_string(r.mode) +
                     " policy=" + to_string(r.answer.policy) + " answer=" + quote_log_value(r.answer.answer, 2048) +
                     " cached=" + (r.cached ? "yes" : "no");
  if (r.mode == Mode::Monitor) {
    line += " would_answer=" + quote_log_value(r.answer.would_answer, 2048);
  }
  if (r.probes != nullptr) {
    for (const auto& p : *r.probes) {
      line += " probe=" + quote_untrusted(p.host, 300, Spaces::Code) + "[" +
              quote_untrusted(p.report.address, 80, Spaces::Code) + "]:" + to_string(p.report.result);
    }
  }
  line += " reason=" + quote_log_value(r.answer.reason, 2048);
  return line;
}

} // namespace dane::policyd
