// dane/daemon/verdict_log.hpp — the verdict log (JSON Lines) and the daemon's log lines.
//
// LogWriter owns one writer thread and a bounded queue: request handling only
// enqueues (never blocks on disk or syslog); when the queue is full the entry is
// dropped and counted (log_dropped). Verdict lines go to the --verdict-log file,
// opened at start-up by open_verdict_log() (owned_files.hpp: never through a symbolic
// link, only a regular file owned by root or the run user, re-owned only when this
// start created it). reopen() — on SIGHUP — makes the writer reopen the path, for log
// rotation; a failed reopen keeps the old file and warns. Before each verdict line the
// writer also compares the open file with the path (device, inode, link count): a
// deleted log is re-created, and a new file at the path (rotation) is opened, without a
// SIGHUP (a log only moved away, nothing at the path yet, is still written: no line lost).
// Each verdict line is one write(); when the disk is full a short write is cut back
// (ftruncate to where the line began), so a lost line never glues itself to the next;
// lost lines are counted (LogWriter::write_errors(), the stats' log_write_errors) and
// warned about, rate-limited: the first loss at once, then at most one summary per
// minute (with the count), and a last one when writing works again or at exit.
// Messages (warnings, the Postfix-style one-line summary per evaluation) go to
// syslog (facility mail) and/or stderr as "dane-policyd: warning: ...", as
// choose_log_destinations() decided (--log-to), once each; messages below
// LogOptions::min_severity (--log-level) are not written at all. A message is one
// line of printable ASCII: any other byte that reaches the writer becomes '?'
// (client-supplied text is coded before that, see summary_line()).
//
// render_verdict() builds the pinned JSON object of docs/design.md §6: time (RFC 3339
// UTC), destination, mode, policy, answer, reason, cached, hosts[...] (with
// addresses[...] when a probe ran).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/core/fd.hpp"
#include "dane/daemon/owned_files.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::policyd {

// In increasing order of importance (--log-level names the least important one written).
enum class Severity { Debug, Info, Warning, Error };

struct LogOptions {
  std::string verdict_log; // empty: no verdict file
  bool to_stderr = false;
  bool to_syslog = true;
  std::size_t queue_capacity = 20000;
  Severity min_severity = Severity::Info;
  std::optional<FileOwner> owner = std::nullopt; // set: open the verdict log for this user (see above)
  bool service_logs_dir = false;                 // the verdict log lies in systemd's LogsDirectory= (owned_files.hpp)
};

// Where messages go (--log-to auto|stderr|syslog; LogTo is declared with the settings).
struct LogDestinations {
  bool to_stderr = false;
  bool to_syslog = false;
};
// auto: syslog when detached, with --stdio, or when stderr is the journal (systemd's
// JOURNAL_STREAM); stderr in the foreground otherwise. Never both.
LogDestinations choose_log_destinations(LogTo log_to, bool foreground, bool stdio, bool stderr_is_journal);
// Whether `owner` may create files in directory `dir` (checked with its file-system identity).
bool may_create_files_in(const std::string& dir, const FileOwner& owner);
// True when JOURNAL_STREAM names the device and inode of file descriptor 2 (systemd connected
// stderr to the journal).
bool stderr_is_journal();

class LogWriter {
public:
  // Opens the verdict log (fails with a message naming the file). Entries queue up
  // until start() runs the writer thread (the daemon forks in between).
  static Expected<std::unique_ptr<LogWriter>> open(const LogOptions& options);
  void start();
  ~LogWriter(); // writes what is queued, then stops the thread
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Non-blocking; false when the queue was full and the entry was dropped.
  bool verdict(std::string json_line);
  bool message(Severity severity, std::string text);
  // Asks the writer to reopen the verdict log; `done` (optional) runs on the writer thread
  // afterwards with true when the file was reopened (or there is none).
  void reopen(std::function<void(bool)> done = {});
  // Whether a message of this severity would be written (--log-level).
  bool enabled(Severity severity) const { return severity >= m_options.min_severity; }
  // Blocks until everything queued so far is written (tests, shutdown).
  void flush();
  std::uint64_t dropped() const;
  std::uint64_t reopens() const;
  // Verdict lines lost to write errors (full disk, I/O error) so far.
  std::uint64_t write_errors() const { return m_write_errors.load(std::memory_order_relaxed); }
  // Also count lost lines in `stats` (log_write_errors). Call before start(); `stats` must outlive
  // the writer.
  void count_into(Stats* stats) { m_stats = stats; }

private:
  explicit LogWriter(LogOptions options);
  struct Entry {
    enum class Kind { Verdict, Message, Reopen } kind = Kind::Message;
    Severity severity = Severity::Info;
    std::string text;
    std::function<void(bool)> done; // Reopen only
  };
  bool enqueue(Entry entry);
  void run();
  void write_entry(const Entry& entry);
  void write_message(Severity severity, const std::string& text) const;
  void write_verdict(const std::string& json_line);
  void reopen_now(const Entry& entry);
  bool follow_path();
  void line_lost(int error);
  void line_written();
  void report_losses(const char* how);

  LogOptions m_options;
  Fd m_fd;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::condition_variable m_idle_cv;
  std::deque<Entry> m_queue;
  bool m_busy = false;
  bool m_stop = false;
  bool m_started = false;
  std::uint64_t m_dropped = 0;
  std::uint64_t m_reopens = 0;
  // Writer thread only: the write-error state.
  Stats* m_stats = nullptr;
  std::atomic<std::uint64_t> m_write_errors{0};
  std::uint64_t m_unreported_losses = 0; // lost since the last warning
  int m_last_errno = 0;                  // of the last failed write
  bool m_partial_pending = false;        // a cut-off line could not be removed: start with '\n'
  std::optional<std::chrono::steady_clock::time_point> m_last_loss_report;
  std::optional<std::chrono::steady_clock::time_point> m_last_follow_warning;
  std::thread m_thread;
};

// One probed address (docs/design.md §6 `addresses` entries).
struct ProbedHost {
  std::string host; // HostResult::name it belongs to
  ProbeReport report;
};

struct VerdictRecord {
  std::chrono::system_clock::time_point time;
  std::string destination; // the lookup key as received
  Mode mode = Mode::Native;
  const DestinationFacts* facts = nullptr; // may be null (e.g. a parent key answered without DNS)
  PolicyAnswer answer;
  bool cached = false;
  const std::vector<ProbedHost>* probes = nullptr; // non-null when a probe ran
  std::string event;                               // optional: "probe" for lines written after a probe round
};

// The JSON line (no trailing newline).
std::string render_verdict(const VerdictRecord& record);
// The one-line syslog summary, Postfix style:
// "verdict destination=\"example.com\" mode=native policy=dane-only answer=\"OK dane-only\" cached=no reason=\"...\"".
// Every value that comes from a client or from DNS (destination, answer, reason, probed host and
// address) is written with quote_log_value() (dane/core/text.hpp): printable ASCII as it is,
// every other byte and '%', '"', '\\' as %XX, between double quotes.
std::string summary_line(const VerdictRecord& record);

} // namespace dane::policyd
