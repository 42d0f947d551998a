#!/usr/bin/env bash
# A soak at a steady rate: RSS and descriptors must stay flat.
#
#   bench/faults/soak.sh          RATE=500 DURATION=600 WARMUP=30 CONNS=16
#                                 MAX_RSS_DRIFT_MIB=8 MAX_FD_DRIFT=4
#
# Signed requests at RATE req/s on CONNS keep-alive connections for WARMUP + DURATION s. RSS
# and the open descriptors of the gateway are sampled every 10 s (kept in the work directory
# with KEEP_WORK=1); "start" is the sample at the end of the warm-up, "end" the last one under
# load. Criterion: no failed request, at least 95 % of RATE achieved, RSS end - start at most
# MAX_RSS_DRIFT_MIB, descriptors end - start at most MAX_FD_DRIFT.
source "$(dirname "$0")/lib/common.sh"

RATE=${RATE:-500}
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-30}
CONNS=${CONNS:-16}
MAX_RSS_DRIFT_MIB=${MAX_RSS_DRIFT_MIB:-8}
MAX_FD_DRIFT=${MAX_FD_DRIFT:-4}
need_upstream_bin

DATA=$(port); ADMIN=$(port); UP=$(port)
CONFIG=$WORK/gateway.toml
new_secret app "$WORK/secret"
start upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$UP"
write_config "$CONFIG" "$DATA" "$ADMIN" "$UP" "{ id = \"a\", file = \"$WORK/secret\" }"
start_gateway "$CONFIG"
wait_port "$UP" 10 || die "upstream did not start"
wait_status "http://127.0.0.1:$ADMIN/readyz" 200 15 || die "gateway not ready (see $WORK/gateway.log)"

log "$RATE req/s for ${WARMUP}s warm-up + ${DURATION}s"
start load "${PYF[@]}" load --port "$DATA" --conns "$CONNS" --rate "$RATE" \
  --duration $((WARMUP + DURATION)) --secret-file "$WORK/secret" --out "$WORK/load.json"
LOAD_PID=$LAST_PID
sleep "$WARMUP"
sample() { echo "$(date +%s) $("${PYF[@]}" procstat "$GW_PID")"; }
sample >"$WORK/samples"   # unix_time rss_kib hwm_kib fds
end_at=$((SECONDS + DURATION - 2))
while [ "$SECONDS" -lt "$end_at" ]; do
  sleep $(( end_at - SECONDS < 10 ? (end_at - SECONDS > 0 ? end_at - SECONDS : 0) : 10 ))
  sample >>"$WORK/samples"
done
wait "$LOAD_PID" || true

read -r _ RSS0 _ FD0 <<<"$(head -1 "$WORK/samples")"
read -r _ RSS1 HWM FD1 <<<"$(tail -1 "$WORK/samples")"
REQUESTS=$(json "$WORK/load.json" 'd["requests"]')
FAILED=$(json "$WORK/load.json" 'd["failed"]')
ACHIEVED=$(json "$WORK/load.json" 'round(d["requests"] / (d["ended_at"] - d["started_at"]), 1)')
RSS_DRIFT_KIB=$((RSS1 - RSS0))
FD_DRIFT=$((FD1 - FD0))
log "statuses: $(json "$WORK/load.json" 'd["statuses"]'); samples: $(wc -l <"$WORK/samples")"

verdict=ok
[ "$FAILED" = 0 ] || verdict=FAIL
python3 -c "import sys; sys.exit(0 if $ACHIEVED >= 0.95 * $RATE else 1)" || { verdict=FAIL; log "rate $ACHIEVED < 95% of $RATE"; }
[ "$RSS_DRIFT_KIB" -le $((MAX_RSS_DRIFT_MIB * 1024)) ] || verdict=FAIL
[ "$FD_DRIFT" -le "$MAX_FD_DRIFT" ] || verdict=FAIL
echo "soak: $verdict rate=$ACHIEVED/s duration_s=$DURATION requests=$REQUESTS failed=$FAILED rss_kib_start=$RSS0 rss_kib_end=$RSS1 rss_drift_kib=$RSS_DRIFT_KIB (max $((MAX_RSS_DRIFT_MIB * 1024))) fds_start=$FD0 fds_end=$FD1 fd_drift=$FD_DRIFT (max $MAX_FD_DRIFT) peak_rss_kib=$HWM p99_ms=$(json "$WORK/load.json" 'd["p99_ms"]')"
[ "$verdict" = ok ]
