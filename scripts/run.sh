#!/usr/bin/env bash
# Quick start, part 1: installs what building and running need (scripts/install-deps.sh run),
# builds dane-policyd and dane-policyctl in build/, and runs `dane-policyd --foreground` with its
# embedded defaults: socketmap on unix:/run/dane-policyd/socketmap, native mode, DNSSEC validation
# in-process from the root trust anchor. Ctrl-C stops it.
#
# Arguments go to dane-policyd, e.g.  bash scripts/run.sh --mode pinned --verdict-log /tmp/v.jsonl
# Environment: BUILD (build directory, default build), JOBS (parallel compile jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD:-build}
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh run

# The same compiler flags as scripts/test.sh, so both share one build tree without recompiling.
# A new tree gets no tests and no benchmarks (their packages are not installed by the run profile);
# an existing tree keeps what scripts/test.sh configured.
if [ -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DDANE_WERROR=ON >/dev/null
else
  cmake -S . -B "$build" -G Ninja -DDANE_WERROR=ON -DDANE_BUILD_TESTS=OFF -DDANE_BUILD_BENCH=OFF
fi
cmake --build "$build" -j "$jobs" --target dane-policyd dane-policyctl

cat <<HINT
dane-policyd: serving socketmap on unix:/run/dane-policyd/socketmap (Ctrl-C stops it)
  ask it, from another shell:  ./$build/bin/dane-policyctl query example.com
                               ./$build/bin/dane-policyctl query --json example.com
  Postfix main.cf:             smtp_tls_policy_maps = socketmap:unix:/run/dane-policyd/socketmap:dane
HINT
exec "./$build/bin/dane-policyd" --foreground "$@"
