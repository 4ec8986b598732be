#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp) with clang and runs each one for a bounded time over its
# checked-in seed corpus (fuzz/corpus/<target>/). New inputs go to a scratch directory, never into the
# repository. Exits non-zero when any target crashes, leaks, or trips a sanitizer; the crashing input is
# kept under $BUILD/fuzz-artifacts/ and the command to reproduce it is printed.
#
# Environment: FUZZ_SECONDS (per target, default 15), FUZZ_TARGETS (space-separated subset; default: every
# fuzz/*_fuzz.cpp), BUILD_FUZZ (build directory, default build-fuzz), JOBS (default 2), CXX (default clang++).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_FUZZ:-build-fuzz}
seconds=${FUZZ_SECONDS:-15}
jobs=${JOBS:-2}
cxx=${CXX:-clang++}
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for src in fuzz/*_fuzz.cpp; do
    targets+=("$(basename "$src" .cpp)")
  done
fi

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run-fuzz: $cxx not found (install clang; scripts/install-deps.sh lists it)" >&2
  exit 2
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DDANE_BUILD_FUZZ=ON -DDANE_BUILD_TESTS=OFF \
    -DDANE_BUILD_BENCH=OFF
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  mkdir -p "$scratch/$target"
  corpora=("$scratch/$target")
  if [ -d "$seeds" ]; then
    corpora+=("$seeds")
    echo "=== $target: ${seconds}s over $(find "$seeds" -type f | wc -l) seeds ==="
  else
    echo "=== $target: ${seconds}s, no seed corpus (add fuzz/corpus/$target/) ==="
  fi
  # -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb bounds memory.
  if ! "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
    "${corpora[@]}" >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    echo "run-fuzz: $target FAILED; reproduce with: $build/fuzz/$target $artifacts/$target-<crash-file>" >&2
    failed+=("$target")
    continue
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^stat::new_units_added' "$scratch/$target.log" |
    tr '\n' ' '
  echo
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzz: failures: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzz: all ${#targets[@]} targets ran ${seconds}s without a finding"
