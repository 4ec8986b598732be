// postfix_instance.cpp — see postfix_instance.hpp for the contract.
#include "postfix_instance.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_env.hpp"

namespace dane::test {

namespace fs = std::filesystem;

namespace {

std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  std::string path = find_program(name);
  return path.empty() ? name : path;
}

std::string tail(const std::string& text, std::size_t max_chars = 6000) {
  if (text.size() <= max_chars) {
    return text;
  }
  return "...\n" + text.substr(text.size() - max_chars);
}

// The services every instance needs; `chroot = n` everywhere (column 5).
constexpr const char* k_master_cf = R"(# Written by tests/support/postfix_instance.cpp: a private test instance.
# service type  private unpriv  chroot  wakeup  maxproc command + args
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
)";

std::atomic<unsigned> g_message_counter{0};

} // namespace

std::uint16_t free_tcp_port(const std::string& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("bind " + address + ":0: " + std::strerror(errno));
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

bool wait_for_tcp(const std::string& address, std::uint16_t port, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  do {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    if (ok) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// --- PostfixInstance -------------------------------------------------------------------------

PostfixInstance::PostfixInstance(std::string name, std::string address)
    : m_name(std::move(name)), m_address(std::move(address)), m_dir("postfix-" + m_name) {
  const std::string& base = m_dir.path();
  m_etc = base + "/etc";
  m_maillog = base + "/log/maillog";
  fs::create_directories(m_etc);
  fs::create_directories(base + "/spool");
  fs::create_directories(base + "/data");
  fs::create_directories(base + "/log");
  ::chmod((base + "/log").c_str(), 0755);
  // data_directory belongs to mail_owner (master.lock, TLS caches).
  if (const passwd* pw = ::getpwnam("postfix")) {
    if (::chown((base + "/data").c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("chown postfix " + base + "/data: " + std::strerror(errno));
    }
  }

  m_main = {
      {"compatibility_level", "3.6"},
      {"queue_directory", base + "/spool"},
      {"data_directory", base + "/data"},
      {"mail_owner", "postfix"},
      {"setgid_group", "postdrop"},
      {"myhostname", myhostname()},
      {"mydomain", "rig.invalid"},
      {"myorigin", "$myhostname"},
      {"mydestination", ""},
      {"relay_domains", ""},
      {"mynetworks", "127.0.0.0/8"},
      // Postfix insists that inet_interfaces are configured interface addresses; 127.x.y.z
      // aliases are not (the kernel routes 127/8 to lo anyway), so services bind explicit
      // addresses in master.cf and the client binds `smtp_bind_address`.
      {"inet_interfaces", "127.0.0.1"},
      {"inet_protocols", "ipv4"},
      {"smtp_bind_address", m_address},
      {"maillog_file", m_maillog},
      {"maillog_file_prefixes", base},
      {"alias_maps", ""},
      {"alias_database", ""},
      {"local_recipient_maps", ""},
      {"biff", "no"},
      {"append_dot_mydomain", "no"},
      {"smtputf8_enable", "no"},
      {"queue_run_delay", "1s"},
      {"minimal_backoff_time", "1s"},
      {"maximal_backoff_time", "2s"},
      {"maximal_queue_lifetime", "1h"},
      {"bounce_queue_lifetime", "1h"},
      {"smtp_connect_timeout", "5s"},
      {"smtp_helo_timeout", "20s"},
      {"smtp_starttls_timeout", "20s"},
      {"smtp_tls_loglevel", "1"},
      {"smtpd_tls_loglevel", "1"},
      {"tls_random_source", "dev:/dev/urandom"},
      {"smtp_tls_session_cache_database", ""},
      {"smtpd_tls_session_cache_database", ""},
      // Cached connections would hide per-message TLS decisions.
      {"smtp_connection_cache_on_demand", "no"},
      {"notify_classes", ""},
  };
}

PostfixInstance::~PostfixInstance() {
  try {
    stop();
  } catch (...) {
  }
}

void PostfixInstance::set(const std::string& name, const std::string& value) {
  m_main[name] = value;
}

void PostfixInstance::unset(const std::string& name) {
  m_main.erase(name);
}

void PostfixInstance::add_service(const std::string& master_cf_line) {
  m_extra_services.push_back(master_cf_line);
}

void PostfixInstance::make_receiver() {
  set("smtpd_tls_security_level", "may");
  // mynetworks is 127.0.0.0/8: every loopback client may relay, nobody else can connect.
  set("smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination");
  set("smtpd_recipient_restrictions", "");
  set("smtpd_client_restrictions", "");
  set("smtpd_helo_restrictions", "");
  set("smtpd_sender_restrictions", "");
  set("default_transport", "discard:delivered by the test receiver");
  set("local_transport", "discard:delivered by the test receiver");
  set("relay_transport", "discard:delivered by the test receiver");
  set("smtpd_peername_lookup", "no");
  set("smtpd_delay_reject", "yes");
}

void PostfixInstance::add_smtpd(const std::string& address, std::uint16_t port, const std::string& key_file,
                                const std::string& chain_file) {
  add_service(address + ":" + std::to_string(port) + " inet n - n - - smtpd -o smtpd_tls_chain_files=" + key_file +
              "," + chain_file);
}

void PostfixInstance::write_config() {
  std::string main_cf = "# Written by tests/support/postfix_instance.cpp: a private test instance.\n";
  for (const auto& [name, value] : m_main) {
    main_cf += name + " = " + value + "\n";
  }
  write_file_text(m_etc + "/main.cf", main_cf);
  std::string master_cf = k_master_cf;
  for (const auto& line : m_extra_services) {
    master_cf += line + "\n";
  }
  write_file_text(m_etc + "/master.cf", master_cf);
}

CommandResult PostfixInstance::postfix_cmd(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"postfix", "-c", m_etc};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

void PostfixInstance::start(const std::string& resolv_conf) {
  write_config();
  CommandResult r;
  if (resolv_conf.empty()) {
    r = postfix_cmd({"start"});
  } else {
    // docs/testing.md: the master (and every process it forks) sees our resolv.conf; the machine's
    // /etc/resolv.conf is untouched (unshare -m makes the mount private to the new namespace).
    std::string postfix = resolve_program("postfix");
    r = run_command({"unshare", "-m", "--propagation", "private", "sh", "-c",
                     "mount --bind \"$0\" /etc/resolv.conf && exec \"$1\" -c \"$2\" start", resolv_conf, postfix,
                     m_etc});
  }
  std::string pid_file = base_dir() + "/spool/pid/master.pid";
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    std::string pid_text = read_text_file(pid_file);
    int pid = std::atoi(pid_text.c_str());
    up = pid > 0 && ::kill(pid, 0) == 0;
    if (!up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (r.exit_code != 0 || !up) {
    // Without a tty Postfix prints nothing; `script` gives it one so the reason shows.
    CommandResult why = run_command({"script", "-qec", "postfix -c " + m_etc + " check", "/dev/null"});
    r.output += why.output;
    throw std::runtime_error("postfix -c " + m_etc + " start failed (exit " + std::to_string(r.exit_code) + "):\n" +
                             r.output + "\nmaillog:\n" + tail(read_text_file(m_maillog)));
  }
  m_running = true;
}

void PostfixInstance::stop() {
  if (!m_running) {
    return;
  }
  m_running = false;
  postfix_cmd({"stop"});
  // `postfix stop` returns before the master is gone; wait (bounded) so ports are free again.
  std::string pid_file = base_dir() + "/spool/pid/master.pid";
  int pid = std::atoi(read_text_file(pid_file).c_str());
  for (int i = 0; i < 100 && pid > 0 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pid > 0 && ::kill(pid, 0) == 0) {
    postfix_cmd({"abort"});
  }
}

void PostfixInstance::reload() {
  write_config();
  CommandResult r = postfix_cmd({"reload"});
  if (r.exit_code != 0) {
    throw std::runtime_error("postfix reload failed: " + r.output);
  }
  // The master re-reads its configuration asynchronously; give it a moment to log that.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

void PostfixInstance::clear_queue() {
  run_command({"postsuper", "-c", m_etc, "-d", "ALL"});
}

void PostfixInstance::flush_queue() {
  run_command({"postqueue", "-c", m_etc, "-f"});
}

std::size_t PostfixInstance::queue_size() {
  std::size_t count = 0;
  for (const char* sub : {"maildrop", "incoming", "active", "deferred", "hold"}) {
    std::error_code ec;
    fs::recursive_directory_iterator it(base_dir() + "/spool/" + sub, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) {
        ++count;
      }
    }
  }
  return count;
}

std::string PostfixInstance::submit(const std::string& from, const std::string& to, const std::string& subject,
                                    const std::string& body) {
  unsigned n = ++g_message_counter;
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  std::string id = "dane-e2e." + std::to_string(::getpid()) + "." + std::to_string(n) + "." + std::to_string(now) +
                   "@" + myhostname();
  std::string message =
      "From: <" + from + ">\nTo: <" + to + ">\nSubject: " + subject + "\nMessage-ID: <" + id + ">\n\n" + body;
  CommandResult r = run_command({"sendmail", "-C", m_etc, "-f", from, "--", to}, message);
  if (r.exit_code != 0) {
    throw std::runtime_error("sendmail -C " + m_etc + " failed (exit " + std::to_string(r.exit_code) +
                             "): " + r.output);
  }
  return id;
}

std::size_t PostfixInstance::log_mark() const {
  std::error_code ec;
  auto size = fs::file_size(m_maillog, ec);
  return ec ? 0 : static_cast<std::size_t>(size);
}

std::string PostfixInstance::log_since(std::size_t mark) const {
  std::string text = read_text_file(m_maillog);
  return mark >= text.size() ? std::string() : text.substr(mark);
}

LogWait PostfixInstance::wait_for_log(const std::string& pattern, std::size_t mark,
                                      std::chrono::milliseconds limit) const {
  const std::regex re(pattern);
  LogWait result;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    result.log = log_since(mark);
    for (const auto& line : split_lines(result.log)) {
      if (std::regex_search(line, re)) {
        result.found = true;
        result.line = line;
        return result;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.log = "no line matching /" + pattern + "/ in " + m_maillog + " within " + std::to_string(limit.count()) +
                   " ms; log since mark:\n" + tail(result.log);
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<std::string> PostfixInstance::log_lines(const std::string& pattern, std::size_t mark) const {
  const std::regex re(pattern);
  std::vector<std::string> out;
  for (const auto& line : split_lines(log_since(mark))) {
    if (std::regex_search(line, re)) {
      out.push_back(line);
    }
  }
  return out;
}

// --- LoopbackResolver ----------------------------------------------------------------------

LoopbackResolver::LoopbackResolver(Options options) : m_options(std::move(options)), m_dir("unbound") {
  m_conf = m_dir.path() + "/unbound.conf";
  m_resolv_conf = m_dir.path() + "/resolv.conf";
  m_log = m_dir.path() + "/unbound.log";
}

LoopbackResolver::~LoopbackResolver() {
  stop();
}

void LoopbackResolver::start() {
  const std::string& dir = m_dir.path();
  std::string conf = "# Written by tests/support/postfix_instance.cpp\nserver:\n";
  conf += "  verbosity: 1\n";
  conf += "  interface: " + m_options.address + "\n";
  conf += "  port: 53\n  do-ip4: yes\n  do-ip6: no\n  do-udp: yes\n  do-tcp: yes\n";
  conf += "  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  log-servfail: yes\n";
  conf += "  username: \"\"\n  chroot: \"\"\n  directory: \"" + dir + "\"\n";
  conf += "  pidfile: \"" + dir + "/unbound.pid\"\n";
  conf += "  num-threads: 1\n  so-reuseport: no\n";
  conf += "  access-control: 127.0.0.0/8 allow\n";
  conf += "  do-not-query-localhost: no\n";
  conf += "  infra-keep-probing: yes\n  infra-host-ttl: 2\n";
  conf += std::string("  module-config: \"") + (m_options.validating ? "validator iterator" : "iterator") + "\"\n";
  conf += "  val-log-level: 2\n";
  if (m_options.short_cache) {
    conf += "  cache-max-ttl: 1\n  cache-max-negative-ttl: 1\n";
  }
  for (const auto& line : m_options.extra_server_lines) {
    conf += "  " + line + "\n";
  }
  if (!m_options.rig_fragment.empty()) {
    conf += "include: \"" + m_options.rig_fragment + "\"\n";
  }
  write_file_text(m_conf, conf);
  write_file_text(m_resolv_conf, "nameserver " + m_options.address + "\noptions trust-ad edns0 attempts:1 timeout:2\n");

  CommandResult check = run_command({"unbound-checkconf", m_conf});
  if (check.exit_code != 0) {
    throw std::runtime_error("unbound-checkconf " + m_conf + ":\n" + check.output + "\n" + conf);
  }
  m_process = ChildProcess::spawn({"unbound", "-d", "-c", m_conf}, m_log);
  if (!wait_for_tcp(m_options.address, 53, std::chrono::seconds(10)) || !m_process.running()) {
    std::string log_text = read_text_file(m_log);
    m_process.stop();
    throw std::runtime_error("unbound on " + m_options.address + ":53 did not come up:\n" + log_text);
  }
}

void LoopbackResolver::stop() {
  m_process.stop();
}

std::string LoopbackResolver::query(const std::string& name, const std::string& type) const {
  return run_command({"drill", name, "@" + m_options.address, type}).output;
}

std::string LoopbackResolver::log() const {
  return read_text_file(m_log);
}

} // namespace dane::test
