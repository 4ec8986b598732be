// dane/policy/codecs.hpp — Postfix wire protocols: bytes <-> typed requests and replies. Pure.
//
// Three protocols (docs/design.md §4), each with an incremental decoder for the server side (feed it bytes as
// they arrive, in chunks of any size, and collect 0..n complete requests) and encoders for the replies:
//
//   socketmap (socketmap_table(5))   request netstring `LEN:NAME KEY,`; reply netstring `LEN:OK DATA,`,
//                                    `NOTFOUND `, `TEMP reason`, `TIMEOUT reason`, `PERM reason`.
//                                    Query payload at most 10000 bytes, reply payload at most 100000.
//   tcp_table (tcp_table(5))         request line `get KEY\n`; reply `200 DATA\n` | `500 TEXT\n` (not found) |
//                                    `400 TEXT\n` (try again). A line is at most 4096 bytes with its newline.
//                                    KEY, DATA and TEXT are %XX-encoded: `%`, white space and every byte that
//                                    is not printable ASCII travels as `%` and two hex digits.
//   policy delegation (SMTPD_POLICY_README)   `name=value\n` lines ended by an empty line; reply
//                                    `action=...\n\n`. Limits: PolicyLimits.
//
// Failure modes: a decoder that meets bad input (garbled netstring length, missing comma, oversized query
// or line, empty name, unknown command, bad %XX, malformed attribute, ...) stops for good: feed() returns
// false and error() names what was wrong (kind + message fit for one warning log line; offending bytes
// are shown %XX-quoted and shortened, never raw). The server then logs one warning and closes that
// connection (policy delegation: without a reply). Requests appended to `out` before the error are
// complete and valid; answering them before closing is allowed.
//
// Encoders never produce a reply beyond the protocol's limit and never weaken an answer to fit it: an
// over-long positive answer (OK / 200) is replaced by a temporary failure (TEMP / 400), an over-long
// reason or text is truncated. Nothing here touches sockets, logs, or global state; thread-compatible
// (one decoder per connection).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dane/core/expected.hpp"

namespace dane::policyd {

// ---------------------------------------------------------------------------------------------------------
// Common

enum class CodecErrorKind {
  BadLength,          // socketmap: netstring length empty, not decimal, or with a leading zero
  MissingComma,       // socketmap: the byte after the payload is not ','
  TooLong,            // query, line, or request beyond its limit
  EmptyName,          // socketmap: no map name before the space
  MissingKey,         // socketmap: no space between name and key
  BadCommand,         // tcp_table: not `get KEY`
  BadEncoding,        // tcp_table: bad %XX escape, or raw white space / non-printable byte
  BadAttribute,       // policy: line without '=', empty or non-printable attribute name
  DuplicateAttribute, // policy: one attribute name twice in one request
  TooManyAttributes,  // policy: more attributes than PolicyLimits::max_attributes
  EmptyRequest,       // policy: an empty line with no attribute before it
  BadRequestType,     // policy: `request=` missing or not `smtpd_access_policy`
};

// Stable event names for log lines: "bad-length", "missing-comma", "too-long", ...
std::string_view to_string(CodecErrorKind kind);

struct CodecError {
  CodecErrorKind kind;
  std::string message; // e.g. "socketmap: netstring length exceeds 10000 bytes"
};

// Bytes shown safely in an error message: %XX-quoted (as tcp_table does) and cut to `max` characters
// with "..." appended when longer.
std::string printable_excerpt(std::string_view bytes, std::size_t max = 40);

// ---------------------------------------------------------------------------------------------------------
// socketmap

inline constexpr std::size_t k_socketmap_max_query = 10000;  // request payload bytes (Postfix's limit)
inline constexpr std::size_t k_socketmap_max_reply = 100000; // reply payload bytes (Postfix's limit)

// Netstring framing `LEN:PAYLOAD,` (LEN: decimal, no sign, no leading zero except "0"). Yields payloads of
// at most `max_payload` bytes; a longer length is refused as soon as its digits exceed the limit, before
// any payload is buffered. Used for requests (server) and replies (clients: tests, bench, fuzz).
class NetstringDecoder {
public:
  explicit NetstringDecoder(std::size_t max_payload);

  // Consumes all of `bytes`; appends each complete payload to `out`. False once the stream is broken.
  bool feed(std::string_view bytes, std::vector<std::string>& out);
  const std::optional<CodecError>& error() const noexcept { return m_error; }
  // True while part of a netstring is buffered (EOF now would cut a request in half).
  bool mid_message() const noexcept { return m_state != State::Length || m_length_digits > 0; }

private:
  enum class State { Length, Payload, Comma };
  bool fail(CodecErrorKind kind, std::string message);

  std::size_t m_max;
  State m_state = State::Length;
  std::size_t m_length = 0;
  std::size_t m_length_digits = 0;
  std::string m_payload;
  std::optional<CodecError> m_error;
};

std::string encode_netstring(std::string_view payload);

struct SocketmapRequest {
  std::string name; // the map name Postfix was configured with (socketmap:unix:PATH:NAME)
  std::string key;  // everything after the first space; may be empty, may contain spaces
  friend bool operator==(const SocketmapRequest&, const SocketmapRequest&) = default;
};

class SocketmapDecoder {
public:
  explicit SocketmapDecoder(std::size_t max_query = k_socketmap_max_query) : m_netstrings(max_query) {}

  bool feed(std::string_view bytes, std::vector<SocketmapRequest>& out);
  const std::optional<CodecError>& error() const noexcept { return m_error ? m_error : m_netstrings.error(); }
  bool mid_request() const noexcept { return m_netstrings.mid_message(); }

private:
  NetstringDecoder m_netstrings;
  std::vector<std::string> m_payloads; // reused between feeds
  std::optional<CodecError> m_error;
};

// Splits a request payload "NAME KEY" (a server's view of one netstring).
Expected<SocketmapRequest> parse_socketmap_request(std::string_view payload);
// Client side (tests, bench): the netstring for "NAME KEY"; an error when it would exceed `max_query`
// or the name is empty or contains a space.
Expected<std::string> encode_socketmap_request(std::string_view name, std::string_view key,
                                               std::size_t max_query = k_socketmap_max_query);

enum class SocketmapStatus { Ok, NotFound, Temp, Timeout, Perm };
std::string_view to_string(SocketmapStatus status); // "OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM"

struct SocketmapReply {
  SocketmapStatus status = SocketmapStatus::Temp;
  std::string data; // OK: the value; TEMP/TIMEOUT/PERM: the reason; NOTFOUND: empty
  friend bool operator==(const SocketmapReply&, const SocketmapReply&) = default;
};

// "OK dane-only", "NOTFOUND ", "TEMP reason" (the reply payload; PolicyAnswer::answer has this form).
std::string format_socketmap_answer(const SocketmapReply& reply);
// Inverse of format_socketmap_answer: STATUS, one space, data. "NOTFOUND" with or without the space;
// anything after "NOTFOUND " is ignored. Errors: unknown status word, missing space.
Expected<SocketmapReply> parse_socketmap_answer(std::string_view payload);

// The netstring for a reply, never longer than `max_reply` payload bytes: an OK answer that does not fit
// becomes `TEMP reply too long (N bytes)` (a truncated policy could be a different, weaker policy); a
// TEMP/TIMEOUT/PERM reason that does not fit is truncated.
std::string encode_socketmap_reply(const SocketmapReply& reply, std::size_t max_reply = k_socketmap_max_reply);
// Same for an answer in payload form (PolicyAnswer::answer). A malformed answer (a bug upstream) is sent as
// `TEMP internal error: malformed answer`, never passed through.
std::string encode_socketmap_answer(std::string_view answer, std::size_t max_reply = k_socketmap_max_reply);

// ---------------------------------------------------------------------------------------------------------
// tcp_table

inline constexpr std::size_t k_tcp_table_max_line = 4096; // bytes per line including the newline

// %XX encoding (tcp_table(5)): '%', white space and bytes outside printable ASCII (0x21..0x7e) become
// "%XX" with upper-case hex. unquote accepts either case and fails on '%' not followed by two hex digits.
std::string tcp_table_quote(std::string_view raw);
Expected<std::string> tcp_table_unquote(std::string_view quoted);

// Line framing: lines of at most `max_line` bytes including the '\n'; yields them without the '\n'. A
// partial line that reaches `max_line` bytes without a newline is TooLong (its newline would be one over).
class LineDecoder {
public:
  explicit LineDecoder(std::size_t max_line) : m_max(max_line) {}

  bool feed(std::string_view bytes, std::vector<std::string>& out);
  const std::optional<CodecError>& error() const noexcept { return m_error; }
  bool mid_line() const noexcept { return !m_line.empty(); }

private:
  std::size_t m_max;
  std::string m_line;
  std::optional<CodecError> m_error;
};

struct TcpTableRequest {
  std::string key; // decoded (%XX undone)
  friend bool operator==(const TcpTableRequest&, const TcpTableRequest&) = default;
};

// Server side. Errors: TooLong (line), BadCommand (anything but "get " + key), BadEncoding (bad %XX, or a
// raw space / control / non-ASCII byte in the key: Postfix always encodes those). An empty key is a
// valid request (the server answers it).
class TcpTableDecoder {
public:
  explicit TcpTableDecoder(std::size_t max_line = k_tcp_table_max_line) : m_lines(max_line) {}

  bool feed(std::string_view bytes, std::vector<TcpTableRequest>& out);
  const std::optional<CodecError>& error() const noexcept { return m_error ? m_error : m_lines.error(); }
  bool mid_request() const noexcept { return m_lines.mid_line(); }

private:
  LineDecoder m_lines;
  std::vector<std::string> m_buffer; // reused between feeds
  std::optional<CodecError> m_error;
};

Expected<TcpTableRequest> parse_tcp_table_request(std::string_view line); // without the '\n'
// Client side: "get " + quoted key + "\n"; an error when longer than `max_line`.
Expected<std::string> encode_tcp_table_request(std::string_view key, std::size_t max_line = k_tcp_table_max_line);

enum class TcpTableStatus { Ok = 200, TryAgain = 400, NotFound = 500 };

struct TcpTableReply {
  TcpTableStatus status = TcpTableStatus::TryAgain;
  std::string text; // 200: the data; 400/500: a reason (raw, unquoted)
  friend bool operator==(const TcpTableReply&, const TcpTableReply&) = default;
};

// "CODE quoted-text\n", at most `max_line` bytes: an over-long 200 becomes `400 reply too long (N bytes)`;
// an over-long 400/500 text is truncated (never inside a %XX triple).
std::string encode_tcp_table_reply(const TcpTableReply& reply, std::size_t max_line = k_tcp_table_max_line);
// Client side: parses one reply line (a trailing '\n' is allowed). Errors: code not 200/400/500, missing
// space, bad %XX.
Expected<TcpTableReply> parse_tcp_table_reply(std::string_view line);

// The mapping of a typed answer to a tcp_table reply: encode_tcp_table() in answer.hpp.

// ---------------------------------------------------------------------------------------------------------
// policy delegation

struct PolicyLimits {
  std::size_t max_attributes = 256; // attribute lines per request (Postfix 3.7 sends about 30)
  std::size_t max_line = 8192;      // bytes per line including the '\n'
  std::size_t max_request = 65536;  // bytes per request including every '\n' and the empty line
};

inline constexpr std::size_t k_policy_max_action = 4000; // bytes of the action value we send

struct PolicyRequest {
  std::vector<std::pair<std::string, std::string>> attributes; // in arrival order, names unique

  // The value of an attribute, or nullopt when absent. (Values may legitimately be empty: `sender=`.)
  std::optional<std::string_view> find(std::string_view name) const;
  // The value, or "" when absent.
  std::string_view get(std::string_view name) const;

  std::string_view request() const { return get("request"); }               // "smtpd_access_policy"
  std::string_view protocol_state() const { return get("protocol_state"); } // "RCPT", "DATA", ...
  std::string_view recipient() const { return get("recipient"); }
  std::string_view sender() const { return get("sender"); }
  std::string_view client_address() const { return get("client_address"); }
  std::string_view client_name() const { return get("client_name"); }
  std::string_view queue_id() const { return get("queue_id"); }

  // The destination the daemon evaluates: the recipient's domain (after the last '@'), ASCII-lowercased,
  // one trailing dot removed. nullopt when there is no recipient, no '@', or nothing after it.
  std::optional<std::string> recipient_domain() const;
};

// Server side. A request is complete at its empty line and must carry `request=smtpd_access_policy`.
// Lines end with '\n' only (a '\r' stays part of the value; a lone "\r" line is a BadAttribute). Values
// are taken verbatim (no encoding in this protocol).
class PolicyDecoder {
public:
  explicit PolicyDecoder(PolicyLimits limits = {});

  bool feed(std::string_view bytes, std::vector<PolicyRequest>& out);
  const std::optional<CodecError>& error() const noexcept { return m_error ? m_error : m_lines.error(); }
  bool mid_request() const noexcept { return m_lines.mid_line() || !m_current.attributes.empty(); }

private:
  bool fail(CodecErrorKind kind, std::string message);

  PolicyLimits m_limits;
  LineDecoder m_lines;
  std::vector<std::string> m_buffer; // reused between feeds
  PolicyRequest m_current;
  std::size_t m_current_bytes = 0;
  std::optional<CodecError> m_error;
};

// "action=ACTION\n\n". Control characters in `action` (a '\n' would inject attributes) become spaces;
// an action longer than k_policy_max_action is truncated.
std::string encode_policy_reply(std::string_view action);
// Client side (tests, bench): "name=value\n"... "\n". Errors: empty name, '=' in a name, '\n' anywhere.
Expected<std::string> encode_policy_request(const std::vector<std::pair<std::string, std::string>>& attributes);
// Client side: parses "action=...\n\n" (or without the final newlines) to the action text.
Expected<std::string> parse_policy_reply(std::string_view reply);

// The action for a typed answer (including --policy-failure-action): policy_action() in answer.hpp.

} // namespace dane::policyd
