# Sourced by the benchmark scripts: `machine_info` prints what a result depends on (date,
# commit, cores, kernel, processor, load at the start) for OUT_DIR/machine.txt.
machine_info() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpus: $(nproc 2>/dev/null || echo unknown)"
  echo "kernel: $(uname -sr)"
  grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
}
