#!/usr/bin/env bash
# The `--threads` table of docs/performance.md: the throughput grid of bench/fanout.sh
# (64-byte messages, the independent harness off) for three placements of the hub:
#   one-core  --threads 1, the hub (and the raw baseline) pinned to CPU 0 and the load
#             tool to the others (--target-cpus 0): what one hub thread does with a
#             core of its own;
#   shared-1  --threads 1, hub and tool wherever the system puts them (the default);
#   shared-2  --threads 2, hub and tool wherever the system puts them.
# On a machine with more cores, set TARGET_CPUS and THREADS to place more of them (for
# example TARGET_CPUS=0-3 THREADS=4 for a hub with four cores of its own).
#
# Usage: bench/threads.sh [OUT_DIR]     (default: bench/results/threads-<UTC time>)
# Environment: CLIENTS, RUNS, DELIVERIES, WINDOW as for bench/fanout.sh (defaults
# "100 1000 10000", 3, 20000000, no window); TARGET_CPUS [0]; THREADS [2].
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/threads-$(date -u +%Y%m%dT%H%M%SZ)}
TARGET_CPUS=${TARGET_CPUS:-0}
THREADS=${THREADS:-2}
export CLIENTS=${CLIENTS:-"100 1000 10000"} RUNS=${RUNS:-3} SIZES=64 CHECK=0

EXTRA="--target-cpus $TARGET_CPUS" bench/fanout.sh "$out/one-core" >/dev/null
EXTRA="" bench/fanout.sh "$out/shared-1" >/dev/null
EXTRA="--hub-arg=--threads=$THREADS" bench/fanout.sh "$out/shared-$THREADS" >/dev/null

for placement in one-core shared-1 "shared-$THREADS"; do
  echo "## $placement"
  python3 bench/table.py throughput "$out/$placement"
done | tee "$out/tables.md"
