// request_decoder.hpp (private to src/daemon) — one request decoder per protocol, chosen once per
// connection, turning a session's bytes into Jobs.
//
// Inputs: bytes from an untrusted client, in pieces as they arrive. Each complete request becomes
// one Job (counted in Stats as a request of its protocol); policy delegation requests without a
// recipient domain are answered DUNNO at once (a direct Job). Socketmap requests on the reserved
// map name (Settings::stats_name) are handed to the session's control hook, which turns the Job
// into a control job (control.hpp).
// Failure modes: garbled or oversized input returns the codec's error (the connection ends);
// requests decoded before it are still appended. Nothing here throws on bad input.
// Threading: the I/O thread only, one decoder per session.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/policy/codecs.hpp"
#include "dane/policy/control.hpp"

namespace dane::policyd {

// One request of a session, answered in turn.
struct Job {
  std::string key;
  std::string direct_reply; // answered without a lookup when `direct`
  bool direct = false;
  std::chrono::steady_clock::time_point received;
  // With `direct`: a control request on the reserved map name (control.hpp) that is run in
  // turn with the lookups before it; `key` is then its destination.
  std::optional<ControlVerb> control{};
};

class RequestDecoder {
public:
  virtual ~RequestDecoder() = default;
  // Decodes `bytes` (received at `now`), appending one Job per complete request to `jobs`.
  // Returns the error that ends the connection, or null.
  virtual const CodecError* feed(std::string_view bytes, std::chrono::steady_clock::time_point now,
                                 std::deque<Job>& jobs) = 0;
  // True while part of a request is buffered (EOF now would cut it in half).
  virtual bool mid_request() const = 0;
};

// Called for a socketmap request on the reserved map name, with its key in `job.key`.
using ControlHook = std::function<void(Job& job)>;

std::unique_ptr<RequestDecoder> make_request_decoder(Protocol protocol, const Settings& settings, Stats& stats,
                                                     ControlHook control);

} // namespace dane::policyd
