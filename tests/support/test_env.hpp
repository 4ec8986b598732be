// Shared helpers for tests: environment checks that fail loudly in CI.
#pragma once

#include <string>

namespace dane::test {

// True when running under CI (CI=true in the environment).
bool in_ci();
bool is_root();
// Path of a program on PATH or in /usr/sbin, /usr/bin; empty when absent.
std::string find_program(const std::string& name);

} // namespace dane::test

// Use at the top of a test or SetUp(): when `cond` is false, the test FAILS under CI
// (a missing package or privilege there is a bug in our scripts) and is SKIPPED with the
// message on a developer's machine.
#define DANE_REQUIRE_OR_SKIP(cond, message)                                                                            \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      if (::dane::test::in_ci()) {                                                                                     \
        FAIL() << "required for this test in CI: " << (message);                                                       \
      } else {                                                                                                         \
        GTEST_SKIP() << (message);                                                                                     \
      }                                                                                                                \
    }                                                                                                                  \
  } while (0)
