#!/usr/bin/env bash
# Quick start, part 2 (and CI's first step): installs every package the tests need
# (scripts/install-deps.sh test), configures with warnings as errors, builds everything and runs
# every test with ctest.
#
#   bash scripts/test.sh                 the whole suite in build/
#   bash scripts/test.sh --asan          the whole suite again under AddressSanitizer and
#                                        UndefinedBehaviorSanitizer, in build-asan/
#   bash scripts/test.sh [--asan] -- ARGS   extra arguments for ctest, e.g. -- -R cli. -L unit
#
# Tests that need root or a package skip outside CI and fail in CI (CI=true); run as root to run
# them all. Environment: BUILD (build directory), JOBS (parallel compile jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

asan=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) asan=1 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh test

if [ "$asan" = 1 ]; then
  build=${BUILD:-build-asan}
  cmake -S . -B "$build" -G Ninja -DDANE_WERROR=ON -DDANE_SANITIZE=ON -DDANE_BUILD_TESTS=ON \
    -DDANE_BUILD_BENCH=OFF
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  build=${BUILD:-build}
  cmake -S . -B "$build" -G Ninja -DDANE_WERROR=ON -DDANE_BUILD_TESTS=ON -DDANE_BUILD_BENCH=ON
fi
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure "${ctest_args[@]}"
