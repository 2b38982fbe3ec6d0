#!/usr/bin/env python3
"""Renders load-tool JSON reports as the markdown tables of docs/performance.md.

    bench/table.py throughput DIR   # the grid written by bench/fanout.sh
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


def throughput(out):
    print("| N | S (bytes) | hub deliveries/s | raw deliveries/s | hub / raw | lost | hub p50 / p99 (ms) | connects/s | hub CPU s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for path in out.glob("throughput-*.json"):
        for n, s, r in runs(path):
            rows.append((n, s, r))
    for n, s, r in sorted(rows, key=lambda row: (row[0], row[1])):
        hub, raw = r["hub"], r["raw"]
        ratio = hub["delivery"]["per_second"] / raw["delivery"]["per_second"]
        lat = hub["latency_us"]
        print(
            f"| {n:,} | {s:,} | {mega(hub['delivery']['per_second'])} | {mega(raw['delivery']['per_second'])} "
            f"| **{ratio:.2f}** | {hub['loss']['lost']} | {lat['p50'] / 1000:.1f} / {lat['p99'] / 1000:.1f} "
            f"| {hub['connect']['per_second']:,.0f} | {hub['cpu']['measuring_seconds']:.2f} |"
        )
    print()
    print("| N | hub RSS, no clients | hub RSS, N idle listeners | bytes per idle listener (hub) | (raw) |")
    print("|---:|---:|---:|---:|---:|")
    seen = set()
    for n, s, r in sorted(rows, key=lambda row: (row[0], row[1])):
        if n in seen or n < 100:
            continue
        seen.add(n)
        hub, raw = r["hub"]["memory"], r["raw"]["memory"]
        print(
            f"| {n:,} | {hub['rss_empty_bytes'] / 2**20:.1f} MiB | {hub['rss_idle_bytes'] / 2**20:.1f} MiB "
            f"| **{hub['bytes_per_idle_listener']:,.0f} B** | {raw['bytes_per_idle_listener']:,.0f} B |"
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
