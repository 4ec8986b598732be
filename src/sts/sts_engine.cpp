// MTA-STS discovery and policy fetching (RFC 8461 §3, §5) without blocking a thread: the TXT lookup
// and the address lookup of mta-sts.<domain> run on the resolver's event loop, the HTTPS GET on the
// client's io_context; one Evaluation object carries the facts from one step to the next.
#include "dane/sts/sts_engine.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "dane/core/exceptions.hpp"
#include "dane/core/text.hpp"

namespace dane::sts {
namespace {

using SysClock = std::chrono::system_clock;
using Clock = std::chrono::steady_clock;

// The Content-Type's media type (before any parameter), trimmed, must be text/plain (RFC 8461 §3.3).
bool is_text_plain(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  std::string_view type = content_type.substr(0, semi);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) {
    type.remove_prefix(1);
  }
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
    type.remove_suffix(1);
  }
  return ascii_lower(type) == "text/plain";
}

// Why a TXT answer gave no usable record, or the id (RFC 8461 §3.1).
void apply_txt_answer(const Answer& answer, StsFacts& facts) {
  if (answer.security == DnsSecurity::Bogus) {
    facts.txt_error = "_mta-sts TXT lookup: DNSSEC bogus: " + answer.reason;
    return;
  }
  if (answer.security == DnsSecurity::Failed) {
    facts.txt_error = answer.reason.empty() ? "_mta-sts TXT lookup failed" : answer.reason;
    return;
  }
  if (answer.nxdomain || !answer.havedata || answer.rdata.empty()) {
    facts.txt_error = "no _mta-sts TXT record";
    return;
  }
  std::vector<std::string> records;
  for (const auto& rdata : answer.rdata) {
    auto text = parse_txt_rdata(rdata);
    if (!text) {
      facts.txt_error = text.error();
      return;
    }
    records.push_back(std::move(*text));
  }
  auto txt = select_sts_txt(records);
  if (!txt) {
    facts.txt_error = txt.error();
    return;
  }
  facts.txt_id = txt->id;
}

// The addresses of mta-sts.<domain>: either family may be insecure; a bogus answer is an error, a failed
// one only when the other family gave nothing.
Expected<std::vector<std::string>> collect_addresses(const std::vector<Answer>& answers, const std::string& host) {
  std::vector<std::string> addresses;
  std::vector<std::string> problems;
  for (const Answer& a : answers) {
    const std::string type = to_string(a.query.type);
    if (a.security == DnsSecurity::Bogus) {
      return make_error(type + " of " + host + " is DNSSEC bogus: " + a.reason);
    }
    if (a.security == DnsSecurity::Failed) {
      problems.push_back(type + ": " + (a.reason.empty() ? std::string("failed") : a.reason));
      continue;
    }
    if (a.nxdomain) {
      problems.push_back(type + ": no such name");
      continue;
    }
    if (!a.havedata) {
      problems.push_back(type + ": no record");
      continue;
    }
    for (const auto& rdata : a.rdata) {
      auto address = parse_address_rdata(a.query.type, rdata);
      if (!address) {
        return make_error(type + " of " + host + ": " + address.error());
      }
      addresses.push_back(std::move(*address));
    }
  }
  if (addresses.empty()) {
    return make_error("no address for " + host + " (" + join(problems, ", ") + ")");
  }
  return addresses;
}

// One domain's evaluation. Keeps itself alive through the pending callbacks; `done` exactly once.
class Evaluation : public std::enable_shared_from_this<Evaluation> {
public:
  Evaluation(Resolver& resolver, std::shared_ptr<HttpsClient> client, PolicyStore& store,
             const StsEngineOptions& options, std::string domain, Clock::time_point deadline, StsCallback done)
      : m_resolver(resolver), m_client(std::move(client)), m_store(store), m_options(options), m_deadline(deadline),
        m_done(std::move(done)) {
    m_facts.domain = std::move(domain);
  }

  void start() {
    on_store_thread([self = shared_from_this()] { self->guarded([&] { self->begin(); }); });
  }

private:
  // Disk work of the store runs on the store executor when there is one (sts_engine.hpp).
  void on_store_thread(std::function<void()> job) {
    if (m_options.store_executor) {
      m_options.store_executor(std::move(job));
    } else {
      job();
    }
  }

  void begin() {
    if (!is_sts_domain_name(m_facts.domain)) {
      m_facts.txt_error = "not a valid domain name for MTA-STS";
      complete();
      return;
    }
    load_stored(); // a memory lookup, or one small file the first time
    m_resolver.resolve_async({Query{"_mta-sts." + m_facts.domain, RrType::Txt}}, m_deadline,
                             [self = shared_from_this()](const std::vector<Answer>& answers) {
                               self->guarded([&] { self->on_txt(answers); });
                             });
  }

  void load_stored() {
    auto loaded = m_store.load(m_facts.domain);
    if (!loaded) {
      m_facts.store_error = loaded.error();
    } else if (loaded->has_value() && (*loaded)->expires > SysClock::now()) {
      m_stored = std::move(*loaded); // an expired policy is never used to answer
    }
  }

  bool refresh_due(const StoredPolicy& stored) const {
    const std::chrono::seconds half_age(stored.policy.max_age / 2);
    const std::chrono::seconds after = std::min(m_options.refresh_after, half_age);
    return stored.fetched + after <= SysClock::now();
  }

  void on_txt(const std::vector<Answer>& answers) {
    if (answers.empty()) {
      m_facts.txt_error = "_mta-sts TXT lookup gave no answer";
    } else {
      apply_txt_answer(answers.front(), m_facts);
    }
    const bool have_id = !m_facts.txt_id.empty();
    if (m_stored) {
      const bool same_id = !have_id || m_facts.txt_id == m_stored->id; // §5: no TXT now keeps the policy
      if (same_id && !refresh_due(*m_stored)) {
        use_stored();
        return;
      }
      m_fetch_id = have_id ? m_facts.txt_id : m_stored->id;
      resolve_policy_host();
      return;
    }
    if (!have_id) {
      complete(); // no TXT record and nothing usable stored: no policy
      return;
    }
    m_fetch_id = m_facts.txt_id;
    resolve_policy_host();
  }

  std::string policy_host() const { return "mta-sts." + m_facts.domain; }
  std::string policy_url() const { return "https://" + policy_host() + "/.well-known/mta-sts.txt"; }

  void resolve_policy_host() {
    const std::string host = policy_host();
    m_resolver.resolve_async({Query{host, RrType::A}, Query{host, RrType::Aaaa}}, m_deadline,
                             [self = shared_from_this()](const std::vector<Answer>& answers) {
                               self->guarded([&] { self->on_addresses(answers); });
                             });
  }

  // On the resolver's thread: request() only posts the request to the client's io_context.
  void on_addresses(const std::vector<Answer>& answers) {
    auto addresses = collect_addresses(answers, policy_host());
    if (!addresses) {
      fetch_failed(addresses.error());
      return;
    }
    if (!m_client) {
      fetch_failed("no HTTPS client");
      return;
    }
    HttpsRequest request;
    request.method = "GET";
    request.host = policy_host();
    request.addresses = std::move(*addresses);
    request.port = m_options.port;
    request.target = "/.well-known/mta-sts.txt";
    request.max_body = k_sts_policy_max_bytes;
    request.deadline = m_deadline;
    m_client->request(std::move(request), [self = shared_from_this()](HttpsResult result) {
      self->guarded([&] { self->on_response(result); });
    });
  }

  // On the io_context's thread.
  void on_response(const HttpsResult& result) {
    if (!result.ok() || !result.response) {
      fetch_failed(result.error.empty() ? to_string(result.error_kind) : result.error);
      return;
    }
    const HttpsResponse& response = *result.response;
    if (response.status != 200) {
      fetch_failed("HTTP status " + std::to_string(response.status) + " (200 required)");
      return;
    }
    if (!is_text_plain(response.content_type)) {
      fetch_failed("Content-Type '" + quote_untrusted(response.content_type, 80) + "' is not text/plain");
      return;
    }
    auto policy = parse_sts_policy(response.body);
    if (!policy) {
      fetch_failed(policy.error());
      return;
    }
    StoredPolicy fresh;
    fresh.domain = m_facts.domain;
    fresh.id = m_fetch_id;
    fresh.policy = std::move(*policy);
    fresh.fetched = std::chrono::time_point_cast<std::chrono::seconds>(SysClock::now());
    fresh.expires = fresh.fetched + std::chrono::seconds(fresh.policy.max_age);
    on_store_thread(
        [self = shared_from_this(), fresh = std::move(fresh)] { self->guarded([&] { self->store_and_use(fresh); }); });
  }

  // An unreadable stored file stays reported (this save replaces it); a failed save is reported too,
  // and the fresh policy is used all the same.
  void store_and_use(const StoredPolicy& fresh) {
    if (auto st = m_store.save(fresh); !st) {
      m_facts.store_error += (m_facts.store_error.empty() ? "" : "; ") + std::string("saving: ") + st.error();
    }
    m_stored = fresh;
    set_policy(StsSource::Fetched);
  }

  void fetch_failed(const std::string& why) {
    m_facts.fetch_error = "HTTPS fetch of " + policy_url() + ": " + why;
    if (m_stored) {
      use_stored(); // §5.1: a failed refresh keeps the unexpired cached policy
      return;
    }
    complete();
  }

  void use_stored() { set_policy(StsSource::Cached); }

  void set_policy(StsSource source) {
    m_facts.source = source;
    m_facts.policy = m_stored->policy;
    m_facts.policy_id = m_stored->id;
    m_facts.fetched = m_stored->fetched;
    m_facts.expires = m_stored->expires;
    complete();
  }

  void complete() {
    if (m_done) {
      StsCallback done = std::move(m_done);
      m_done = nullptr;
      done(std::move(m_facts));
    }
  }

  template <typename F> void guarded(F&& part) {
    if (auto error = exception_from(part)) {
      fail("internal error: " + *error);
    }
  }

  // An exception ends the evaluation with no policy and the reason in store_error, which the policy
  // engine answers with TEMP: never weaker than a policy that could not be read.
  void fail(const std::string& reason) {
    if (!m_done) {
      return; // the exception came from `done` itself: its owner answers for it
    }
    m_facts.source = StsSource::None;
    m_facts.policy.reset();
    m_facts.store_error = reason;
    complete();
  }

  Resolver& m_resolver;
  std::shared_ptr<HttpsClient> m_client;
  PolicyStore& m_store;
  StsEngineOptions m_options;
  Clock::time_point m_deadline;
  StsCallback m_done;
  StsFacts m_facts;
  std::optional<StoredPolicy> m_stored; // unexpired: used when nothing fresher arrives
  std::string m_fetch_id;               // the id a fetched policy is stored under
};

} // namespace

StsEngine::StsEngine(Resolver& resolver, std::shared_ptr<HttpsClient> client, PolicyStore& store,
                     StsEngineOptions options)
    : m_resolver(resolver), m_client(std::move(client)), m_store(store), m_options(options) {}

void StsEngine::evaluate_async(const std::string& domain, Clock::time_point deadline, StsCallback done) {
  auto evaluation = std::make_shared<Evaluation>(m_resolver, m_client, m_store, m_options, normalize_sts_domain(domain),
                                                 deadline, std::move(done));
  evaluation->start();
}

StsFacts evaluate_sts_blocking(Resolver& resolver, const std::string& ca_file, PolicyStore& store,
                               const std::string& domain, Clock::time_point deadline, StsEngineOptions options) {
  boost::asio::io_context io;
  auto client = HttpsClient::create(io, ca_file);
  std::shared_ptr<HttpsClient> shared = client ? *client : nullptr;
  StsFacts result;
  auto guard = boost::asio::make_work_guard(io);
  StsEngine engine(resolver, shared, store, options);
  engine.evaluate_async(domain, deadline, [&](StsFacts facts) {
    // On the resolver's thread or this one: hand the facts over through the io_context.
    boost::asio::post(io, [&result, &guard, facts = std::move(facts)]() mutable {
      result = std::move(facts);
      guard.reset();
    });
  });
  io.run();
  if (!client && !result.fetch_error.empty()) {
    result.fetch_error += " (" + client.error() + ")";
  }
  return result;
}

} // namespace dane::sts
