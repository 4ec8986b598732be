// dane/tools/prober.hpp — how the tools reach live SMTP servers: one function type for "probe these".
//
// `dane-policyctl check` and `dane-policyctl rollover` gather DNS facts and then probe addresses.
// They take the probing step as a Prober so that unit tests can hand in canned ProbeReports
// (no sockets), while the programs pass live_prober(), the real STARTTLS probe (dane/verifier/probe.hpp).
// Input: the requests; output: one report per request, in the same order (a Prober must keep that
// contract; the callers index reports by request). Failures are reports (ProbeResult), never exceptions.
// Trust: reports carry text that came from untrusted servers (reasons, certificate names).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dane/verifier/probe.hpp"

namespace dane::tools {

using Prober = std::function<std::vector<ProbeReport>(const std::vector<ProbeRequest>& requests)>;

// The real probe: probe_all() with at most 8 probes in flight.
Prober live_prober();

// "192.0.2.1:25" / "[2001:db8::1]:25": how the tools name a probed address and port.
std::string endpoint(std::string_view address, std::uint16_t port);

} // namespace dane::tools
