#!/usr/bin/env bash
# Throughput against cores: the same signed load with everything (wrk, the upstream and the
# proxy) on one CPU with one thread each, then on two CPUs with two threads each. A proxy whose
# request path shares nothing across threads gets close to 2x; the figure is per machine, so
# compare the gateway's ratio with nginx's from the same run.
#
#   bench/scaling.sh                               # ~1.5 min: gateway and nginx, 1 then 2 CPUs
#   CPUS_ONE=1 CPUS_TWO=0,1 REPS=3 bench/scaling.sh
#
# Knobs (passed on to bench/compare.sh): REPS=2 DURATION=6 WARMUP=2 CONNS=64 TARGETS="gateway nginx"
# NO_BUILD=1 OUT_DIR=/tmp/stripe-app-gateway-scaling/<stamp>.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR=${OUT_DIR:-/tmp/stripe-app-gateway-scaling/$(date +%Y%m%d-%H%M%S)}
CPUS_ONE=${CPUS_ONE:-1}
CPUS_TWO=${CPUS_TWO:-0,1}
export REPS=${REPS:-2} DURATION=${DURATION:-6} WARMUP=${WARMUP:-2}
export TARGETS=${TARGETS:-"gateway nginx"} SCENARIOS=signed

run() { # name cpus threads
  OUT_DIR="$OUT_DIR/$1" LOADGEN_CPUS=$2 TARGET_CPUS=$2 UPSTREAM_CPUS=$2 \
    GATEWAY_WORKERS=$3 NGINX_WORKERS=$3 UPSTREAM_THREADS=$3 WRK_THREADS=$3 \
    bash "$ROOT/bench/compare.sh" >"$OUT_DIR.$1.log" 2>&1 ||
    { echo "compare.sh failed for $1 (see $OUT_DIR.$1.log)" >&2; exit 1; }
  export NO_BUILD=1
}
mkdir -p "$OUT_DIR"
run one "$CPUS_ONE" 1
run two "$CPUS_TWO" 2
python3 - "$OUT_DIR" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def rates(name):
    by = {}
    for line in open(f"{out}/{name}/results.jsonl"):
        row = json.loads(line)
        if row.get("rps"):
            by.setdefault(row["target"], []).append(row["rps"])
    return {t: statistics.median(v) for t, v in by.items()}
one, two = rates("one"), rates("two")
print("| target | 1 CPU, 1 thread (req/s) | 2 CPUs, 2 threads (req/s) | scaling |")
print("|---|---:|---:|---:|")
for target in sorted(one):
    if target in two:
        print(f"| {target} | {one[target]:,.0f} | {two[target]:,.0f} | {two[target] / one[target]:.2f}x |")
PY
echo "raw data: $OUT_DIR"
