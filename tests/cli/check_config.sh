#!/usr/bin/env bash
# dane-policyd --check-config and the start-up checks of the configuration, on the real binaries:
#   - the shipped contrib/dane-policyd.conf.example passes (as installed: with /var/log/dane-policyd);
#   - each kind of bad value exits 2 with FILE:LINE and the option named, from --check-config and
#     from a plain start (which must refuse, not hang: every run is bounded by timeout(1));
#   - a directory where a file is expected (config, trust anchor, unbound config) exits 2 at once,
#     in dane-policyd and in dane-policyctl policy / check / rollover, which share the resolver options;
#   - the built-in default config file is read when present (a private mount namespace puts a file
#     at the default path; the machine's own /etc is never changed).
# No test here sends a DNS query: every resolver configuration refuses all names locally.
# Root is needed for the mount-namespace cases; they fail under CI=true and are skipped elsewhere.
set -u

: "${DANE_POLICYD:?DANE_POLICYD must point at the dane-policyd binary}"
: "${DANE_POLICYCTL:?DANE_POLICYCTL must point at the dane-policyctl binary}"
src=${DANE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
example=$src/contrib/dane-policyd.conf.example

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
skip_or_fail() {
  if [[ ${CI:-} == true ]]; then
    fail "required in CI: $*"
  else
    echo "skip: $*" >&2
  fi
}

tmp=$(mktemp -d /tmp/dane-cli-check-config-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/a-directory"
# Every name refused locally: the resolver is made, no packet is ever sent.
printf 'server:\n  local-zone: "." refuse\n' >"$tmp/offline.conf"

# run EXPECTED_EXIT PATTERN... -- COMMAND...: runs COMMAND bounded by timeout (124 = hung), checks
# the exit status and that the output (stdout+stderr) matches every extended regex PATTERN.
# COMMAND may be one of the namespace wrappers below, which apply the timeout themselves.
run() {
  local want=$1
  shift
  local patterns=()
  while [[ $1 != -- ]]; do
    patterns+=("$1")
    shift
  done
  shift
  local out rc
  if declare -F "$1" >/dev/null; then
    out=$("$@" 2>&1 </dev/null)
  else
    out=$(timeout 30 "$@" 2>&1 </dev/null)
  fi
  rc=$?
  if [[ $rc -eq 124 ]]; then
    fail "$* hung (killed after 30 s)"
    return
  fi
  if [[ $rc -ne $want ]]; then
    fail "$*: exit $rc, expected $want; output: $out"
    return
  fi
  local p
  for p in "${patterns[@]}"; do
    grep -Eq -- "$p" <<<"$out" || fail "$*: output does not match /$p/: $out"
  done
}

# A config file for the error cases: good settings that start nothing outside $tmp, then BAD
# on line 6. Prints the file's path.
bad_conf() {
  local name=$1 line=$2
  cat >"$tmp/$name.conf" <<CONF
# $name
mode = monitor
socketmap = unix:$tmp/run/socketmap
user = root
unbound-config = $tmp/offline.conf
$line
CONF
  echo "$tmp/$name.conf"
}

# --- 1. The shipped example configuration passes ------------------------------------------------
# As the package installs it, /var/log/dane-policyd exists; this machine may not have it, so the
# check runs in a private mount namespace with a fresh /var/log (root only).
if [[ $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  in_fresh_var_log() { # COMMAND...: runs COMMAND with an empty tmpfs at /var/log holding dane-policyd/
    timeout 30 unshare -m --propagation private bash -c \
      'mount -t tmpfs tmpfs /var/log && mkdir /var/log/dane-policyd && exec "$@"' in-namespace "$@"
  }
  in_empty_var_log() { # COMMAND...: the same without /var/log/dane-policyd
    timeout 30 unshare -m --propagation private bash -c 'mount -t tmpfs tmpfs /var/log && exec "$@"' in-namespace "$@"
  }
  run 0 "^$example: configuration OK\$" -- in_fresh_var_log "$DANE_POLICYD" --check-config --config "$example"
  # And without that directory it names the line of verdict-log (the check looks, it does not guess).
  line=$(grep -n '^verdict-log' "$example" | cut -d: -f1)
  run 2 "^$example:$line: option 'verdict-log'.*/var/log/dane-policyd does not exist" -- \
    in_empty_var_log "$DANE_POLICYD" --check-config --config "$example"
else
  skip_or_fail "checking the shipped example configuration needs root and unshare -m (a private /var/log)"
fi
# Without root: the example's values themselves parse (only the log path replaced).
run 0 "configuration OK" -- "$DANE_POLICYD" --check-config --config "$example" --verdict-log "$tmp/verdicts.jsonl" \
  --user root

# --- 2. Each kind of bad value: --check-config and a plain start both exit 2 naming FILE:LINE ----------
check_bad() { # NAME LINE PATTERN: the config with LINE on line 6 fails with FILE:6 and PATTERN
  local conf
  conf=$(bad_conf "$1" "$2")
  run 2 "^$conf:6: " "$3" "configuration check failed|problems? in" -- "$DANE_POLICYD" --check-config --config "$conf"
  run 2 "$conf:6: " "$3" -- "$DANE_POLICYD" --foreground --config "$conf"
}
check_bad idle-timeout 'idle-timeout = 0' "idle-timeout.*'0' is not a number from 1"
check_bad max-connections 'max-connections = 0' "max-connections.*'0' is not a number from 1"
check_bad workers 'workers = 0' "workers.*'0' is not a number from 1"
check_bad stats-dane 'stats-name = dane' "stats-name.*'dane' is the policy map's name"
check_bad stats-tlspolicy 'stats-name = tlspolicy' "stats-name.*'tlspolicy' is the policy map's name"
check_bad stats-empty 'stats-name =' "stats-name.*empty map name"
check_bad digest 'fingerprint-digest = sha257' "fingerprint-digest.*unknown digest 'sha257'"
check_bad unknown 'idle-timeuot = 10' "unknown option 'idle-timeuot'"
check_bad mode 'mode = strict' "mode.*strict"
check_bad anchor-dir "trust-anchor-file = $tmp/a-directory" "trust-anchor-file.*$tmp/a-directory: is a directory"
check_bad unbound-dir "unbound-config = $tmp/a-directory" "unbound-config.*$tmp/a-directory: is a directory"
# A line without a name (found by settings_fuzz): Boost found it "ambiguous" and threw; exit 1, no line.
check_bad empty-name '= native' "expected 'name = value', got '= native'"
check_bad dashes-only '-- = native' "expected 'name = value', got '-- = native'"

# Problems only --check-config looks for (a plain start reports them as start-up failures).
conf=$(bad_conf verdict-dir "verdict-log = $tmp/no-such-dir/verdicts.jsonl")
run 2 "^$conf:6: option 'verdict-log'.*no-such-dir does not exist" -- "$DANE_POLICYD" --check-config --config "$conf"
conf=$(bad_conf user "user = no-such-user-dane-cli")
run 2 "^$conf:6: option 'user': no such user 'no-such-user-dane-cli'" -- "$DANE_POLICYD" --check-config --config "$conf"
conf=$(bad_conf group "socket-group = no-such-group-dane-cli")
run 2 "^$conf:6: option 'socket-group': no such group" -- "$DANE_POLICYD" --check-config --config "$conf"
conf=$(bad_conf anchor-missing "trust-anchor-file = $tmp/no-such.key")
run 2 "^$conf:6: option 'trust-anchor-file'.*no-such.key: cannot read" -- "$DANE_POLICYD" --check-config --config "$conf"
# Several problems: every one is reported, not just the first.
cat >"$tmp/several.conf" <<CONF
user = no-such-user-dane-cli
socket-group = no-such-group-dane-cli
verdict-log = $tmp/no-such-dir/v.jsonl
unbound-config = $tmp/offline.conf
CONF
run 2 "several.conf:1: option 'user'" "several.conf:2: option 'socket-group'" "several.conf:3: option 'verdict-log'" \
  "3 problems in $tmp/several.conf" -- "$DANE_POLICYD" --check-config --config "$tmp/several.conf"

# Command-line values are named as --OPTION.
run 2 "^--idle-timeout: '0'" -- "$DANE_POLICYD" --check-config --config /dev/null --idle-timeout 0
run 2 "^--user: no such user" -- "$DANE_POLICYD" --check-config --config /dev/null --user no-such-user-dane-cli \
  --unbound-config "$tmp/offline.conf"
run 2 "--stats-name: 'dane'" -- "$DANE_POLICYD" --foreground --config /dev/null --stats-name dane \
  --socketmap "unix:$tmp/run/socketmap"

# --- 3. Directories where files are expected: exit 2 at once, never a hang --------------------------
run 2 "$tmp/a-directory: config file is a directory" -- "$DANE_POLICYD" --check-config --config "$tmp/a-directory"
run 2 "$tmp/a-directory: config file is a directory" -- "$DANE_POLICYD" --foreground --config "$tmp/a-directory"
run 2 "cannot read config file" -- "$DANE_POLICYD" --foreground --config "$tmp/no-such.conf"
# A device that never ends (or a file over 1 MiB) is refused as too large, not read until memory runs out.
run 2 "^/dev/zero: cannot read config file: '/dev/zero': input too large" -- \
  "$DANE_POLICYD" --check-config --config /dev/zero
for option in --trust-anchor-file --unbound-config; do
  run 2 "^$option $tmp/a-directory: is a directory" -- "$DANE_POLICYD" --check-config --config /dev/null \
    "$option" "$tmp/a-directory"
  run 2 "$option $tmp/a-directory: is a directory" -- "$DANE_POLICYD" --foreground --config /dev/null \
    --socketmap "unix:$tmp/run/socketmap" --user root "$option" "$tmp/a-directory"
  run 2 "$option $tmp/a-directory: is a directory" -- "$DANE_POLICYCTL" policy example.test "$option" "$tmp/a-directory"
  run 2 "$option $tmp/a-directory: is a directory" -- "$DANE_POLICYCTL" check example.test "$option" "$tmp/a-directory"
  run 2 "$option $tmp/a-directory: is a directory" -- "$DANE_POLICYCTL" rollover --current "$tmp/x.pem" \
    --next "$tmp/y.pem" --host mx.example.test "$option" "$tmp/a-directory"
done
[[ -e $tmp/run ]] && fail "a refused start created $tmp/run"

# --- 4. The built-in default configuration file ---------------------------------------------------
# Its path is compiled in (CMake DANE_DEFAULT_CONFIG) and shown by --help.
default=$("$DANE_POLICYD" --help | tr -s ' \n' ' ' | sed -nE 's/.*default: (\/[^ ]+) when that file exists.*/\1/p')
[[ -n $default ]] || fail "dane-policyd --help does not name the default config file"
if [[ -n $default && $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  # with_default FILE COMMAND...: runs COMMAND in a private mount namespace where the default path
  # holds a copy of FILE ("" = nothing there, ":dir" = a directory). The directory of the default
  # path becomes an empty tmpfs when it exists, else an overlay on its parent gains it; the real
  # /etc is untouched.
  with_default() {
    local file=$1
    shift
    mkdir -p "$tmp/ovl/upper" "$tmp/ovl/work"
    timeout 30 unshare -m --propagation private bash -c '
      set -e
      default=$1 file=$2 ovl=$3
      shift 3
      dir=$(dirname "$default")
      if [ -d "$dir" ]; then
        mount -t tmpfs tmpfs "$dir"
      else
        parent=$(dirname "$dir")
        mount -t overlay overlay -o "lowerdir=$parent,upperdir=$ovl/upper,workdir=$ovl/work" "$parent"
        mkdir -p "$dir"
      fi
      if [ "$file" = :dir ]; then
        mkdir "$default"
      elif [ -n "$file" ]; then
        cp "$file" "$default"
      fi
      set +e
      exec "$@"' in-namespace "$default" "$file" "$tmp/ovl" "$@"
    local rc=$?
    rm -rf "$tmp/ovl"
    return $rc
  }
  cat >"$tmp/good-default.conf" <<CONF
mode = monitor
user = root
unbound-config = $tmp/offline.conf
socketmap = unix:$tmp/run/socketmap
CONF
  cp "$tmp/good-default.conf" "$tmp/bad-default.conf"
  echo "idle-timeout = 0" >>"$tmp/bad-default.conf"

  run 0 "^$default: configuration OK\$" -- with_default "$tmp/good-default.conf" "$DANE_POLICYD" --check-config
  run 2 "^$default:5: option 'idle-timeout'" -- with_default "$tmp/bad-default.conf" "$DANE_POLICYD" --check-config
  run 2 "$default:5: option 'idle-timeout'" -- with_default "$tmp/bad-default.conf" "$DANE_POLICYD" --foreground
  # --config replaces the default file; --config /dev/null reads none.
  run 0 "^$tmp/good-default.conf: configuration OK" -- with_default "$tmp/bad-default.conf" "$DANE_POLICYD" \
    --check-config --config "$tmp/good-default.conf"
  run 0 "^/dev/null: configuration OK" -- with_default "$tmp/bad-default.conf" "$DANE_POLICYD" --check-config \
    --config /dev/null --user root --unbound-config "$tmp/offline.conf"
  # No file at the default path: the embedded defaults.
  run 0 "no configuration file \($default does not exist\), built-in defaults: configuration OK" -- \
    with_default "" "$DANE_POLICYD" --check-config --user root --unbound-config "$tmp/offline.conf"
  # A directory at the default path is an error, not "no file".
  run 2 "^$default: config file is a directory" -- with_default :dir "$DANE_POLICYD" --check-config
  [[ -e $tmp/run ]] && fail "a refused start created $tmp/run"
elif [[ -n $default ]]; then
  skip_or_fail "reading the default config file $default needs root and unshare -m (a private mount namespace)"
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
