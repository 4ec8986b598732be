// The asynchronous evaluation engine (see dane/verifier/destination.hpp): DestinationRounds driven
// over Resolver::resolve_async, so that no thread waits for DNS; evaluate_destination() waits for it.
#include <exception>
#include <future>
#include <memory>
#include <string>

#include "dane/core/exceptions.hpp"
#include "dane/verifier/destination.hpp"
#include "destination_rounds.hpp"

namespace dane {
namespace {

using Clock = std::chrono::steady_clock;

// One destination's evaluation: each round's answers start the next round on the resolver's
// thread. It keeps itself alive (shared_from_this in the pending callback) until `done` has been
// called, exactly once. An exception in a step ends the evaluation as TempFail facts marked
// internal_error, never as something weaker.
class Evaluation : public std::enable_shared_from_this<Evaluation> {
public:
  Evaluation(Resolver& resolver, std::string_view key, Clock::time_point deadline, FactsCallback done)
      : m_resolver(resolver), m_rounds(key), m_deadline(deadline), m_done(std::move(done)) {}

  void step() {
    if (!m_done) {
      return; // finished (an internal error ends it early)
    }
    guarded([&] {
      if (m_rounds.done()) {
        complete();
        return;
      }
      m_resolver.resolve_async(m_rounds.queries(), m_deadline,
                               [self = shared_from_this()](const std::vector<Answer>& answers) {
                                 self->guarded([&] { self->m_rounds.apply(answers); });
                                 self->step();
                               });
    });
  }

private:
  void complete() {
    if (m_done) {
      FactsCallback done = std::move(m_done);
      m_done = nullptr;
      done(std::move(m_rounds.facts()));
    }
  }

  template <typename F> void guarded(F&& part) {
    if (auto error = exception_from(part)) {
      fail("internal error: " + *error);
    }
  }

  void fail(const std::string& reason) {
    if (!m_done) {
      return; // the error came from `done` itself: its owner answers for it
    }
    DestinationFacts& facts = m_rounds.facts();
    facts.outcome = DestinationOutcome::TempFail;
    facts.reason = reason;
    facts.internal_error = true;
    complete();
  }

  Resolver& m_resolver;
  detail::DestinationRounds m_rounds;
  Clock::time_point m_deadline;
  FactsCallback m_done;
};

} // namespace

void evaluate_destination_async(Resolver& resolver, std::string_view key,
                                std::chrono::steady_clock::time_point deadline, FactsCallback done) {
  std::shared_ptr<Evaluation> evaluation;
  try {
    evaluation = std::make_shared<Evaluation>(resolver, key, deadline, done);
  } catch (const std::exception& e) {
    DestinationFacts facts;
    facts.next_hop.key = std::string(key);
    facts.reason = std::string("internal error: ") + e.what();
    facts.internal_error = true;
    done(std::move(facts));
    return;
  }
  evaluation->step();
}

DestinationFacts evaluate_destination(Resolver& resolver, std::string_view key, const EvaluateOptions& /*options*/) {
  std::promise<DestinationFacts> promise;
  auto future = promise.get_future();
  evaluate_destination_async(resolver, key, Clock::now() + resolver.timeout(),
                             [&promise](DestinationFacts facts) { promise.set_value(std::move(facts)); });
  return future.get();
}

} // namespace dane
