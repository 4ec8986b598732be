// DNSSEC-validated lookups over libunbound (the only file that includes unbound.h).
//
// Design: one ub_ctx per UnboundResolver, configured once in make_unbound_resolver() and
// immutable afterwards, in libunbound's threaded async mode. Callers submit queries with
// ub_resolve_async (thread-safe); one event-loop thread polls ub_fd and runs ub_process,
// whose callbacks record answers in a registry keyed by a serial number, and keeps a timer
// list of the calls' deadlines. A call is complete when every answer is in or its deadline
// passed (the rest become Failed("timeout") and are cancelled; a late answer finds no
// waiter and is dropped); its callback then runs on the loop thread. The blocking
// resolve() is resolve_async() plus a wait.
#include "dane/verifier/dns.hpp"
#include "dane/core/text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unbound.h>
#include <unistd.h>

#include "dane/core/fd.hpp"
#include "dane/verifier/handles.hpp"

namespace dane {

void UbCtxDeleter::operator()(ub_ctx* p) const noexcept {
  ub_ctx_delete(p);
}
void UbResultDeleter::operator()(ub_result* p) const noexcept {
  ub_resolve_free(p);
}

std::string to_string(RrType type) {
  switch (type) {
  case RrType::A:
    return "A";
  case RrType::Ns:
    return "NS";
  case RrType::Cname:
    return "CNAME";
  case RrType::Soa:
    return "SOA";
  case RrType::Mx:
    return "MX";
  case RrType::Txt:
    return "TXT";
  case RrType::Aaaa:
    return "AAAA";
  case RrType::Dnskey:
    return "DNSKEY";
  case RrType::Tlsa:
    return "TLSA";
  }
  return "TYPE" + std::to_string(static_cast<unsigned>(type));
}

std::string to_string(DnsSecurity security) {
  switch (security) {
  case DnsSecurity::Secure:
    return "secure";
  case DnsSecurity::Insecure:
    return "insecure";
  case DnsSecurity::Bogus:
    return "bogus";
  case DnsSecurity::Failed:
    return "error";
  }
  return "error";
}

namespace {

// Lowercase, no trailing dot (the root stays ".").
std::string normalize_name(std::string_view name) {
  std::string out = ascii_lower(name);
  if (out.size() > 1 && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

// Wire-format name (uncompressed, as libunbound hands out RDATA) -> text.
Expected<std::string> wire_name(const std::vector<std::uint8_t>& rdata, std::size_t offset) {
  std::string name;
  std::size_t pos = offset;
  while (true) {
    if (pos >= rdata.size()) {
      return make_error("truncated domain name in RDATA");
    }
    std::uint8_t len = rdata[pos++];
    if (len == 0) {
      break;
    }
    if (len > 63 || pos + len > rdata.size()) {
      return make_error("malformed domain name in RDATA");
    }
    if (!name.empty()) {
      name += '.';
    }
    for (std::size_t i = 0; i < len; ++i) {
      unsigned char c = rdata[pos + i];
      if (std::isalnum(c) || c == '-' || c == '_' || c == '*') {
        name += ascii_lower(static_cast<char>(c));
      } else {
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\%03u", static_cast<unsigned>(c));
        name += esc;
      }
    }
    pos += len;
  }
  if (pos != rdata.size()) {
    return make_error("trailing octets after domain name in RDATA");
  }
  return name.empty() ? std::string(".") : name;
}

std::string rcode_name(int rcode) {
  switch (rcode) {
  case 1:
    return "FORMERR";
  case 2:
    return "SERVFAIL";
  case 3:
    return "NXDOMAIN";
  case 4:
    return "NOTIMP";
  case 5:
    return "REFUSED";
  default:
    return "rcode " + std::to_string(rcode);
  }
}

// libunbound result -> Answer. Bogus is checked first: a bogus answer has rcode 0 and data.
Answer classify(const Query& query, int err, const ub_result* result) {
  Answer a;
  a.query = query;
  if (err != 0 || result == nullptr) {
    a.security = DnsSecurity::Failed;
    a.reason = std::string("resolver error: ") + ub_strerror(err);
    return a;
  }
  a.rcode = result->rcode;
  a.ttl = result->ttl < 0 ? 0u : static_cast<std::uint32_t>(result->ttl);
  if (result->canonname != nullptr) {
    std::string canon = normalize_name(result->canonname);
    if (canon != normalize_name(query.name)) {
      a.canonname = canon;
    }
  }
  if (result->bogus != 0) {
    a.security = DnsSecurity::Bogus;
    a.reason = result->why_bogus != nullptr ? result->why_bogus : "DNSSEC validation failed";
    return a;
  }
  if (result->rcode == 3) {
    a.nxdomain = true;
  } else if (result->rcode != 0) {
    a.security = DnsSecurity::Failed;
    a.reason = rcode_name(result->rcode);
    return a;
  }
  a.security = result->secure != 0 ? DnsSecurity::Secure : DnsSecurity::Insecure;
  a.havedata = result->havedata != 0;
  if (a.havedata && result->data != nullptr) {
    for (int i = 0; result->data[i] != nullptr; ++i) {
      auto* bytes = reinterpret_cast<const std::uint8_t*>(result->data[i]);
      a.rdata.emplace_back(bytes, bytes + result->len[i]);
    }
  }
  return a;
}

// One resolve()/resolve_async() call: its answers so far and who to tell when they are complete.
struct Call {
  std::vector<Answer> answers;
  std::vector<bool> done;
  std::vector<std::uint64_t> serials; // of each query's Pending entry (0: not submitted)
  std::size_t remaining = 0;
  AnswersCallback callback; // emptied when handed out: exactly one call
  std::chrono::steady_clock::time_point deadline;
  std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<Call>>::iterator timer;
  bool timer_set = false;
};
using CallPtr = std::shared_ptr<Call>;
using Timers = std::multimap<std::chrono::steady_clock::time_point, CallPtr>;

// The event loop's view of libunbound: ub_fd polled on one thread, ub_process on readiness, and a
// timer list of call deadlines. Callbacks of complete calls run on that thread after ub_process
// returns (never inside libunbound's own callback), outside every lock.
class UnboundResolver final : public Resolver {
public:
  UnboundResolver(UbCtxPtr ctx, std::chrono::milliseconds timeout, Fd wake_read, Fd wake_write)
      : m_ctx(std::move(ctx)), m_timeout(timeout), m_wake_read(std::move(wake_read)),
        m_wake_write(std::move(wake_write)) {
    m_thread = std::thread([this] { run(); });
  }

  ~UnboundResolver() override {
    {
      std::lock_guard lock(m_mutex);
      m_quit = true;
    }
    wake();
    m_thread.join();
    m_ctx.reset(); // no libunbound callbacks after this; unfinished calls are dropped uncalled
    std::lock_guard lock(m_mutex);
    m_pending.clear();
    m_timers.clear();
  }

  std::vector<Answer> resolve(const std::vector<Query>& queries,
                              std::chrono::steady_clock::time_point deadline) override {
    std::promise<std::vector<Answer>> promise;
    auto future = promise.get_future();
    resolve_async(queries, deadline,
                  [&promise](std::vector<Answer> answers) { promise.set_value(std::move(answers)); });
    return future.get();
  }

  void resolve_async(const std::vector<Query>& queries, std::chrono::steady_clock::time_point deadline,
                     AnswersCallback done) override {
    auto call = std::make_shared<Call>();
    call->answers.resize(queries.size());
    call->done.assign(queries.size(), false);
    call->serials.assign(queries.size(), 0);
    call->remaining = queries.size();
    call->deadline = deadline;
    call->callback = std::move(done);
    for (std::size_t i = 0; i < queries.size(); ++i) {
      call->answers[i].query = queries[i];
      call->answers[i].reason = "timeout";
    }
    if (queries.empty() || std::chrono::steady_clock::now() >= deadline) {
      auto callback = std::move(call->callback);
      callback(std::move(call->answers)); // every answer Failed("timeout") (or none at all)
      return;
    }
    bool earliest = false;
    {
      std::lock_guard lock(m_mutex);
      call->timer = m_timers.emplace(deadline, call);
      call->timer_set = true;
      earliest = call->timer == m_timers.begin();
      for (std::size_t i = 0; i < queries.size(); ++i) {
        auto pending = std::make_unique<Pending>();
        pending->token.self = this;
        pending->token.serial = call->serials[i] = ++m_next_serial;
        pending->call = call;
        pending->index = i;
        m_pending.emplace(call->serials[i], std::move(pending));
      }
    }
    for (std::size_t i = 0; i < queries.size(); ++i) {
      submit(call, i);
    }
    AnswersCallback ready;
    {
      std::lock_guard lock(m_mutex);
      if (call->remaining == 0) {
        ready = take_callback(*call); // every query refused at submission
      }
    }
    if (ready) {
      ready(std::move(call->answers));
    } else if (earliest) {
      wake(); // the loop sleeps until a later deadline: make it look again
    }
  }

  std::chrono::milliseconds timeout() const override { return m_timeout; }

private:
  struct Token {
    UnboundResolver* self = nullptr;
    std::uint64_t serial = 0;
  };
  struct Pending {
    Token token;
    CallPtr call;
    std::size_t index = 0;
    int async_id = 0;
  };

  void wake() {
    char c = 'w';
    [[maybe_unused]] auto n = ::write(m_wake_write.get(), &c, 1);
  }

  // Under the lock: the call is complete (or timed out): stop its timer, hand out its callback.
  AnswersCallback take_callback(Call& call) {
    if (call.timer_set) {
      m_timers.erase(call.timer);
      call.timer_set = false;
    }
    return std::move(call.callback);
  }

  void submit(const CallPtr& call, std::size_t i) {
    const Query& query = call->answers[i].query;
    Token* token = nullptr;
    {
      std::lock_guard lock(m_mutex);
      auto it = m_pending.find(call->serials[i]);
      if (it == m_pending.end()) {
        return;
      }
      token = &it->second->token;
    }
    int id = 0;
    std::string name = query.name.empty() ? std::string(".") : query.name;
    int err = ub_resolve_async(m_ctx.get(), name.c_str(), static_cast<int>(query.type), 1, token,
                               &UnboundResolver::callback, &id);
    std::lock_guard lock(m_mutex);
    auto it = m_pending.find(call->serials[i]);
    if (err != 0) {
      // No callback will come for a query that was not submitted.
      if (!call->done[i]) {
        call->answers[i] = classify(query, err, nullptr);
        call->done[i] = true;
        --call->remaining;
      }
      if (it != m_pending.end()) {
        m_pending.erase(it);
      }
    } else if (it != m_pending.end()) {
      it->second->async_id = id;
    }
  }

  // libunbound's callback (inside ub_process, on the loop thread): record the answer; a call that is
  // now complete goes to m_ready, whose callbacks run once ub_process has returned.
  static void callback(void* mydata, int err, ub_result* raw) {
    UbResultPtr result(raw);
    auto* token = static_cast<Token*>(mydata);
    UnboundResolver* self = token->self;
    std::uint64_t serial = token->serial;
    std::lock_guard lock(self->m_mutex);
    auto it = self->m_pending.find(serial); // `token` dies with this entry
    if (it == self->m_pending.end()) {
      return;
    }
    Pending& p = *it->second;
    Call& call = *p.call;
    if (!call.done[p.index]) {
      call.answers[p.index] = classify(call.answers[p.index].query, err, result.get());
      call.done[p.index] = true;
      if (--call.remaining == 0 && call.callback) {
        self->m_ready.emplace_back(p.call);
      }
    }
    self->m_pending.erase(it);
  }

  // Calls whose deadline passed: the rest of their answers become Failed("timeout") and their
  // queries are cancelled. Appends them to `ready`.
  void expire(std::chrono::steady_clock::time_point now, std::vector<CallPtr>& ready) {
    std::vector<std::pair<std::uint64_t, int>> to_cancel;
    {
      std::lock_guard lock(m_mutex);
      while (!m_timers.empty() && m_timers.begin()->first <= now) {
        CallPtr call = m_timers.begin()->second;
        for (std::size_t i = 0; i < call->done.size(); ++i) {
          if (call->done[i]) {
            continue;
          }
          call->done[i] = true;
          call->answers[i].security = DnsSecurity::Failed;
          call->answers[i].reason = "timeout";
          if (auto it = m_pending.find(call->serials[i]); it != m_pending.end()) {
            to_cancel.emplace_back(call->serials[i], it->second->async_id);
          }
        }
        call->remaining = 0;
        ready.push_back(call);
        m_timers.erase(m_timers.begin());
        call->timer_set = false;
      }
    }
    for (auto [serial, id] : to_cancel) {
      // Success means the callback will never run: drop the entry ourselves. Otherwise the answer
      // is on its way and the callback finds the call done and drops it.
      if (id != 0 && ub_cancel(m_ctx.get(), id) == UB_NOERROR) {
        std::lock_guard relock(m_mutex);
        m_pending.erase(serial);
      }
    }
  }

  // Runs the callbacks of complete calls, each on its own: one that throws costs nobody else.
  void deliver(std::vector<CallPtr>& ready) {
    for (auto& call : ready) {
      AnswersCallback callback;
      {
        std::lock_guard lock(m_mutex);
        callback = take_callback(*call);
      }
      if (!callback) {
        continue;
      }
      try {
        callback(std::move(call->answers));
      } catch (...) {
        // The callback's owner answers for its own errors (the engine catches inside); nothing
        // here may stop the loop that serves every other call.
      }
    }
    ready.clear();
  }

  // Milliseconds until the earliest deadline (-1: none), rounded up.
  int poll_timeout(std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(m_mutex);
    if (m_timers.empty()) {
      return -1;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(m_timers.begin()->first - now).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60000));
  }

  void run() {
    int fd = ub_fd(m_ctx.get());
    std::vector<CallPtr> ready;
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {m_wake_read.get(), POLLIN, 0}};
      int n = ::poll(fds, 2, poll_timeout(std::chrono::steady_clock::now()));
      if (n < 0 && errno != EINTR) {
        return;
      }
      if (n > 0 && fds[1].revents != 0) {
        char buf[64];
        [[maybe_unused]] auto r = ::read(m_wake_read.get(), buf, sizeof buf);
        std::lock_guard lock(m_mutex);
        if (m_quit) {
          return;
        }
      }
      if (n > 0 && fds[0].revents != 0) {
        ub_process(m_ctx.get());
        std::lock_guard lock(m_mutex);
        ready.swap(m_ready);
      }
      expire(std::chrono::steady_clock::now(), ready);
      deliver(ready);
    }
  }

  UbCtxPtr m_ctx;
  std::chrono::milliseconds m_timeout;
  Fd m_wake_read;
  Fd m_wake_write;
  std::thread m_thread;
  std::mutex m_mutex;
  std::map<std::uint64_t, std::unique_ptr<Pending>> m_pending;
  Timers m_timers;
  std::vector<CallPtr> m_ready; // complete during ub_process, delivered after it
  std::uint64_t m_next_serial = 0;
  bool m_quit = false;
};

bool readable(const std::string& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

// A file libunbound is to read: it must be a readable regular file. libunbound itself spins
// forever on a directory given as trust anchor, and its config parser exits the process on one.
Status check_input_file(const std::string& option, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !readable(path)) {
    return make_error(option + " " + path + ": cannot read file: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(option + " " + path + ": is " + (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file") +
                      ", expected a file");
  }
  return Ok{};
}

} // namespace

Expected<MxRecord> parse_mx_rdata(const std::vector<std::uint8_t>& rdata) {
  if (rdata.size() < 3) {
    return make_error("MX RDATA too short");
  }
  MxRecord mx;
  mx.preference = static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]);
  auto name = wire_name(rdata, 2);
  if (!name) {
    return make_error("MX " + name.error());
  }
  mx.exchange = *name;
  return mx;
}

Expected<std::string> parse_address_rdata(RrType type, const std::vector<std::uint8_t>& rdata) {
  char text[INET6_ADDRSTRLEN];
  if (type == RrType::A && rdata.size() == 4) {
    ::inet_ntop(AF_INET, rdata.data(), text, sizeof text);
    return std::string(text);
  }
  if (type == RrType::Aaaa && rdata.size() == 16) {
    ::inet_ntop(AF_INET6, rdata.data(), text, sizeof text);
    return std::string(text);
  }
  return make_error(to_string(type) + " RDATA of " + std::to_string(rdata.size()) + " octets is not an address");
}

Expected<std::unique_ptr<Resolver>> make_unbound_resolver(const ResolverConfig& config) {
  if (config.timeout.count() <= 0) {
    return make_error("--dns-timeout must be positive");
  }
  UbCtxPtr ctx(ub_ctx_create());
  if (!ctx) {
    return make_error("cannot create a libunbound context");
  }
  if (int err = ub_ctx_async(ctx.get(), 1); err != 0) {
    return make_error(std::string("libunbound threaded mode: ") + ub_strerror(err));
  }
  // Outgoing limits first: an --unbound-config read afterwards overrides them.
  const std::pair<const char*, unsigned> limits[] = {{"outgoing-range:", config.outgoing_range},
                                                     {"num-queries-per-thread:", config.queries_per_thread},
                                                     {"outgoing-num-tcp:", config.outgoing_tcp}};
  for (const auto& [option, value] : limits) {
    if (value == 0) {
      continue;
    }
    if (int err = ub_ctx_set_option(ctx.get(), option, std::to_string(value).c_str()); err != 0) {
      return make_error(std::string("libunbound option ") + option + " " + std::to_string(value) + ": " +
                        ub_strerror(err));
    }
  }
  if (!config.unbound_config.empty()) {
    if (auto ok = check_input_file("--unbound-config", config.unbound_config); !ok) {
      return make_error(ok.error());
    }
    if (int err = ub_ctx_config(ctx.get(), config.unbound_config.c_str()); err != 0) {
      return make_error("--unbound-config " + config.unbound_config + ": " + ub_strerror(err));
    }
  }
  for (const auto& forwarder : config.forwarders) {
    if (int err = ub_ctx_set_fwd(ctx.get(), forwarder.c_str()); err != 0) {
      return make_error("--forwarder " + forwarder + ": not an IP address (ADDR[@PORT]): " + ub_strerror(err));
    }
  }
  // Trust anchor: the explicit file; else the packaged root key (required when no
  // --unbound-config is given, which would otherwise carry its own anchors).
  std::string anchor = config.trust_anchor_file;
  if (!anchor.empty()) {
    if (auto ok = check_input_file("--trust-anchor-file", anchor); !ok) {
      return make_error(ok.error());
    }
  } else if (readable(k_default_trust_anchor_file)) {
    if (auto ok = check_input_file("trust anchor", k_default_trust_anchor_file); !ok) {
      return make_error(ok.error());
    }
    anchor = k_default_trust_anchor_file;
  } else if (config.unbound_config.empty()) {
    return make_error(std::string("no trust anchor: ") + k_default_trust_anchor_file +
                      " is missing (install dns-root-data) and no --trust-anchor-file or --unbound-config was given");
  }
  if (!anchor.empty()) {
    if (int err = ub_ctx_add_ta_file(ctx.get(), anchor.c_str()); err != 0) {
      return make_error(
          (config.trust_anchor_file.empty() ? std::string("trust anchor ") : std::string("--trust-anchor-file ")) +
          anchor + ": " + ub_strerror(err));
    }
  }
  // Finalize now (reads the anchors, builds the local zones) so that configuration errors show
  // at start-up; this sends no query.
  if (int err = ub_ctx_data_remove(ctx.get(), "dane-policyd-finalize.invalid."); err != 0) {
    return make_error(
        std::string("resolver configuration (") +
        (config.unbound_config.empty() ? std::string("trust anchor") : "--unbound-config " + config.unbound_config) +
        "): " + ub_strerror(err));
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return make_error(std::string("pipe: ") + std::strerror(errno));
  }
  return std::unique_ptr<Resolver>(
      std::make_unique<UnboundResolver>(std::move(ctx), config.timeout, Fd(pipe_fds[0]), Fd(pipe_fds[1])));
}

} // namespace dane
