// dane/daemon/check_config.hpp — `dane-policyd --check-config`: is this configuration
// going to start?
//
// Works on the result of parse_command_line() (which has already checked every value and
// named FILE:LINE for bad ones) and looks at what needs the system, the way the daemon will
// use it, without binding a socket, starting a thread that serves, or sending a DNS query:
//   - the resolver: a libunbound context made exactly as the daemon makes it (reads the
//     --unbound-config file and the trust anchor, finalises the context; no query);
//   - --verdict-log: its directory exists and is a directory; the file, if present, is a file;
//   - --state-dir: a directory, or creatable (its nearest existing ancestor is a directory);
//   - unix listeners (including the default socketmap): an existing path is a socket, the
//     directory is a directory or creatable;
//   - --user (or its default dane-policyd / nobody), --socket-owner and --socket-group exist.
// Each problem is one line "ORIGIN: message", ORIGIN being "FILE:LINE: option 'NAME'" for a
// configuration-file value, "--NAME" for a command-line one, "--NAME (default)" otherwise.
// Unix permissions are not simulated: run the check as the user that starts the daemon.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "dane/daemon/settings.hpp"

namespace dane::policyd {

// Every problem found (empty: the configuration is fine).
std::vector<std::string> check_config(const ParsedCommandLine& parsed);

// Runs check_config() and reports: "FILE: configuration OK" on `out` and 0, or each
// problem on `err`, a summary line, and 2 (the exit status for configuration errors).
int run_check_config(const ParsedCommandLine& parsed, std::ostream& out, std::ostream& err);

} // namespace dane::policyd
