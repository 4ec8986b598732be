// dane/tools/report.hpp — reading verdict logs and Postfix logs, per-destination
// summaries, and RFC 8460 (SMTP TLS Reporting) export. Used by `dane-policyctl report`.
//
// Inputs
//   * Verdict logs (docs/design.md §6): JSON Lines, one evaluation per line, written by dane-policyd.
//     Plain or gzip-compressed (detected by the magic bytes 1f 8b, not by the file name; multi-member
//     gzip files are read through). Rotated files may be given in any order: `plan_input_order`
//     sorts them by their first timestamp so policy changes are seen in time order.
//   * Postfix logs (`--maillog`): classic syslog ("Nov 29 07:23:57 host postfix/smtp[pid]: ..."),
//     RFC 3339 syslog ("2026-11-29T07:23:57.123456+00:00 host postfix/smtp[pid]: ...") and
//     Postfix's own maillog_file written by postlogd (Postfix 3.4-3.10: "Nov 29 07:23:57 host ...",
//     optionally with fractional seconds). Classic stamps carry no year and are local time: the year
//     is inferred from a reference time (a stamp more than a day in its future is last year's).
//
// Failure modes: every line that cannot be parsed is counted and passed to a warning sink as
// "FILE:LINE: malformed ...", and reading continues (a truncated last line after a crash, junk).
// A truncated or corrupt gzip stream ends that file with a warning; what was read still counts, and
// ReadStats::read_errors tells the caller (dane-policyctl report exits 2 for it, and when
// ReadStats::usable_lines is 0 while lines were malformed). A line longer than k_max_line_bytes is
// skipped, not buffered, and counted as malformed.
// Nothing is dropped silently: lines outside --since/--until or --domain are counted as filtered.
//
// Memory: streaming; each open file holds at most one line (<= k_max_line_bytes) plus one read chunk
// (256 KiB; gzip: one more for the compressed input), whatever the file's size. Per destination the
// state is constant in the number of log lines: counters, the current TLSA set per MX host, and for
// TLSRPT one entry per (MX host, TLSA set seen) with failure counts keyed by (result type, address,
// reason). Maillog joins keep one pending TLS session per smtp process id.
//
// Trust: logs are untrusted text; nothing from them is executed or used as a path.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "dane/core/expected.hpp"
#include "dane/core/time.hpp"

namespace dane::tools::report {

// ---------------------------------------------------------------------------------------------
// Time: microseconds since the Unix epoch, UTC.
using TimePoint = UnixMicros;

// RFC 3339 parsing and formatting: dane::parse_rfc3339 / dane::format_rfc3339 (dane/core/time.hpp).
// --since/--until: RFC 3339, a date "2026-11-29" (midnight UTC), or relative "30s" "30m" "24h" "7d"
// "2w" meaning that long before `now`.
Expected<TimePoint> parse_time_arg(std::string_view text, TimePoint now);
TimePoint now_utc();

// ---------------------------------------------------------------------------------------------
// Streaming line reader over a plain or gzip file. Memory is bounded by k_max_line_bytes plus one
// read chunk, whatever the file: a longer line is not buffered whole but skipped up to its newline
// and returned as an empty view with last_line_too_long() set, so the caller can name FILE:LINE.
//
// The limit (1 MiB) is far above any line dane-policyd or Postfix writes: Postfix's syslog lines stay
// under a few KB, and a verdict line carries each MX host's TLSA records in hex, which is a few KB for
// real domains; four hosts each with the largest TLSA RRset one DNS message can carry (64 KB of data,
// 128 KB as hex) stay under half of it.
inline constexpr std::size_t k_max_line_bytes = std::size_t{1} << 20;

class LineReader {
public:
  static Expected<std::unique_ptr<LineReader>> open(const std::string& path);
  virtual ~LineReader() = default;
  // Next line without its '\n' (a trailing '\r' is kept). The view is valid until the next call.
  // false at the end of the data or after an error (see error()).
  virtual bool next(std::string_view& line) = 0;
  // 1-based number of the line last returned.
  virtual std::size_t line_number() const = 0;
  // True when the line last returned had no terminating newline (the file's last line).
  virtual bool last_line_unterminated() const = 0;
  // True when the line last returned was longer than k_max_line_bytes: it was skipped, not read, and
  // the view is empty.
  virtual bool last_line_too_long() const = 0;
  // Non-empty when reading stopped on an error (read error, truncated or corrupt gzip, data after
  // the end of the gzip stream). A compressed file must end with a complete gzip member (its
  // trailer checked by zlib: CRC-32 and length), else error() says so.
  virtual const std::string& error() const = 0;
  virtual bool compressed() const = 0;
};

// ---------------------------------------------------------------------------------------------
// One verdict-log line (docs/design.md §6).
struct AddressProbe {
  std::string address;
  int port = 25;
  std::string result;  // pass | tlsa-mismatch | name-mismatch | cert-expired | starttls-not-offered |
                       // connect-failed | tls-failed | cert-untrusted | mx-mismatch (the last two:
                       // MTA-STS probes with PKIX validation, RFC 8461 §4)
  std::string matched; // "U S M hex" or empty (null)
  int depth = -1;
};

struct HostVerdict {
  std::string name;
  std::string dnssec; // secure | insecure | bogus | error
  std::vector<std::string> tlsa;
  std::string tlsa_base;
  std::string status;
  bool probed = false; // an `addresses` list was present
  std::vector<AddressProbe> addresses;
};

// The verdict line's "sts" object (present when the evaluation consulted MTA-STS). Only the fields
// the report uses; the rest are skipped. `present` is false when the line had none.
struct StsVerdict {
  bool present = false;
  std::string domain;                     // policy domain
  std::string source;                     // fetched | cached | none
  std::string policy_id;                  // the TXT id of the policy in use
  std::string mode;                       // enforce | testing | none (empty without a policy)
  std::vector<std::string> mx;            // the policy's mx patterns
  std::vector<std::string> policy_string; // the policy's lines (RFC 8460 §4.3 policy-string)
  // A policy that Postfix was (enforce) or would be (testing) held to: source fetched or cached and
  // mode enforce or testing. RFC 8461 §3.2: "none" is treated as no policy at all.
  bool has_policy() const {
    return present && (source == "fetched" || source == "cached") && (mode == "enforce" || mode == "testing") &&
           !policy_string.empty();
  }
};

struct Verdict {
  TimePoint time = 0;
  std::string destination;
  std::string mode;
  std::string policy; // dane-only | dane | encrypt | fingerprint | secure | notfound | tempfail
  std::string answer;
  std::string reason;
  bool cached = false;
  // Monitor mode (`"mode":"monitor"`): Postfix was told `answer` (always NOTFOUND); `would_answer`
  // is the reply enforcement (native mode) would have given, and `outcome` the DNS outcome
  // (tempfail, not-dane, dane-only, dane, encrypt; absent on cache-hit lines). `would_policy` is
  // the policy of that reply, derived by the parser (from `would_answer`, else from `outcome`).
  bool monitored = false;
  std::string would_answer;
  std::string outcome;
  std::string would_policy;
  // Empty for an evaluation; "probe" for the extra line dane-policyd --probe writes after probing a
  // destination's MX addresses (its hosts carry `addresses`; it is not an evaluation).
  std::string event;
  std::vector<HostVerdict> hosts;
  StsVerdict sts;
  // The policy the report counts: what was answered, or in monitor mode what would have been.
  const std::string& counted_policy() const { return monitored ? would_policy : policy; }
  // Storage recycled by parse_verdict_line(line, out) from line to line (not part of the verdict).
  std::vector<HostVerdict> spare_hosts;
  std::vector<std::string> spare_strings;
  std::vector<AddressProbe> spare_addresses;
};

// Fails with a reason naming the missing or mistyped field ("not valid JSON (at byte N)" for a
// syntax error, e.g. a truncated line), or a monitor-mode line that says neither what it would
// have answered nor its outcome. The second form reuses `out`'s storage (hot path).
Expected<Verdict> parse_verdict_line(std::string_view line);
// The policy name of a socketmap reply of dane-policyd: "TEMP ..." (and TIMEOUT, PERM: Postfix
// defers on them too) -> tempfail, "NOTFOUND " -> notfound, "OK dane-only" -> dane-only,
// "OK fingerprint match=..." -> fingerprint, ...; nullopt for anything else.
std::optional<std::string> policy_of_answer(std::string_view answer);
Expected<Ok> parse_verdict_line(std::string_view line, Verdict& out);

// ---------------------------------------------------------------------------------------------
// Postfix log lines.
struct MaillogOptions {
  TimePoint reference = 0;        // "now" for year inference of classic syslog stamps
  bool local_time_is_utc = false; // classic stamps: true = UTC, false = the process's time zone
};

struct MaillogPrefix {
  TimePoint time = 0;
  std::string_view host;
  std::string_view program; // "postfix/smtp", "postfix-out/smtp", "sshd", ...
  std::string_view pid;     // may be empty ("program: text")
  std::string_view text;    // after "program[pid]: "
};

// Splits a log line into stamp, host, program, pid and message text.
class MaillogPrefixParser {
public:
  explicit MaillogPrefixParser(MaillogOptions options);
  Expected<MaillogPrefix> parse(std::string_view line);

private:
  TimePoint classic_time(int month, int day, int hour, int minute, int second, std::int64_t usec);
  // "Mon DD HH:MM:SS[.ffffff] " at the start of line; pos ends after the space.
  Expected<TimePoint> parse_classic_stamp(std::string_view line, std::size_t& pos);
  MaillogOptions m_options;
  std::int64_t m_reference_year = 1970;
  // cache for local-time conversion: key = year*10000 + month*100 + day, hour -> offset
  std::int64_t m_cached_key = -1;
  std::int64_t m_cached_offset = 0;
};

// The kinds of Postfix smtp(8) messages the report uses.
enum class TlsLevel { Anonymous, Untrusted, Trusted, Verified };
std::string to_string(TlsLevel level);

struct TlsEstablished { // "Verified TLS connection established to mx[192.0.2.1]:25: TLSv1.3 ..."
  TlsLevel level = TlsLevel::Anonymous;
  std::string host, address;
  int port = 25;
  std::string protocol; // "TLSv1.3", may be empty
};
struct VerifyFailed { // "server certificate verification failed for mx[192.0.2.1]:25: num=10:certificate has expired"
  std::string host, address;
  int port = 25;
  std::string reason;
};
struct Delivery { // "QID: to=<u@d>, relay=mx[192.0.2.1]:25, ..., dsn=4.7.5, status=deferred (text)"
  std::string queue_id;
  std::string recipient_domain;          // lowercase; empty when to= has no domain
  std::string relay_host, relay_address; // empty for relay=none
  int relay_port = 0;
  std::string dsn;
  std::string status; // sent | deferred | bounced | ...
  std::string detail; // text in parentheses after status
};

// "warning: TLS policy lookup for example.com/mx.example.com: no TLSA records found": smtp(8) found
// no usable TLS policy for the MX host (Postfix's dane-only level without TLSA records, a policy
// table error, ...); a deferral with relay=none follows.
struct PolicyLookupFailed {
  std::string destination; // next-hop as Postfix names it (lowercase)
  std::string host;        // MX host (lowercase)
  std::string reason;
};
// "warning: socketmap:unix:/run/dane.sock:dane socketmap server temporary error: 4.7.5 MX lookup ...":
// the policy table (dane-policyd) answered TEMP; the reason is the table's text.
struct PolicyTableError {
  std::string reason;
};

// Classifies the message text of a postfix smtp/lmtp line. nullopt for messages the report does not
// use; an error for a message that looks like one of these kinds but is malformed.
using SmtpMessage = std::variant<TlsEstablished, VerifyFailed, Delivery, PolicyLookupFailed, PolicyTableError>;
Expected<std::optional<SmtpMessage>> parse_smtp_message(std::string_view text);
// True for program names of the Postfix SMTP/LMTP client ("postfix/smtp", "postfix-out/lmtp").
bool is_smtp_client_program(std::string_view program);

// ---------------------------------------------------------------------------------------------
// Aggregation.
struct Filter {
  std::optional<std::string> domain; // exact destination
  std::optional<TimePoint> since;    // inclusive
  std::optional<TimePoint> until;    // inclusive
  bool accepts_time(TimePoint t) const;
};

struct OutcomeCounts {
  std::uint64_t dane_only = 0;
  std::uint64_t dane = 0;
  std::uint64_t pinned = 0; // fingerprint, secure, encrypt
  std::uint64_t notfound = 0;
  std::uint64_t tempfail = 0;
};

struct MaillogCounts {
  std::uint64_t verified = 0;
  std::uint64_t trusted = 0;
  std::uint64_t untrusted = 0;
  std::uint64_t anonymous = 0;
  std::uint64_t verify_failures = 0;
  std::uint64_t deferred_4_7_5 = 0;
  std::string last_verify_failure; // "mx[addr]:port: reason"
  TimePoint last_verify_failure_time = 0;
  std::string last_deferral; // deferral text
  TimePoint last_deferral_time = 0;
  std::uint64_t total() const { return verified + trusted + untrusted + anonymous; }
};

struct PolicyChange {
  TimePoint time = 0;
  std::string kind;   // "lost-dane", "gained-dane", "policy", "tlsa"
  std::string detail; // "dane-only -> notfound", "mx.example.com: 3 1 1 ab..cd -> 3 1 1 12..34"
};

// RFC 8460 failure detail key and session counts, per TLSA set seen at one MX host.
struct FailureKey {
  std::string result_type;
  std::string receiving_ip;
  std::string reason;
  // From a monitor-mode evaluation: what enforcement would have failed; Postfix did not enforce.
  bool monitored = false;
  auto operator<=>(const FailureKey&) const = default;
};
struct SessionCounts {
  std::uint64_t successful = 0;
  std::uint64_t failed = 0;
  std::map<FailureKey, std::uint64_t> failures;
};
// The policy in force at one MX host for a while: a TLSA set (DANE), or an MTA-STS policy when the
// host had no usable TLSA records and the destination had an enforce/testing STS policy (DANE first,
// RFC 8461 §2). `records` is the TLSA set, or the STS policy's lines; `sts` says which.
struct TlsaEpoch {
  std::vector<std::string> records; // sorted TLSA records, or STS policy lines; empty = no policy
  TimePoint first = 0;              // first time this set was in force
  bool sts = false;                 // an MTA-STS policy, not a TLSA set
  std::string sts_domain;           // STS: policy-domain
  std::string sts_mode;             // STS: enforce | testing
  std::vector<std::string> sts_mx;  // STS: mx patterns
  SessionCounts from_probes;
  SessionCounts from_maillog;
};
struct HostHistory {
  std::string name;
  // One entry per distinct TLSA set seen at this host, in order of first appearance: a set that
  // comes back (a flapping zone, a rollover undone) reuses its entry, so the memory is bounded by
  // the distinct sets, and the TLSRPT report has one policy per set.
  std::vector<TlsaEpoch> epochs;
  // When each set came into force: (time, index into epochs), appended in input (time) order, one
  // entry per change. Sessions are counted against the set in force at their time.
  std::vector<std::pair<TimePoint, std::uint32_t>> timeline;
  std::uint32_t current = 0; // index of the set in force after the latest evaluation
  // Fast paths of the per-line work (kept inline to spare cache misses): hash of `name`, and the
  // order-independent hash of the current epoch's records (see tlsa_set_hash).
  std::uint64_t name_hash = 0;
  std::uint64_t records_hash = 0;
};
// Hash of a lowercase string; and of a TLSA set, independent of order and letter case: equal sets
// of distinct records give equal hashes (a different hash means "compare in full").
std::uint64_t name_hash(std::string_view lowercase_name);
std::uint64_t tlsa_set_hash(const std::vector<std::string>& records);

struct DestinationSummary {
  std::string destination;
  std::string policy; // of the latest evaluation
  TimePoint policy_time = 0;
  std::uint64_t evaluations = 0;
  std::uint64_t probes = 0; // "event":"probe" lines (not evaluations)
  bool seen = false;        // first_seen/last_seen are set
  std::uint64_t cached = 0;
  // Evaluations made in monitor mode (counted under what they would have answered), and whether
  // `policy` (the latest evaluation) is one of them.
  std::uint64_t monitored = 0;
  bool policy_monitored = false;
  // Earliest and latest event of this destination in any input: evaluations, probe lines and
  // Postfix log lines attributed to it.
  TimePoint first_seen = 0;
  TimePoint last_seen = 0;
  OutcomeCounts counts;
  std::uint64_t probe_failures = 0; // addresses with a result other than pass
  std::string last_failure;         // reason of the latest tempfail or failed probe
  TimePoint last_failure_time = 0;
  std::uint64_t policy_changes = 0;
  std::uint64_t tlsa_changes = 0;
  bool lost_dane = false;
  bool gained_dane = false;
  std::optional<PolicyChange> last_change;
  bool has_maillog = false;
  MaillogCounts maillog;
  std::vector<HostHistory> hosts;

  // change tracking (time order)
  std::string stable_policy; // last non-tempfail policy
  TimePoint stable_policy_time = 0;

  // 3 = failing now or TLS failures seen, 2 = lost DANE / policy or TLSA changed, 1 = past tempfail,
  // 0 = fine. Sort key "problems first".
  int severity() const;
  bool changed() const { return policy_changes + tlsa_changes > 0; }
};

struct ReadStats {
  std::uint64_t files = 0;         // files read (at least partly)
  std::uint64_t unreadable = 0;    // files that could not be opened
  std::uint64_t lines = 0;         // lines seen
  std::uint64_t malformed = 0;     // lines that could not be parsed (too long ones included)
  std::uint64_t read_errors = 0;   // files (either kind) that stopped early: read error, bad gzip
  std::uint64_t usable_lines = 0;  // lines of either kind that parsed (filtered ones included)
  std::uint64_t filtered = 0;      // valid lines outside --domain / --since / --until
  std::uint64_t probe_lines = 0;   // accepted "event":"probe" lines
  std::uint64_t monitor_lines = 0; // accepted evaluations made in monitor mode
  std::uint64_t maillog_files = 0;
  std::uint64_t maillog_lines = 0;
  std::uint64_t maillog_malformed = 0;
  std::uint64_t maillog_used = 0;     // postfix smtp lines that contributed
  std::uint64_t maillog_unjoined = 0; // TLS sessions with no destination (counted under "[mxhost]")
  // 4.7.5 deferrals with neither a recipient domain nor a relay host: no destination to count them
  // under, so they are counted here (the latest one's text and time kept for the output).
  std::uint64_t maillog_unattributed = 0;
  std::string last_unattributed;
  TimePoint last_unattributed_time = 0;
  std::optional<TimePoint> earliest, latest; // of the accepted events
};

using WarningSink = std::function<void(const std::string&)>;

class Aggregator {
public:
  explicit Aggregator(Filter filter);

  // One parsed verdict (already parsed; the filter is applied here).
  void add_verdict(const Verdict& verdict);
  // Reads a whole verdict log. Returns false when it could not be opened (warning given).
  bool read_verdict_file(const std::string& path, const WarningSink& warn);
  // Reads a whole Postfix log (call after the verdict logs, so MX hosts join to destinations).
  bool read_maillog_file(const std::string& path, const MaillogOptions& options, const WarningSink& warn);
  // One maillog line (for tests); `where` prefixes warnings.
  void add_maillog_line(std::string_view line, MaillogPrefixParser& parser, const std::string& where,
                        const WarningSink& warn);
  // Attributes TLS sessions still waiting for their delivery line (call at the end of all maillogs).
  void finish_maillog();

  // Problems first (severity descending), then by destination name.
  std::vector<const DestinationSummary*> sorted() const;
  const DestinationSummary* find(const std::string& destination) const;
  const ReadStats& stats() const { return m_stats; }
  ReadStats& stats() { return m_stats; }
  const Filter& filter() const { return m_filter; }
  bool maillog_used() const { return m_stats.maillog_files > 0; }

private:
  // Every destination seen (also those --domain/--since/--until exclude, for the maillog join):
  // its summary when it passed the filter, and the MX host names already in m_host_index.
  struct Entry {
    std::unique_ptr<DestinationSummary> summary;
    std::vector<std::uint64_t> indexed_hosts; // name_hash of hosts already in m_host_index
  };
  struct PendingSession {
    TimePoint time = 0;
    std::optional<TlsEstablished> tls;
    std::optional<VerifyFailed> verify;
    TimePoint verify_time = 0;
    std::string relay_host, relay_address; // deferrals without a TLS session
  };
  DestinationSummary& destination(const std::string& name);
  DestinationSummary& destination(Entry& entry, const std::string& name);
  std::string resolve_destination(const std::string& recipient_domain, const std::string& host,
                                  const std::string& address) const;
  void attribute_session(const std::string& destination, const PendingSession& session, bool deferred_4_7_5,
                         const std::string& deferral_text);
  void flush_pending(const std::string& key);
  // A delivery line of process `key` at time t: closes that process's pending session, or counts a 4.7.5 deferral.
  void add_delivery(const std::string& key, Delivery& delivery, TimePoint t);
  void note_event(DestinationSummary& d, TimePoint t);

  Filter m_filter;
  ReadStats m_stats;
  std::unordered_map<std::string, Entry> m_destinations;
  std::unordered_map<std::string, std::string> m_host_index; // lowercase MX host name -> destination
  std::unordered_map<std::string, PendingSession> m_pending; // "program[pid]" -> session
  // Why smtp(8) had no TLS policy, per "program[pid]", for the relay=none deferral lines that
  // follow (the policy-lookup warning names the MX host and next-hop the deferral does not).
  struct PolicyContext {
    std::string destination, host, table_error;
    std::string queue_id; // of the first delivery line that used it; another queue id ends it
  };
  std::unordered_map<std::string, PolicyContext> m_policy_context;
  std::string m_scratch_name; // reused buffers of the per-line hot path
  std::vector<std::string> m_scratch_records;
};

// Reads every file's first time stamp (the first of its first 100 lines that `stamp` accepts) and
// returns the paths sorted oldest first; files without one keep their relative order at the end.
// Duplicate paths are dropped.
using StampFn = std::function<std::optional<TimePoint>(std::string_view line)>;
std::vector<std::string> plan_input_order(const std::vector<std::string>& paths, const StampFn& stamp);
std::optional<TimePoint> verdict_stamp(std::string_view line);

// ---------------------------------------------------------------------------------------------
// Output.
std::string render_table(const Aggregator& aggregator);
nlohmann::json render_json(const Aggregator& aggregator);

struct TlsrptOptions {
  std::string organization;            // organization-name
  std::string contact;                 // contact-info
  std::optional<TimePoint> start, end; // date-range; default: the observed range
};
// RFC 8460 §4 aggregate report for one destination (policy domain).
nlohmann::json build_tlsrpt(const Aggregator& aggregator, const DestinationSummary& destination,
                            const TlsrptOptions& options);
// One report per destination, sorted by destination.
nlohmann::json build_tlsrpt_all(const Aggregator& aggregator, const TlsrptOptions& options);
// The same JSON array written report by report (memory for one report at a time, not all).
void write_tlsrpt_all(const Aggregator& aggregator, const TlsrptOptions& options, std::ostream& out);
// Maps a verdict-log probe result or a Postfix verification failure text to an RFC 8460 result-type.
std::string tlsrpt_result_type_for_probe(std::string_view result);
std::string tlsrpt_result_type_for_text(std::string_view text);

} // namespace dane::tools::report
