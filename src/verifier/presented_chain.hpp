// presented_chain.hpp — internal to dane_verifier (not installed, not for other
// libraries): what the live probe reports about the chain a server presented.
//
// Input: an SSL after a completed handshake (client side). Output: the report's
// chain_pem (leaf first, as sent), the leaf's subject, issuer, DNS/IP subject
// alternative names, validity dates (RFC 3339) and SPKI SHA-256. The chain is
// whatever the server sent: untrusted, only described here, never judged.
// Failure modes: none; a part OpenSSL cannot render is left empty.
#pragma once

#include <openssl/ssl.h>

#include "dane/verifier/probe.hpp"

namespace dane::detail {

void describe_chain(SSL* ssl, ProbeReport& report);

} // namespace dane::detail
