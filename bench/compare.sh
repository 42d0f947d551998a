#!/usr/bin/env bash
# Side-by-side benchmark of stripe-app-gateway and nginx, from one run, on loopback.
#
#   bench/compare.sh                          # from the repository root: ~2.5 min
#   REPS=1 DURATION=3 bench/compare.sh        # a quick look: ~30 s
#
# Builds the gateway and bench/upstream (cargo build --release) unless NO_BUILD=1, starts the
# upstream (bench/upstream: 200 {"ok":true}), then for each repetition, target and scenario:
# starts the target, checks one request, warms up (counting every response's status), measures
# with wrk, stops the target. Prints a Markdown table of medians; everything lands in OUT_DIR.
#
# Targets: gateway (generated config: route /api/ with auth = "app", cors = true, a fresh absec_
#          secret in a 0600 file, default logging to a file) and, when installed, nginx
#          (proxy_pass with a keep-alive pool, one worker, access_log off, no auth).
# Scenarios: signed (valid Stripe-Signature, 200 from the upstream), invalid (wrong v1, 401),
#          preflight (CORS OPTIONS, 204). nginx runs only signed.
# Knobs: DURATION=8 WARMUP=2 REPS=3 CONNS=64 TARGETS="nginx gateway"
#        SCENARIOS="signed invalid preflight" OUT_DIR=/tmp/stripe-app-gateway-bench/<stamp>
#        NO_BUILD=1 GATEWAY_BIN=… UPSTREAM_BIN=… GATEWAY_WORKERS=N KEEP_LOGS=1
#        PIN=0 (no pinning) LOADGEN_CPUS=0 TARGET_CPUS=1 UPSTREAM_CPUS=1 WRK_THREADS=N
#        UPSTREAM_THREADS=1 NGINX_WORKERS=1
#        NGINX_SAME_FIELDS=1 (nginx also sends the forwarding, request-id and identity fields
#        the gateway adds, so the upstream parses the same request behind both)
# See bench/README.md for the layout and how to read the figures.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
REPS=${REPS:-3}
CONNS=${CONNS:-64}
TARGETS=${TARGETS:-"nginx gateway"}
SCENARIOS=${SCENARIOS:-"signed invalid preflight"}
KEEP_LOGS=${KEEP_LOGS:-0}
OUT_DIR=${OUT_DIR:-/tmp/stripe-app-gateway-bench/$(date +%Y%m%d-%H%M%S)}

for knob in DURATION WARMUP REPS CONNS; do
  case "${!knob}" in '' | *[!0-9]*) echo "$knob must be a whole number (seconds / count)" >&2; exit 2 ;; esac
done
if [ "$DURATION" -lt 1 ] || [ "$REPS" -lt 1 ] || [ "$CONNS" -lt 1 ]; then
  echo "DURATION, REPS and CONNS must be at least 1" >&2; exit 2
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is required (Debian/Ubuntu: apt-get install wrk)" >&2; exit 2; }

mkdir -p "$OUT_DIR/logs" "$OUT_DIR/raw" "$OUT_DIR/run"
LOG="$OUT_DIR/compare.log"
: >"$LOG"
# shellcheck source=lib/common.sh
. "$ROOT/bench/lib/common.sh"

# The gateway watches the directories of its config and secret: nothing else is written there.
GW_DIR="$OUT_DIR/run/gateway"
SECRET_FILE="$GW_DIR/secret"
BODY_FILE="$OUT_DIR/run/body.json"
NGINX_DIR="$OUT_DIR/run/nginx"
RESULTS="$OUT_DIR/results.jsonl"
: >"$RESULTS"

cleanup() {
  stop_all
  rm -f "$SECRET_FILE"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for t in $TARGETS; do
  case "$t" in gateway | nginx) ;; *) die "unknown target $t (gateway, nginx)" ;; esac
done
for sc in $SCENARIOS; do
  case "$sc" in signed | invalid | preflight) ;; *) die "unknown scenario $sc (signed, invalid, preflight)" ;; esac
done
if [[ " $TARGETS " == *" nginx "* ]] && ! have nginx; then
  log "nginx is not installed: no baseline (apt-get install nginx); ratios will show —"
  TARGETS=${TARGETS//nginx/}
fi

build_binaries
cpu_layout
n=$(count_cpus "$LOADGEN_CPUS")
WRK_THREADS=${WRK_THREADS:-$((n > 0 ? n : 1))}
[ "$WRK_THREADS" -le "$CONNS" ] || WRK_THREADS=$CONNS

make_fixtures "$SECRET_FILE" "$BODY_FILE"
read -r UP_PORT <<<"$("${PY[@]}" ports 1)"
start_group "$OUT_DIR/logs/upstream.log" "$UPSTREAM_CPUS" "$UPSTREAM_BIN" --listen "127.0.0.1:$UP_PORT" --threads "${UPSTREAM_THREADS:-1}"
UP_PID=$LAST_PID
"${PY[@]}" wait-tcp "$UP_PORT" "$UP_PID" 10 || die "bench-upstream did not start (see $OUT_DIR/logs/upstream.log)"

MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
  echo "# stripe-app-gateway vs nginx, $(date '+%Y-%m-%d %H:%M:%S %Z')"
  echo
  echo "- host: $(uname -sr), $(nproc) CPUs${MODEL:+ ($MODEL)}"
  echo "- gateway: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($GATEWAY_BIN)"
  echo "- baseline: $(if have nginx; then nginx -v 2>&1 | sed 's/^nginx version: //'; else echo none; fi); load: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo "- CPUs: load generator [${LOADGEN_CPUS:-any}], upstream [${UPSTREAM_CPUS:-any}], target [${TARGET_CPUS:-any}]"
  echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- wrk: $WRK_THREADS thread(s), $CONNS connections; ${WARMUP} s warm-up + ${DURATION} s measured; medians of $REPS repetition(s)"
} >"$OUT_DIR/header.md"
sed 's/^/  /' "$OUT_DIR/header.md" | tee -a "$LOG" >&2

# ------------------------------------------------------------------ one target
TPID="" TPORT=""
start_target() { # target label
  local t=$1 label=$2 admin
  if [ "$t" = gateway ]; then
    read -r TPORT admin <<<"$("${PY[@]}" ports 2)"
    write_gateway_config "$GW_DIR/gateway.toml" "$TPORT" "$admin" "$UP_PORT" "$SECRET_FILE"
    start_group "$OUT_DIR/logs/$label.log" "$TARGET_CPUS" "$GATEWAY_BIN" --config "$GW_DIR/gateway.toml"
    TPID=$LAST_PID
    "${PY[@]}" wait-http "http://127.0.0.1:$admin/readyz" "$TPID" 30
  else
    read -r TPORT <<<"$("${PY[@]}" ports 1)"
    write_nginx_config "$NGINX_DIR" "$TPORT" "$UP_PORT" on
    start_group "$OUT_DIR/logs/$label.log" "$TARGET_CPUS" \
      nginx -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf"
    TPID=$LAST_PID
    "${PY[@]}" wait-tcp "$TPORT" "$TPID" 15
  fi
}

SIG=""
new_signature() { # scenario -> SIG, made right before each wrk run: signatures expire after 300 s
  SIG=""
  case "$1" in
    signed) SIG=$("${PY[@]}" sign "$SECRET_FILE" "$BODY_FILE") ;;
    invalid) SIG=$("${PY[@]}" sign "$SECRET_FILE" "$BODY_FILE" --invalid) ;;
  esac
}

run_wrk() { # output scenario seconds count_statuses(0|1); sends SIG
  # bash's `time` gives wrk's own CPU use (wall, user, system seconds) without another tool.
  local TIMEFORMAT='%R %U %S'
  { time BENCH_SCENARIO=$2 BENCH_SIG=$SIG BENCH_BODY_FILE=$BODY_FILE BENCH_COUNT_STATUS=$4 \
    pinned "$LOADGEN_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$3s" --timeout 5s --latency \
    -s "$ROOT/bench/lib/request.lua" "http://127.0.0.1:$TPORT/api/resource" >"$1" 2>&1; } 2>"$1.time" || true
}

measure() { # rep target scenario
  local rep=$1 t=$2 sc=$3 label="r$1-$2-$3" meta verdict warm="" tg0 tg1 up0 up1 c0 c1 lines="" row
  meta=$(printf '{"rep":%d,"target":"%s","scenario":"%s","conns":%d,"duration_s":%d,"warmup_s":%d,"loadgen_cpus":"%s","target_cpus":"%s","upstream_cpus":"%s"}' \
    "$rep" "$t" "$sc" "$CONNS" "$DURATION" "$WARMUP" "$LOADGEN_CPUS" "$TARGET_CPUS" "$UPSTREAM_CPUS")
  if ! start_target "$t" "$label" 2>>"$LOG"; then
    log "$label: did not start (see $OUT_DIR/logs/$label.log)"
    "${PY[@]}" failrow "$meta" "did not start" >>"$RESULTS"
    stop_group "$TPID"; return 0
  fi
  if ! verdict=$("${PY[@]}" probe "http://127.0.0.1:$TPORT/api/resource" "$sc" "$SECRET_FILE" "$BODY_FILE" 2>&1); then
    log "$label: check failed: $verdict"
    "${PY[@]}" failrow "$meta" "check: $verdict" >>"$RESULTS"
    stop_group "$TPID"; return 0
  fi
  if [ "$WARMUP" -gt 0 ]; then
    warm="$OUT_DIR/raw/$label.warmup.txt"
    new_signature "$sc"
    run_wrk "$warm" "$sc" "$WARMUP" 1
  fi
  new_signature "$sc"
  tg0=$("${PY[@]}" snap "$TPID"); up0=$("${PY[@]}" snap "$UP_PID"); c0=$("${PY[@]}" cpustat)
  run_wrk "$OUT_DIR/raw/$label.txt" "$sc" "$DURATION" $((WARMUP > 0 ? 0 : 1))
  c1=$("${PY[@]}" cpustat); tg1=$("${PY[@]}" snap "$TPID"); up1=$("${PY[@]}" snap "$UP_PID")
  stop_group "$TPID"
  if [ "$t" = gateway ]; then
    lines=$(wc -l <"$OUT_DIR/logs/$label.log")
    # A line per request adds up (~40 MB per run): keep the start of the file unless KEEP_LOGS=1.
    if [ "$KEEP_LOGS" != 1 ]; then
      head -n 40 "$OUT_DIR/logs/$label.log" >"$OUT_DIR/logs/$label.log.head"
      rm -f "$OUT_DIR/logs/$label.log"
    fi
  fi
  if row=$("${PY[@]}" row meta="$meta" wrk="$OUT_DIR/raw/$label.txt" wrk_time="$OUT_DIR/raw/$label.txt.time" warm="$warm" tg0="$tg0" tg1="$tg1" \
      up0="$up0" up1="$up1" cpu0="$c0" cpu1="$c1" lg_cpus="$LOADGEN_CPUS" \
      rig_cpus="$LOADGEN_CPUS,$TARGET_CPUS,$UPSTREAM_CPUS" log_lines="$lines" 2>>"$LOG"); then
    echo "$row" >>"$RESULTS"
    log "$label: $("${PY[@]}" human "$row")"
  else
    log "$label: no wrk result (see $OUT_DIR/raw/$label.txt)"
    "${PY[@]}" failrow "$meta" "no wrk result" >>"$RESULTS"
  fi
}

# ------------------------------------------------------------------ the run
read -r -a TLIST <<<"$TARGETS"
[ "${#TLIST[@]}" -gt 0 ] || die "no target to measure"
started=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  # Rotate the order each repetition, so slow drift of a shared machine is spread over targets.
  for i in $(seq 0 $((${#TLIST[@]} - 1))); do
    t=${TLIST[$(((i + rep - 1) % ${#TLIST[@]}))]}
    for sc in $SCENARIOS; do
      if [ "$t" = nginx ] && [ "$sc" != signed ]; then continue; fi
      measure "$rep" "$t" "$sc"
    done
  done
done
stop_group "$UP_PID"
log "measured in $(($(date +%s) - started)) s"

{
  cat "$OUT_DIR/header.md"
  echo
  "${PY[@]}" report "$RESULTS"
  cat <<'EOF'

req/s: median over repetitions. × nginx signed: req/s ÷ nginx's signed req/s in this run.
CPU µs/req: user+system CPU of the target's processes during the measured run ÷ requests
(the upstream's and the kernel's softirq work are not in it). p99: wrk's latency
distribution. peak RSS: VmHWM summed over the target's processes. spread: (max−min)/median
of req/s. statuses: exact counts from the warm-up, and wrk's ≥400 count in the measured run
agreed. LG CPU: how busy the load generator's CPU(s) were (wrk, the kernel's loopback work
and anything else running there). flags: STATUS unexpected statuses; ERR socket errors
>0.1%; LG load generator's CPU(s) ≥90% busy: the rig, not the target, may be the limit;
BUSY other programs used ≥10% of a CPU of the rig during the run: figures are disturbed.
EOF
} >"$OUT_DIR/summary.md"
echo
cat "$OUT_DIR/summary.md"
echo
echo "results: $OUT_DIR (summary.md, results.jsonl, raw/, logs/)"
