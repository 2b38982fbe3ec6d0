# Sourced by the benchmark scripts: `machine_info` prints what a result depends on (date,
# commit, cores, kernel, processor, load at the start, whether the machine was quiet) for
# OUT_DIR/machine.txt; `wait_for_quiet` waits for a machine with nothing else to do.
machine_info() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpus: $(nproc 2>/dev/null || echo unknown)"
  echo "kernel: $(uname -sr)"
  grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
  if [[ -n ${QUIET:-} ]]; then
    echo "quiet at start: $QUIET"
  fi
}

# Waits until no cargo or rustc runs and the 1-minute load average is below QUIET_LOAD
# (0.5), checking every 10 s for at most QUIET_WAIT seconds (600); sets QUIET to "yes",
# or to what was still running when it gave up. A benchmark on a machine busy building
# measures the build.
wait_for_quiet() {
  local waited=0 limit=${QUIET_WAIT:-600} most=${QUIET_LOAD:-0.5} builds load
  while :; do
    builds=$(pgrep -x -d, 'cargo|rustc' || true)
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
    if [[ -z $builds ]] && awk -v l="$load" -v m="$most" 'BEGIN { exit !(l < m) }'; then
      QUIET=yes
      return
    fi
    if ((waited >= limit)); then
      QUIET="no: after ${waited} s, load average $load${builds:+, cargo/rustc running (pids $builds)}"
      echo "warning: the machine is not quiet ($QUIET); measuring anyway" >&2
      return
    fi
    echo "waiting for a quiet machine (load average $load${builds:+, cargo/rustc pids $builds})" >&2
    sleep 10
    waited=$((waited + 10))
  done
}
