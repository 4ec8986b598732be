// blocking_evaluator.hpp — a blocking fake evaluation function as PolicyService's asynchronous Evaluator.
//
// Each evaluation runs on a thread of the adapter's own pool, so a fake that blocks (to hold an
// evaluation open in a race test) blocks nobody else, as the real engine's DNS waits block no
// thread. An exception from the function becomes TempFail facts marked internal_error, with the
// reason the real engine gives ("internal error: WHAT" / "internal error: unknown exception").
// The pool lives as long as the Evaluator; PolicyService waits for evaluations in flight at
// shutdown, before its Evaluator goes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "dane/daemon/service.hpp"

namespace dane::test {

inline policyd::Evaluator blocking_evaluator(std::function<DestinationFacts(const std::string&)> fn,
                                             std::size_t threads = 8) {
  auto pool = std::make_shared<boost::asio::thread_pool>(threads);
  return [pool, fn = std::move(fn)](const std::string& key, std::chrono::steady_clock::time_point,
                                    policyd::FactsDone done) {
    boost::asio::post(*pool, [fn, key, done = std::move(done)] {
      DestinationFacts facts;
      try {
        facts = fn(key);
      } catch (const std::exception& e) {
        facts = DestinationFacts{};
        facts.next_hop.key = key;
        facts.reason = std::string("internal error: ") + e.what();
        facts.internal_error = true;
      } catch (...) {
        facts = DestinationFacts{};
        facts.next_hop.key = key;
        facts.reason = "internal error: unknown exception";
        facts.internal_error = true;
      }
      done(std::move(facts));
    });
  };
}

} // namespace dane::test
