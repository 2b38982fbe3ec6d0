#!/usr/bin/env bash
# Where a hub's time goes per delivery, counted by the kernel: the hub runs under
# `perf stat` while `pipehub-client load` drives it (N listeners, one unthrottled
# publisher), and the counts of writev and read calls, epoll waits and context switches
# are divided by the deliveries made (writev, epoll waits and context switches per 1,000
# deliveries; reads per published message); beside them the hub's user and system CPU
# time over its whole life (connecting included) per delivery, in ns. With PROFILE=1 it also records a call-graph profile (perf record) and
# prints the top symbols.
#
# Usage: bench/syscalls.sh [OUT_DIR]        (default: bench/results/syscalls-<UTC time>)
# Environment (defaults in brackets):
#   HUB        the hub binary to count     [target/release/pipehub]
#   CLIENTS    listener counts             ["100 1000 10000"]
#   SIZES      message sizes in bytes      ["64 1024"]
#   DELIVERIES deliveries per run; messages = DELIVERIES / N, at least 5,000  [20000000]
#   PROFILE    1: also perf record         [0]
#   HUB_ARGS   more arguments for the hub (e.g. "--threads 2")
#   WINDOW     the publisher's window; the default is the one docs/performance.md's
#              before-and-after table was measured with (half the stock queue)
#              ["--window 2048"]
# Needs `perf` (Debian: linux-perf) and permission to read syscall tracepoints
# (root, or kernel.perf_event_paranoid <= -1).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh

HUB=${HUB:-target/release/pipehub}
CLIENTS=${CLIENTS:-"100 1000 10000"}
SIZES=${SIZES:-"64 1024"}
DELIVERIES=${DELIVERIES:-20000000}
PROFILE=${PROFILE:-0}
HUB_ARGS=${HUB_ARGS:-}
WINDOW=${WINDOW---window 2048}
out=${1:-bench/results/syscalls-$(date -u +%Y%m%dT%H%M%SZ)}

command -v perf >/dev/null || { echo "bench/syscalls.sh needs perf (Debian: linux-perf)" >&2; exit 1; }
cargo build --release --quiet --bins
mkdir -p "$out"
wait_for_quiet
machine_info > "$out/machine.txt"
echo "hub: $HUB $HUB_ARGS" >> "$out/machine.txt"

events=syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read
events+=,syscalls:sys_enter_epoll_wait,context-switches

{
printf '%-7s %-6s %14s %11s %11s %11s %11s %9s %9s\n' N S "deliveries/s" "writev/1k" \
  "reads/msg" "epoll/1k" "cswitch/1k" "user ns" "sys ns"
for s in $SIZES; do
  for n in $CLIENTS; do
    messages=$((DELIVERIES / n))
    ((messages >= 5000)) || messages=5000
    name="n$n-s$s"
    dir=$(mktemp -d)
    sock="$dir/hub.sock"
    record=()
    if [[ $PROFILE == 1 ]]; then
      record=(perf record -F 2000 -g -o "$out/$name.perf.data" --)
    fi
    # shellcheck disable=SC2086 # HUB_ARGS is a list of arguments
    perf stat -x, -e "$events" -o "$out/$name.stat" -- "${record[@]}" \
      "$HUB" --endpoint "$sock" $HUB_ARGS </dev/null >/dev/null 2>"$out/$name.hub.log" &
    stat_pid=$!
    for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
    # shellcheck disable=SC2086 # WINDOW is a list of arguments
    target/release/pipehub-client load --endpoint "$sock" --clients "$n" --size "$s" \
      --messages "$messages" --json "$out/$name.json" $WINDOW > "$out/$name.txt" 2>/dev/null
    hub_pid=$(pgrep -f -n -- "--endpoint $sock") || true
    # The hub's CPU time, from /proc, before it stops.
    ticks=$(awk '{ print $14, $15 }' "/proc/$hub_pid/stat")
    kill -INT "$hub_pid"
    wait "$stat_pid" || true
    rm -rf "$dir"
    python3 - "$out/$name.stat" "$out/$name.json" "$n" "$s" "$ticks" "$(getconf CLK_TCK)" <<'PY'
import json, sys
stat, report, n, s, ticks, hz = sys.argv[1:7]
counts = {}
for line in open(stat):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0].replace(".", "").isdigit():
        counts[parts[2].split(":")[-1]] = float(parts[0])
run = json.load(open(report))["points"][0]["runs"][0]
delivered = run["delivery"]["delivered"] + run["connect"]["listeners"] * 2  # + warm-up markers
published = run["delivery"]["published"]
user, system = (int(t) / int(hz) for t in ticks.split())
per_k = lambda key: 1000 * counts.get(key, 0) / delivered
reads = counts.get("sys_enter_recvfrom", 0) + counts.get("sys_enter_read", 0)
print(f"{n:<7} {s:<6} {run['delivery']['per_second']:>14,.0f} {per_k('sys_enter_writev'):>11.2f} "
      f"{reads / published:>11.3f} {per_k('sys_enter_epoll_wait'):>11.3f} "
      f"{per_k('context-switches'):>11.3f} {user * 1e9 / delivered:>9.1f} {system * 1e9 / delivered:>9.1f}")
PY
    if [[ $PROFILE == 1 ]]; then
      perf report -i "$out/$name.perf.data" --no-children --sort dso,sym -g none --stdio \
        --percent-limit 1 2>/dev/null | grep % > "$out/$name.profile.txt" || true
    fi
  done
done
} | tee "$out/summary.txt"
