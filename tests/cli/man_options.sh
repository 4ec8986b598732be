#!/usr/bin/env bash
# The man pages cannot drift from the code: every long option printed by `dane-policyd --help`
# must be documented in man/dane-policyd.8 (and, as a config-file name, in
# man/dane-policyd.conf.5); every long option printed by `dane-policyctl COMMAND --help` must be
# documented in that command's section of man/dane-policyctl.1 (or under RESOLVER OPTIONS).
# Every page must also render without a single groff/man warning.
# Needs: DANE_POLICYCTL, DANE_POLICYD (binaries), DANE_SOURCE_DIR; man-db and groff-base.
set -u

src=${DANE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
man_dir=$src/man
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

for tool in man groff; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/install-deps.sh: man-db, groff-base)" >&2; exit 1; }
done
[[ -x ${DANE_POLICYD:-} ]] || { echo "FAIL: DANE_POLICYD is not set to the dane-policyd binary" >&2; exit 1; }
[[ -x ${DANE_POLICYCTL:-} ]] || { echo "FAIL: DANE_POLICYCTL is not set to the dane-policyctl binary" >&2; exit 1; }

# Long options ("--name") in a text, one per line, sorted, unique.
long_options() {
  grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u
}

# A roff source with the \- escapes turned into plain dashes.
plain_roff() {
  sed -e 's/\\-/-/g' -e 's/\\(en/-/g' "$1"
}

# Lines of a roff source from heading $2 (".SS NAME" or ".SH NAME") to the next heading.
roff_section() {
  # A ".SH" section includes its ".SS" subsections; a ".SS" one ends at the next heading.
  plain_roff "$1" | awk -v head="$2" '
    $0 == head { inside = 1; next }
    /^\.SH / { inside = 0 }
    /^\.SS / && head ~ /^\.SS / { inside = 0 }
    inside { print }'
}

# "--name=default" lines for every option whose --help entry shows a Boost default "(=VALUE)".
help_defaults() {
  sed -nE 's/^ +(-[a-z] \[ )?(--[a-z][a-z0-9-]*)( \])?( [^ (]+)? \(=([^)]*)\).*/\2=\5/p'
}

# The plain text of the tagged paragraph documenting option $2 in roff text $1 (from its tag
# line up to the next .TP/.SH/.SS), macros stripped, on one line.
option_paragraph() {
  awk -v opt="$2" '
    /^\.(TP|SH|SS)/ { if (found) exit; tag = 1; next }
    tag { tag = 0; if ($0 ~ ("^\\.(B|BI|BR) (.*[ \"])?" opt "( |\"|$)")) { found = 1 }; next }
    found { print }' <<<"$1" | sed -E 's/^\.[A-Z]+ ?//; s/\\f[BIRP]//g; s/"//g' | tr '\n' ' ' | sed -E 's/ +/ /g; s/ ([.,;])/\1/g'
}

# Fails unless every "(=VALUE)" default of --help text $2 appears as "Default: VALUE" in the
# paragraph of that option in roff text $1; $3 names the page for messages.
check_defaults() {
  local roff=$1 help_text=$2 where=$3 entry opt value paragraph
  while IFS= read -r entry; do
    [[ -z $entry ]] && continue
    opt=${entry%%=*}
    value=${entry#*=}
    paragraph=$(option_paragraph "$roff" "$opt")
    [[ -z $paragraph ]] && continue # missing options are reported separately
    if [[ $paragraph != *"Default: $value"* ]]; then
      fail "$where: $opt defaults to '$value' (--help) but its paragraph says: $paragraph"
    fi
  done < <(help_defaults <<<"$help_text")
}

# --- 1. Every page renders without warnings ------------------------------------------------
for page in "$man_dir"/dane-policyd.8 "$man_dir"/dane-policyd.conf.5 "$man_dir"/dane-policyctl.1; do
  [[ -f $page ]] || { fail "missing man page $page"; continue; }
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
  [[ -z $warnings ]] || fail "$(basename "$page") renders with warnings:"$'\n'"$warnings"
  # One sentence per line: no line of running text holds ". " followed by a capital letter.
  # (Examples between .EX and .EE are verbatim and exempt.)
  crowded=$(awk '/^\.EX/ { ex = 1 } /^\.EE/ { ex = 0; next } !ex && /^[^.].*[a-z]\. [A-Z]/ { print FILENAME ":" FNR ": " $0 }' "$page")
  [[ -z $crowded ]] || fail "$(basename "$page"): more than one sentence on a line:"$'\n'"$crowded"
done

# --- 2. dane-policyd --help vs dane-policyd.8 and dane-policyd.conf.5 -------------------------
help=$("$DANE_POLICYD" --help 2>&1)
rc=$?
check_daemon=1
if grep -q "not implemented yet" <<<"$help"; then
  echo "note: dane-policyd is not implemented yet; its options cannot be checked" >&2
  check_daemon=0
elif [[ $rc -ne 0 ]]; then
  fail "dane-policyd --help exited $rc: $help"
fi
daemon_options=$(long_options <<<"$help")
[[ $check_daemon -eq 0 || -n $daemon_options ]] || fail "dane-policyd --help printed no options: $help"
page8=$(roff_section "$man_dir/dane-policyd.8" ".SH OPTIONS")
page5=$(plain_roff "$man_dir/dane-policyd.conf.5")
[[ $check_daemon -eq 1 ]] || daemon_options=""
for opt in $daemon_options; do
  # An option is documented by a tagged paragraph line naming it (".B --x", ".BI --x ...", ".BR -h ", " --x").
  if ! grep -qE -- "^\.(B|BI|BR) (.*[ \"])?${opt}( |\"|$)" <<<"$page8"; then
    fail "dane-policyd option $opt (from --help) is not documented under OPTIONS in man/dane-policyd.8"
  fi
  name=${opt#--}
  case $name in help | version | config | check-config) continue ;; esac
  if ! grep -qE -- "^\.B ${name}\$" <<<"$page5"; then
    fail "dane-policyd option $opt (from --help) is not documented as '$name' in man/dane-policyd.conf.5"
  fi
  # contrib/dane-policyd.conf.example shows every option (set or commented out) with its default.
  if ! grep -qE -- "^#?${name} =" "$src/contrib/dane-policyd.conf.example"; then
    fail "dane-policyd option $opt (from --help) is missing from contrib/dane-policyd.conf.example"
  fi
done
[[ $check_daemon -eq 1 ]] && check_defaults "$page8" "$help" "man/dane-policyd.8"
# And the other way round: the page documents no option the daemon does not have.
if [[ $check_daemon -eq 1 ]]; then
  for opt in $(grep -E '^\.(B|BI|BR) ' <<<"$page8" | long_options); do
    grep -qx -- "$opt" <<<"$daemon_options" || fail "man/dane-policyd.8 documents $opt, which dane-policyd --help does not list"
  done
fi

# --- 3. dane-policyctl COMMAND --help vs the command's section of dane-policyctl.1 ------------------------------
resolver_section=$(roff_section "$man_dir/dane-policyctl.1" ".SH RESOLVER OPTIONS")
# The commands come from `dane-policyctl --help` ("  NAME  summary" lines under "commands:"), so
# a new command cannot go undocumented.
commands=$("$DANE_POLICYCTL" --help 2>&1 | awk '/^commands:/ { inside = 1; next } inside && /^  [a-z]/ { print $1 } inside && /^$/ { exit }')
[[ -n $commands ]] || fail "dane-policyctl --help lists no commands"
for cmd in $commands; do
  out=$("$DANE_POLICYCTL" "$cmd" --help 2>&1)
  rc=$?
  if grep -q "not implemented yet" <<<"$out"; then
    echo "note: dane-policyctl $cmd is not implemented yet; its options cannot be checked" >&2
    continue
  fi
  [[ $rc -eq 0 ]] || fail "dane-policyctl $cmd --help exited $rc: $out"
  section=$(roff_section "$man_dir/dane-policyctl.1" ".SS $cmd")
  [[ -n $section ]] || fail "man/dane-policyctl.1 has no '.SS $cmd' section"
  for opt in $(long_options <<<"$out"); do
    [[ $opt == --help ]] && continue
    if ! grep -qE -- "^\.(B|BI|BR) (.*[ \"])?${opt}( |\"|$)" <<<"$section"$'\n'"$resolver_section"; then
      fail "dane-policyctl $cmd option $opt (from --help) is not documented in the '$cmd' section of man/dane-policyctl.1"
    fi
  done
  check_defaults "$section"$'\n'"$resolver_section" "$out" "man/dane-policyctl.1 ($cmd)"
done

if [[ $failures -gt 0 ]]; then
  echo "$failures problem(s) found" >&2
  exit 1
fi
echo "man pages: render cleanly; every option of dane-policyd --help and dane-policyctl COMMAND --help is documented"
