#!/usr/bin/env bash
# The pacing benchmark of docs/performance.md: what an unthrottled publisher costs on a
# stock hub, where the hub paces it by its listeners (`--when-behind wait`, the default),
# against the same hub with pacing off and a window so large that nothing is ever
# skipped (`--when-behind skip --queue 16777216 --queue-bytes 2147483648`): the fastest
# this hub delivers a burst without losing any of it, at the price of holding the whole
# burst. A third configuration, the stock window with pacing off, shows what a burst
# cost listeners before pacing.
#
# Every run is `pipehub-client load --spawn-hub --window 0`: the publisher sends as fast
# as the hub takes messages, and the tool counts every delivery, every LAGGED and every
# gap, and reads the hub's peak memory from /proc. Configurations alternate within each
# repetition, so slow drift of the machine hits them alike.
#
# A benchmark, not a test: it wants the machine to itself. The default grid takes about
# seven minutes on a 2-core machine.
#
# Usage: bench/pacing.sh [OUT_DIR]          (default: bench/results/pacing-<UTC time>)
# Environment (defaults in brackets):
#   CLIENTS       listener counts                              ["100 1000 10000"]
#   SIZES         message sizes in bytes                       ["64 1024"]
#   DELIVERIES    deliveries per run: messages = DELIVERIES / N, at least MIN_MESSAGES
#                 and at most MAX_MESSAGES                     [40000000]
#   MIN_MESSAGES  several stock windows (4,096), so pacing works throughout  [12288]
#   MAX_MESSAGES                                               [400000]
#   RUNS          repetitions of each configuration; medians are reported  [3]
#   PROCS         listener processes of the load tool          [1]
#
# Writes OUT_DIR/<config>-n<N>-s<S>-r<K>.json and .txt (each run), machine.txt, and
# summary.tsv: per configuration, N and S, the median deliveries/s, the paced/oversized
# ratio, messages lost, and the hub's peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/machine.sh

CLIENTS=${CLIENTS:-"100 1000 10000"}
SIZES=${SIZES:-"64 1024"}
DELIVERIES=${DELIVERIES:-40000000}
MIN_MESSAGES=${MIN_MESSAGES:-12288}
MAX_MESSAGES=${MAX_MESSAGES:-400000}
RUNS=${RUNS:-3}
PROCS=${PROCS:-1}
out=${1:-bench/results/pacing-$(date -u +%Y%m%dT%H%M%SZ)}

command -v python3 >/dev/null || { echo "bench/pacing.sh needs python3" >&2; exit 1; }
cargo build --release --quiet --bins
load=target/release/pipehub-client
mkdir -p "$out"
{
  machine_info
} > "$out/machine.txt"

declare -A hub_args=(
  [paced]=""
  [oversized]="--hub-arg=--when-behind=skip --hub-arg=--queue=16777216 --hub-arg=--queue-bytes=2147483648"
  [skip]="--hub-arg=--when-behind=skip"
)

for n in $CLIENTS; do
  for s in $SIZES; do
    messages=$((DELIVERIES / n))
    ((messages < MIN_MESSAGES)) && messages=$MIN_MESSAGES
    ((messages > MAX_MESSAGES)) && messages=$MAX_MESSAGES
    for r in $(seq 1 "$RUNS"); do
      for config in paced oversized skip; do
        name="$config-n$n-s$s-r$r"
        echo "==> $name: $messages messages" >&2
        # shellcheck disable=SC2086 # hub_args holds a list of arguments
        "$load" load --spawn-hub --window 0 --procs "$PROCS" --clients "$n" --size "$s" \
          --messages "$messages" --drain-timeout 5 --json "$out/$name.json" \
          ${hub_args[$config]} > "$out/$name.txt"
      done
    done
  done
done

python3 - "$out" <<'PY'
import collections, json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
runs = collections.defaultdict(list)
for path in sorted(out.glob("*-r*.json")):
    config, n, s, _ = path.stem.split("-")
    run = json.loads(path.read_text())["points"][0]["runs"][0]
    runs[(int(n[1:]), int(s[1:]), config)].append(run)
rows = ["N\tS\tconfig\truns\tdeliveries_per_s\tvs_oversized\tlost_median\tlost_max\texpected\trss_peak_mib"]
for (n, s, config) in sorted(runs, key=lambda k: (k[0], k[1], ["paced", "oversized", "skip"].index(k[2]))):
    def median_rate(c):
        return statistics.median(r["delivery"]["per_second"] for r in runs[(n, s, c)])
    group = runs[(n, s, config)]
    rate = median_rate(config)
    ratio = rate / median_rate("oversized") if (n, s, "oversized") in runs else float("nan")
    lost = [r["loss"]["lost"] for r in group]
    rss = statistics.median(r["memory"]["rss_peak_bytes"] or 0 for r in group) / 2**20
    rows.append(f"{n}\t{s}\t{config}\t{len(group)}\t{rate:.0f}\t{ratio:.2f}\t{statistics.median(lost):.0f}\t{max(lost)}\t{group[0]['delivery']['expected']}\t{rss:.1f}")
(out / "summary.tsv").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
echo "results in $out" >&2
