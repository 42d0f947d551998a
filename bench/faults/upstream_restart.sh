#!/usr/bin/env bash
# The upstream killed and restarted under signed load: failures confined to the gaps, the pool
# recovers, no descriptor (or task) leak.
#
#   bench/faults/upstream_restart.sh    DURATION=30 CONNS=16 CYCLES=3 GAP=1 MIN_REQUESTS=10000
#
# Load runs for DURATION s; CYCLES times the upstream gets SIGKILL, stays down GAP s and is
# started again on the same port. Criterion: every failure is a 502/504 within a gap (plus 1 s
# for connections that were mid-exchange), at least MIN_REQUESTS requests went through the
# faults, the requests after the load all succeed (the pool recovered), and the gateway's open
# descriptors (and `runtime_alive_tasks`, if /metrics has such a gauge) at rest after the load
# are no more than FD_SLACK (default 2) above their value at rest before it.
source "$(dirname "$0")/lib/common.sh"

DURATION=${DURATION:-30}
CONNS=${CONNS:-16}
CYCLES=${CYCLES:-3}
GAP=${GAP:-1}
MIN_REQUESTS=${MIN_REQUESTS:-10000}
FD_SLACK=${FD_SLACK:-2}
need_upstream_bin

DATA=$(port); ADMIN=$(port); UP=$(port)
CONFIG=$WORK/gateway.toml
new_secret app "$WORK/secret"
export UPSTREAM_TIMEOUT=${UPSTREAM_TIMEOUT:-2s}
start upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$UP"
UP_PID=$LAST_PID
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "{ id = \"a\", file = \"$WORK/secret\" }"
start_gateway "$CONFIG"
wait_port "$UP" 10 || die "upstream did not start"
wait_status "http://127.0.0.1:$ADMIN/readyz" 200 15 || die "gateway not ready (see $WORK/gateway.log)"

tasks() {
  local v
  v=$("${PYF[@]}" metric "http://127.0.0.1:$ADMIN/metrics" runtime_alive_tasks)
  [ -n "$v" ] || v=$("${PYF[@]}" metric "http://127.0.0.1:$ADMIN/metrics" stripe_app_gateway_runtime_alive_tasks)
  echo "${v:-n/a}"
}
# at_rest: "fds tasks" once the connections of a finished load are gone.
at_rest() { sleep 2; echo "$("${PYF[@]}" procstat "$GW_PID" | cut -d' ' -f3) $(tasks)"; }
short_load() { # NAME: 3 s of load at the same concurrency
  "${PYF[@]}" load --port "$DATA" --conns "$CONNS" --duration 3 \
    --secret-file "$WORK/secret" --out "$WORK/$1.json"
}

short_load warmup
read -r FDS_BEFORE TASKS_BEFORE <<<"$(at_rest)"
log "at rest before: fds=$FDS_BEFORE tasks=$TASKS_BEFORE; load for ${DURATION}s, $CYCLES upstream kills"

start load "${PYF[@]}" load --port "$DATA" --conns "$CONNS" --duration "$DURATION" \
  --secret-file "$WORK/secret" --out "$WORK/load.json"
LOAD_PID=$LAST_PID
every=$(awk -v d="$DURATION" -v c="$CYCLES" 'BEGIN { print d / (c + 1) }')
: >"$WORK/gaps"
for _ in $(seq "$CYCLES"); do
  sleep "$every"
  down=$(date +%s.%N)
  kill -KILL -- "-$UP_PID"
  wait "$UP_PID" 2>/dev/null || true
  sleep "$GAP"
  start upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$UP"
  UP_PID=$LAST_PID
  wait_port "$UP" 10 || die "upstream did not restart"
  echo "$down $(date +%s.%N)" >>"$WORK/gaps"
  log "upstream killed and restarted"
done
wait "$LOAD_PID" || true

short_load after
read -r FDS_AFTER TASKS_AFTER <<<"$(at_rest)"
VERDICT_GAPS=$("${PYF[@]}" analyse-gaps "$WORK/load.json" "$WORK/gaps" 1.0)
REQUESTS=$(json "$WORK/load.json" 'd["requests"]')
FAILED=$(json "$WORK/load.json" 'd["failed"]')
IN_GAP=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["in_gap"])' "$VERDICT_GAPS")
UNEXPECTED=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["unexpected"])' "$VERDICT_GAPS")
AFTER_FAILED=$(json "$WORK/after.json" 'd["failed"]')
AFTER_OK=$(json "$WORK/after.json" 'd["ok"]')
log "load: $(json "$WORK/load.json" 'd["statuses"]'); gaps: $VERDICT_GAPS; after: $(json "$WORK/after.json" 'd["statuses"]')"

verdict=ok
[ "$UNEXPECTED" = 0 ] || verdict=FAIL
[ "$REQUESTS" -ge "$MIN_REQUESTS" ] || { verdict=FAIL; log "only $REQUESTS requests (< $MIN_REQUESTS)"; }
[ "$AFTER_FAILED" = 0 ] && [ "$AFTER_OK" -gt 0 ] || { verdict=FAIL; log "the pool did not recover"; }
[ "$FDS_AFTER" -le $((FDS_BEFORE + FD_SLACK)) ] || { verdict=FAIL; log "descriptors grew"; }
if [ "$TASKS_BEFORE" != n/a ] && python3 -c "import sys; sys.exit(0 if $TASKS_AFTER > $TASKS_BEFORE + $FD_SLACK else 1)"; then
  verdict=FAIL; log "tasks grew"
fi
echo "upstream_restart: $verdict requests=$REQUESTS failed=$FAILED failed_in_gaps=$IN_GAP failed_outside=$UNEXPECTED kills=$CYCLES after_restart_ok=$AFTER_OK/$((AFTER_OK + AFTER_FAILED)) fds_before=$FDS_BEFORE fds_after=$FDS_AFTER tasks_before=$TASKS_BEFORE tasks_after=$TASKS_AFTER"
[ "$verdict" = ok ]
