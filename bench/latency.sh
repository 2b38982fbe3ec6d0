#!/usr/bin/env bash
# Latency at a moderate load, repeated: about 100,000 deliveries/s (1,000 msg/s to 100
# listeners, 100 msg/s to 1,000, 10 msg/s to 10,000), the hub and the raw baseline in the
# same run, REPEAT times per N. A p99 from one short run on a 2-core machine swings with
# whatever else runs, so docs/performance.md quotes the median over the repeats.
#
# Usage: bench/latency.sh [OUT_DIR]        (default: bench/results/latency-<UTC time>)
# Environment: CLIENTS ["100 1000 10000"], REPEAT [5], SECONDS_PER_RUN [5], EXTRA [].
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh
CLIENTS=${CLIENTS:-"100 1000 10000"}
REPEAT=${REPEAT:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
EXTRA=${EXTRA:-}
out=${1:-bench/results/latency-$(date -u +%Y%m%dT%H%M%SZ)}
cargo build --release --quiet --bins
mkdir -p "$out"
wait_for_quiet
machine_info > "$out/machine.txt"
for n in $CLIENTS; do
  rate=$((100000 / n))
  for i in $(seq "$REPEAT"); do
    echo "==> N=$n run $i: $rate msg/s for $SECONDS_PER_RUN s" >&2
    # shellcheck disable=SC2086 # EXTRA is a list of arguments
    target/release/pipehub-client load --spawn-hub --baseline raw --clients "$n" --size 64 \
      --rate "$rate" --messages $((rate * SECONDS_PER_RUN)) --json "$out/n$n-run$i.json" $EXTRA \
      >/dev/null
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >> "$out/machine.txt"
python3 bench/table.py latency "$out"
