// dane/daemon/sts_evaluator.hpp — --mta-sts in the daemon: the MTA-STS runtime (policy store under
// <state-dir>/mta-sts, the HTTPS client on the daemon's I/O loop, the discovery engine on the
// resolver) and the Evaluator that runs it after the DANE evaluation.
//
// What: the evaluator calls evaluate_destination_async(); when the facts consult MTA-STS (sts_scope.hpp:
// NotDane, MX-resolved next hop) it lists the MX hosts of an insecure MX RRset (one more MX lookup,
// answered from libunbound's cache), runs StsEngine::evaluate_async() by the same deadline, attaches the
// facts (cache lifetime bounded by the policy's) and counts them (Stats::Sts). Any other outcome goes to
// `done` exactly as without --mta-sts. Without --mta-sts none of this exists (no lookup, no file).
// Failure modes: an unreadable --mta-sts-ca-file is a start-up error naming the file (exit 2); an
// exception on the way gives TempFail facts (internal_error), never a weaker answer.
// Threads: callbacks run on the resolver's thread or the I/O thread; the evaluator owns the runtime (shared),
// so it lives as long as the service.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "dane/core/expected.hpp"
#include "dane/daemon/service.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::policyd {

// <state-dir>/mta-sts
std::string mta_sts_dir(const Settings& settings);
// --mta-sts-ca-file: empty (the system's store) or a readable, non-empty regular file; the error
// starts with the file's name.
Status check_mta_sts_ca_file(const std::string& file);

class StsRuntime;

// Null without --mta-sts. `resolver` and `io` must outlive the runtime (the evaluator keeps it).
Expected<std::shared_ptr<StsRuntime>> start_mta_sts(const Settings& settings, boost::asio::io_context& io,
                                                    Resolver& resolver);

// The daemon's evaluator: DANE, then (with a runtime) MTA-STS as described above.
Evaluator make_evaluator(const std::shared_ptr<Resolver>& resolver, std::shared_ptr<StsRuntime> sts, Stats& stats);

} // namespace dane::policyd
