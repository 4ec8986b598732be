// ProbeScheduler: background STARTTLS probe rounds after evaluations, bounded and deduplicated.
#include "dane/daemon/probe_scheduler.hpp"

#include <algorithm>

namespace dane::policyd {

ProbeScheduler::ProbeScheduler(const Settings& settings, Prober prober, Captured captured, LogWriter& log, Stats& stats,
                               Clock clock)
    : m_mode(settings.mode), m_min_interval(settings.cache_min_ttl), m_probe_timeout(settings.probe_timeout),
      m_prober(std::move(prober)), m_captured(std::move(captured)), m_log(log), m_stats(stats),
      m_clock(std::move(clock)), m_pool("probe pool", 1, log, stats) {}

ProbeScheduler::~ProbeScheduler() {
  shutdown();
}

void ProbeScheduler::shutdown() {
  {
    std::lock_guard lock(m_mutex);
    if (m_shut_down) {
      return;
    }
    m_shut_down = true;
  }
  m_pool.stop();
  m_pool.join();
}

void ProbeScheduler::schedule(const EvaluationPtr& v) {
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
  auto interval = std::max(std::chrono::seconds(ttl), m_min_interval);
  {
    std::lock_guard lock(m_mutex);
    if (m_shut_down || m_queued >= k_max_queued_rounds) {
      return;
    }
    auto it = m_next_probe.find(v->key);
    if (it != m_next_probe.end() && now < it->second) {
      return;
    }
    if (m_next_probe.size() > k_max_remembered_destinations) {
      std::erase_if(m_next_probe, [now](const auto& e) { return e.second <= now; });
    }
    m_next_probe[v->key] = now + interval;
    ++m_queued;
  }
  m_pool.post([this, v] {
    {
      std::lock_guard lock(m_mutex);
      --m_queued;
    }
    run(*v);
  });
}

std::vector<ProbeRequest> ProbeScheduler::requests_for(const Evaluation& v, std::vector<std::string>& owners) const {
  std::vector<ProbeRequest> requests;
  for (const auto& h : v.facts.hosts) {
    if (h.status != HostStatus::DaneUsable) {
      continue;
    }
    for (const auto& addr : h.addresses) {
      if (requests.size() >= k_max_addresses_per_round) {
        break;
      }
      ProbeRequest r;
      r.address = addr;
      r.port = v.facts.next_hop.port;
      r.tlsa = h.tlsa;
      r.tlsa_base = h.tlsa_base;
      r.reference_names = v.facts.reference_names;
      r.reference_names.push_back(h.name);
      r.timeout = m_probe_timeout;
      requests.push_back(std::move(r));
      owners.push_back(h.name);
    }
  }
  return requests;
}

void ProbeScheduler::run(const Evaluation& v) {
  std::vector<std::string> owners;
  std::vector<ProbeRequest> requests = requests_for(v, owners);
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
    if (rep.result == ProbeResult::Pass && rep.matched && rep.matched->usage == TlsaUsage::DaneTa && rep.depth >= 0 &&
        static_cast<std::size_t>(rep.depth) < rep.chain_pem.size()) {
      m_captured(*rep.matched, rep.chain_pem[static_cast<std::size_t>(rep.depth)]);
    }
    m_stats.probe_result(rep.result);
    probed.push_back(ProbedHost{owners[i], rep});
  }
  VerdictRecord rec{std::chrono::system_clock::now(), v.key, m_mode, &v.facts, v.answer, false, &probed, "probe"};
  m_log.verdict(render_verdict(rec));
  m_log.message(Severity::Info, summary_line(rec));
}

} // namespace dane::policyd
