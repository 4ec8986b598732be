// fake_prober.hpp — a Prober (dane/tools/prober.hpp) for unit tests: no sockets, canned reports.
//
// What it does: keeps every request it is asked (and how many batches), and answers each request
// with answer(request, index in the batch); the default answer is a connect-failed report for the
// request's address and port. Inputs are test-owned; nothing here is security code. Never fails.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "dane/tools/prober.hpp"

namespace dane::test {

struct FakeProber {
  std::vector<ProbeRequest> requests;
  int calls = 0;
  std::function<ProbeReport(const ProbeRequest&, std::size_t)> answer = [](const ProbeRequest& request, std::size_t) {
    ProbeReport report;
    report.address = request.address;
    report.port = request.port;
    report.result = ProbeResult::ConnectFailed;
    return report;
  };

  // The Prober to hand to the code under test; it refers to this object, which must outlive it.
  tools::Prober prober() {
    return [this](const std::vector<ProbeRequest>& asked) {
      ++calls;
      requests.insert(requests.end(), asked.begin(), asked.end());
      std::vector<ProbeReport> out;
      for (std::size_t i = 0; i < asked.size(); ++i) {
        out.push_back(answer(asked[i], i));
      }
      return out;
    };
  }
};

} // namespace dane::test
