// `rollover --publish`: the publish and remove steps as DNS UPDATEs (contract: dane/tools/dns_update.hpp).
#include <string>
#include <vector>

#include "dane/tools/dns_update.hpp"

namespace dane::tools {

namespace {

constexpr std::uint32_t k_default_ttl = 3600;

} // namespace

PublishReport publish_by_update(const RolloverInput& in, const RolloverDecision& decision,
                                const RolloverPublish& publish, Resolver& resolver) {
  PublishReport report;
  const bool publishing = decision.step == RolloverStep::Publish && !decision.add_records.empty();
  const bool removing = decision.step == RolloverStep::Remove && !decision.remove_records.empty();
  if (!publishing && !removing) {
    return report;
  }
  report.attempted = true;
  report.action = publishing ? UpdateAction::Publish : UpdateAction::Remove;
  TlsaUpdate update;
  update.action = report.action;
  update.owner = "_" + std::to_string(in.port) + "._tcp." + in.host;
  update.ttl = in.published.ttl != 0 ? in.published.ttl : k_default_ttl;
  update.seen = in.published.records;
  update.change = publishing ? decision.add_records : decision.remove_records;
  for (const auto& record : update.change) {
    report.records.push_back(record.to_string());
  }
  auto target = find_update_target(update.owner, publish.server, resolver);
  if (!target.ok) {
    report.temporary = target.temporary;
    report.message = "DNS UPDATE (" + to_string(update.action) + " at " + update.owner + ") not sent: " + target.error;
    return report;
  }
  update.zone = target.target.zone;
  report.zone = update.zone;
  report.server = target.target.server.label();
  const UpdateResult result = send_tlsa_update(update, publish.key, target.target.server, publish.timeout);
  report.ok = result.outcome == UpdateOutcome::Applied;
  report.temporary = result.temporary;
  report.rcode = result.rcode;
  report.tsig_error = result.tsig_error;
  report.message = result.message;
  return report;
}

} // namespace dane::tools
