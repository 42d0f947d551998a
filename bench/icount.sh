#!/usr/bin/env bash
# User-space instructions per signed, proxied request, counted by valgrind's callgrind, for the
# gateway and nginx. Unlike req/s this figure barely moves on a busy machine (~1-2%), so it shows
# small changes in the gateway's own work; the kernel's socket work is not counted.
#
#   bench/icount.sh                           # from the repository root: ~1-2 min
#   N1=500 N2=3000 bench/icount.sh            # quicker, a little less exact
#
# Each target runs twice under `valgrind --tool=callgrind`, once for N1 and once for N2 signed
# POST /api/resource requests sent by h2load (HTTP/1.1, CONNS connections, exact counts), and
# is stopped with SIGTERM so callgrind writes its totals:
#   instructions/request = (total(N2) - total(N1)) / (N2 - N1)
# which cancels start-up and shutdown. The upstream (bench/upstream) runs natively.
# Knobs: N1=1000 N2=10000 CONNS=16 TARGETS="nginx gateway" NO_BUILD=1 GATEWAY_BIN=…
#        UPSTREAM_BIN=… OUT_DIR=/tmp/stripe-app-gateway-bench/icount-<stamp>
#        TARGET_CPUS (the gateway sizes its runtime from the CPUs it may use: pinned to one
#        CPU by default, as in compare.sh; PIN=0 leaves it unpinned)
# The callgrind.out files stay in OUT_DIR: `callgrind_annotate FILE | head -40` shows where
# the instructions go.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N1=${N1:-1000}
N2=${N2:-10000}
CONNS=${CONNS:-16}
TARGETS=${TARGETS:-"nginx gateway"}
OUT_DIR=${OUT_DIR:-/tmp/stripe-app-gateway-bench/icount-$(date +%Y%m%d-%H%M%S)}

for knob in N1 N2 CONNS; do
  case "${!knob}" in '' | *[!0-9]*) echo "$knob must be a whole number" >&2; exit 2 ;; esac
done
if [ "$N2" -le "$N1" ] || [ "$N1" -lt "$CONNS" ]; then
  echo "need CONNS <= N1 < N2" >&2; exit 2
fi
for tool in python3 valgrind h2load; do
  command -v "$tool" >/dev/null ||
    { echo "$tool is required (Debian/Ubuntu: apt-get install valgrind nghttp2-client)" >&2; exit 2; }
done

mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/icount.log"
: >"$LOG"
# shellcheck source=lib/common.sh
. "$ROOT/bench/lib/common.sh"

GW_DIR="$OUT_DIR/gateway"
SECRET_FILE="$GW_DIR/secret"
BODY_FILE="$OUT_DIR/body.json"
NGINX_DIR="$OUT_DIR/nginx"

cleanup() {
  stop_all
  rm -f "$SECRET_FILE"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for t in $TARGETS; do
  case "$t" in gateway | nginx) ;; *) die "unknown target $t (gateway, nginx)" ;; esac
done
if [[ " $TARGETS " == *" nginx "* ]] && ! have nginx; then
  log "nginx is not installed: measuring the gateway only"
  TARGETS=${TARGETS//nginx/}
fi

build_binaries
cpu_layout
make_fixtures "$SECRET_FILE" "$BODY_FILE"
read -r UP_PORT <<<"$("${PY[@]}" ports 1)"
start_group "$OUT_DIR/upstream.log" "$UPSTREAM_CPUS" "$UPSTREAM_BIN" --listen "127.0.0.1:$UP_PORT"
UP_PID=$LAST_PID
"${PY[@]}" wait-tcp "$UP_PORT" "$UP_PID" 10 || die "bench-upstream did not start (see $OUT_DIR/upstream.log)"

TOTAL=""
count() { # target n -> TOTAL: callgrind's instruction total for a run serving n signed requests
  local t=$1 n=$2 out="$OUT_DIR/callgrind.out.$1.$2" port admin pid sig
  local vg=(valgrind --tool=callgrind "--callgrind-out-file=$out")
  rm -f "$out"
  if [ "$t" = gateway ]; then
    read -r port admin <<<"$("${PY[@]}" ports 2)"
    write_gateway_config "$GW_DIR/gateway.toml" "$port" "$admin" "$UP_PORT" "$SECRET_FILE"
    start_group "$OUT_DIR/$t.$n.log" "$TARGET_CPUS" "${vg[@]}" "$GATEWAY_BIN" --config "$GW_DIR/gateway.toml"
    pid=$LAST_PID
    "${PY[@]}" wait-http "http://127.0.0.1:$admin/readyz" "$pid" 120 2>>"$LOG" ||
      { log "$t did not start (see $OUT_DIR/$t.$n.log)"; stop_group "$pid" 2; return 1; }
  else
    read -r port <<<"$("${PY[@]}" ports 1)"
    # One process (no master), so callgrind sees all of nginx's work in one file.
    write_nginx_config "$NGINX_DIR" "$port" "$UP_PORT" off
    start_group "$OUT_DIR/$t.$n.log" "$TARGET_CPUS" "${vg[@]}" \
      nginx -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf"
    pid=$LAST_PID
    "${PY[@]}" wait-tcp "$port" "$pid" 120 2>>"$LOG" ||
      { log "$t did not start (see $OUT_DIR/$t.$n.log)"; stop_group "$pid" 2; return 1; }
  fi
  sig=$("${PY[@]}" sign "$SECRET_FILE" "$BODY_FILE")
  timeout 300 h2load --h1 -n "$n" -c "$CONNS" -m 1 -d "$BODY_FILE" -H 'content-type: application/json' \
    -H "stripe-signature: $sig" "http://127.0.0.1:$port/api/resource" >"$OUT_DIR/h2load.$t.$n.txt" 2>&1 || true
  if ! grep -q "status codes: $n 2xx" "$OUT_DIR/h2load.$t.$n.txt"; then
    log "$t: not every one of the $n requests got a 2xx (see $OUT_DIR/h2load.$t.$n.txt)"
    stop_group "$pid" 2; return 1
  fi
  # SIGTERM: the gateway drains and exits, nginx exits; callgrind then writes the file.
  stop_group "$pid" 120
  TOTAL=$("${PY[@]}" callgrind-total "$out" 2>>"$LOG") || { log "$t: no callgrind totals in $out"; return 1; }
}

{
  echo "# instructions per signed request (callgrind), $(date '+%Y-%m-%d %H:%M:%S %Z')"
  echo
  echo "- gateway: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') ($GATEWAY_BIN)"
  echo "- $(valgrind --version); h2load --h1, $CONNS connections; N1=$N1, N2=$N2; target CPUs [${TARGET_CPUS:-any}]"
  echo
  echo "| target | total (N1) | total (N2) | instructions/request | × nginx |"
  echo "|---|---:|---:|---:|---:|"
} >"$OUT_DIR/icount.md"
base=""
for t in $TARGETS; do
  a="" b=""
  log "$t: $N1 requests under callgrind"
  if count "$t" "$N1"; then
    a=$TOTAL
    log "$t: $N2 requests under callgrind"
    if count "$t" "$N2"; then b=$TOTAL; fi
  fi
  if [ -n "$a" ] && [ -n "$b" ]; then
    per=$(((b - a) / (N2 - N1)))
    [ "$t" = nginx ] && base=$per
    ratio="—"
    [ -n "$base" ] && ratio=$(python3 -c "print(f'{$per / $base:.2f}')")
    case "$t" in
      nginx) name="nginx \`proxy_pass\`, no auth" ;;
      *) name=stripe-app-gateway ;;
    esac
    echo "| $name | $a | $b | $per | $ratio |" >>"$OUT_DIR/icount.md"
    log "$t: $per instructions/request"
  else
    echo "| $t | — | — | failed (see $LOG) | — |" >>"$OUT_DIR/icount.md"
  fi
done
stop_group "$UP_PID"
echo
cat "$OUT_DIR/icount.md"
echo
echo "results: $OUT_DIR (icount.md, callgrind.out.*, h2load.*.txt)"
