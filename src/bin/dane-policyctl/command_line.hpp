// src/bin/dane-policyctl/command_line.hpp — the one place a subcommand's argv meets Boost.Program_options.
//
// parse_command_line() stores argv against the subcommand's `visible` options; bare
// arguments are collected under the option `positional` (a std::vector<std::string>
// added here, hidden from --help), or rejected when `positional` is empty. Errors are
// Program_options' own text ("unrecognised option '--x'", "the argument ('abc') for
// option '--port' is invalid"); the caller prefixes "dane-policyctl NAME: " and exits 2.
#pragma once

#include <string>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference" // GCC 12 false positive inside Boost.Program_options
#include <boost/program_options.hpp>
#pragma GCC diagnostic pop

#include "dane/core/expected.hpp"

namespace dane::ctl {

Expected<boost::program_options::variables_map>
parse_command_line(int argc, char** argv, const boost::program_options::options_description& visible,
                   const std::string& positional);

} // namespace dane::ctl
