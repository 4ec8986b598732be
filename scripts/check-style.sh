#!/usr/bin/env bash
# Style checks enforced by machines (CI runs this after the test suite):
#   1. clang-format: every C++ file under src/, tests/, bench/ and fuzz/ is formatted as .clang-format says
#      (fix with: bash scripts/check-style.sh --fix)
#   2. file size: no file under src/ over 600 lines unless it says why in a comment containing "file-size:"
#   3. clang-tidy: the checks of .clang-tidy (bugprone-*, a few cert-*, functions <= 80 lines) over src/,
#      using BUILD/compile_commands.json (BUILD defaults to build/; configured here if missing)
# Exit 0 clean, 1 on any finding, 2 when a tool is missing. Environment: BUILD, JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
[ "${1:-}" = --fix ] && fix=1
build=${BUILD:-build}
jobs=${JOBS:-$(nproc)}
for tool in clang-format clang-tidy run-clang-tidy; do
  command -v "$tool" >/dev/null || { echo "check-style: $tool not found (bash scripts/install-deps.sh test)" >&2; exit 2; }
done

mapfile -t cxx < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'bench/*.cpp' 'bench/*.hpp' \
  'fuzz/*.cpp' 'fuzz/*.hpp')
status=0

echo "check-style: clang-format over ${#cxx[@]} files"
if [ "$fix" = 1 ]; then
  clang-format -i "${cxx[@]}"
elif ! clang-format --dry-run -Werror "${cxx[@]}"; then
  echo "check-style: clang-format: files above differ from .clang-format (bash scripts/check-style.sh --fix)" >&2
  status=1
fi

echo "check-style: file sizes under src/ (at most 600 lines without a 'file-size:' comment)"
while read -r lines file; do
  if [ "$lines" -gt 600 ] && ! grep -q 'file-size:' "$file"; then
    echo "$file: $lines lines; split it by concern, or say why it is one unit in a 'file-size:' comment" >&2
    status=1
  fi
done < <(git ls-files 'src/*.cpp' 'src/*.hpp' | xargs wc -l | grep -v ' total$')

echo "check-style: clang-tidy over src/ ($build/compile_commands.json, $jobs jobs)"
if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S . -B "$build" -G Ninja -DDANE_WERROR=ON >/dev/null
fi
# run-clang-tidy prints every finding and exits non-zero when any check (all are errors) fired.
if ! run-clang-tidy -p "$build" -j "$jobs" -quiet "$PWD/src/" >"$build/clang-tidy.log" 2>&1; then
  grep -E '(warning|error):' "$build/clang-tidy.log" | sort -u >&2 || cat "$build/clang-tidy.log" >&2
  echo "check-style: clang-tidy found the problems above (full log: $build/clang-tidy.log)" >&2
  status=1
fi

[ "$status" = 0 ] && echo "check-style: clean"
exit "$status"
