#!/usr/bin/env bash
# The bridged benchmark of docs/performance.md: three hubs on this machine (hub-a, hub-b,
# hub-c) bridged through one nats-server, the listeners spread evenly over the three
# (`pipehub-client load --endpoint A --spread B,C`), the publisher on hub-a, so two thirds
# of the deliveries cross NATS. Next to each bridged run, the same workload on a fourth
# hub with no bridge (the single-hub numbers), started the same way so the two compare.
#
# For each N: a throughput run (as fast as the hub takes messages, within WINDOW so
# nothing is lost) and a latency run at a moderate fixed rate (about LATENCY_LOAD
# deliveries/s whatever N is, as in bench/latency.sh), bridged and single.
#
# A benchmark, not a test: it wants the machine to itself. The default takes about two
# minutes on a 2-core machine, where the load tool (one core with PROCS=1), three hubs
# and NATS share the cores. Memory and CPU in the load reports are hub-a's (or the
# single hub's) only; cpu.tsv has every process's.
#
# Usage: bench/bridge.sh [OUT_DIR]        (default: bench/results/bridge-<UTC time>)
# Environment (defaults in brackets):
#   CLIENTS          listener counts; 3 is one listener per hub, where the bridge's
#                    message rate is the limit rather than fan-out     ["3 300 3000"]
#   SIZE             message size in bytes                              [64]
#   DELIVERIES       deliveries per throughput run: messages = DELIVERIES / N, at least
#                    MIN_MESSAGES, at most MAX_MESSAGES                 [20000000]
#   MIN_MESSAGES     several flow-control windows, so a run is not one burst  [10000]
#   MAX_MESSAGES     cap for small N                                    [1000000]
#   LATENCY_LOAD     deliveries/s of a latency run                      [100000]
#   LATENCY_SECONDS  length of a latency run                            [10]
#   PROCS            listener processes of the load tool                [1]
#   NATS_SERVER      the nats-server binary   [nats-server on PATH, else /usr/sbin/nats-server]
#   WINDOW           the publishers' window, the same for single and bridged runs: the
#                    bridge skips rather than waits, so bridged runs need one, and the
#                    single hub gets the same so that the two differ by the bridge alone
#                    (half the stock queue)                             ["--window 2048"]
#   EXTRA            more arguments for every load run
#   HUB_ARGS         more arguments for every hub (e.g. "--queue 16384")
#
# Writes to OUT_DIR:
#   {throughput,latency}-{single,bridged}-n<N>.json, .txt  each run's report and table
#   summary.tsv         one line per run: deliveries/s, lost, p50, p99
#   compare.tsv         one line per kind and N: single next to bridged, and the ratio
#   cpu.tsv             CPU seconds of each process per run (connecting and warm-up
#                       included): where a bridged run's time goes
#   bridge-status.json  each hub's bridge counters at the end (published, not_bridged,
#                       received, ...)
#   machine.txt, and the hubs' and the NATS server's logs
# Needs python3 and nats-server (Debian: apt install nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh

CLIENTS=${CLIENTS:-"3 300 3000"}
SIZE=${SIZE:-64}
DELIVERIES=${DELIVERIES:-20000000}
MIN_MESSAGES=${MIN_MESSAGES:-10000}
MAX_MESSAGES=${MAX_MESSAGES:-1000000}
LATENCY_LOAD=${LATENCY_LOAD:-100000}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}
PROCS=${PROCS:-1}
WINDOW=${WINDOW---window 2048}
EXTRA=${EXTRA:-}
HUB_ARGS=${HUB_ARGS:-}
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
out=${1:-bench/results/bridge-$(date -u +%Y%m%dT%H%M%SZ)}

command -v python3 >/dev/null || { echo "bench/bridge.sh needs python3" >&2; exit 1; }
[[ -x $NATS_SERVER ]] || { echo "no nats-server at $NATS_SERVER (apt install nats-server, or set NATS_SERVER)" >&2; exit 1; }

cargo build --release --quiet --bins
hub=target/release/pipehub
client=target/release/pipehub-client
mkdir -p "$out"
{
  machine_info
  echo "nats-server: $("$NATS_SERVER" --version 2>&1 || echo unknown)"
} > "$out/machine.txt"

# Every process started here is stopped by its PID when the script ends, however it ends.
tmp=$(mktemp -d)
pids=()
declare -A pid_of
cleanup() {
  # Last started first, each waited for: the hubs are gone before NATS stops, so they
  # do not log its loss.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# NATS on a free port of its own choosing; the port is in its log.
"$NATS_SERVER" -a 127.0.0.1 -p -1 2> "$out/nats.log" &
pids+=($!)
pid_of[nats]=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/nats.log")
  [[ -n $port ]] && grep -q 'Server is ready' "$out/nats.log" && break
  sleep 0.1
done
[[ -n $port ]] || { echo "nats-server did not start:" >&2; cat "$out/nats.log" >&2; exit 1; }
nats=nats://127.0.0.1:$port
echo "==> nats-server on $nats" >&2

start_hub() { # NAME ARGS...: a hub on $tmp/NAME.sock, its log in $out/NAME.log
  local name=$1
  shift
  # shellcheck disable=SC2086 # HUB_ARGS is a list of arguments
  "$hub" --endpoint "$tmp/$name.sock" "$@" $HUB_ARGS < /dev/null > /dev/null 2> "$out/$name.log" &
  pids+=($!)
  pid_of[$name]=$!
  for _ in $(seq 100); do
    [[ -S $tmp/$name.sock ]] && return
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$out/$name.log" >&2
  exit 1
}

bridge_field() { # ENDPOINT FIELD: the hub's bridge status field, from status --json
  "$client" --endpoint "$1" status --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["bridge"][sys.argv[1]])' "$2"
}

for name in hub-a hub-b hub-c; do
  start_hub "$name" --bridge "$nats" --hub-name "$name"
done
start_hub single
for name in hub-a hub-b hub-c; do
  for i in $(seq 100); do
    [[ $(bridge_field "$tmp/$name.sock" state) == connected ]] && break
    ((i == 100)) && { echo "the bridge of $name did not connect:" >&2; cat "$out/$name.log" >&2; exit 1; }
    sleep 0.1
  done
done
echo "==> hub-a, hub-b, hub-c bridged; single not bridged" >&2

processes=(load nats hub-a hub-b hub-c single)
cpu_seconds() { # PROCESS: its CPU time so far (user + system)
  if [[ $1 == load ]]; then
    # The CPU time of this shell's reaped children (the load runs), which `run` saved
    # with the builtin `times` (here, in a $(...) subshell, it would see no children).
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.2f", t }' "$tmp/times"
  else
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/${pid_of[$1]}/stat"
  fi
}
(IFS=$'\t'; echo "run"$'\t'"${processes[*]}") > "$out/cpu.tsv"

run() { # NAME ENDPOINT ARGS...: one load run, its table in NAME.txt, its report in NAME.json
  local name=$1 endpoint=$2 p
  shift 2
  echo "==> $name: $client load $*" >&2
  local -A before
  times > "$tmp/times"
  for p in "${processes[@]}"; do before[$p]=$(cpu_seconds "$p"); done
  # shellcheck disable=SC2086 # WINDOW and EXTRA are lists of arguments
  "$client" --endpoint "$endpoint" load --procs "$PROCS" --size "$SIZE" \
    --json "$out/$name.json" "$@" $WINDOW $EXTRA | tee "$out/$name.txt"
  local line=$name
  times > "$tmp/times"
  for p in "${processes[@]}"; do
    line+=$'\t'$(awk -v a="${before[$p]}" -v b="$(cpu_seconds "$p")" 'BEGIN { printf "%.2f", b - a }')
  done
  echo "$line" >> "$out/cpu.tsv"
}
spread=(--spread "$tmp/hub-b.sock,$tmp/hub-c.sock")

for n in $CLIENTS; do
  messages=$((DELIVERIES / n))
  ((messages < MIN_MESSAGES)) && messages=$MIN_MESSAGES
  ((messages > MAX_MESSAGES)) && messages=$MAX_MESSAGES
  run "throughput-single-n$n" "$tmp/single.sock" --clients "$n" --messages "$messages"
  run "throughput-bridged-n$n" "$tmp/hub-a.sock" "${spread[@]}" --clients "$n" --messages "$messages"
  rate=$((LATENCY_LOAD / n))
  ((rate < 1)) && rate=1
  run "latency-single-n$n" "$tmp/single.sock" --clients "$n" --rate "$rate" \
    --messages $((rate * LATENCY_SECONDS))
  run "latency-bridged-n$n" "$tmp/hub-a.sock" "${spread[@]}" --clients "$n" --rate "$rate" \
    --messages $((rate * LATENCY_SECONDS))
done

# What the bridges did over the whole benchmark: published, not_bridged, received, ...
for name in hub-a hub-b hub-c; do
  "$client" --endpoint "$tmp/$name.sock" status --json \
    | python3 -c 'import json, sys; print(json.dumps({sys.argv[1]: json.load(sys.stdin)["bridge"]}))' "$name"
done > "$out/bridge-status.json"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >> "$out/machine.txt"

python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["run\tkind\tsetup\thubs\tN\tmessages_per_s\tdeliveries_per_s\tlost\tp50_us\tp99_us\tcpu_s"]
runs = {}
for path in sorted(out.glob("*-n*.json")):
    kind, setup, _ = path.stem.split("-", 2)
    report = json.loads(path.read_text())
    point = report["points"][0]
    run = point["runs"][0]
    cpu = run["cpu"]["measuring_seconds"]
    runs[(kind, point["clients"], setup)] = run
    rows.append("\t".join([
        path.stem, kind, setup, str(run["hubs"]), str(point["clients"]),
        f'{run["delivery"]["messages_per_second"]:.0f}',
        f'{run["delivery"]["per_second"]:.0f}',
        str(run["loss"]["lost"]),
        str(run["latency_us"]["p50"]), str(run["latency_us"]["p99"]),
        "" if cpu is None else f"{cpu:.2f}",
    ]))
(out / "summary.tsv").write_text("\n".join(rows) + "\n")
compare = ["kind\tN\tsingle_deliveries_per_s\tbridged_deliveries_per_s\tratio"
           "\tsingle_p50_us\tsingle_p99_us\tbridged_p50_us\tbridged_p99_us\tsingle_lost\tbridged_lost"]
for (kind, n, setup), single in sorted(runs.items(), key=lambda kv: (kv[0][0] != "throughput", kv[0][1])):
    bridged = runs.get((kind, n, "bridged"))
    if setup != "single" or bridged is None:
        continue
    s, b = single["delivery"]["per_second"], bridged["delivery"]["per_second"]
    compare.append("\t".join([
        kind, str(n), f"{s:.0f}", f"{b:.0f}", f"{b / s:.2f}" if s > 0 else "",
        str(single["latency_us"]["p50"]), str(single["latency_us"]["p99"]),
        str(bridged["latency_us"]["p50"]), str(bridged["latency_us"]["p99"]),
        str(single["loss"]["lost"]), str(bridged["loss"]["lost"]),
    ]))
(out / "compare.tsv").write_text("\n".join(compare) + "\n")
print("\n".join(rows))
print()
print("\n".join(compare))
print()
print((out / "cpu.tsv").read_text(), end="")
PY
echo "results in $out" >&2
