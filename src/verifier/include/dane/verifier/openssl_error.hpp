// dane/verifier/openssl_error.hpp — the one way this project turns OpenSSL's
// per-thread error queue into text.
//
// Input: the calling thread's OpenSSL error queue, and a short name for the call
// that failed (used only when the queue is empty). Output: the reason text of the
// LAST queued error, i.e. the one the failing call itself raised ("dane tlsa bad
// data length", "wrong version number"); the entries queued before it are inner
// causes of that one and are dropped. An entry without a registered reason string
// is shown as ERR_error_string_n gives it. An empty queue gives "<context> failed
// without an OpenSSL error report", so a message never ends in an empty string.
// Always drains the queue, so a stale error can never be blamed on a later call.
// Failure modes: none (never throws beyond std::bad_alloc). Thread-safe: the queue
// is per thread. No OpenSSL types in this header.
#pragma once

#include <string>
#include <string_view>

namespace dane {

std::string openssl_error_text(std::string_view context);

} // namespace dane
