#!/usr/bin/env bash
# dane-rollover-hook.sh — install a renewed certificate into Postfix only when `dane-policyctl rollover`
# says the published TLSA records allow it (docs/rollover.md).
#
# As a certbot deploy hook (certbot sets RENEWED_LINEAGE after each successful renewal):
#     certbot renew --deploy-hook /usr/local/sbin/dane-rollover-hook.sh
# and from cron, to carry a started rollover on (publish -> wait -> swap -> remove) until done:
#     17 * * * *  root  DANE_LINEAGE=/etc/letsencrypt/live/mx.example.org /usr/local/sbin/dane-rollover-hook.sh
#
# Certbot renews once; the rollover takes at least the confirmation interval (24 h by default), so
# the cron line (contrib/cron/dane-rollover) is what finishes it. Each run:
#   publish / remove   -> with DANE_TSIG_KEY: dane-policyctl itself adds / deletes the record by a
#                         TSIG-signed DNS UPDATE (`rollover --publish`), nothing for a human to do;
#                         a refused update (wrong key, no update rule) exits 1, an unanswered one is
#                         retried by the next run.
#                         Without a key: prints the zone-file lines to add / delete (and pipes them to
#                         DANE_ROLLOVER_PUBLISH_CMD / DANE_ROLLOVER_REMOVE_CMD when set, e.g. an
#                         nsupdate wrapper), installs nothing; exit 0 so certbot keeps going
#   wait               -> nothing to do yet; exit 0
#   swap               -> copies privkey.pem + fullchain.pem into DANE_INSTALL_DIR atomically, runs
#                         DANE_RELOAD_CMD, then asks dane-policyctl again (usually `remove` next)
#   done               -> nothing to do (the installed certificate is the renewed one)
#   refuse, same-key   -> the renewal kept the key (certbot --reuse-key): the TLSA records stay
#                         valid, so the certificate is installed straight away
#   refuse, other      -> installs nothing, prints the reason, exit 1 (certbot logs the hook failure)
#   DNS trouble (3)    -> installs nothing, exit 0 for certbot; the next cron run retries
#
# Configuration (environment, or /etc/default/dane-rollover-hook sourced first):
#   DANE_MXHOST       MX host name whose _PORT._tcp TLSA records roll   (default: first RENEWED_DOMAINS entry)
#   DANE_PORT         port (default 25)
#   DANE_LINEAGE      certbot lineage dir when not run by certbot        (default: $RENEWED_LINEAGE)
#   DANE_INSTALL_DIR  where Postfix reads key.pem and fullchain.pem      (default /etc/postfix/tls)
#                     main.cf: smtpd_tls_chain_files = /etc/postfix/tls/key.pem, /etc/postfix/tls/fullchain.pem
#   DANE_RELOAD_CMD   command run after installing                       (default: postfix reload)
#   DANE_INTERVAL     confirmation interval in hours                     (default 24)
#   DANE_STATE_FILE   dane-policyctl --state-file                               (default: dane-policyctl's default)
#   DANE_RESOLVER_OPTS extra dane-policyctl resolver options, e.g. "--forwarder 127.0.0.1"
#   DANE_POLICYCTL           path of dane-policyctl                                   (default: dane-policyctl on PATH)
#   DANE_ROLLOVER_PUBLISH_CMD / DANE_ROLLOVER_REMOVE_CMD  get the zone lines on stdin (optional; not used
#                     with DANE_TSIG_KEY)
#   DANE_TSIG_KEY     a TSIG key file (`key "NAME" { algorithm hmac-sha256; secret "..."; };`, as written by
#                     tsig-keygen / keymgr -t): publish and remove by DNS UPDATE (dane-policyctl --publish)
#   DANE_UPDATE_SERVER  ADDR[@PORT] of the primary taking updates (default: the zone's SOA MNAME)
#   DANE_ROLLOVER_LOG  append every dane-policyctl --json answer to this file (an audit trail; optional)
set -euo pipefail

# shellcheck source=/dev/null
[ -r /etc/default/dane-rollover-hook ] && . /etc/default/dane-rollover-hook

log() { printf 'dane-rollover-hook: %s\n' "$*" >&2; }

lineage=${DANE_LINEAGE:-${RENEWED_LINEAGE:-}}
if [ -z "$lineage" ]; then
  log "neither RENEWED_LINEAGE (certbot) nor DANE_LINEAGE is set"
  exit 2
fi
mxhost=${DANE_MXHOST:-${RENEWED_DOMAINS%% *}}
if [ -z "$mxhost" ]; then
  log "set DANE_MXHOST to the MX host name"
  exit 2
fi
port=${DANE_PORT:-25}
install_dir=${DANE_INSTALL_DIR:-/etc/postfix/tls}
reload_cmd=${DANE_RELOAD_CMD:-postfix reload}
policyctl=${DANE_POLICYCTL:-dane-policyctl}

next_chain="$lineage/fullchain.pem"
next_key="$lineage/privkey.pem"
installed_chain="$install_dir/fullchain.pem"
# The certificate the renewed one replaced, kept until the rollover is done: it is --current for
# the steps after the swap (remove, done).
previous_chain="$install_dir/previous-fullchain.pem"

install_next() {
  mkdir -p "$install_dir"
  # Same directory + rename: Postfix never reads half a file. Key first, chain second, then reload.
  install -m 600 "$next_key" "$install_dir/.key.pem.new"
  install -m 644 "$next_chain" "$install_dir/.fullchain.pem.new"
  if [ -e "$installed_chain" ] && [ "${1:-}" = keep-previous ]; then
    cp -p "$installed_chain" "$previous_chain"
  fi
  mv -f "$install_dir/.key.pem.new" "$install_dir/key.pem"
  mv -f "$install_dir/.fullchain.pem.new" "$installed_chain"
  log "installed $next_chain into $install_dir; running: $reload_cmd"
  sh -c "$reload_cmd"
}

# A field of dane-policyctl's --json object (one "key": value per line, as dane-policyctl prints it).
json_field() {
  sed -n -e "s/^  \"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" -e "s/^  \"$1\": \([^\",]*\),\{0,1\}\$/\1/p" | head -n 1
}
# The elements of a JSON string array field, one per line.
json_lines() {
  awk -v key="  \"$1\": [" '
    index($0, key) == 1 { inside = 1; if ($0 ~ /\]/) inside = 0; next }
    inside && /^  \]/ { inside = 0 }
    inside { sub(/^ *"/, ""); sub(/",?$/, ""); gsub(/\\"/, "\""); print }'
}

# run_rollover CURRENT NEXT: sets out, rc, step, refusal, message.
run_rollover() {
  set +e
  # shellcheck disable=SC2086 # DANE_RESOLVER_OPTS is a list of options
  out=$("$policyctl" rollover --current "$1" --next "$2" --host "$mxhost" --port "$port" \
          --interval "${DANE_INTERVAL:-24}" ${DANE_STATE_FILE:+--state-file "$DANE_STATE_FILE"} \
          ${DANE_TSIG_KEY:+--publish --tsig-key "$DANE_TSIG_KEY"} \
          ${DANE_UPDATE_SERVER:+--update-server "$DANE_UPDATE_SERVER"} \
          ${DANE_RESOLVER_OPTS:-} --json)
  rc=$?
  set -e
  if [ -n "${DANE_ROLLOVER_LOG:-}" ]; then
    printf '%s\n' "$out" >>"$DANE_ROLLOVER_LOG"
  fi
  step=$(printf '%s\n' "$out" | json_field step)
  refusal=$(printf '%s\n' "$out" | json_field refusal)
  message=$(printf '%s\n' "$out" | json_field message)
}

# First deployment: nothing installed yet, nothing to roll from.
if [ ! -e "$installed_chain" ]; then
  log "no certificate installed at $installed_chain yet; installing the first one"
  install_next
  exit 0
fi

if cmp -s "$installed_chain" "$next_chain"; then
  # The renewed certificate is installed; finish the rollover from the one it replaced.
  if [ ! -e "$previous_chain" ] || cmp -s "$previous_chain" "$installed_chain"; then
    exit 0
  fi
  run_rollover "$previous_chain" "$installed_chain"
else
  run_rollover "$installed_chain" "$next_chain"
  if [ "$rc:$step" = 0:swap ]; then
    install_next keep-previous
    run_rollover "$previous_chain" "$installed_chain" # usually `remove` now: which record to delete
  fi
fi

# With a TSIG key the publish and remove steps were sent as DNS UPDATEs by dane-policyctl itself.
update_message=$(printf '%s\n' "$out" | sed -n 's/^    "message": "\(.*\)"$/\1/p' | tail -n 1)

case "$rc:$step" in
  4:publish | 4:remove)
    if [ -n "${DANE_TSIG_KEY:-}" ]; then
      log "step $step: done by DNS UPDATE: $update_message"
      exit 0
    fi
    ;;
  1:publish | 1:remove)
    log "step $step: the DNS UPDATE was refused, nothing changed: $update_message"
    exit 1
    ;;
esac

case "$rc:$step" in
  4:publish)
    log "step publish: $message"
    printf '%s\n' "$out" | json_lines add
    if [ -n "${DANE_ROLLOVER_PUBLISH_CMD:-}" ]; then
      printf '%s\n' "$out" | json_lines add | sh -c "$DANE_ROLLOVER_PUBLISH_CMD"
    fi
    ;;
  4:remove)
    log "step remove: $message"
    printf '%s\n' "$out" | json_lines remove
    if [ -n "${DANE_ROLLOVER_REMOVE_CMD:-}" ]; then
      printf '%s\n' "$out" | json_lines remove | sh -c "$DANE_ROLLOVER_REMOVE_CMD"
    fi
    ;;
  4:wait) log "step wait: $message" ;;
  0:swap) log "step swap: $message" ;; # installed, the server does not show it yet (reload pending?)
  0:done)
    log "step done: $message"
    rm -f "$previous_chain"
    ;;
  1:refuse)
    if [ "$refusal" = same-key ] && ! cmp -s "$installed_chain" "$next_chain"; then
      log "same key as the installed certificate: the published TLSA records stay valid"
      install_next
    else
      log "refused ($refusal): $message"
      exit 1
    fi
    ;;
  3:*) log "temporary DNS failure, will retry on the next run: $message" ;;
  *)
    log "dane-policyctl rollover failed (exit $rc)"
    printf '%s\n' "$out" >&2
    exit 1
    ;;
esac
exit 0
