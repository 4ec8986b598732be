// PolicyService: cache, worker pool, verdict logging, background probes, TA files.
#include "dane/daemon/service.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

// TrustAnchorStore still parses DER itself; it moves into the policy layer's one store.
#include "dane/verifier/handles.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dane::policyd {
namespace {

std::string pem_block(const char* label, const std::vector<std::uint8_t>& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(), static_cast<int>(der.size()));
  b64.resize(static_cast<std::size_t>(std::max(n, 0)));
  std::string out = std::string("-----BEGIN ") + label + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    out += b64.substr(i, 64) + "\n";
  }
  out += std::string("-----END ") + label + "-----\n";
  return out;
}

bool parses_as(TlsaSelector selector, const std::vector<std::uint8_t>& der) {
  const unsigned char* p = der.data();
  if (selector == TlsaSelector::Cert) {
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    return cert != nullptr && p == der.data() + der.size();
  }
  EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  return key != nullptr && p == der.data() + der.size();
}

PolicyAnswer temp_answer(const std::string& reason) {
  PolicyAnswer a;
  a.policy = PolicyKind::TempFail;
  a.answer = "TEMP " + reason;
  a.reason = reason;
  a.would_answer = a.answer;
  return a;
}

} // namespace

// ---------------------------------------------------------------------------------------------------------
// TrustAnchorStore

void TrustAnchorStore::captured(const TlsaRecord& record, const std::string& certificate_pem) {
  std::lock_guard lock(m_mutex);
  m_captured[record.to_string()] = certificate_pem;
}

std::optional<std::string> TrustAnchorStore::file_for(const DestinationFacts& facts) {
  std::set<std::string> blocks; // sorted, so one set of anchors always gives one file
  bool any = false;
  for (const auto& host : facts.hosts) {
    for (const auto& r : host.tlsa) {
      if (r.usage != TlsaUsage::DaneTa || smtp_usability(r) != TlsaUsability::Usable) {
        continue;
      }
      any = true;
      if (r.mtype == TlsaMatchingType::Full && parses_as(r.selector, r.data)) {
        blocks.insert(pem_block(r.selector == TlsaSelector::Cert ? "CERTIFICATE" : "PUBLIC KEY", r.data));
        continue;
      }
      std::lock_guard lock(m_mutex);
      auto it = m_captured.find(r.to_string());
      if (it == m_captured.end()) {
        return std::nullopt; // this anchor cannot be expressed: no tafile (the engine answers dane-only)
      }
      blocks.insert(it->second);
    }
  }
  if (!any) {
    return std::nullopt;
  }
  std::string content;
  for (const auto& b : blocks) {
    content += b;
  }
  return write_file(content);
}

std::optional<std::string> TrustAnchorStore::write_file(const std::string& content) {
  auto digest = named_digest("sha256", std::span(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()));
  if (!digest) {
    return std::nullopt;
  }
  std::string path = m_dir + "/ta-" + to_hex(*digest) + ".pem";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    return path;
  }
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) {
      std::remove(tmp.c_str());
      return std::nullopt;
    }
  }
  ::chmod(tmp.c_str(), 0644);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return std::nullopt;
  }
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// Verdict

Verdict::Verdict(const PolicyAnswer& answer, std::shared_ptr<const DestinationFacts> facts)
    : m_facts(std::move(facts)), m_policy(answer.policy) {
  // Pack the three texts into one buffer; a text found in what is already packed (the
  // reason at the end of "TEMP 4.7.5 <reason>", would_answer == answer) is referenced.
  std::string packed = answer.answer;
  auto place = [&packed](const std::string& text, std::uint32_t& offset, std::uint32_t& size) {
    std::size_t at = text.empty() ? 0 : packed.find(text);
    if (at == std::string::npos) {
      at = packed.size();
      packed += text;
    }
    offset = static_cast<std::uint32_t>(at);
    size = static_cast<std::uint32_t>(text.size());
  };
  m_answer_size = static_cast<std::uint32_t>(answer.answer.size());
  place(answer.reason, m_reason_offset, m_reason_size);
  place(answer.would_answer, m_would_offset, m_would_size);
  m_text = std::make_unique_for_overwrite<char[]>(std::max<std::size_t>(packed.size(), 1));
  std::copy(packed.begin(), packed.end(), m_text.get());
}

PolicyAnswer Verdict::policy_answer() const {
  return PolicyAnswer{m_policy, std::string(answer()), std::string(reason()), std::string(would_answer())};
}

// ---------------------------------------------------------------------------------------------------------
// PolicyService

PolicyService::PolicyService(const Settings& settings, Evaluator evaluator, Prober prober, LogWriter& log,
                             Stats& stats, Cache<VerdictPtr>::Clock clock)
    : m_settings(settings), m_evaluator(std::move(evaluator)), m_prober(std::move(prober)), m_log(log),
      m_stats(stats), m_clock(clock),
      m_cache(CacheLimits{settings.cache_size, settings.cache_min_ttl, settings.cache_max_ttl, settings.tempfail_ttl,
                          settings.cache_refresh, 2},
              clock),
      m_anchors(settings.state_dir), m_workers(std::max(1u, settings.workers)), m_probers(1) {
  m_pinned.fingerprint_digest = settings.fingerprint_digest;
  m_pinned.ta_file = [this](const DestinationFacts& facts) { return m_anchors.file_for(facts); };
}

PolicyService::~PolicyService() { shutdown(); }

void PolicyService::shutdown() {
  {
    std::lock_guard lock(m_probe_mutex);
    if (m_shut_down) {
      return;
    }
    m_shut_down = true;
  }
  m_probers.stop();
  m_probers.join();
  m_workers.join();
}

std::string PolicyService::normalise(std::string_view key) {
  std::string out(key);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

void PolicyService::lookup(const std::string& key, Done done) {
  auto now = lookup_or_wait(key, [&done]() -> Done { return std::move(done); });
  if (now.verdict) {
    done(now.verdict, now.cached);
  }
}

PolicyService::Immediate PolicyService::lookup_or_wait(const std::string& raw_key,
                                                       const std::function<Done()>& make_done) {
  std::string key = normalise(raw_key);
  if (!key.empty() && key[0] == '.') {
    // Postfix's parent-domain probe after a miss (docs/design.md §3): never a policy.
    static const VerdictPtr parent = std::make_shared<const Verdict>(
        PolicyAnswer{PolicyKind::NotFound, "NOTFOUND ", "parent-domain key: no policy", "NOTFOUND "});
    m_stats.answer(parent->policy());
    return {parent, false};
  }
  auto result = m_cache.lookup_with(key, [&make_done]() -> Cache<VerdictPtr>::Waiter {
    return [done = make_done()](const VerdictPtr& v) { done(v, false); };
  });
  switch (result.kind) {
  case Cache<VerdictPtr>::Kind::Hit: {
    m_stats.cache_hit();
    VerdictPtr v = std::move(*result.value);
    m_stats.answer(v->policy());
    if (m_settings.log_cache_hits) {
      VerdictRecord rec{std::chrono::system_clock::now(), key, m_settings.mode, v->facts(), v->policy_answer(), true,
                        nullptr, ""};
      m_log.verdict(render_verdict(rec));
    }
    if (result.refresh) {
      m_stats.refresh();
      start_evaluation(key, result.ticket);
    }
    return {std::move(v), true};
  }
  case Cache<VerdictPtr>::Kind::Joined:
    m_stats.cache_coalesced();
    break;
  case Cache<VerdictPtr>::Kind::Evaluate:
    m_stats.cache_miss();
    start_evaluation(key, result.ticket);
    break;
  }
  return {};
}

void PolicyService::lookup_detailed(const std::string& raw_key, Done done) {
  std::string key = normalise(raw_key);
  if (!key.empty() && key[0] == '.') {
    lookup(key, std::move(done)); // no DNS behind a parent-domain answer, so no facts to keep
    return;
  }
  auto result = m_cache.lookup_detailed(
      key, [&done]() -> Cache<VerdictPtr>::Waiter { return [d = std::move(done)](const VerdictPtr& v) { d(v, false); }; },
      [](const VerdictPtr& v) { return v->facts() != nullptr; });
  switch (result.kind) {
  case Cache<VerdictPtr>::Kind::Hit:
    m_stats.cache_hit();
    m_stats.answer((*result.value)->policy());
    if (result.refresh) {
      m_stats.refresh();
      start_evaluation(key, result.ticket);
    }
    done(*result.value, true);
    return;
  case Cache<VerdictPtr>::Kind::Joined:
    m_stats.cache_coalesced();
    return;
  case Cache<VerdictPtr>::Kind::Evaluate:
    m_stats.cache_miss();
    start_evaluation(key, result.ticket);
    return;
  }
}

std::size_t PolicyService::forget(std::string_view key) {
  std::size_t n = m_cache.erase(normalise(key)) ? 1 : 0;
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  return n;
}

std::size_t PolicyService::forget_all() {
  std::size_t n = m_cache.clear();
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  return n;
}

void PolicyService::start_evaluation(const std::string& key, Cache<VerdictPtr>::Ticket ticket) {
  boost::asio::post(m_workers, [this, key, ticket] { evaluate(key, ticket); });
}

PolicyService::EvaluationPtr PolicyService::make_evaluation(const std::string& key) {
  auto e = std::make_shared<Evaluation>();
  e->key = key;
  e->time = std::chrono::system_clock::now();
  try {
    e->facts = m_evaluator(key);
    e->answer = decide(e->facts, m_settings.mode, m_pinned);
  } catch (const std::exception& ex) {
    e->answer = temp_answer(std::string("internal error: ") + ex.what());
  }
  if (e->answer.answer.empty()) {
    e->answer = temp_answer("internal error: empty answer");
  }
  return e;
}

void PolicyService::evaluate(const std::string& key, Cache<VerdictPtr>::Ticket ticket) {
  EvaluationPtr e = make_evaluation(key);
  const bool temporary = e->answer.policy == PolicyKind::TempFail ||
                         (m_settings.mode == Mode::Monitor && e->facts.outcome == DestinationOutcome::TempFail);
  m_stats.evaluation(e->facts.outcome == DestinationOutcome::TempFail || e->answer.policy == PolicyKind::TempFail);

  VerdictRecord rec{e->time, e->key, m_settings.mode, &e->facts, e->answer, false, nullptr, ""};
  if (!m_log.verdict(render_verdict(rec))) {
    m_stats.log_dropped();
  }
  m_log.message(e->answer.policy == PolicyKind::TempFail ? Severity::Warning : Severity::Info, summary_line(rec));

  // The cache keeps the compact answer; the facts stay only while a probe needs them,
  // for the cache-hit lines of --log-cache-hits, or when an operator's detailed lookup
  // waits for this evaluation (the facts are shared with the evaluation, not copied).
  std::shared_ptr<const DestinationFacts> facts(e, &e->facts);
  auto detailed = std::make_shared<const Verdict>(e->answer, facts);
  auto compact = m_settings.log_cache_hits ? detailed : std::make_shared<const Verdict>(e->answer);
  bool wants_detailed = false;
  auto waiters =
      m_cache.complete(key, ticket, compact, detailed, std::chrono::seconds(e->facts.ttl), temporary, &wants_detailed);
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  const VerdictPtr& v = wants_detailed ? detailed : compact;
  for (auto& w : waiters) {
    m_stats.answer(v->policy());
    w(v);
  }
  if (m_settings.probe) {
    schedule_probe(e);
  }
}

void PolicyService::schedule_probe(const EvaluationPtr& v) {
  bool usable = false;
  std::uint32_t ttl = 0;
  for (const auto& h : v->facts.hosts) {
    if (h.status == HostStatus::DaneUsable) {
      usable = true;
      ttl = ttl == 0 ? h.ttl : std::min(ttl, h.ttl);
    }
  }
  if (!usable) {
    return;
  }
  auto now = m_clock();
  auto interval = std::max(std::chrono::seconds(ttl), m_settings.cache_min_ttl);
  {
    std::lock_guard lock(m_probe_mutex);
    if (m_shut_down || m_probes_queued >= 64) {
      return;
    }
    auto it = m_next_probe.find(v->key);
    if (it != m_next_probe.end() && now < it->second) {
      return;
    }
    if (m_next_probe.size() > 10000) {
      std::erase_if(m_next_probe, [now](const auto& e) { return e.second <= now; });
    }
    m_next_probe[v->key] = now + interval;
    ++m_probes_queued;
  }
  boost::asio::post(m_probers, [this, v] {
    {
      std::lock_guard lock(m_probe_mutex);
      --m_probes_queued;
    }
    run_probe(*v);
  });
}

void PolicyService::run_probe(const Evaluation& v) {
  std::vector<ProbeRequest> requests;
  std::vector<std::string> owners;
  for (const auto& h : v.facts.hosts) {
    if (h.status != HostStatus::DaneUsable) {
      continue;
    }
    for (const auto& addr : h.addresses) {
      if (requests.size() >= 32) {
        break;
      }
      ProbeRequest r;
      r.address = addr;
      r.port = v.facts.next_hop.port;
      r.tlsa = h.tlsa;
      r.tlsa_base = h.tlsa_base;
      r.reference_names = v.facts.reference_names;
      r.reference_names.push_back(h.name);
      r.timeout = m_settings.probe_timeout;
      requests.push_back(std::move(r));
      owners.push_back(h.name);
    }
  }
  if (requests.empty()) {
    return;
  }
  std::vector<ProbeReport> reports;
  try {
    reports = m_prober(requests);
  } catch (const std::exception& e) {
    m_log.message(Severity::Warning, "probe of " + v.key + " failed: " + e.what());
    return;
  }
  m_stats.probe_round();
  std::vector<ProbedHost> probed;
  for (std::size_t i = 0; i < reports.size() && i < owners.size(); ++i) {
    const ProbeReport& rep = reports[i];
    if (rep.result == ProbeResult::Pass && rep.matched && rep.matched->usage == TlsaUsage::DaneTa &&
        rep.depth >= 0 && static_cast<std::size_t>(rep.depth) < rep.chain_pem.size()) {
      m_anchors.captured(*rep.matched, rep.chain_pem[static_cast<std::size_t>(rep.depth)]);
    }
    probed.push_back(ProbedHost{owners[i], rep});
  }
  VerdictRecord rec{std::chrono::system_clock::now(), v.key, m_settings.mode, &v.facts, v.answer, false, &probed,
                    "probe"};
  m_log.verdict(render_verdict(rec));
  m_log.message(Severity::Info, summary_line(rec));
}

} // namespace dane::policyd
