# shellcheck shell=bash
# Shared by the fault scripts in bench/faults/ (sourced, not run): binaries, a work directory,
# generated secrets and configs, processes started in their own session and stopped by pid.

set -euo pipefail
FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$FAULTS_DIR/../.." && pwd)
cd "$ROOT"
PYF=(python3 "$FAULTS_DIR/lib/faults.py")
GATEWAY_BIN=${GATEWAY_BIN:-./target/release/stripe-app-gateway}
UPSTREAM_BIN=${UPSTREAM_BIN:-${CARGO_TARGET_DIR:-./target}/release/bench-upstream}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-faults.XXXXXX")
STARTED=()
LAST_PID=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ -x "$GATEWAY_BIN" ] || die "no gateway binary at $GATEWAY_BIN (cargo build --release, or set GATEWAY_BIN)"

# The fast upstream of bench/upstream/, built on first use; UPSTREAM_BIN points elsewhere.
need_upstream_bin() {
  [ -x "$UPSTREAM_BIN" ] && return 0
  log "building bench/upstream (once)"
  cargo build --release --locked --quiet --manifest-path "$ROOT/bench/upstream/Cargo.toml" \
    --target-dir "${CARGO_TARGET_DIR:-$ROOT/target}" >&2
  [ -x "$UPSTREAM_BIN" ] || die "bench-upstream not built at $UPSTREAM_BIN"
}

# start NAME CMD...: runs CMD in its own session (pid == process group), output in $WORK/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}

# stop PID: SIGTERM to its group, SIGKILL after 5 s.
stop() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop "$pid"; done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { "${PYF[@]}" port; }

# new_secret KIND FILE: writes a fresh absec_/whsec_ secret (mode 0600) to FILE.
new_secret() {
  local prefix=absec_; [ "$1" = webhook ] && prefix=whsec_
  (umask 077; printf '%sfaults_%s\n' "$prefix" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$2")
}

# write_config FILE DATA_PORT ADMIN_PORT UPSTREAM_PORT SECRETS [SERVER_EXTRA] [ROUTE_EXTRA]
# SECRETS is the TOML list body of keyring "app", e.g. '{ id = "a", file = "/x" }'.
# The keyring "hooks" reads $WORK/webhook-secret. Routes: /api/ (app), /webhook (webhook).
write_config() {
  local file=$1 data=$2 admin=$3 up=$4 secrets=$5 server_extra=${6:-} route_extra=${7:-}
  [ -f "$WORK/webhook-secret" ] || new_secret webhook "$WORK/webhook-secret"
  cat >"$file.tmp" <<EOF
[server]
listen = "127.0.0.1:$data"
shutdown_delay = "${SHUTDOWN_DELAY:-0s}"
shutdown_grace = "${SHUTDOWN_GRACE:-5s}"
$server_extra

[admin]
listen = "127.0.0.1:$admin"

[upstream]
url = "http://127.0.0.1:$up"
connect_timeout = "1s"
timeout = "${UPSTREAM_TIMEOUT:-10s}"
webhook_timeout = "${UPSTREAM_TIMEOUT:-10s}"

[log]
level = "${GATEWAY_LOG_LEVEL:-warn}"

[reload]
poll_interval = "0s"
watch = ${RELOAD_WATCH:-false}

[keyrings.app]
kind = "app"
secrets = [$secrets]

[keyrings.hooks]
kind = "webhook"
secrets = [{ id = "hooks", file = "$WORK/webhook-secret" }]

[[routes]]
id = "ui"
path_prefix = "/api/"
methods = ["POST"]
auth = "app"
keyring = "app"
$route_extra

[[routes]]
id = "hooks"
path = "/webhook"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"
EOF
  mv "$file.tmp" "$file"
}

# start_gateway CONFIG: starts the gateway; GW_PID is its pid.
start_gateway() {
  start gateway "$GATEWAY_BIN" --config "$1"
  GW_PID=$LAST_PID
}

# wait_status URL CODE SECONDS: until GET URL answers CODE.
wait_status() {
  local url=$1 code=$2 deadline=$((SECONDS + $3))
  while [ "$("${PYF[@]}" status "$url")" != "$code" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local deadline=$((SECONDS + $2))
  until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# reload ADMIN_PORT: POST /reload; fails unless the reload succeeded.
reload() {
  python3 - "$1" <<'EOF'
import sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/reload", method="POST")
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as err:
    print(f"reload failed: {err}", file=sys.stderr)
    sys.exit(1)
EOF
}

# json FILE EXPR: a value of a JSON file (python expression over `d`).
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
