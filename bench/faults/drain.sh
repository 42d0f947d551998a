#!/usr/bin/env bash
# SIGTERM under load, with requests in flight at a slow upstream.
#
#   bench/faults/drain.sh         CONNS=32 DELAY=3 LB_LAG=1 SHUTDOWN_DELAY=2s SHUTDOWN_GRACE=10s
#
# CONNS clients keep a signed request in flight each (the upstream answers after DELAY s).
# SIGTERM goes to the gateway; LB_LAG s after /readyz stops answering 200 the clients stop
# sending new requests (a load balancer taking the backend out), so requests keep arriving
# during shutdown_delay and are still in flight when the listener closes; every request sent
# must complete.
# Criterion: /readyz answers 503 before the listener closes, 0 requests dropped (every request
# sent got its 200), the process exits (code 0) within shutdown_delay + shutdown_grace.
source "$(dirname "$0")/lib/common.sh"

CONNS=${CONNS:-32}
DELAY=${DELAY:-3}
LB_LAG=${LB_LAG:-1}
export SHUTDOWN_DELAY=${SHUTDOWN_DELAY:-2s} SHUTDOWN_GRACE=${SHUTDOWN_GRACE:-10s}
BUDGET=$(( ${SHUTDOWN_DELAY%s} + ${SHUTDOWN_GRACE%s} ))

DATA=$(port); ADMIN=$(port); UP=$(port)
CONFIG=$WORK/gateway.toml
new_secret app "$WORK/secret"
start upstream "${PYF[@]}" upstream --port "$UP" --delay "$DELAY"
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "{ id = \"a\", file = \"$WORK/secret\" }"
start_gateway "$CONFIG"
wait_port "$UP" 10 || die "upstream did not start"
wait_status "http://127.0.0.1:$ADMIN/readyz" 200 15 || die "gateway not ready (see $WORK/gateway.log)"

log "$CONNS clients, upstream delay ${DELAY}s; SIGTERM in 3 s"
start load "${PYF[@]}" load --port "$DATA" --conns "$CONNS" --duration 120 \
  --stop-file "$WORK/stop" --timeout 30 --secret-file "$WORK/secret" --out "$WORK/load.json"
LOAD_PID=$LAST_PID
sleep 3
"${PYF[@]}" drain-watch --pid "$GW_PID" --admin "$ADMIN" --data "$DATA" \
  --stop-file "$WORK/stop" --lb-lag "$LB_LAG" --timeout $((BUDGET + 10)) >"$WORK/drain.json"
CODE=0; wait "$GW_PID" || CODE=$?
wait "$LOAD_PID" || true

D=$WORK/drain.json
IN_FLIGHT=$(json "$D" 'int(d["in_flight_at_sigterm"])')
AT_CLOSE=$(json "$D" 'int(d["in_flight_at_close"]) if "in_flight_at_close" in d else None')
READY_STATUS=$(json "$D" 'd.get("ready_status")')
READY_MS=$(json "$D" 'round((d["ready_down_at"] - d["sigterm_at"]) * 1000) if "ready_down_at" in d else None')
CLOSED_MS=$(json "$D" 'round((d["listener_closed_at"] - d["sigterm_at"]) * 1000) if "listener_closed_at" in d else None')
EXIT_S=$(json "$D" 'round(d["exited_at"] - d["sigterm_at"], 2) if d["exited_at"] else None')
REQUESTS=$(json "$WORK/load.json" 'd["requests"]')
DROPPED=$(json "$WORK/load.json" 'd["failed"] + d["unfinished"]')
log "load: $(json "$WORK/load.json" 'd["statuses"]'); drain: $(cat "$D")"

verdict=ok
[ "$READY_STATUS" = 503 ] || { verdict=FAIL; log "/readyz went to $READY_STATUS, not 503"; }
if [ "$CLOSED_MS" != None ] && [ "$READY_MS" != None ] && [ "$CLOSED_MS" -lt "$READY_MS" ]; then
  verdict=FAIL; log "the listener closed before readiness dropped"
fi
[ "$DROPPED" = 0 ] || verdict=FAIL
[ "$EXIT_S" != None ] && python3 -c "import sys; sys.exit(0 if $EXIT_S <= $BUDGET + 1 else 1)" \
  || { verdict=FAIL; log "exit took ${EXIT_S}s, budget ${BUDGET}s"; }
[ "$CODE" = 0 ] || { verdict=FAIL; log "exit code $CODE"; }
echo "drain: $verdict requests=$REQUESTS in_flight_at_sigterm=$IN_FLIGHT in_flight_at_close=$AT_CLOSE dropped=$DROPPED readyz_${READY_STATUS}_after_ms=$READY_MS listener_closed_after_ms=$CLOSED_MS exit_after_s=$EXIT_S budget_s=$BUDGET exit_code=$CODE"
[ "$verdict" = ok ]
