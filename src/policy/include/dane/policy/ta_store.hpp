// dane/policy/ta_store.hpp — the one trust-anchor store: the files behind pinned mode's `OK secure tafile=`.
//
// What: pinned mode answers a DANE-TA destination with `OK secure tafile=PATH match=...` (docs/design.md
// §3), and Postfix then trusts exactly the anchors in PATH. file_for() writes that file for a
// destination's usable DANE-TA records: a `2 0 0` record's certificate (PEM CERTIFICATE), a `2 1 0`
// record's public key (PEM PUBLIC KEY), and for a digest-only record (`2 x 1`, `2 x 2`) the certificate a
// probe captured for it (captured()). Both dane-policyd (PolicyService) and `dane-policyctl policy --mode
// pinned --state-dir DIR` use this class over the same directory, so they give the same answer.
//
// Files, all in the state directory:
//   ta-<sha256 of the content, hex>.pem   one per set of anchors (PEM blocks sorted, so one set of anchors
//                                         always gives one name; a changed RRset gets a new name, as Postfix
//                                         may cache the old file). Mode 0644: Postfix's smtp reads them.
//   captured-<sha256 of the record's presentation text "2 0 1 <hex>", hex>.pem
//                                         the PEM certificate a probe saw match that DANE-TA record; kept so
//                                         that another process (the CLI) and a restarted daemon know it.
// Every file is written to a temporary name and renamed: readers never see a partial file.
//
// Failure modes: file_for() returns nullopt (and the answer falls back to dane-only, never to a weaker
// policy) when the destination has no usable DANE-TA record, when any of them can be anchored neither
// from its data nor from a captured certificate, when a full-data record does not parse, or on an I/O
// error. captured() ignores I/O errors (the anchor is still known to this process).
// Trust: the state directory is writable only by the daemon's user (daemon.cpp prepares it); what is in
// it is trusted as written: a captured certificate was matched against its record by the probe
// (verifier/probe), full-data anchors come from DNSSEC-validated TLSA records. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "dane/verifier/destination.hpp"

namespace dane::policyd {

class TrustAnchorStore {
public:
  explicit TrustAnchorStore(std::string state_dir) : m_dir(std::move(state_dir)) {}

  // The trust-anchor file for the destination's usable DANE-TA records (written when new), or nullopt
  // (see above).
  std::optional<std::string> file_for(const DestinationFacts& facts);
  // Remember the certificate (PEM) that matched a DANE-TA record in a probe, here and on disk.
  void captured(const TlsaRecord& record, const std::string& certificate_pem);

  const std::string& directory() const { return m_dir; }
  // The file name a captured anchor of `record` is kept under (for tests and operators).
  std::string captured_path(const TlsaRecord& record) const;

private:
  std::optional<std::string> captured_pem(const TlsaRecord& record);

  std::string m_dir;
  std::mutex m_mutex;
  std::map<std::string, std::string> m_captured; // record presentation text -> PEM
};

} // namespace dane::policyd
