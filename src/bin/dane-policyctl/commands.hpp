// dane-policyctl subcommands. Each lives in its own cmd_<name>.cpp and returns the
// process exit code (docs/design.md §5): 0 success, 1 negative verdict, 2 usage or
// input error, 3 temporary DNS failure (4: rollover "act or wait").
#pragma once

namespace dane::ctl {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_negative = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_temp = 3;
inline constexpr int k_exit_act = 4;

// argv[0] is the subcommand name; options follow.
int cmd_tlsa(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_policy(int argc, char** argv);
int cmd_check(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_rollover(int argc, char** argv);
int cmd_tlsrpt_send(int argc, char** argv);
// cmd_query.cpp: ask a running dane-policyd.
int cmd_query(int argc, char** argv);
int cmd_stats(int argc, char** argv);
int cmd_flush(int argc, char** argv);

} // namespace dane::ctl
