#!/usr/bin/env bash
# Secret rotation and certificate rotation under continuous signed load (HTTPS).
#
#   bench/faults/rotate.sh        DURATION=30 CONNS=16 TRIGGER=reload|sighup|watch
#
# Signed load runs over TLS for about DURATION seconds (clients reconnect every 50 requests, so
# new handshakes keep happening), in five steps: secret B is added to the keyring next to A
# (reload), the clients switch to B, A is removed (reload), the certificate and key files are
# replaced by a new pair (reload), and the load goes on. TRIGGER says how each reload is made:
# POST /reload, SIGHUP, or the gateway's own file watch (reload.watch = true); each must
# succeed within 10 s. Criterion: 0 failed requests, a request signed with A is refused (401)
# at the end and one signed with B accepted, and new handshakes got the new certificate.
source "$(dirname "$0")/lib/common.sh"

DURATION=${DURATION:-30}
CONNS=${CONNS:-16}
TRIGGER=${TRIGGER:-reload}
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
need_upstream_bin

DATA=$(port); ADMIN=$(port); UP=$(port)
CONFIG=$WORK/gateway.toml
new_secret app "$WORK/secret-a"
cp "$WORK/secret-a" "$WORK/client-secret"

# new_cert NAME: a self-signed P-256 certificate for 127.0.0.1.
new_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=gateway-faults-$1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null
}
new_cert cert1
cp "$WORK/cert1.crt" "$WORK/tls.crt"; cp "$WORK/cert1.key" "$WORK/tls.key"
TLS="tls = { cert_file = \"$WORK/tls.crt\", key_file = \"$WORK/tls.key\" }"
A="{ id = \"a\", file = \"$WORK/secret-a\" }"
B="{ id = \"b\", file = \"$WORK/secret-b\" }"

reloads() { "${PYF[@]}" metric "http://127.0.0.1:$ADMIN/metrics" stripe_app_gateway_config_reloads_total; }
successes() {
  "${PYF[@]}" metric "http://127.0.0.1:$ADMIN/metrics" stripe_app_gateway_config_last_reload_success_timestamp_seconds
}
# mark, change files, trigger: one reload by TRIGGER, successful (the time of the last
# successful reload moves past the one marked) within 10 s.
mark() { BEFORE=$(successes); sleep 1.1; }
trigger() {
  local deadline=$((SECONDS + 10))
  case $TRIGGER in
    reload) reload "$ADMIN" || return 1 ;;
    sighup) kill -HUP "$GW_PID" ;;
    watch) ;;
    *) die "TRIGGER must be reload, sighup or watch" ;;
  esac
  until [ "$(successes)" != "$BEFORE" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
[ "$TRIGGER" = watch ] && export RELOAD_WATCH=true

start upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$UP"
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "$A" "$TLS"
start_gateway "$CONFIG"
wait_port "$UP" 10 || die "upstream did not start"
wait_status "http://127.0.0.1:$ADMIN/readyz" 200 15 || die "gateway not ready (see $WORK/gateway.log)"

log "signed HTTPS load for about ${DURATION}s, $CONNS connections"
start load "${PYF[@]}" load --port "$DATA" --tls --reconnect-every 50 --conns "$CONNS" \
  --duration $((DURATION * 3 + 60)) --stop-file "$WORK/stop" \
  --secret-file "$WORK/client-secret" --out "$WORK/load.json"
LOAD_PID=$LAST_PID
# Five equal steps, load running throughout: the last one after the certificate change.
step=$(awk -v d="$DURATION" 'BEGIN { print d / 5 }')

sleep "$step"
log "add secret b next to a"
mark
new_secret app "$WORK/secret-b"
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "$A, $B" "$TLS"
trigger || die "reload adding b failed"
sleep "$step"
log "clients switch to b"
cp "$WORK/secret-b" "$WORK/client-secret.tmp"; mv "$WORK/client-secret.tmp" "$WORK/client-secret"
sleep "$step"
log "remove secret a"
mark
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "$B" "$TLS"
trigger || die "reload removing a failed"
sleep "$step"
log "replace certificate and key"
mark
new_cert cert2
cp "$WORK/cert2.crt" "$WORK/tls.crt.tmp"; cp "$WORK/cert2.key" "$WORK/tls.key.tmp"
mv "$WORK/tls.key.tmp" "$WORK/tls.key"; mv "$WORK/tls.crt.tmp" "$WORK/tls.crt"
trigger || die "reload of the new certificate failed"
RELOADS=$(reloads)
sleep "$step"
touch "$WORK/stop"
wait "$LOAD_PID" || true
OLD=$("${PYF[@]}" probe --port "$DATA" --tls --secret-file "$WORK/secret-a")
NEW=$("${PYF[@]}" probe --port "$DATA" --tls --secret-file "$WORK/secret-b")
REQUESTS=$(json "$WORK/load.json" 'd["requests"]')
FAILED=$(json "$WORK/load.json" 'd["failed"]')
CERTS=$(json "$WORK/load.json" 'len(d["certs"])')
P99=$(json "$WORK/load.json" 'd["p99_ms"]')
STATUSES=$(json "$WORK/load.json" 'd["statuses"]')
log "statuses: $STATUSES; certificates seen by new handshakes: $(json "$WORK/load.json" 'd["certs"]')"

verdict=ok
[ "$FAILED" = 0 ] || verdict=FAIL
[ "$OLD" = 401 ] || { verdict=FAIL; log "a request signed with the removed secret got $OLD, not 401"; }
[ "$NEW" = 200 ] || { verdict=FAIL; log "a request signed with the new secret got $NEW"; }
[ "$CERTS" -ge 2 ] || { verdict=FAIL; log "new handshakes never saw the new certificate"; }
echo "rotate: $verdict requests=$REQUESTS failed=$FAILED p99_ms=$P99 old_secret=$OLD new_secret=$NEW certs_seen=$CERTS reloads_total=$RELOADS trigger=$TRIGGER"
[ "$verdict" = ok ]
