#!/usr/bin/env bash
# CLI tests of `dane-policyctl report`: table, --json, --domain, --since/--until, gzip + rotation in any
# order, malformed lines on stderr with FILE:LINE, exit codes (0 summarised, 2 nothing readable, a
# truncated or corrupt gzip file, or bad usage), --maillog in the three Postfix log formats, --tlsrpt shapes.
set -u
DANE_POLICYCTL=${DANE_POLICYCTL:?DANE_POLICYCTL not set}
DATA=${DANE_TEST_DATA_DIR:?DANE_TEST_DATA_DIR not set}/report
export TZ=UTC
WORK=$(mktemp -d /tmp/report_cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
pass() { echo "ok - $1"; }
fail() { echo "FAIL - $1"; fails=$((fails + 1)); }
expect_rc() { # NAME WANT GOT
  if [ "$2" = "$3" ]; then pass "$1 (exit $3)"; else fail "$1: exit $3, want $2"; fi
}
expect_grep() { # NAME PATTERN FILE
  if grep -qE -- "$2" "$3"; then pass "$1"; else fail "$1: /$2/ not in $3:"; sed 's/^/    /' "$3"; fi
}
expect_no_grep() {
  if grep -qE -- "$2" "$3"; then fail "$1: /$2/ unexpectedly in $3"; else pass "$1"; fi
}
py() { python3 -c "$1" "${@:2}"; }

# --- table: problems first, exact counts
"$DANE_POLICYCTL" report "$DATA/verdicts-basic.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "table" 0 $?
expect_grep "problem destination listed first" '^!  broken\.example +tempfail +1 ' <(sed -n 2p "$WORK/out")
expect_grep "example.com counts" '^   example\.com +dane-only +3 +2026-11-28T10:00:00Z +2026-11-28T14:00:00Z +3 +0 +0 +0 +0 +- +-$' "$WORK/out"
expect_grep "footer" '^3 destination\(s\); 5 verdict line\(s\) in 1 file\(s\), 0 malformed' "$WORK/out"
[ -s "$WORK/err" ] && fail "clean input wrote to stderr" || pass "clean input: empty stderr"

# --- json
"$DANE_POLICYCTL" report --json "$DATA/verdicts-flips.jsonl" >"$WORK/json" 2>"$WORK/err"
expect_rc "--json" 0 $?
py '
import json,sys
j=json.load(open(sys.argv[1]))
d={x["destination"]:x for x in j["destinations"]}
assert [x["destination"] for x in j["destinations"]]==["[mx.relay.example]:2525","flip.example","gain.example"], j["destinations"]
f=d["flip.example"]
assert f["policy"]=="notfound" and f["evaluations"]==4, f
assert f["counts"]=={"dane-only":2,"dane":0,"pinned":0,"notfound":1,"tempfail":1}, f["counts"]
assert f["changes"]["lost_dane"] is True and f["changes"]["tlsa_changes"]==1
assert d["gain.example"]["changes"]["gained_dane"] is True
assert d["[mx.relay.example]:2525"]["probe_failures"]==1
' "$WORK/json" && pass "--json content" || fail "--json content"

# --- --domain exact
"$DANE_POLICYCTL" report --json --domain example.com "$DATA/verdicts-basic.jsonl" >"$WORK/json" 2>/dev/null
py 'import json,sys; j=json.load(open(sys.argv[1])); assert [d["destination"] for d in j["destinations"]]==["example.com"]; assert j["input"]["filtered"]==2' "$WORK/json" \
  && pass "--domain selects exactly" || fail "--domain selects exactly"
"$DANE_POLICYCTL" report --json --domain com "$DATA/verdicts-basic.jsonl" >"$WORK/json" 2>/dev/null
py 'import json,sys; j=json.load(open(sys.argv[1])); assert j["destinations"]==[]' "$WORK/json" \
  && pass "--domain is not a suffix match" || fail "--domain is not a suffix match"

# --- --since / --until (absolute and relative)
"$DANE_POLICYCTL" report --json --since 2026-11-28T11:00:00Z --until 2026-11-28T13:00:00Z "$DATA/verdicts-basic.jsonl" >"$WORK/json"
py 'import json,sys; j=json.load(open(sys.argv[1])); d={x["destination"]:x["evaluations"] for x in j["destinations"]}; assert d=={"example.com":1,"insecure.example":1,"broken.example":1}, d' "$WORK/json" \
  && pass "--since/--until absolute" || fail "--since/--until absolute"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ); old=$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)
printf '%s\n' \
  "{\"time\":\"$old\",\"destination\":\"old.example\",\"mode\":\"native\",\"policy\":\"dane\",\"answer\":\"OK dane\",\"reason\":\"r\",\"cached\":false,\"hosts\":[]}" \
  "{\"time\":\"$now\",\"destination\":\"new.example\",\"mode\":\"native\",\"policy\":\"dane\",\"answer\":\"OK dane\",\"reason\":\"r\",\"cached\":false,\"hosts\":[]}" >"$WORK/rel.log"
"$DANE_POLICYCTL" report --since 24h "$WORK/rel.log" >"$WORK/out"
expect_grep "--since 24h keeps recent" 'new\.example' "$WORK/out"
expect_no_grep "--since 24h drops old" 'old\.example' "$WORK/out"
"$DANE_POLICYCTL" report --until 2d "$WORK/rel.log" >"$WORK/out"
expect_grep "--until 2d keeps old" 'old\.example' "$WORK/out"
expect_no_grep "--until 2d drops recent" 'new\.example' "$WORK/out"

# --- rotation: gzip + plain, given in any order; gzip detected by content, not name
mk() { printf '{"time":"%s","destination":"rot.example","mode":"native","policy":"%s","answer":"x","reason":"r","cached":false,"hosts":[]}\n' "$1" "$2"; }
{ mk 2026-11-20T00:00:00Z dane-only; mk 2026-11-21T00:00:00Z dane-only; } | gzip >"$WORK/verdicts.log.2.gz"
mk 2026-11-22T00:00:00Z notfound | gzip >"$WORK/verdicts.log.1"       # compressed, no .gz suffix
mk 2026-11-23T00:00:00Z dane-only >"$WORK/verdicts.log"
"$DANE_POLICYCTL" report --json "$WORK/verdicts.log" "$WORK/verdicts.log.2.gz" "$WORK/verdicts.log.1" >"$WORK/json" 2>"$WORK/err"
expect_rc "rotated set" 0 $?
py '
import json,sys
d=json.load(open(sys.argv[1]))["destinations"][0]
assert d["evaluations"]==4 and d["policy"]=="dane-only", d
c=d["changes"]; assert c["policy_changes"]==2 and c["lost_dane"] and c["gained_dane"], c
assert c["last"]["kind"]=="gained-dane" and c["last"]["time"]=="2026-11-23T00:00:00Z", c
' "$WORK/json" && pass "rotation read in time order" || fail "rotation read in time order"

# --- malformed lines: named on stderr, rest read, exit 0
"$DANE_POLICYCTL" report "$DATA/verdicts-junk.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "junk file" 0 $?
expect_grep "junk line named" "verdicts-junk\.jsonl:2: malformed verdict line: not valid JSON" "$WORK/err"
expect_grep "truncated last line named" "verdicts-junk\.jsonl:7: malformed verdict line \(truncated last line" "$WORK/err"
expect_grep "malformed total" "5 malformed line\(s\) skipped" "$WORK/err"
expect_grep "rest summarised" '^ +junk\.example +dane +2 ' "$WORK/out"

# --- truncated gzip (crash during compression)
for i in $(seq 1 3000); do mk 2026-11-20T00:00:00Z dane; done | gzip >"$WORK/full.gz"
head -c $(( $(stat -c %s "$WORK/full.gz") / 2 )) "$WORK/full.gz" >"$WORK/cut.gz"
"$DANE_POLICYCTL" report "$WORK/cut.gz" >"$WORK/out" 2>"$WORK/err"
expect_rc "truncated gzip is an input error" 2 $?
expect_grep "truncated gzip reported" "cut\.gz:[0-9]+: malformed input, stopped reading: truncated gzip" "$WORK/err"
expect_grep "truncated gzip partly read" '^ +rot\.example +dane +[0-9]+' "$WORK/out"
expect_grep "truncated gzip: exit reason" "1 file\(s\) could not be read to the end" "$WORK/err"

# --- exit 2: nothing readable, bad usage
"$DANE_POLICYCTL" report "$WORK/does-not-exist" >"$WORK/out" 2>"$WORK/err"
expect_rc "missing file" 2 $?
expect_grep "missing file named" "cannot read .*does-not-exist" "$WORK/err"
"$DANE_POLICYCTL" report "$WORK/does-not-exist" "$DATA/verdicts-basic.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "one missing, one readable" 0 $?
"$DANE_POLICYCTL" report >/dev/null 2>&1; expect_rc "no LOGFILE" 2 $?
"$DANE_POLICYCTL" report --bogus "$DATA/verdicts-basic.jsonl" >/dev/null 2>&1; expect_rc "unknown option" 2 $?
"$DANE_POLICYCTL" report --since yesterday "$DATA/verdicts-basic.jsonl" >/dev/null 2>"$WORK/err"; expect_rc "bad --since" 2 $?
expect_grep "bad --since explained" "--since: bad time 'yesterday'" "$WORK/err"
"$DANE_POLICYCTL" report --json --tlsrpt "$DATA/verdicts-basic.jsonl" >/dev/null 2>&1; expect_rc "--json with --tlsrpt" 2 $?
"$DANE_POLICYCTL" report --since 2026-11-29 --until 2026-11-28 "$DATA/verdicts-basic.jsonl" >/dev/null 2>&1; expect_rc "since after until" 2 $?
"$DANE_POLICYCTL" report --help >"$WORK/out" 2>&1; expect_rc "--help" 0 $?

# --- --maillog in each format (TZ=UTC: classic stamps are local time)
for fmt in syslog rfc3339 postlogd; do
  "$DANE_POLICYCTL" report --json --maillog "$DATA/maillog-$fmt.log" "$DATA/verdicts-maillog.jsonl" >"$WORK/json" 2>"$WORK/err"
  expect_rc "--maillog $fmt" 0 $?
  py '
import json,sys
d={x["destination"]:x for x in json.load(open(sys.argv[1]))["destinations"]}
m=d["example.com"]["maillog"]; assert (m["verified"],m["trusted"],m["verification_failures"],m["deferred_4_7_5"])==(2,1,1,0), m
r=d["[mx.relay.example]:2525"]["maillog"]; assert (r["verified"],r["untrusted"],r["verification_failures"],r["deferred_4_7_5"])==(1,1,1,1), r
assert d["insecure.example"]["maillog"]["anonymous"]==1
assert d["broken.example"]["maillog"]["deferred_4_7_5"]==1
assert d["trusted.example"]["maillog"]["trusted"]==1 and d["trusted.example"]["evaluations"]==0
' "$WORK/json" && pass "--maillog $fmt joined counts" || fail "--maillog $fmt joined counts"
done
gzip -c "$DATA/maillog-rfc3339.log" >"$WORK/maillog.1"
"$DANE_POLICYCTL" report --maillog "$WORK/maillog.1" "$DATA/verdicts-maillog.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "--maillog gzip" 0 $?
expect_grep "--maillog gzip table" '^!  example\.com +dane-only +1 .* 2 +1 +0 +0 +1 +0 ' "$WORK/out"
"$DANE_POLICYCTL" report --maillog "$DATA/maillog-syslog.log" "$DATA/verdicts-maillog.jsonl" >/dev/null 2>"$WORK/err"
expect_grep "--maillog junk line named" "maillog-syslog\.log:26: malformed log line" "$WORK/err"

# --- --tlsrpt
"$DANE_POLICYCTL" report --tlsrpt --organization "Example Org" --contact tlsrpt@example.net "$DATA/verdicts-maillog.jsonl" >"$WORK/json" 2>"$WORK/err"
expect_rc "--tlsrpt" 0 $?
py '
import json,sys
a=json.load(open(sys.argv[1]))
assert isinstance(a,list) and len(a)==5, len(a)
for r in a:
  for k in ("organization-name","date-range","contact-info","report-id","policies"): assert k in r, k
  assert r["organization-name"]=="Example Org" and r["contact-info"]=="tlsrpt@example.net"
  for p in r["policies"]:
    s=p["summary"]; n=sum(f["failed-session-count"] for f in p["failure-details"])
    assert n==s["total-failure-session-count"], p
' "$WORK/json" && pass "--tlsrpt array, counts add up" || fail "--tlsrpt array, counts add up"
"$DANE_POLICYCTL" report --tlsrpt --domain example.com --maillog "$DATA/maillog-postlogd.log" "$DATA/verdicts-maillog.jsonl" >"$WORK/json" 2>/dev/null
py '
import json,sys
r=json.load(open(sys.argv[1]))
assert isinstance(r,dict), type(r)
p=r["policies"]; assert len(p)==1, p
assert p[0]["policy"]["policy-type"]=="tlsa" and p[0]["policy"]["policy-domain"]=="example.com"
assert p[0]["summary"]=={"total-successful-session-count":2,"total-failure-session-count":1}, p[0]["summary"]
assert "Postfix%20log" in r["additional-information"]
' "$WORK/json" && pass "--tlsrpt --domain: one object from the Postfix log" || fail "--tlsrpt --domain: one object from the Postfix log"

# --- monitor mode (the real daemon's log): counted as what enforcement would have answered
"$DANE_POLICYCTL" report "$DATA/postfix37-e2e-verdicts-monitor.jsonl" >"$WORK/out" 2>"$WORK/err"
expect_rc "monitor log" 0 $?
expect_grep "monitor: would-be tempfail first, marked, monitored" '^!  bogus\.test +tempfail\(monitor\) +1 +1 ' "$WORK/out"
expect_grep "monitor: would-be dane-only" '^   mon-rolled\.e2e\.test +dane-only\(monitor\) +1 +1 ' "$WORK/out"
expect_grep "monitor: footer" '^2 evaluation\(s\) made in monitor mode' "$WORK/out"
"$DANE_POLICYCTL" report --json "$DATA/postfix37-e2e-verdicts-monitor.jsonl" >"$WORK/json" 2>"$WORK/err"
py '
import json,sys
j=json.load(open(sys.argv[1]))
d={x["destination"]:x for x in j["destinations"]}
b=d["bogus.test"]
assert b["policy"]=="tempfail" and b["policy_monitored"] is True and b["monitored"]==1 and b["severity"]==3, b
assert b["counts"]=={"dane-only":0,"dane":0,"pinned":0,"notfound":0,"tempfail":1}, b["counts"]
assert d["mon-rolled.e2e.test"]["counts"]["dane-only"]==1
assert j["input"]["monitor_lines"]==2
' "$WORK/json" && pass "monitor --json" || fail "monitor --json"
"$DANE_POLICYCTL" report --tlsrpt --domain bogus.test "$DATA/postfix37-e2e-verdicts-monitor.jsonl" >"$WORK/json" 2>"$WORK/err"
py '
import json,sys
r=json.load(open(sys.argv[1]))
p=r["policies"]; assert len(p)==1, p
assert p[0]["policy"]["policy-type"]=="no-policy-found" and p[0]["summary"]["total-failure-session-count"]==1, p
f=p[0]["failure-details"][0]
assert f["result-type"]=="dnssec-invalid" and f["failure-reason-code"].startswith("monitor mode"), f
assert "did%20not%20enforce" in f["additional-information"], f
assert set(f)<={"result-type","sending-mta-ip","receiving-mx-hostname","receiving-mx-helo","receiving-ip","failed-session-count","additional-information","failure-reason-code"}, f
' "$WORK/json" && pass "monitor --tlsrpt: would-be dnssec-invalid" || fail "monitor --tlsrpt: would-be dnssec-invalid"

echo "$fails failure(s)"
[ "$fails" = 0 ]
