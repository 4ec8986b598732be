// dane/daemon/job_pool.hpp — a fixed set of worker threads whose every job runs inside the error
// boundary (error_boundary.hpp).
//
// PolicyService runs evaluations on one (--workers threads), the ProbeScheduler probe rounds on
// another (one thread). A job that throws is reported once ("internal-error in WHERE") and counted;
// the worker thread goes on with the next job. A job that must answer somebody even when it fails
// (an evaluation: TEMP to its waiters) has a boundary of its own inside; this one is the last.
// Inputs: jobs from the daemon's own code. Threading: post() from any thread; stop()/join() once,
// at shutdown.
#pragma once

#include <string>
#include <utility>

#include "dane/daemon/asio.hpp"
#include "dane/daemon/error_boundary.hpp"

namespace dane::policyd {

class JobPool {
public:
  JobPool(std::string name, std::size_t threads, LogWriter& log, Stats& stats)
      : m_name(std::move(name)), m_log(log), m_stats(stats), m_pool(threads) {}
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  template <typename Job> void post(Job&& job) {
    boost::asio::post(m_pool,
                      [this, job = std::forward<Job>(job)]() mutable { run_guarded(m_log, m_stats, m_name, job); });
  }
  // Drops the jobs not started yet.
  void stop() { m_pool.stop(); }
  // Waits for the running jobs (and, unless stopped, the queued ones).
  void join() { m_pool.join(); }

private:
  std::string m_name; // "evaluation pool", "probe pool": names the boundary in log lines
  LogWriter& m_log;
  Stats& m_stats;
  boost::asio::thread_pool m_pool;
};

} // namespace dane::policyd
