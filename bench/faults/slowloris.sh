#!/usr/bin/env bash
# 1,000 slowloris connections plus normal signed traffic.
#
#   bench/faults/slowloris.sh     SLOW_CONNS=1000 DURATION=30 CONNS=8 MAX_RSS_MIB=256
#
# SLOW_CONNS connections each send a request head one byte per second (a head that would take
# minutes), reopened whenever the gateway closes them (server.header_read_timeout, default
# 10 s). Normal signed requests run alongside on CONNS connections, after a 5 s baseline
# without the attack. Criterion: every normal request succeeds and the gateway's peak RSS
# (VmHWM) stays under MAX_RSS_MIB. Reports the success rate and latency with and without the
# attack, and the peak RSS.
source "$(dirname "$0")/lib/common.sh"

SLOW_CONNS=${SLOW_CONNS:-1000}
DURATION=${DURATION:-30}
CONNS=${CONNS:-8}
MAX_RSS_MIB=${MAX_RSS_MIB:-256}
need_upstream_bin
ulimit -n $((SLOW_CONNS * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((SLOW_CONNS + 256)) ] || die "ulimit -n $(ulimit -n) is too low for $SLOW_CONNS connections"

DATA=$(port); ADMIN=$(port); UP=$(port)
CONFIG=$WORK/gateway.toml
new_secret app "$WORK/secret"
start upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$UP"
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "{ id = \"a\", file = \"$WORK/secret\" }" \
  "max_connections = $((SLOW_CONNS * 4))"
start_gateway "$CONFIG"
wait_port "$UP" 10 || die "upstream did not start"
wait_status "http://127.0.0.1:$ADMIN/readyz" 200 15 || die "gateway not ready (see $WORK/gateway.log)"

normal() { # NAME SECONDS
  "${PYF[@]}" load --port "$DATA" --conns "$CONNS" --duration "$2" --timeout 5 \
    --secret-file "$WORK/secret" --out "$WORK/$1.json"
}
normal baseline 5
log "baseline: $(json "$WORK/baseline.json" 'd["statuses"]'), p99 $(json "$WORK/baseline.json" 'd["p99_ms"]') ms"

log "$SLOW_CONNS slowloris connections for ${DURATION}s, normal load from 3 s to the end"
start slowloris "${PYF[@]}" slowloris --port "$DATA" --conns "$SLOW_CONNS" \
  --duration "$DURATION" --out "$WORK/slowloris.json"
SLOW_PID=$LAST_PID
sleep 3
OPEN_FDS=0
( for _ in $(seq $((DURATION - 4))); do "${PYF[@]}" procstat "$GW_PID" | cut -d' ' -f3; sleep 1; done ) \
  >"$WORK/fds" 2>/dev/null &
SAMPLER=$!
normal attacked $((DURATION - 4))
log "normal load done; waiting for the slowloris connections to end"
wait "$SAMPLER" || true
wait "$SLOW_PID" || true
OPEN_FDS=$(sort -n "$WORK/fds" | tail -1)
read -r _ HWM_KIB _ <<<"$("${PYF[@]}" procstat "$GW_PID")"
HWM_MIB=$((HWM_KIB / 1024))

A=$WORK/attacked.json
REQUESTS=$(json "$A" 'd["requests"]')
OK=$(json "$A" 'd["ok"]')
RATE=$(json "$A" 'round(100.0 * d["ok"] / max(1, d["requests"]), 3)')
log "attacked: $(json "$A" 'd["statuses"]'); slowloris: $(cat "$WORK/slowloris.json"); gateway fds peak $OPEN_FDS"

verdict=ok
[ "$OK" = "$REQUESTS" ] && [ "$REQUESTS" -gt 0 ] || verdict=FAIL
[ "$HWM_MIB" -le "$MAX_RSS_MIB" ] || { verdict=FAIL; log "peak RSS ${HWM_MIB} MiB > ${MAX_RSS_MIB} MiB"; }
echo "slowloris: $verdict slow_conns=$SLOW_CONNS peak_open_slow=$(json "$WORK/slowloris.json" 'd["peak_open"]') gateway_fds_peak=$OPEN_FDS normal_requests=$REQUESTS success_pct=$RATE p50_ms=$(json "$A" 'd["p50_ms"]') p99_ms=$(json "$A" 'd["p99_ms"]') baseline_p99_ms=$(json "$WORK/baseline.json" 'd["p99_ms"]') peak_rss_mib=$HWM_MIB"
[ "$verdict" = ok ]
