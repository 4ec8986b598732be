#!/usr/bin/env bash
# The man pages describe the programs that are in the tree, nothing more. This is the other direction of
# man_options.sh (which checks that every option of --help is documented):
#   1. every option a man page names (tagged paragraphs, SYNOPSIS, running text) exists in the program:
#      `dane-policyd --help` for man/dane-policyd.8 and for the names of man/dane-policyd.conf.5 (the
#      daemon's options without `--`), `dane-policyctl COMMAND --help` for man/dane-policyctl.1;
#   2. every subcommand the pages name (SYNOPSIS, `.SS` under COMMANDS, examples) exists in
#      `dane-policyctl --help`;
#   3. every command line in an EXAMPLES section names existing subcommands and options; the examples
#      that can run offline (`dane-policyctl tlsa` and `verify`, on contrib/example/mail.example.com.pem)
#      are run, and must exit 0 and print what the page shows ("..." in the page stands for any text);
#   4. no file of the repository outside tests/data points to the team's notes outside it (../shared,
#      shared/DESIGN): the project's documents are docs/*.md.
# Nothing here knows which options or commands exist: it reads them from the programs when it runs.
# Needs: DANE_POLICYD, DANE_POLICYCTL (binaries), DANE_SOURCE_DIR.
set -u

src=${DANE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
man_dir=$src/man
example_pem=$src/contrib/example/mail.example.com.pem
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

[[ -x ${DANE_POLICYD:-} ]] || { echo "FAIL: DANE_POLICYD is not set to the dane-policyd binary" >&2; exit 1; }
[[ -x ${DANE_POLICYCTL:-} ]] || { echo "FAIL: DANE_POLICYCTL is not set to the dane-policyctl binary" >&2; exit 1; }
for page in dane-policyd.8 dane-policyd.conf.5 dane-policyctl.1; do
  [[ -f $man_dir/$page ]] || { echo "FAIL: missing man page man/$page" >&2; exit 1; }
done
[[ -f $example_pem ]] || { echo "FAIL: missing $example_pem (the examples run on it)" >&2; exit 1; }

# ---- what the programs have --------------------------------------------------------------------

# Options ("--name", "-x") in a --help text, one per line, unique. Short options count only where
# --help lists them as options ("  -h [ --help ]", "  -u [ --usage ] arg").
help_options() {
  { grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]'; } <<<"$1"
  { grep -oE -- '^ +-[a-zA-Z]\b' | tr -d ' '; } <<<"$1"
}

daemon_help=$("$DANE_POLICYD" --help 2>&1)
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: dane-policyd --help exited $rc: $daemon_help" >&2; exit 1; }
daemon_options=$(help_options "$daemon_help" | sort -u)
[[ -n $daemon_options ]] || { echo "FAIL: dane-policyd --help printed no options" >&2; exit 1; }

ctl_help=$("$DANE_POLICYCTL" --help 2>&1)
rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: dane-policyctl --help exited $rc: $ctl_help" >&2; exit 1; }
# The command list: the indented "  NAME   summary" lines after "commands:".
commands=$(awk '/^commands:/ { inside = 1; next } inside && /^$/ { exit } inside && /^  [a-z]/ { print $1 }' <<<"$ctl_help")
[[ -n $commands ]] || { echo "FAIL: dane-policyctl --help lists no commands: $ctl_help" >&2; exit 1; }

declare -A command_options
all_ctl_options=$'--help\n-h'
for cmd in $commands; do
  out=$("$DANE_POLICYCTL" "$cmd" --help 2>&1)
  rc=$?
  [[ $rc -eq 0 ]] || fail "dane-policyctl $cmd --help exited $rc: $out"
  command_options[$cmd]=$(help_options "$out" | sort -u)
  all_ctl_options+=$'\n'"${command_options[$cmd]}"
done
all_ctl_options=$(sort -u <<<"$all_ctl_options")

is_command() { grep -qx -- "$1" <<<"$commands"; }
has_option() { grep -qx -- "$2" <<<"$1"; } # has_option LIST OPTION

# ---- reading roff ------------------------------------------------------------------------------

# A page as plain lines: \- and \(en become "-", \e a backslash, font escapes go; line numbers kept
# by printing "LINE<TAB>TEXT".
plain_numbered() {
  sed -e 's/\\-/-/g' -e 's/\\(en/-/g' -e 's/\\(dq/"/g' -e 's/\\e/\\/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' "$1" |
    awk '{ print NR "\t" $0 }'
}

# Long options in a line of text.
line_long_options() { grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z0-9-]*[a-z0-9]' <<<"$1" | grep -oE -- '--[a-z0-9-]+'; }

# Checks every option of one man page line against the allowed list; a line that names the other
# program may also use that program's options.
check_line_options() { # PAGE LINE_NO TEXT ALLOWED WHAT
  local page=$1 no=$2 text=$3 allowed=$4 what=$5 opt
  if [[ $text == *dane-policyctl* ]]; then
    allowed+=$'\n'"$all_ctl_options"
  fi
  if [[ $text =~ dane-policyd([^.a-z-]|$) ]]; then
    allowed+=$'\n'"$daemon_options"
  fi
  for opt in $(line_long_options "$text"); do
    has_option "$allowed" "$opt" || fail "man/$page:$no names $opt, which $what does not have: $text"
  done
}

# ---- 1+2. dane-policyd.8: every option it names is a daemon option -----------------------------
while IFS=$'\t' read -r no text; do
  [[ $text == '.\"'* ]] && continue
  check_line_options dane-policyd.8 "$no" "$text" "$daemon_options" "dane-policyd --help"
done < <(plain_numbered "$man_dir/dane-policyd.8")

# ---- dane-policyd.conf.5: option names are the daemon's options without "--" -------------------
conf_names=$(sed -n 's/^--//p' <<<"$daemon_options")
section="" previous=""
while IFS=$'\t' read -r no text; do
  [[ $text == '.\"'* ]] && continue
  case $text in
  .SH*) section=${text#.SH } ;;
  esac
  # A tagged paragraph under OPTIONS documents one name: ".TP" then ".B name".
  if [[ $section == OPTIONS && $previous == .TP && $text =~ ^\.B[[:space:]]+([a-z][a-z0-9-]*)$ ]]; then
    name=${BASH_REMATCH[1]}
    grep -qx -- "$name" <<<"$conf_names" ||
      fail "man/dane-policyd.conf.5:$no documents the setting '$name', which is not an option of dane-policyd --help"
  fi
  check_line_options dane-policyd.conf.5 "$no" "$text" "$daemon_options" "dane-policyd --help"
  previous=$text
done < <(plain_numbered "$man_dir/dane-policyd.conf.5")

# ---- dane-policyctl.1: commands and their options ----------------------------------------------
resolver_options=""
section="" subsection="" synopsis_cmd="" previous=""
while IFS=$'\t' read -r no text; do
  [[ $text == '.\"'* ]] && continue
  case $text in
  .SH*) section=${text#.SH } subsection="" synopsis_cmd="" ;;
  .SS*) subsection=${text#.SS } ;;
  esac
  if [[ $section == COMMANDS && $text == .SS* ]]; then
    is_command "$subsection" || fail "man/dane-policyctl.1:$no has a section for '$subsection', which dane-policyctl --help does not list"
  fi
  # SYNOPSIS: ".SY dane-policyctl" then ".B COMMAND", then its options.
  if [[ $section == SYNOPSIS ]]; then
    if [[ $previous == ".SY dane-policyctl" && $text =~ ^\.B[[:space:]]+([a-z][a-z0-9-]*)$ ]]; then
      synopsis_cmd=${BASH_REMATCH[1]}
      is_command "$synopsis_cmd" || fail "man/dane-policyctl.1:$no: SYNOPSIS names the command '$synopsis_cmd', which dane-policyctl --help does not list"
    fi
    [[ $text == .YS* ]] && synopsis_cmd=""
  fi
  # Which options a line may name: its command's (in its SYNOPSIS entry or its section under
  # COMMANDS, plus the shared resolver options), else any command's.
  cmd=""
  if [[ $section == SYNOPSIS ]]; then
    cmd=$synopsis_cmd
  elif [[ $section == COMMANDS ]]; then
    cmd=$subsection
  fi
  if [[ -n $cmd ]] && is_command "$cmd"; then
    allowed=${command_options[$cmd]}$'\n--help\n-h'
    what="dane-policyctl $cmd --help"
    # Options of the RESOLVER OPTIONS section are documented once for every command that takes them.
    if [[ $text == *'resolver options'* ]]; then
      allowed+=$'\n'"$all_ctl_options"
    fi
  else
    allowed=$all_ctl_options
    what="any dane-policyctl command's --help"
  fi
  check_line_options dane-policyctl.1 "$no" "$text" "$allowed" "$what"
  # Short options in tagged paragraphs (".BR -u , --usage") and in the SYNOPSIS (".OP -u USAGE").
  if [[ ($previous == .TP || $text == .OP*) && -n $cmd ]] && is_command "$cmd"; then
    for short in $(grep -oE -- '(^|[ "])-[a-zA-Z]([ ",]|$)' <<<"${text#.* }" | grep -oE -- '-[a-zA-Z]'); do
      has_option "${command_options[$cmd]}"$'\n-h' "$short" ||
        fail "man/dane-policyctl.1:$no names $short for '$cmd', which dane-policyctl $cmd --help does not have: $text"
    done
  fi
  # Each option of RESOLVER OPTIONS must exist in at least one command (checked above with the
  # union); remember them for the examples.
  if [[ $section == 'RESOLVER OPTIONS' ]]; then
    resolver_options+=$'\n'$(line_long_options "$text")
  fi
  previous=$text
done < <(plain_numbered "$man_dir/dane-policyctl.1")

# ---- 3. EXAMPLES -----------------------------------------------------------------------------------

# Prints the example blocks of a page's EXAMPLES section: "BLOCK<TAB>LINE<TAB>TEXT", continuation
# lines (ending in a backslash) joined to their command.
example_lines() {
  plain_numbered "$1" | awk -F'\t' '
    $2 ~ /^\.SH / { inside = ($2 == ".SH EXAMPLES"); next }
    !inside { next }
    $2 ~ /^\.EX/ { ex = 1; block++; next }
    $2 ~ /^\.EE/ { ex = 0; next }
    !ex { next }
    {
      text = $2
      if (pending != "") { text = pending " " text; sub(/^[ ]+/, "", $2); line = pending_no } else { line = $1 }
      if (text ~ /\\$/) { sub(/[ ]*\\$/, "", text); pending = text; pending_no = line; next }
      pending = ""
      print block "\t" line "\t" text
    }'
}

# The words of a command line, shell-style (quotes group words); xargs splits them and never runs
# anything the page says.
split_words() {
  local -n _out=$1
  mapfile -t _out < <(xargs -n1 printf '%s\n' <<<"$2" 2>/dev/null)
}

# A documented output line as a glob: "..." stands for any text; other glob characters are literal.
output_glob() {
  local text=$1 pattern="" part
  while [[ $text == *...* ]]; do
    part=${text%%...*}
    [[ -z $part ]] || pattern+=$(printf '%q' "$part")
    pattern+='*'
    text=${text#*...}
  done
  [[ -z $text ]] || pattern+=$(printf '%q' "$text")
  printf '%s' "$pattern"
}

run_example() { # PAGE LINE WORDS... ; expected output lines in the array `expected`
  local page=$1 no=$2
  shift 2
  local -a args=("$@") run=()
  local cmd=${args[1]} i word full usm prefix
  for ((i = 2; i < ${#args[@]}; i++)); do
    word=${args[i]}
    if [[ $word == *.pem ]]; then
      word=$example_pem
    elif [[ ${args[i - 1]} == --tlsa && $word =~ ^([0-3])\ ([01])\ ([0-2])\ ([0-9a-fA-F]*)\.\.\.$ ]]; then
      # An abbreviated record: the example means the record of the example certificate.
      usm="${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
      prefix=${BASH_REMATCH[4]}
      full=$("$DANE_POLICYCTL" tlsa -u "${BASH_REMATCH[1]}" -s "${BASH_REMATCH[2]}" -m "${BASH_REMATCH[3]}" "$example_pem" 2>&1)
      if [[ $full != "$usm $prefix"* ]]; then
        fail "man/$page:$no: the record '$word' is not the record of contrib/example/mail.example.com.pem ($full)"
        return
      fi
      word=$full
    fi
    run+=("$word")
  done
  local out rc
  out=$("$DANE_POLICYCTL" "$cmd" "${run[@]}" 2>&1)
  rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "man/$page:$no: the example exits $rc (expected 0): dane-policyctl $cmd ${run[*]}"$'\n'"$out"
    return
  fi
  local -a actual
  mapfile -t actual <<<"$out"
  if [[ ${#expected[@]} -gt 0 && ${#expected[@]} -ne ${#actual[@]} ]]; then
    fail "man/$page:$no: the example prints ${#actual[@]} line(s), the page shows ${#expected[@]}:"$'\n'"$out"
    return
  fi
  for ((i = 0; i < ${#expected[@]}; i++)); do
    # shellcheck disable=SC2053
    if [[ ${actual[i]} != $(output_glob "${expected[i]}") ]]; then
      fail "man/$page:$no: the example prints '${actual[i]}' where the page shows '${expected[i]}'"
    fi
  done
  ran_examples=$((ran_examples + 1))
}

ran_examples=0
for page in dane-policyd.8 dane-policyd.conf.5 dane-policyctl.1; do
  mapfile -t lines < <(example_lines "$man_dir/$page")
  [[ ${#lines[@]} -gt 0 ]] || fail "man/$page has no EXAMPLES section with an example"
  for ((n = 0; n < ${#lines[@]}; n++)); do
    IFS=$'\t' read -r block no text <<<"${lines[n]}"
    command=${text#\$ }
    words=()
    if [[ $page == dane-policyd.conf.5 ]]; then
      # Configuration lines: "name = value" names a daemon option.
      if [[ $text =~ ^[[:space:]]*([a-z][a-z0-9-]*)[[:space:]]*= ]]; then
        grep -qx -- "${BASH_REMATCH[1]}" <<<"$conf_names" ||
          fail "man/$page:$no: the example sets '${BASH_REMATCH[1]}', which is not an option of dane-policyd --help"
      fi
      continue
    fi
    split_words words "$command" || continue
    [[ ${#words[@]} -gt 0 ]] || continue
    case ${words[0]} in
    dane-policyd)
      for word in "${words[@]:1}"; do
        [[ $word == -* ]] || continue
        has_option "$daemon_options" "${word%%=*}" || fail "man/$page:$no: the example uses ${word%%=*}, which dane-policyd --help does not list: $text"
      done
      ;;
    dane-policyctl)
      cmd=${words[1]:-}
      if ! is_command "$cmd"; then
        fail "man/$page:$no: the example runs 'dane-policyctl $cmd', a command dane-policyctl --help does not list"
        continue
      fi
      for word in "${words[@]:2}"; do
        [[ $word == -* ]] || continue
        has_option "${command_options[$cmd]}"$'\n-h' "${word%%=*}" ||
          fail "man/$page:$no: the example uses ${word%%=*}, which dane-policyctl $cmd --help does not list: $text"
      done
      # The documented output: the following lines of the same block up to the next "$ " command.
      expected=()
      for ((m = n + 1; m < ${#lines[@]}; m++)); do
        IFS=$'\t' read -r next_block _ next_text <<<"${lines[m]}"
        [[ $next_block == "$block" && $next_text != '$ '* ]] || break
        expected+=("$next_text")
      done
      case $cmd in
      tlsa | verify) run_example "$page" "$no" "${words[@]}" ;;
      esac
      ;;
    esac
  done
done
[[ $ran_examples -gt 0 ]] || fail "no offline example (dane-policyctl tlsa or verify) was found and run in man/dane-policyctl.1"

# ---- 4. nothing points outside the repository --------------------------------------------------
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git -C "$src" ls-files --cached --others --exclude-standard)
else
  files=$(cd "$src" && find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||')
fi
self=tests/cli/man_agreement.sh
while IFS= read -r file; do
  case $file in
  tests/data/* | "$self") continue ;;
  esac
  [[ -f $src/$file ]] || continue
  hits=$(grep -nIE -e '\.\./shared' -e 'shared/DESIGN' "$src/$file" 2>/dev/null)
  [[ -z $hits ]] || fail "$file points outside the repository (the project's own documents are docs/*.md):"$'\n'"$hits"
done <<<"$files"

if [[ $failures -gt 0 ]]; then
  echo "$failures problem(s) found" >&2
  exit 1
fi
echo "man pages agree with the programs: every option and command they name exists; $ran_examples offline example(s) ran as shown; nothing points outside the repository"
