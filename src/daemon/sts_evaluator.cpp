// --mta-sts in the daemon: the runtime and the evaluator (see dane/daemon/sts_evaluator.hpp).
#include "dane/daemon/sts_evaluator.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "dane/policy/sts_scope.hpp"
#include "dane/sts/https_client.hpp"
#include "dane/sts/policy_store.hpp"
#include "dane/sts/sts_engine.hpp"
#include "dane/verifier/destination.hpp"

namespace dane::policyd {

// The store's disk work (a first load, each save with its fsyncs) runs on a thread of its own, never on
// the resolver's loop or the I/O thread, which serve everybody else meanwhile.
class StsRuntime {
public:
  StsRuntime(std::string dir, std::shared_ptr<sts::HttpsClient> client, Resolver& resolver)
      : m_store(std::move(dir)), m_client(std::move(client)), m_engine(resolver, m_client, m_store, options(m_disk)) {}
  sts::StsEngine& engine() { return m_engine; }

private:
  static sts::StsEngineOptions options(boost::asio::thread_pool& disk) {
    sts::StsEngineOptions o;
    o.store_executor = [&disk](std::function<void()> job) { boost::asio::post(disk, std::move(job)); };
    return o;
  }

  sts::PolicyStore m_store;
  std::shared_ptr<sts::HttpsClient> m_client;
  boost::asio::thread_pool m_disk{1}; // joined before the store goes
  sts::StsEngine m_engine;
};

std::string mta_sts_dir(const Settings& settings) {
  return settings.state_dir + "/mta-sts";
}

Status check_mta_sts_ca_file(const std::string& file) {
  if (file.empty()) {
    return Ok{};
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return make_error(file + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(file + ": not a regular file");
  }
  std::ifstream in(file);
  if (!in || in.peek() == std::ifstream::traits_type::eof()) {
    return make_error(file + ": " + (in ? "empty" : "cannot be read"));
  }
  return Ok{};
}

Expected<std::shared_ptr<StsRuntime>> start_mta_sts(const Settings& settings, boost::asio::io_context& io,
                                                    Resolver& resolver) {
  if (!settings.mta_sts) {
    return std::shared_ptr<StsRuntime>();
  }
  if (auto st = check_mta_sts_ca_file(settings.mta_sts_ca_file); !st) {
    return make_error("--mta-sts-ca-file " + st.error());
  }
  auto client = sts::HttpsClient::create(io, settings.mta_sts_ca_file);
  if (!client) {
    return make_error(
        "--mta-sts-ca-file " +
        (settings.mta_sts_ca_file.empty() ? std::string("(system trust store)") : settings.mta_sts_ca_file) + ": " +
        client.error());
  }
  return std::make_shared<StsRuntime>(mta_sts_dir(settings), std::move(*client), resolver);
}

namespace {

void count(Stats& stats, const StsFacts& sts) {
  stats.sts(sts.source == StsSource::Fetched  ? Stats::Sts::Fetched
            : sts.source == StsSource::Cached ? Stats::Sts::Cached
                                              : Stats::Sts::None);
  if (!sts.fetch_error.empty()) {
    stats.sts(Stats::Sts::FetchError);
  }
}

// Never weaker on an unexpected failure: TEMP facts, counted by the service as an internal error.
void fail_internal(DestinationFacts& facts, const char* what) {
  facts.outcome = DestinationOutcome::TempFail;
  facts.internal_error = true;
  facts.reason = std::string("internal error: MTA-STS evaluation: ") + what;
}

// The STS step for facts that consult it: the engine, then `done`.
void run_sts(StsRuntime& sts, Stats& stats, DestinationFacts facts, std::chrono::steady_clock::time_point deadline,
             const FactsDone& done) {
  const std::string domain = facts.next_hop.domain;
  auto shared = std::make_shared<DestinationFacts>(std::move(facts));
  sts.engine().evaluate_async(domain, deadline, [shared, &stats, done](StsFacts result) {
    try {
      count(stats, result);
      attach_sts(*shared, std::move(result), std::chrono::system_clock::now());
    } catch (const std::exception& e) {
      fail_internal(*shared, e.what());
    }
    done(std::move(*shared));
  });
}

} // namespace

Evaluator make_evaluator(const std::shared_ptr<Resolver>& resolver, std::shared_ptr<StsRuntime> sts, Stats& stats) {
  if (sts == nullptr) {
    return [resolver](const std::string& key, std::chrono::steady_clock::time_point deadline, FactsDone done) {
      evaluate_destination_async(*resolver, key, deadline, std::move(done));
    };
  }
  return
      [resolver, sts, &stats](const std::string& key, std::chrono::steady_clock::time_point deadline, FactsDone done) {
        evaluate_destination_async(
            *resolver, key, deadline, [resolver, sts, &stats, deadline, done](DestinationFacts facts) {
              if (!consults_sts(facts)) {
                done(std::move(facts));
                return;
              }
              if (!needs_mx_hosts(facts)) {
                run_sts(*sts, stats, std::move(facts), deadline, done);
                return;
              }
              auto shared = std::make_shared<DestinationFacts>(std::move(facts));
              resolver->resolve_async({Query{shared->next_hop.domain, RrType::Mx}}, deadline,
                                      [shared, sts, &stats, deadline, done](std::vector<Answer> answers) {
                                        if (!answers.empty()) {
                                          shared->hosts = mx_hosts_from(*shared, answers.front());
                                        }
                                        run_sts(*sts, stats, std::move(*shared), deadline, done);
                                      });
            });
      };
}

} // namespace dane::policyd
