#!/usr/bin/env bash
# The fan-out benchmark grid of docs/performance.md: for every N (listeners) and S (message
# size), `pipehub-client load --spawn-hub --baseline raw` measures the hub and the raw
# baseline (a minimal direct Unix-socket fan-out) with the same workload in one run, then
# the latency rows measure both at a moderate load (about 100,000 deliveries/s).
#
# A benchmark, not a test: the full grid takes minutes and wants the machine to itself.
#
# Usage: bench/fanout.sh [OUT_DIR]          (default: bench/results/<UTC time>)
# Environment (defaults in brackets):
#   CLIENTS      listener counts              ["1 100 1000 10000"]
#   SIZES        message sizes in bytes       ["64 1024"]
#   DELIVERIES   deliveries per throughput run; messages = DELIVERIES / N, at least
#                MIN_MESSAGES                 [20000000]
#   MIN_MESSAGES                              [5000]
#   MAX_MESSAGES cap for small N              [2000000]
#   LATENCY_SECONDS  length of a latency run  [5]
#   PROCS        listener processes           [1]
#   EXTRA        more arguments for every load run (e.g. "--hub-arg=--queue=8192")
#
# Writes OUT_DIR/throughput-n<N>-s<S>.json, .txt and .html (the report with charts),
# OUT_DIR/latency-n<N>.json, .txt and .html, and OUT_DIR/summary.tsv (one line per run)
# when python3 is available. For one report with every N in it, use
# `pipehub-client load --spawn-hub --baseline raw --sweep 1,100,1000,10000 --report PATH.html`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh

CLIENTS=${CLIENTS:-"1 100 1000 10000"}
SIZES=${SIZES:-"64 1024"}
DELIVERIES=${DELIVERIES:-20000000}
MIN_MESSAGES=${MIN_MESSAGES:-5000}
MAX_MESSAGES=${MAX_MESSAGES:-2000000}
LATENCY_SECONDS=${LATENCY_SECONDS:-5}
PROCS=${PROCS:-1}
EXTRA=${EXTRA:-}
out=${1:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

cargo build --release --quiet --bins
load=target/release/pipehub-client
mkdir -p "$out"
{
  machine_info
} > "$out/machine.txt"

run() { # NAME ARGS...: one load run, its table in NAME.txt, its report in NAME.json and .html
  local name=$1
  shift
  echo "==> $name: $load load $*" >&2
  # shellcheck disable=SC2086 # EXTRA is a list of arguments
  "$load" load --spawn-hub --baseline raw --procs "$PROCS" --json "$out/$name.json" \
    --report "$out/$name.html" "$@" $EXTRA \
    | tee "$out/$name.txt"
}

for n in $CLIENTS; do
  for s in $SIZES; do
    messages=$((DELIVERIES / n))
    ((messages < MIN_MESSAGES)) && messages=$MIN_MESSAGES
    ((messages > MAX_MESSAGES)) && messages=$MAX_MESSAGES
    run "throughput-n$n-s$s" --clients "$n" --size "$s" --messages "$messages"
  done
done

# Latency at a moderate load: about 100,000 deliveries/s whatever N is.
for n in $CLIENTS; do
  ((n < 100)) && continue
  rate=$((100000 / n))
  run "latency-n$n" --clients "$n" --size 64 --rate "$rate" --messages $((rate * LATENCY_SECONDS))
done

if command -v python3 >/dev/null; then
  python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["run\ttarget\tN\tS\tdeliveries_per_s\tratio\tlost\tp50_us\tp99_us\tp99_ratio\tconnect_per_s\tbytes_per_idle_listener\tcpu_s"]
for path in sorted(out.glob("*.json")):
    report = json.loads(path.read_text())
    for point in report["points"]:
        ratios = point.get("ratios") or {}
        for run in point["runs"]:
            hub = run["target"] == "hub"
            fmt = lambda v, f="{:.2f}": "" if v is None else f.format(v)
            rows.append("\t".join([
                path.stem, run["target"], str(point["clients"]), str(report["config"]["size"]),
                f'{run["delivery"]["per_second"]:.0f}',
                fmt(ratios.get("deliveries_per_second")) if hub else "",
                str(run["loss"]["lost"]),
                str(run["latency_us"]["p50"]), str(run["latency_us"]["p99"]),
                fmt(ratios.get("latency_p99")) if hub else "",
                f'{run["connect"]["per_second"]:.0f}',
                fmt(run["memory"]["bytes_per_idle_listener"], "{:.0f}"),
                fmt(run["cpu"]["measuring_seconds"]),
            ]))
(out / "summary.tsv").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
fi
echo "results in $out" >&2
