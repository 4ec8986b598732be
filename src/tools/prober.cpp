// The real Prober (dane/tools/prober.hpp).
#include "dane/tools/prober.hpp"

namespace dane::tools {

namespace {
constexpr std::size_t k_max_probes_in_flight = 8;
} // namespace

Prober live_prober() {
  return [](const std::vector<ProbeRequest>& requests) { return probe_all(requests, k_max_probes_in_flight); };
}

std::string endpoint(std::string_view address, std::uint16_t port) {
  std::string host(address);
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(port);
}

} // namespace dane::tools
