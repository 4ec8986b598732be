#!/usr/bin/env bash
# Tries README's Quick start on a fresh minimal Debian 12 root, as a new user would meet it:
# debootstrap minbase plus git and ca-certificates (cached by scripts/debian-root.sh), the committed
# HEAD cloned with `git clone file://`, then as root in a chroot:
#   bash scripts/run.sh    until the daemon prints its "ready:" line, then stopped with SIGTERM
#   bash scripts/test.sh   (with CI=true: a test that needs root or a package must not skip)
# each twice in a row, once in a root with a pre-existing /usr/sbin/policy-rc.d and once without.
# Too slow for CI (every round installs the packages and builds the project from scratch).
#
#   bash scripts/try-fresh-root.sh [run|test|both]      (default both)
#
# Environment: KEEP_ROOT=1 leaves the roots (under /var/tmp) for inspection; JOBS for the builds;
# RUN_TIMEOUT (seconds to wait for "ready:", default 3600: the first run installs and builds);
# POLICY_RC=with|without|both (default both) and ROUNDS (default 2) to try a part of the matrix.
# Uncommitted changes are not tried: commit first. Logs go to build-fresh-root/.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
what=${1:-both}
case "$what" in run | test | both) ;; *) echo "usage: $0 [run|test|both]" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "try-fresh-root: needs root" >&2; exit 2; }
jobs=${JOBS:-$(nproc)}
logs=$src/build-fresh-root
mkdir -p "$logs"

bash scripts/install-deps.sh package >/dev/null
tarball=$(bash scripts/debian-root.sh cache git,iproute2)
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  echo "try-fresh-root: note: uncommitted changes are not part of the try (HEAD $(git rev-parse --short HEAD))"

results=()
roots=()
cleanup() {
  local r
  for r in "${roots[@]}"; do
    if [ "${KEEP_ROOT:-}" = 1 ]; then
      echo "try-fresh-root: root kept in $r"
    else
      bash "$src/scripts/debian-root.sh" remove "$r" || true
    fi
  done
}
trap cleanup EXIT

# One command in the root, its output in a log file; records PASS/FAIL and the wall time.
attempt() {
  local root=$1 label=$2 cmd=$3 log t0 rc
  log=$logs/$label.log
  t0=$(date +%s)
  echo "--- $label: $cmd (log: $log)"
  set +e
  bash "$src/scripts/debian-root.sh" exec "$root" "JOBS=$jobs" CI=true -- "$cmd" >"$log" 2>&1
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    results+=("PASS $label ($(($(date +%s) - t0)) s)")
  else
    results+=("FAIL $label (exit $rc, $(($(date +%s) - t0)) s; tail of $log below)")
    tail -n 25 "$log" | sed 's/^/    /'
  fi
}

# run.sh in the background of the chroot's shell: wait for "ready:", stop it with SIGTERM, and
# require a clean exit. timeout bounds the whole attempt.
run_cmd="cd /root/dane-policyd && { bash scripts/run.sh > /root/run.out 2>&1 & pid=\$!; \
  for i in \$(seq ${RUN_TIMEOUT:-3600}); do grep -q 'ready:' /root/run.out && break; \
    kill -0 \$pid 2>/dev/null || break; sleep 1; done; cat /root/run.out; \
  grep -q 'ready:' /root/run.out || { echo 'try-fresh-root: no ready: line'; exit 1; }; \
  pkill -TERM -x dane-policyd; wait \$pid; }"
# After the suite no system daemon may run: the tests stop what they start, and a package's
# postinst must not have started nsd, unbound or Postfix (the chroot shares the host's network).
test_cmd="cd /root/dane-policyd && bash scripts/test.sh && \
  if pgrep -a -x 'nsd|unbound|master'; then echo 'try-fresh-root: a system daemon is running'; exit 1; fi"

case "${POLICY_RC:-both}" in
  both) policies=(with without) ;;
  with | without) policies=("$POLICY_RC") ;;
  *) echo "try-fresh-root: POLICY_RC must be with, without or both" >&2; exit 2 ;;
esac
for policy in "${policies[@]}"; do
  root=$(mktemp -d /var/tmp/dane-policyd-fresh.XXXXXX)
  rmdir "$root"
  roots+=("$root")
  if [ "$policy" = with ]; then
    bash scripts/debian-root.sh unpack "$tarball" "$root"
  else
    bash scripts/debian-root.sh unpack "$tarball" "$root" --no-policy-rc
  fi
  git clone -q "file://$src" "$root/root/dane-policyd"
  for round in $(seq "${ROUNDS:-2}"); do
    if [ "$what" != test ]; then
      attempt "$root" "run-$policy-policy-rc.d-$round" "$run_cmd"
    fi
    if [ "$what" != run ]; then
      attempt "$root" "test-$policy-policy-rc.d-$round" "$test_cmd"
    fi
  done
  if [ "$policy" = with ]; then
    [ -x "$root/usr/sbin/policy-rc.d" ] || results+=("FAIL the scripts removed a policy-rc.d they did not create")
  else
    [ ! -e "$root/usr/sbin/policy-rc.d" ] || results+=("FAIL the scripts left their policy-rc.d behind")
  fi
done

echo "=== try-fresh-root results ==="
printf '  %s\n' "${results[@]}"
if printf '%s\n' "${results[@]}" | grep -q '^FAIL'; then
  exit 1
fi
