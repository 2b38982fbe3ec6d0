#!/usr/bin/env python3
"""Renders load-tool JSON reports as the markdown tables of docs/performance.md.

    bench/table.py throughput DIR   # the grid written by bench/fanout.sh, medians of its runs
    bench/table.py latency DIR      # the repeats written by bench/latency.sh
"""
import json
import pathlib
import statistics
import sys


def runs(path):
    report = json.loads(path.read_text())
    for point in report["points"]:
        yield point["clients"], report["config"]["size"], {r["target"]: r for r in point["runs"]}


def mega(x):
    return f"{x / 1e6:.2f} M"


def check_lines(path):
    """The independent harness's lines in PATH: {"raw": deliveries/s, "hub": deliveries/s}."""
    found = {}
    for line in path.read_text().split("\n"):
        fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        if line and "deliveries_per_s" in fields:
            found[line.split()[0]] = float(fields["deliveries_per_s"])
    return found


def limit(run):
    tool = run.get("tool") or {}
    return {"target": run["target"], "receivers": "tool: receivers",
            "publisher": "tool: publisher", "rate": "rate"}.get(tool.get("limit"), "?")


def throughput(out):
    """Medians over the repeats of bench/fanout.sh, the harness's figures beside them."""
    points = {}
    for path in sorted(out.glob("throughput-*.json")):
        for n, s, r in runs(path):
            points.setdefault((n, s), []).append(r)
    checks = {}
    for path in sorted(out.glob("check-*.txt")):
        _, n, s, _ = path.stem.split("-")
        checks.setdefault((int(n[1:]), int(s[1:])), []).append(check_lines(path))
    med = statistics.median

    print("| N | S (bytes) | runs | tool raw (ceiling) | receivers busy, raw | harness raw | tool raw / harness raw | limit, raw |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for (n, s), rs in sorted(points.items()):
        raw = [r["raw"] for r in rs]
        tool_raw = med(x["delivery"]["per_second"] for x in raw)
        busy = [x["tool"]["receivers_busy"] for x in raw if x["tool"]["receivers_busy"] is not None]
        harness = [c["raw"] for c in checks.get((n, s), []) if "raw" in c]
        ratio = f"**{tool_raw / med(harness):.2f}**" if harness else ""
        print(
            f"| {n:,} | {s:,} | {len(rs)} | {mega(tool_raw)} | {med(busy) * 100:.0f} % "
            f"| {mega(med(harness)) if harness else ''} | {ratio} "
            f"| {', '.join(sorted(set(limit(x) for x in raw)))} |"
        )
    print()
    print("| N | S (bytes) | hub deliveries/s | raw deliveries/s | **hub / raw** (runs) | limit, hub | hub CPU | harness hub | tool hub / harness hub | lost |")
    print("|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
    for (n, s), rs in sorted(points.items()):
        hub = med(r["hub"]["delivery"]["per_second"] for r in rs)
        raw = med(r["raw"]["delivery"]["per_second"] for r in rs)
        ratios = [r["hub"]["delivery"]["per_second"] / r["raw"]["delivery"]["per_second"] for r in rs]
        cores = [r["hub"]["tool"]["target_cores"] for r in rs if r["hub"]["tool"]["target_cores"] is not None]
        harness = [c["hub"] for c in checks.get((n, s), []) if "hub" in c]
        lost = sum(r["hub"]["loss"]["lost"] + r["raw"]["loss"]["lost"] for r in rs)
        print(
            f"| {n:,} | {s:,} | {mega(hub)} | {mega(raw)} "
            f"| **{med(ratios):.2f}** ({', '.join(f'{x:.2f}' for x in ratios)}) "
            f"| {', '.join(sorted(set(limit(r['hub']) for r in rs)))} "
            f"| {med(cores) * 100:.0f} % of a core | {mega(med(harness)) if harness else ''} "
            f"| {f'{hub / med(harness):.2f}' if harness else ''} | {lost} |"
        )
    print()
    print("| N | hub RSS, no clients | hub RSS, N idle listeners | bytes per idle listener (hub) | (raw) |")
    print("|---:|---:|---:|---:|---:|")
    seen = set()
    for (n, s), rs in sorted(points.items()):
        if n in seen or n < 100:
            continue
        seen.add(n)
        hub = [r["hub"]["memory"] for r in rs]
        raw = [r["raw"]["memory"] for r in rs]
        print(
            f"| {n:,} | {med(m['rss_empty_bytes'] for m in hub) / 2**20:.1f} MiB "
            f"| {med(m['rss_idle_bytes'] for m in hub) / 2**20:.1f} MiB "
            f"| **{med(m['bytes_per_idle_listener'] for m in hub):,.0f} B** "
            f"| {med(m['bytes_per_idle_listener'] for m in raw):,.0f} B |"
        )


def latency(out):
    by_n = {}
    for path in sorted(out.glob("n*-run*.json")):
        for n, _, r in runs(path):
            by_n.setdefault(n, []).append(r)
    print("| N | rate | runs | hub p50 (µs) | raw p50 (µs) | hub p99 (µs) | raw p99 (µs) | p99 hub / raw, per run | **median p99 ratio** | lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for n in sorted(by_n):
        rs = by_n[n]
        med = lambda key, t: statistics.median(r[t]["latency_us"][key] for r in rs)
        ratios = [r["hub"]["latency_us"]["p99"] / r["raw"]["latency_us"]["p99"] for r in rs]
        lost = sum(r["hub"]["loss"]["lost"] for r in rs)
        print(
            f"| {n:,} | {100000 // n:,} msg/s | {len(rs)} | {med('p50', 'hub'):,.0f} | {med('p50', 'raw'):,.0f} "
            f"| {med('p99', 'hub'):,.0f} | {med('p99', 'raw'):,.0f} | {', '.join(f'{x:.2f}' for x in ratios)} "
            f"| **{statistics.median(ratios):.2f}** | {lost} |"
        )


if __name__ == "__main__":
    kind, out = sys.argv[1], pathlib.Path(sys.argv[2])
    {"throughput": throughput, "latency": latency}[kind](out)
