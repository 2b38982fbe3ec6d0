#!/usr/bin/env bash
# The fan-out benchmark grid of docs/performance.md: for every N (listeners) and S (message
# size), RUNS times, `pipehub-client load --spawn-hub --baseline raw` measures the hub and
# the raw baseline (one writer, batched writes to every listener socket, read by the same
# receivers: the tool's own ceiling) with the same workload in one run; then, unless
# CHECK=0, the independent harness bench/fanout-check.c (C, no code shared with the load
# tool) measures a batched raw fan-out and a fresh hub with the same N, S and messages, so
# that the tool's figures can be held against figures it did not make.
#
# A benchmark, not a test: it wants the machine to itself. It waits (up to QUIET_WAIT s)
# until no cargo or rustc runs and the load average is below QUIET_LOAD, and notes in
# machine.txt whether the machine was quiet.
#
# Usage: bench/fanout.sh [OUT_DIR]          (default: bench/results/<UTC time>)
# Environment (defaults in brackets):
#   CLIENTS      listener counts              ["100 1000 10000"]
#   SIZES        message sizes in bytes       ["64 1024"]
#   RUNS         repetitions of every point; the tables give medians  [3]
#   DELIVERIES   deliveries per run; messages = DELIVERIES / N, at least MIN_MESSAGES
#                and at most MAX_MESSAGES     [20000000]
#   MIN_MESSAGES                              [5000]
#   MAX_MESSAGES                              [2000000]
#   CHECK        1: run the independent harness too; 0: the load tool only  [1]
#   LATENCY      1: also one run per N at a moderate load (about 100,000 deliveries/s)
#                [0]
#   LATENCY_SECONDS  length of a latency run  [5]
#   PROCS        listener processes           [1]
#   WINDOW       the publishers' window: none, so the publisher sends as fast as the hub
#                takes messages and the hub's pacing is the only brake (as in
#                docs/performance.md; also the load tool's default against a hub that
#                paces)                         ["--window 0"]
#   EXTRA        more arguments for every load run (e.g. "--hub-arg=--queue=8192")
#   QUIET_WAIT, QUIET_LOAD                    [600, 0.5]
#
# Writes OUT_DIR/throughput-n<N>-s<S>-r<K>.json, .txt and .html (the report with charts),
# OUT_DIR/check-n<N>-s<S>-r<K>.txt (the harness's two lines), machine.txt, and prints the
# tables of docs/performance.md (bench/table.py throughput OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh

CLIENTS=${CLIENTS:-"100 1000 10000"}
SIZES=${SIZES:-"64 1024"}
RUNS=${RUNS:-3}
DELIVERIES=${DELIVERIES:-20000000}
MIN_MESSAGES=${MIN_MESSAGES:-5000}
MAX_MESSAGES=${MAX_MESSAGES:-2000000}
CHECK=${CHECK:-1}
LATENCY=${LATENCY:-0}
LATENCY_SECONDS=${LATENCY_SECONDS:-5}
PROCS=${PROCS:-1}
WINDOW=${WINDOW---window 0}
EXTRA=${EXTRA:-}
out=${1:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

command -v python3 >/dev/null || { echo "bench/fanout.sh needs python3" >&2; exit 1; }
cargo build --release --quiet --bins
load=target/release/pipehub-client
mkdir -p "$out"
check=""
if [[ $CHECK == 1 ]]; then
  check="$out/fanout-check"
  cc -O2 -Wall -pthread -o "$check" bench/fanout-check.c
fi
wait_for_quiet
{
  machine_info
} > "$out/machine.txt"

run() { # NAME ARGS...: one load run, its table in NAME.txt, its report in NAME.json and .html
  local name=$1
  shift
  echo "==> $name: $load load $*" >&2
  # shellcheck disable=SC2086 # WINDOW and EXTRA are lists of arguments
  "$load" load --spawn-hub --baseline raw --procs "$PROCS" --json "$out/$name.json" \
    --report "$out/$name.html" "$@" $WINDOW $EXTRA > "$out/$name.txt"
}

check_run() { # NAME N S MESSAGES: the independent harness, raw fan-out and a fresh hub
  local name=$1 n=$2 s=$3 messages=$4 dir hub
  echo "==> $name: fanout-check raw and hub, N=$n S=$s, $messages messages" >&2
  "$check" raw "$n" "$s" "$messages" > "$out/$name.txt"
  dir=$(mktemp -d)
  target/release/pipehub --endpoint "$dir/hub.sock" </dev/null >/dev/null 2>"$dir/hub.log" &
  hub=$!
  for _ in $(seq 100); do [[ -S $dir/hub.sock ]] && break; sleep 0.05; done
  "$check" hub "$dir/hub.sock" "$n" "$s" "$messages" >> "$out/$name.txt" || cat "$dir/hub.log" >&2
  kill "$hub"
  wait "$hub" 2>/dev/null || true
  rm -rf "$dir"
}

for r in $(seq "$RUNS"); do
  for n in $CLIENTS; do
    for s in $SIZES; do
      messages=$((DELIVERIES / n))
      ((messages < MIN_MESSAGES)) && messages=$MIN_MESSAGES
      ((messages > MAX_MESSAGES)) && messages=$MAX_MESSAGES
      run "throughput-n$n-s$s-r$r" --clients "$n" --size "$s" --messages "$messages"
      [[ -n $check ]] && check_run "check-n$n-s$s-r$r" "$n" "$s" "$messages"
    done
  done
done

# Latency at a moderate load: about 100,000 deliveries/s whatever N is (bench/latency.sh
# repeats these).
if [[ $LATENCY == 1 ]]; then
  for n in $CLIENTS; do
    ((n < 100)) && continue
    rate=$((100000 / n))
    run "latency-n$n" --clients "$n" --size 64 --rate "$rate" --messages $((rate * LATENCY_SECONDS))
  done
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >> "$out/machine.txt"

python3 bench/table.py throughput "$out" | tee "$out/tables.md"
echo "results in $out" >&2
