// destination_rounds.hpp — internal to dane_verifier: the RFC 7672 §2.2 evaluation of one
// destination as rounds of queries, without any I/O.
//
// DestinationRounds holds one destination's evaluation between its rounds: queries() are the
// lookups of the next round (MX; then A and AAAA of every host; then every TLSA candidate and the
// CNAME checks), apply() takes their answers, in order, decides what they mean and prepares the
// next round; done() when the facts are complete (at once for keys that need no DNS). Whoever
// drives it (the asynchronous engine in destination_engine.cpp) owns the waiting and the deadline.
// Input: a lookup key from Postfix (untrusted: malformed keys become NotDane facts) and answers
// from a validating resolver. Failure modes: apply() with the wrong number of answers throws
// std::out_of_range (a caller's bug, which the engine turns into TempFail facts).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::detail {

class DestinationRounds {
public:
  explicit DestinationRounds(std::string_view key);
  ~DestinationRounds();
  DestinationRounds(const DestinationRounds&) = delete;
  DestinationRounds& operator=(const DestinationRounds&) = delete;

  bool done() const { return m_stage == Stage::Done; }
  const std::vector<Query>& queries() const { return m_queries; }
  void apply(const std::vector<Answer>& answers);
  DestinationFacts& facts() { return m_facts; }

private:
  enum class Stage { Mx, Addresses, Tlsa, Done };
  struct Hosts; // the MX hosts and their work state between the rounds

  void ask_addresses();
  void ask_tlsa();
  void decide();

  Stage m_stage = Stage::Done;
  DestinationFacts m_facts;
  std::vector<Query> m_queries;
  std::unique_ptr<Hosts> m_hosts;
};

} // namespace dane::detail
