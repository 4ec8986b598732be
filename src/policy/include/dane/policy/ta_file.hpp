// dane/policy/ta_file.hpp — trust-anchor files for pinned mode's DANE-TA answers.
//
// Pinned mode answers a DANE-TA destination with `OK secure tafile=PATH match=...` (docs/design.md
// §3): Postfix then trusts exactly the anchors in PATH. write_ta_file() builds that file from
// the destination's usable DANE-TA records that carry the full anchor: `2 0 0` (a DER
// certificate, written as a PEM CERTIFICATE) and `2 1 0` (a DER SubjectPublicKeyInfo, written
// as a PEM PUBLIC KEY; Postfix accepts both). When any usable DANE-TA record holds only a
// digest (`2 x 1`, `2 x 2`), its anchor cannot be written, and it returns nullopt so that the
// answer falls back to dane-only (Postfix then does DANE itself) rather than to a file that
// would reject a server using that anchor. Also nullopt when a record's data does not parse
// or on an I/O error (the reason goes to `error` when given).
//
// Files are named <directory>/<domain>-<sha256 of the content, 16 hex>.pem, written to a
// temporary name and renamed, so concurrent writers and readers never see a partial file and
// a changed RRset gets a new name (Postfix may cache the old one). Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "dane/verifier/destination.hpp"

namespace dane::policyd {

std::optional<std::string> write_ta_file(const DestinationFacts& facts, const std::string& directory,
                                         std::string* error = nullptr);

} // namespace dane::policyd
