// postfix_instance.hpp — private Postfix instances and a loopback resolver for end-to-end tests.
//
// What it does: builds a throw-away Postfix instance (its own config_directory with main.cf and
// master.cf, queue_directory, data_directory and maillog_file under one mkdtemp directory; every
// service `chroot = n`; IPv4 only; short queue and backoff times), starts and stops it with
// `postfix -c ETC`, submits mail with `sendmail -C ETC`, clears the queue with `postsuper -d ALL`
// and waits (bounded, by polling) for maillog lines. Optionally the master starts in a private
// mount namespace whose /etc/resolv.conf is a file of ours (docs/testing.md), so Postfix's own libc DNS
// talks to a `LoopbackResolver` (an `unbound` server on a loopback address) and the machine's
// /etc/resolv.conf is never touched.
//
// Inputs: the caller picks unique 127.x.y.z addresses (dns_rig.hpp: unique_loopback_address());
// nothing here binds a fixed port or a fixed /tmp path. Trust: none of this is security code; it runs as root
// because Postfix's master, postdrop and postsuper need it (callers check `is_root()` first).
// Failure modes: start-up problems throw std::runtime_error carrying the command output and the
// maillog; waits return a `LogWait` whose `log` holds the maillog text for the failure message.
// Every process started here is stopped by the destructors (also when a test fails).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <sys/types.h>

#include "daemon_process.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace dane::test {

// --- small helpers ----------------------------------------------------------------------
// run_command(), ChildProcess: process.hpp; TempDir: temp_dir.hpp; read/write files: files.hpp.

// A TCP port that was free on `address` a moment ago (bind port 0, read it, close).
std::uint16_t free_tcp_port(const std::string& address);
// Waits until something accepts TCP connections on address:port (bounded); false on timeout.
bool wait_for_tcp(const std::string& address, std::uint16_t port, std::chrono::milliseconds limit);

// The older name of write_text_file_or_throw() (files.hpp).
inline void write_file_text(const std::string& path, const std::string& text) {
  write_text_file_or_throw(path, text);
}

// --- maillog waits -----------------------------------------------------------------------

struct LogWait {
  bool found = false;
  std::string line; // the first matching line
  std::string log;  // the log text examined (from the mark), for failure messages
  explicit operator bool() const { return found; }
};

// --- Postfix -------------------------------------------------------------------------------

class PostfixInstance {
public:
  // `name` becomes part of myhostname ("<name>.rig.invalid") and of the temp dir name.
  // `address` is the instance's own loopback address (inet_interfaces, smtp_bind_address).
  PostfixInstance(std::string name, std::string address);
  PostfixInstance(const PostfixInstance&) = delete;
  PostfixInstance& operator=(const PostfixInstance&) = delete;
  ~PostfixInstance(); // stops the instance if it runs

  const std::string& name() const { return m_name; }
  const std::string& address() const { return m_address; }
  const std::string& config_dir() const { return m_etc; }
  const std::string& base_dir() const { return m_dir.path(); }
  const std::string& maillog_path() const { return m_maillog; }
  std::string myhostname() const { return m_name + ".rig.invalid"; }

  // main.cf parameter (written by start()/reload()).
  void set(const std::string& name, const std::string& value);
  void unset(const std::string& name);
  // An extra master.cf line, e.g. "127.1.2.3:25 inet n - n - - smtpd -o smtpd_tls_chain_files=k,c".
  void add_service(const std::string& master_cf_line);
  // Makes this a receiving MX: accepts any recipient, discards delivered mail, offers STARTTLS.
  void make_receiver();
  // Adds an smtpd listening on address:port offering STARTTLS with the given key and chain files.
  void add_smtpd(const std::string& address, std::uint16_t port, const std::string& key_file,
                 const std::string& chain_file);

  // Writes the config and starts the master. With `resolv_conf` non-empty the master runs in a
  // private mount namespace where that file is bind-mounted over /etc/resolv.conf. Throws with
  // the output of `postfix start` and the maillog when the master does not come up.
  void start(const std::string& resolv_conf = {});
  void stop();
  bool running() const { return m_running; }
  // Rewrites main.cf/master.cf and runs `postfix reload`.
  void reload();

  // `postsuper -d ALL`: drops every queued message (deferred mail must not retry into the next case).
  void clear_queue();
  // `postqueue -f`: attempts delivery of every deferred message now.
  void flush_queue();
  // Number of messages in the queue (from `postqueue -j`).
  std::size_t queue_size();

  // Submits a message with `sendmail -C ETC -f from -- to`; returns its unique Message-ID
  // (without angle brackets). Throws when sendmail fails.
  std::string submit(const std::string& from, const std::string& to, const std::string& subject,
                     const std::string& body = "test body\n");

  // Maillog helpers. A mark is a byte offset; waits only look at text after it.
  std::size_t log_mark() const;
  std::string log_since(std::size_t mark) const;
  // Polls every 50 ms until a line after `mark` matches `pattern` (ECMAScript regex), at most
  // `limit`. A bounded wait, not a timed assertion: the failure message carries the log text.
  LogWait wait_for_log(const std::string& pattern, std::size_t mark,
                       std::chrono::milliseconds limit = std::chrono::seconds(30)) const;
  // Lines after `mark` matching `pattern`.
  std::vector<std::string> log_lines(const std::string& pattern, std::size_t mark = 0) const;

private:
  void write_config();
  CommandResult postfix_cmd(const std::vector<std::string>& args) const;

  std::string m_name;
  std::string m_address;
  TempDir m_dir;
  std::string m_etc;
  std::string m_maillog;
  std::map<std::string, std::string> m_main;
  std::vector<std::string> m_extra_services;
  bool m_running = false;
};

// --- a DNS resolver for Postfix's libc --------------------------------------------------------

// An `unbound` server listening on address:53 that serves the rig's zones through the given
// unbound.conf fragment (stub-zone for test., trust anchor, ...), with every other name refused
// so no query ever leaves loopback. Validating (`validator iterator`) or not (`iterator` only:
// what an operator whose resolver does not validate DNSSEC has).
class LoopbackResolver {
public:
  struct Options {
    std::string address;      // e.g. "127.25.7.53"; port 53 (libc cannot use another)
    std::string rig_fragment; // path of the rig's unbound.conf fragment (include:d)
    bool validating = true;
    bool short_cache = false;                    // cache TTLs capped at 1 s (zones that change during a test)
    std::vector<std::string> extra_server_lines; // more `server:` clause lines
  };
  explicit LoopbackResolver(Options options);
  LoopbackResolver(const LoopbackResolver&) = delete;
  LoopbackResolver& operator=(const LoopbackResolver&) = delete;
  ~LoopbackResolver();

  // Starts unbound in the foreground and waits until it answers; throws with its log otherwise.
  void start();
  void stop();
  const std::string& address() const { return m_options.address; }
  // A resolv.conf naming only this resolver, with `options trust-ad` (glibc >= 2.31 strips the
  // AD bit Postfix's DANE needs unless told to trust it).
  const std::string& resolv_conf() const { return m_resolv_conf; }
  // Asks the resolver for NAME TYPE (fills its cache); returns drill's output.
  std::string query(const std::string& name, const std::string& type) const;
  std::string log() const;

private:
  Options m_options;
  TempDir m_dir;
  std::string m_conf;
  std::string m_resolv_conf;
  std::string m_log;
  ChildProcess m_process;
};

} // namespace dane::test
