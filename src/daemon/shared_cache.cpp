// The shared cache on Redis (shared_cache.hpp): URL and key file, the sealed entry codec, and
// the asynchronous client on the daemon's event loop.
#include "dane/daemon/shared_cache.hpp"

#include <fcntl.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "dane/core/text.hpp"
#include "dane/daemon/redis_asio.hpp"
#include "settings_table.hpp"

namespace dane::policyd {

namespace {

constexpr std::string_view k_format = "dpc1";                            // the value's format version
constexpr std::string_view k_mac_label = "dane-policyd shared cache v1"; // first field under the MAC
constexpr std::size_t k_min_key_bytes = 16;
constexpr std::size_t k_max_outstanding = 4096; // commands waiting for Redis; beyond: skip Redis
// A lookup timed out and Redis has not answered anything for this long: re-open the connection
// (a burst of lookups on a busy loop times some out while Redis is fine; a dead peer says nothing).
constexpr std::chrono::seconds k_silence_reset{2};
constexpr std::chrono::milliseconds k_max_backoff{5000};

void append_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
  out += ',';
}

// The next "LEN:BYTES," field of `in`, advancing it; nullopt when malformed.
std::optional<std::string_view> next_field(std::string_view& in) {
  auto colon = in.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 6) {
    return std::nullopt;
  }
  std::size_t len = 0;
  auto [p, ec] = std::from_chars(in.data(), in.data() + colon, len);
  if (ec != std::errc() || p != in.data() + colon || in.size() < colon + 1 + len + 1 || in[colon + 1 + len] != ',') {
    return std::nullopt;
  }
  std::string_view field = in.substr(colon + 1, len);
  in.remove_prefix(colon + 1 + len + 1);
  return field;
}

std::string mac_hex(std::string_view mac_key, std::string_view context, std::string_view lookup_key,
                    const PolicyAnswer& answer, std::int64_t expires_unix) {
  std::string input;
  for (std::string_view f : {k_mac_label, context, lookup_key}) {
    append_field(input, f);
  }
  const std::string kind = to_string(answer.policy);
  const std::string expiry = std::to_string(expires_unix);
  for (std::string_view f : {std::string_view(kind), std::string_view(answer.answer), std::string_view(answer.reason),
                             std::string_view(answer.would_answer), std::string_view(expiry)}) {
    append_field(input, f);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), mac_key.data(), static_cast<int>(mac_key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &size);
  return to_hex(std::span<const std::uint8_t>(mac.data(), size));
}

std::optional<PolicyKind> parse_kind(std::string_view text) {
  for (auto k : {PolicyKind::DaneOnly, PolicyKind::Dane, PolicyKind::Encrypt, PolicyKind::Fingerprint,
                 PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    if (to_string(k) == text) {
      return k;
    }
  }
  return std::nullopt;
}

// The answer's texts agree with its kind, as make_answer() builds them.
bool consistent(const PolicyAnswer& a) {
  if (a.policy == PolicyKind::NotFound) {
    return a.answer == "NOTFOUND ";
  }
  return is_ok(a.policy) && a.answer.size() > 3 && a.answer.starts_with("OK ");
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace

Expected<SharedCacheUrl> parse_shared_cache_url(std::string_view text) {
  SharedCacheUrl url;
  if (text.starts_with("unix:")) {
    url.unix_socket = true;
    url.path = std::string(text.substr(5));
    if (url.path.empty() || url.path.front() != '/') {
      return make_error("'" + std::string(text) + "': unix:PATH needs an absolute path");
    }
    return url;
  }
  if (!text.starts_with("redis://")) {
    return make_error("'" + std::string(text) + "': expected redis://HOST:PORT[/DB] or unix:PATH");
  }
  std::string_view rest = text.substr(8);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto db = to_unsigned(std::string(rest.substr(slash + 1)), 0, 65535);
    if (!db) {
      return make_error("'" + std::string(text) + "': database " + db.error());
    }
    url.db = static_cast<unsigned>(*db);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  if (auto colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    auto port = to_unsigned(std::string(rest.substr(colon + 1)), 1, 65535);
    if (!port) {
      return make_error("'" + std::string(text) + "': port " + port.error());
    }
    url.port = static_cast<std::uint16_t>(*port);
    host = rest.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    return make_error("'" + std::string(text) + "': no host");
  }
  url.host = std::string(host);
  return url;
}

Expected<std::string> read_shared_cache_key(const std::string& path, long daemon_uid) {
  const std::string what = "--shared-cache-key " + quote_untrusted(path) + ": ";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    return make_error(what + std::strerror(errno));
  }
  struct stat st {};
  std::string key;
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("readable or writable by group or other (mode ") + mode + "; chmod 600 it)";
  } else if (st.st_uid != 0 && static_cast<long>(st.st_uid) != daemon_uid) {
    problem = "owned by uid " + std::to_string(st.st_uid) + ", not by root or the daemon's user";
  } else {
    std::array<char, 4096> buf{};
    ssize_t n = 0;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0 && key.size() < 65536) {
      key.append(buf.data(), static_cast<std::size_t>(n));
    }
    if (n < 0) {
      problem = std::strerror(errno);
    }
  }
  ::close(fd);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) {
    key.pop_back();
  }
  if (problem.empty() && key.size() < k_min_key_bytes) {
    problem = "holds " + std::to_string(key.size()) + " bytes; the key must have at least " +
              std::to_string(k_min_key_bytes) + " (e.g. openssl rand -hex 32)";
  }
  if (!problem.empty()) {
    return make_error(what + problem);
  }
  return key;
}

std::string shared_context(const Settings& settings) {
  std::string context =
      std::string("mode=") + to_string(settings.mode) + ";fingerprint-digest=" + settings.fingerprint_digest;
  // A daemon without --mta-sts answers NOTFOUND where one with it answers `secure`, and a narrower trust
  // store fails fetches another one passes: neither may hand its answers to the other (added only when
  // on, so the keys of daemons without MTA-STS stay as they were).
  if (settings.mta_sts) {
    context += ";mta-sts=yes;mta-sts-ca-file=" + settings.mta_sts_ca_file;
  }
  return context;
}

bool shareable(const PolicyAnswer& answer) {
  return answer.policy != PolicyKind::TempFail && answer.policy != PolicyKind::Secure &&
         answer.answer.find("tafile=") == std::string::npos &&
         answer.would_answer.find("tafile=") == std::string::npos && consistent(answer);
}

std::string redis_key(std::string_view context, std::string_view lookup_key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(context.data(), context.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return "dane-policyd:v1:" + to_hex(std::span<const std::uint8_t>(digest.data(), 8)) + ":" + std::string(lookup_key);
}

std::string seal_entry(std::string_view mac_key, std::string_view context, std::string_view lookup_key,
                       const PolicyAnswer& answer, std::int64_t expires_unix) {
  std::string out;
  append_field(out, k_format);
  append_field(out, std::to_string(expires_unix));
  append_field(out, to_string(answer.policy));
  append_field(out, answer.answer);
  append_field(out, answer.reason);
  append_field(out, answer.would_answer);
  append_field(out, mac_hex(mac_key, context, lookup_key, answer, expires_unix));
  return out;
}

Expected<OpenedEntry> open_entry(std::string_view mac_key, std::string_view context, std::string_view lookup_key,
                                 std::string_view value, std::int64_t now_unix, std::chrono::seconds max_ttl) {
  std::array<std::string_view, 7> f{};
  for (auto& field : f) {
    auto next = next_field(value);
    if (!next) {
      return make_error("malformed");
    }
    field = *next;
  }
  if (!value.empty() || f[0] != k_format) {
    return make_error("malformed");
  }
  std::int64_t expires = 0;
  auto [p, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), expires);
  auto kind = parse_kind(f[2]);
  if (ec != std::errc() || p != f[1].data() + f[1].size() || !kind) {
    return make_error("malformed");
  }
  OpenedEntry e;
  e.answer = PolicyAnswer{*kind, std::string(f[3]), std::string(f[4]), std::string(f[5])};
  const std::string mac = mac_hex(mac_key, context, lookup_key, e.answer, expires);
  if (f[6].size() != mac.size() || CRYPTO_memcmp(f[6].data(), mac.data(), mac.size()) != 0) {
    return make_error("bad MAC");
  }
  if (expires <= now_unix) {
    return make_error("expired");
  }
  if (expires - now_unix > max_ttl.count()) {
    return make_error("expiry too far ahead");
  }
  if (!shareable(e.answer)) {
    return make_error("answer not shareable");
  }
  e.remaining = std::chrono::seconds(expires - now_unix);
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// SharedCache: everything below runs on the io_context's thread, except get/put/close (which post).

struct SharedCache::Request {
  explicit Request(boost::asio::io_context& io) : timer(io) {}
  std::string lookup_key;
  Found done;
  boost::asio::steady_timer timer;
  bool finished = false;
};

SharedCache::SharedCache(const Settings& settings, SharedCacheUrl url, std::string mac_key, boost::asio::io_context& io,
                         LogWriter& log, Stats& stats)
    : m_context(shared_context(settings)), m_url(std::move(url)), m_mac_key(std::move(mac_key)),
      m_timeout(settings.shared_cache_timeout_ms), m_max_ttl(settings.cache_max_ttl), m_io(io), m_log(log),
      m_stats(stats), m_reconnect(io) {}

SharedCache::~SharedCache() {
  m_closed = true;
  if (m_ctx != nullptr) {
    redisAsyncContext* ac = m_ctx;
    m_ctx = nullptr;
    redisAsyncFree(ac); // pending callbacks see m_closed and call nobody
  }
}

void SharedCache::start() {
  boost::asio::post(m_io, [this] { connect(); });
}

void SharedCache::close() {
  m_closed = true;
}

void SharedCache::connect() {
  if (m_closed || m_ctx != nullptr) {
    return;
  }
  redisAsyncContext* ac =
      m_url.unix_socket ? redisAsyncConnectUnix(m_url.path.c_str()) : redisAsyncConnect(m_url.host.c_str(), m_url.port);
  if (ac == nullptr || ac->err != 0) {
    if (m_connected_logged || m_backoff.count() == 100) {
      m_log.message(Severity::Warning, std::string("shared-cache: cannot connect to Redis: ") +
                                           (ac != nullptr ? ac->errstr : "out of memory") +
                                           "; evaluating locally, retrying");
      m_connected_logged = false;
    }
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
    schedule_reconnect();
    return;
  }
  ac->data = this;
  attach_redis_asio(ac, m_io);
  redisAsyncSetConnectCallback(ac, &SharedCache::on_connect);
  redisAsyncSetDisconnectCallback(ac, &SharedCache::on_disconnect);
  m_ctx = ac;
  m_last_reply = std::chrono::steady_clock::now();
  // A first command makes hiredis wait for the connection to complete (its connect callback).
  if (m_url.db != 0) {
    redisAsyncCommand(ac, nullptr, nullptr, "SELECT %u", m_url.db);
  } else {
    redisAsyncCommand(ac, nullptr, nullptr, "PING");
  }
}

void SharedCache::schedule_reconnect() {
  if (m_closed) {
    return;
  }
  m_reconnect.expires_after(m_backoff);
  m_backoff = std::min(m_backoff * 2, k_max_backoff);
  m_reconnect.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      connect();
    }
  });
}

void SharedCache::drop_connection(const std::string& why) {
  if (m_ctx == nullptr) {
    return;
  }
  m_log.message(Severity::Warning, "shared-cache: " + why + "; closing the Redis connection, evaluating locally");
  m_connected_logged = false;
  redisAsyncContext* ac = m_ctx;
  m_ctx = nullptr;
  redisAsyncFree(ac); // its pending GETs finish as errors (or were timed out already)
  schedule_reconnect();
}

void SharedCache::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<SharedCache*>(ac->data);
  if (self == nullptr || self->m_closed) {
    return;
  }
  if (status != REDIS_OK) {
    if (self->m_ctx == ac) {
      self->m_ctx = nullptr; // hiredis frees it after this callback
      if (self->m_connected_logged || self->m_backoff.count() == 100) {
        self->m_log.message(Severity::Warning, std::string("shared-cache: cannot connect to Redis: ") + ac->errstr +
                                                   "; evaluating locally, retrying");
      }
      self->m_connected_logged = false;
      self->schedule_reconnect();
    }
    return;
  }
  self->m_backoff = std::chrono::milliseconds(100);
  if (!self->m_connected_logged) {
    self->m_log.message(Severity::Info, "shared-cache: connected to Redis");
    self->m_connected_logged = true;
  }
}

void SharedCache::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<SharedCache*>(ac->data);
  if (self == nullptr || self->m_closed || self->m_ctx != ac) {
    return;
  }
  self->m_ctx = nullptr; // hiredis frees it after this callback
  self->m_log.message(
      Severity::Warning,
      std::string("shared-cache: lost the Redis connection") +
          (status != REDIS_OK && ac->errstr[0] != '\0' ? std::string(": ") + ac->errstr : std::string()) +
          "; evaluating locally, reconnecting");
  self->m_connected_logged = false;
  self->schedule_reconnect();
}

void SharedCache::get(const std::string& lookup_key, Found done) {
  boost::asio::post(m_io,
                    [this, lookup_key, done = std::move(done)]() mutable { get_on_loop(lookup_key, std::move(done)); });
}

void SharedCache::get_on_loop(const std::string& lookup_key, Found done) {
  if (m_closed) {
    return;
  }
  if (m_ctx == nullptr || m_outstanding >= k_max_outstanding) {
    m_stats.shared_cache(Stats::Shared::Error);
    done(std::nullopt);
    return;
  }
  auto request = std::make_shared<Request>(m_io);
  request->lookup_key = lookup_key;
  request->done = std::move(done);
  const std::string key = redis_key(m_context, lookup_key);
  auto* holder = new std::shared_ptr<Request>(request);
  if (redisAsyncCommand(m_ctx, &SharedCache::on_get_reply, holder, "GET %b", key.data(), key.size()) != REDIS_OK) {
    delete holder;
    m_stats.shared_cache(Stats::Shared::Error);
    request->done(std::nullopt);
    return;
  }
  ++m_outstanding;
  request->timer.expires_after(m_timeout);
  request->timer.async_wait([this, request](const boost::system::error_code& ec) {
    if (ec || request->finished || m_closed) {
      return;
    }
    request->finished = true;
    m_stats.shared_cache(Stats::Shared::Timeout);
    if (std::chrono::steady_clock::now() - m_last_reply >= k_silence_reset) {
      drop_connection("no answer from Redis for " + std::to_string(k_silence_reset.count()) + " s while lookups wait");
    }
    request->done(std::nullopt);
  });
}

void SharedCache::on_get_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<std::shared_ptr<Request>> holder(static_cast<std::shared_ptr<Request>*>(privdata));
  auto* self = static_cast<SharedCache*>(ac->data);
  if (self == nullptr || self->m_closed) {
    return;
  }
  --self->m_outstanding;
  if (reply != nullptr) {
    self->m_last_reply = std::chrono::steady_clock::now();
  }
  Request& request = **holder;
  if (request.finished) {
    return; // timed out already: it was evaluated locally
  }
  request.finished = true;
  request.timer.cancel();
  self->finish_get(request, reply);
}

void SharedCache::finish_get(Request& request, void* raw) {
  const auto* reply = static_cast<const redisReply*>(raw);
  if (reply == nullptr || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
    m_stats.shared_cache(Stats::Shared::Error);
    request.done(std::nullopt);
    return;
  }
  if (reply->type == REDIS_REPLY_NIL) {
    m_stats.shared_cache(Stats::Shared::Miss);
    request.done(std::nullopt);
    return;
  }
  auto entry = open_entry(m_mac_key, m_context, request.lookup_key,
                          std::string_view(reply->str, static_cast<std::size_t>(reply->len)), unix_now(), m_max_ttl);
  if (!entry) {
    m_stats.shared_cache(Stats::Shared::Rejected);
    m_log.message(Severity::Warning, "shared-cache-rejected destination=" + quote_log_value(request.lookup_key) + " (" +
                                         entry.error() + "); evaluating locally");
    request.done(std::nullopt);
    return;
  }
  m_stats.shared_cache(Stats::Shared::Hit);
  request.done(std::move(*entry));
}

void SharedCache::put(const std::string& lookup_key, const PolicyAnswer& answer, std::chrono::seconds ttl) {
  if (m_closed || !shareable(answer) || ttl.count() <= 0) {
    return;
  }
  std::string value = seal_entry(m_mac_key, m_context, lookup_key, answer, unix_now() + ttl.count());
  boost::asio::post(m_io, [this, lookup_key, value = std::move(value), ttl] { put_on_loop(lookup_key, value, ttl); });
}

void SharedCache::put_on_loop(const std::string& lookup_key, const std::string& value, std::chrono::seconds ttl) {
  if (m_closed) {
    return;
  }
  if (m_ctx == nullptr || m_outstanding >= k_max_outstanding) {
    m_stats.shared_cache(Stats::Shared::Error);
    return;
  }
  const std::string key = redis_key(m_context, lookup_key);
  const std::string seconds = std::to_string(ttl.count());
  if (redisAsyncCommand(m_ctx, &SharedCache::on_set_reply, nullptr, "SET %b %b EX %b", key.data(), key.size(),
                        value.data(), value.size(), seconds.data(), seconds.size()) != REDIS_OK) {
    m_stats.shared_cache(Stats::Shared::Error);
    return;
  }
  ++m_outstanding;
}

void SharedCache::on_set_reply(redisAsyncContext* ac, void* raw, void* /*privdata*/) {
  auto* self = static_cast<SharedCache*>(ac->data);
  if (self == nullptr || self->m_closed) {
    return;
  }
  --self->m_outstanding;
  const auto* reply = static_cast<const redisReply*>(raw);
  if (reply != nullptr) {
    self->m_last_reply = std::chrono::steady_clock::now();
  }
  bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  self->m_stats.shared_cache(ok ? Stats::Shared::Stored : Stats::Shared::Error);
}

Expected<std::shared_ptr<SharedCache>> open_shared_cache(const Settings& settings, long daemon_uid,
                                                         boost::asio::io_context& io, LogWriter& log, Stats& stats) {
  if (settings.shared_cache.empty()) {
    return std::shared_ptr<SharedCache>();
  }
  auto url = parse_shared_cache_url(settings.shared_cache);
  if (!url) {
    return make_error("--shared-cache " + url.error());
  }
  if (settings.shared_cache_key.empty()) {
    return make_error("--shared-cache needs --shared-cache-key FILE (entries are never trusted unauthenticated)");
  }
  auto key = read_shared_cache_key(settings.shared_cache_key, daemon_uid);
  if (!key) {
    return make_error(key.error());
  }
  return std::make_shared<SharedCache>(settings, std::move(*url), std::move(*key), io, log, stats);
}

} // namespace dane::policyd
