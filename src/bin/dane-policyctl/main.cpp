// dane-policyctl — the operator's command-line tool. A thin dispatcher: each
// subcommand's options and printing are in cmd_<name>.cpp; the logic is in the libraries
// (dane_verifier, dane_policy; check, report and rollover in dane_tools).
#include <cstring>
#include <exception>
#include <iostream>
#include <string_view>

#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

constexpr Command k_commands[] = {
    {"tlsa", dane::ctl::cmd_tlsa, "generate a TLSA record from a certificate or key"},
    {"verify", dane::ctl::cmd_verify, "verify a certificate chain against TLSA records, offline"},
    {"policy", dane::ctl::cmd_policy, "explain the policy dane-policyd would answer for a destination"},
    {"check", dane::ctl::cmd_check, "DNS evaluation plus a live STARTTLS probe of every MX address"},
    {"report", dane::ctl::cmd_report, "summarise verdict logs (and Postfix logs); TLSRPT export"},
    {"tlsrpt-send", dane::ctl::cmd_tlsrpt_send,
     "deliver RFC 8460 TLSRPT reports to the domains that ask (mailto:, https:)"},
    {"rollover", dane::ctl::cmd_rollover, "plan a certificate/key rollover step by step"},
    {"query", dane::ctl::cmd_query, "ask the running dane-policyd for a destination's answer (or full verdict)"},
    {"stats", dane::ctl::cmd_stats, "print the running dane-policyd's counters"},
    {"flush", dane::ctl::cmd_flush, "make the running dane-policyd forget cached verdicts"},
};

void usage(std::ostream& out) {
  out << "usage: dane-policyctl COMMAND [options]\n\ncommands:\n";
  for (const auto& c : k_commands) {
    // Names are padded to one column; a longer name still gets one space (no size_t underflow).
    const std::size_t length = std::strlen(c.name);
    out << "  " << c.name << std::string(length < 10 ? 10 - length : 1, ' ') << c.summary << "\n";
  }
  out << "\n'dane-policyctl COMMAND --help' describes a command's options.\n";
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return dane::ctl::k_exit_usage;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(std::cout);
    return dane::ctl::k_exit_ok;
  }
  for (const auto& c : k_commands) {
    if (name == c.name) {
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const std::exception& e) {
        std::cerr << "dane-policyctl " << c.name << ": " << e.what() << "\n";
        return dane::ctl::k_exit_usage;
      }
    }
  }
  std::cerr << "dane-policyctl: unknown command '" << name << "'\n";
  usage(std::cerr);
  return dane::ctl::k_exit_usage;
}
