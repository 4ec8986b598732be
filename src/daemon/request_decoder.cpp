// The three request decoders of a session: socketmap, tcp_table and policy delegation.
#include "request_decoder.hpp"

#include <vector>

namespace dane::policyd {
namespace {

class SocketmapRequests final : public RequestDecoder {
public:
  SocketmapRequests(const Settings& settings, Stats& stats, ControlHook control)
      : m_stats_name(settings.stats_name), m_stats(stats), m_control(std::move(control)) {}

  const CodecError* feed(std::string_view bytes, std::chrono::steady_clock::time_point now,
                         std::deque<Job>& jobs) override {
    m_requests.clear();
    bool ok = m_decoder.feed(bytes, m_requests);
    for (auto& r : m_requests) {
      m_stats.request(Protocol::Socketmap);
      Job job{std::move(r.key), {}, false, now};
      if (r.name == m_stats_name) { // the one test an ordinary lookup pays for control requests
        m_control(job);
      }
      jobs.push_back(std::move(job));
    }
    return !ok && m_decoder.error() ? &*m_decoder.error() : nullptr;
  }
  bool mid_request() const override { return m_decoder.mid_request(); }

private:
  std::string m_stats_name;
  Stats& m_stats;
  ControlHook m_control;
  SocketmapDecoder m_decoder;
  std::vector<SocketmapRequest> m_requests;
};

class TcpTableRequests final : public RequestDecoder {
public:
  explicit TcpTableRequests(Stats& stats) : m_stats(stats) {}

  const CodecError* feed(std::string_view bytes, std::chrono::steady_clock::time_point now,
                         std::deque<Job>& jobs) override {
    m_requests.clear();
    bool ok = m_decoder.feed(bytes, m_requests);
    for (auto& r : m_requests) {
      m_stats.request(Protocol::TcpTable);
      jobs.push_back(Job{std::move(r.key), {}, false, now});
    }
    return !ok && m_decoder.error() ? &*m_decoder.error() : nullptr;
  }
  bool mid_request() const override { return m_decoder.mid_request(); }

private:
  Stats& m_stats;
  TcpTableDecoder m_decoder;
  std::vector<TcpTableRequest> m_requests;
};

class PolicyRequests final : public RequestDecoder {
public:
  explicit PolicyRequests(Stats& stats) : m_stats(stats) {}

  const CodecError* feed(std::string_view bytes, std::chrono::steady_clock::time_point now,
                         std::deque<Job>& jobs) override {
    m_requests.clear();
    bool ok = m_decoder.feed(bytes, m_requests);
    for (auto& r : m_requests) {
      m_stats.request(Protocol::Policy);
      auto domain = r.recipient_domain();
      if (!domain) {
        jobs.push_back(Job{{}, encode_policy_reply("DUNNO"), true, now});
      } else {
        jobs.push_back(Job{std::move(*domain), {}, false, now});
      }
    }
    return !ok && m_decoder.error() ? &*m_decoder.error() : nullptr;
  }
  bool mid_request() const override { return m_decoder.mid_request(); }

private:
  Stats& m_stats;
  PolicyDecoder m_decoder;
  std::vector<PolicyRequest> m_requests;
};

} // namespace

std::unique_ptr<RequestDecoder> make_request_decoder(Protocol protocol, const Settings& settings, Stats& stats,
                                                     ControlHook control) {
  switch (protocol) {
  case Protocol::Socketmap:
    return std::make_unique<SocketmapRequests>(settings, stats, std::move(control));
  case Protocol::TcpTable:
    return std::make_unique<TcpTableRequests>(stats);
  case Protocol::Policy:
    return std::make_unique<PolicyRequests>(stats);
  }
  return nullptr;
}

} // namespace dane::policyd
