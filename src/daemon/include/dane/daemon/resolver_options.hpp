// dane/daemon/resolver_options.hpp — the resolver options shared by dane-policyd and dane-policyctl,
// declared once (docs/style.md point 9; pinned names, docs/design.md §2):
//   --unbound-config FILE      unbound.conf fragment for ub_ctx_config (stub zones, anchors, ...)
//   --forwarder ADDR[@PORT]    repeatable; forward to a recursive resolver, still validating locally
//   --trust-anchor-file FILE   default /usr/share/dns/root.key (Debian's dns-root-data)
//   --dns-timeout SECONDS      bounds one destination's evaluation (default 10; fractions allowed)
// add_resolver_options() adds them to a Boost.Program_options description (command line and
// config file alike); resolver_config_from() turns parsed values into a ResolverConfig, failing
// with a message that names the option on malformed values and on a --unbound-config or
// --trust-anchor-file that exists but is not a regular file (a directory would make libunbound
// spin or exit the process). Whether the files exist and parse is checked by
// make_unbound_resolver(), whose errors also name the option.
#pragma once

#include <boost/program_options.hpp>

#include "dane/core/expected.hpp"
#include "dane/verifier/dns.hpp"

namespace dane::policyd {

void add_resolver_options(boost::program_options::options_description& description);
Expected<ResolverConfig> resolver_config_from(const boost::program_options::variables_map& values);

// Validates one --forwarder value: IPv4 or IPv6 address, optional @PORT (1-65535).
Status check_forwarder(const std::string& value);
// Validates a file option's value (`option` is "--unbound-config" or "--trust-anchor-file"):
// not empty, and, when the path exists, a regular file.
Status check_resolver_file(const std::string& option, const std::string& path);

} // namespace dane::policyd
