// dns_exchange.hpp (internal to dane_tools) — one DNS message exchange with one server: UDP first, TCP when the
// answer is truncated, own non-blocking sockets and ONE deadline for both (RFC 1035 §4.2).
//
// Inputs: the message in wire format (its first two octets are the ID), the server (an IP literal and port), a time
// limit. Output: the answer's wire octets — the first UDP datagram carrying the query's ID, or the TCP answer,
// which must carry it too — or empty with `failure` saying why ("timed out", "connect: Connection refused", ...).
// Trust: nothing about the answer is checked beyond its ID; callers parse and authenticate it (TSIG for updates,
// RRSIG for the authoritative checks). Used by dns_update.cpp (UPDATE) and rollover_authority.cpp (queries).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dane/tools/dns_update.hpp"

namespace dane::tools {

std::vector<std::uint8_t> dns_exchange(const std::vector<std::uint8_t>& query, const UpdateServer& server,
                                       std::chrono::milliseconds timeout, std::string& failure);

} // namespace dane::tools
