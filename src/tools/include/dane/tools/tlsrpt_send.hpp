// dane/tools/tlsrpt_send.hpp — RFC 8460 report delivery: `dane-policyctl tlsrpt-send`.
//
// What: builds one aggregate report per policy domain for a window of UTC time (default: yesterday,
// 00:00:00Z to 24:00:00Z) from verdict logs (and Postfix logs) with report::build_tlsrpt, looks up
// the domain's `_smtp._tls` TXT record (RFC 8460 §3) through the validating resolver, and delivers the
// gzip'd JSON to every rua URI: mailto: as a MIME message (§5.3) piped to sendmail(1), https: by POST
// (§5.4). A state file remembers each (domain, window, URI) delivered, so a re-run sends nothing twice
// and retries what failed.
//
// Inputs: logs (untrusted text, see report.hpp), DNS answers (TXT content is untrusted: parsed
// strictly, never used as a path or a command word: a mailto address goes after "--" on sendmail's
// command line, no shell), the state file (ours, checked; a corrupt one is an error, never "nothing
// sent"), the command-line options (trusted).
// Failure modes: a domain without a record, or with a record that is not valid §3 syntax, gets no
// report (said on stdout, not an error). A DNS failure (bogus, SERVFAIL, timeout) for the TXT lookup is
// TEMP-like: no report for the domain, exit 3. A failed delivery (sendmail exit status, HTTPS error or
// non-2xx status) is named on stderr with the domain, the URI and why, exit 1; it is retried next run.
// Nothing is recorded as delivered unless it was.
// Trust: the report reveals which MX hosts this host talked to and how; it only goes to the URIs the
// policy domain itself publishes (the lookup is DNSSEC-validated where the zone is signed).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/core/time.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::tools::tlsrpt {

// ---------------------------------------------------------------------------------------------
// RFC 8460 §3: "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/tlsrpt;"
struct TlsrptRecord {
  std::vector<std::string> rua; // the URIs as published (still %-encoded)
};
// One TXT record's text (character-strings concatenated). Strict: the version first, fields
// separated by ";" with optional spaces, exactly one rua field with 1+ URIs, extensions
// name=value as the ABNF says. The error names what is wrong.
Expected<TlsrptRecord> parse_tlsrpt_record(std::string_view text);
// All TXT records at _smtp._tls.<domain>: those not starting with "v=TLSRPTv1" are ignored; exactly
// one must remain (§3: otherwise the domain does not implement TLSRPT).
Expected<TlsrptRecord> select_tlsrpt_record(const std::vector<std::string>& records);

// RFC 3986 percent-decoding ("%2C" -> ","); an error for a malformed or NUL escape.
Expected<std::string> percent_decode(std::string_view text);

// A rua URI understood: mailto:ADDR (no header fields) or https://HOST[:PORT][/PATH][?QUERY].
struct RuaTarget {
  enum class Kind { Mailto, Https } kind = Kind::Mailto;
  std::string uri;     // as published
  std::string address; // mailto: the decoded address (local@domain)
  std::string host;    // https: lowercase DNS name
  std::uint16_t port = 443;
  std::string target = "/"; // https: path and query, as published
};
// An error for any other scheme or a malformed URI (that URI is skipped, the others are used).
Expected<RuaTarget> parse_rua(std::string_view uri);

// ---------------------------------------------------------------------------------------------
// Encodings.
std::string gzip_compress(std::string_view data);
Expected<std::string> gunzip(std::string_view data);
// RFC 2045 base64, lines of 76 characters ending in CRLF.
std::string base64_mime(std::string_view data);

// §5.1: "submitter!policy-domain!begin-timestamp!end-timestamp!unique-id.json.gz" (seconds since
// the epoch; the unique id hex of a hash of the report-id, so a re-run names the file alike).
std::string report_file_name(const std::string& submitter, const std::string& domain, UnixMicros begin, UnixMicros end,
                             const std::string& report_id);

struct MailFields {
  std::string from, to, submitter, domain, report_id, file_name;
  std::string date;       // RFC 5322 date-time
  std::string message_id; // without angle brackets
  UnixMicros begin = 0, end = 0;
};
// The §5.3 message: multipart/report; report-type="tlsrpt", a text/plain part, and the gzip'd report
// as an application/tlsrpt+gzip attachment (base64), with TLS-Report-Domain, TLS-Report-Submitter and
// the Subject "Report Domain: D Submitter: S Report-ID: <ID>". CRLF line ends.
std::string build_report_mail(const MailFields& fields, std::string_view gzipped);
// "Sat, 05 Dec 2026 13:00:00 +0000"
std::string rfc5322_date(UnixMicros t);

// ---------------------------------------------------------------------------------------------
// The state file (<state-dir>/tlsrpt-sent.json): what was delivered, per (domain, window, URI).
class SentState {
public:
  // A missing file is an empty state; an unreadable or malformed one is an error.
  static Expected<SentState> load(const std::string& path);
  bool delivered(const std::string& domain, UnixMicros begin, UnixMicros end, const std::string& uri) const;
  void mark(const std::string& domain, UnixMicros begin, UnixMicros end, const std::string& uri,
            const std::string& report_id, UnixMicros when);
  // Written to a temporary file in the same directory, fsync'd and renamed over the old one.
  Expected<Ok> save() const;
  std::size_t size() const { return m_entries.size(); }

private:
  using Key = std::tuple<std::string, UnixMicros, UnixMicros, std::string>;
  struct Entry {
    std::string report_id;
    UnixMicros when = 0;
  };
  std::string m_path;
  std::map<Key, Entry> m_entries;
};

// A token bucket: at most `rate` take()s per second on average, bursts of `rate` (rate >= 1).
class TokenBucket {
public:
  explicit TokenBucket(double rate);
  // Blocks until a token is there.
  void take();

private:
  double m_rate;
  double m_tokens;
  std::chrono::steady_clock::time_point m_last;
};

// ---------------------------------------------------------------------------------------------
// The run.
struct HttpsPost {
  std::string host;
  std::vector<std::string> addresses;
  std::uint16_t port = 443;
  std::string target;
  std::string body;
};
// Ok when the collector answered 2xx; else why not.
using HttpsPoster = std::function<Expected<Ok>(const HttpsPost&)>;
// Pipes `message` to `sendmail -oi -f FROM -- TO`; Ok when it exits 0.
using MailSender =
    std::function<Expected<Ok>(const std::string& from, const std::string& to, const std::string& message)>;
MailSender sendmail_sender(std::string sendmail_path);

struct SendOptions {
  std::vector<std::string> logs, maillogs;
  UnixMicros begin = 0, end = 0; // the window [begin, end)
  bool dry_run = false;
  std::string state_dir = "/var/lib/dane-policyd";
  std::string submitter, from, contact, organization;
  double rate_limit = 5;
};

// Exit codes as dane-policyctl's: 0 all delivered (or nothing to send), 1 a delivery failed, 2 input
// error (no log readable), 3 a TXT lookup failed (and nothing failed to deliver).
int run_tlsrpt_send(const SendOptions& options, Resolver& resolver, const MailSender& mail, const HttpsPoster& https,
                    std::ostream& out, std::ostream& err);

// Yesterday's UTC day: [00:00:00Z, 24:00:00Z) before `now`.
std::pair<UnixMicros, UnixMicros> yesterday_utc(UnixMicros now);

} // namespace dane::tools::tlsrpt
