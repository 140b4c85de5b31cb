#!/usr/bin/env bash
# Run the test suite N times in a row under a cgroup (v1) memory cap and report each run's result and peak memory.
#
#   bash bench/memcap.sh                      # 5 runs of `python -m pytest -q` under 4G, results in bench/results/memcap.md
#   bash bench/memcap.sh -n 2 -m 3G -- python -m pytest -q tests/test_space.py tests/test_tasks.py
#
# Needs root and the cgroup v1 memory controller (/sys/fs/cgroup/memory). The cap covers the command and every
# process it starts; a run the kernel's OOM killer stops shows up as an OOM kill in the table. Each run's peak is the
# cgroup's memory.max_usage_in_bytes (reset before the run); the pytest process's own peak RSS comes from the
# suite's conftest (METAHPO_PEAK_RSS_FILE). Exit status: 0 when every run passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=5 cap=4G out=bench/results/memcap.md
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="$2"; shift 2 ;;
    -m) cap="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (allowed: -n RUNS, -m CAP, -o FILE, -- COMMAND...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || set -- python -m pytest -q -p no:cacheprovider
case "$runs" in ''|*[!0-9]*|0) echo "-n $runs: runs must be a whole number >= 1" >&2; exit 2 ;; esac

root=/sys/fs/cgroup/memory
[ -w "$root" ] || { echo "needs root and the cgroup v1 memory controller at $root" >&2; exit 2; }
cg="$root/metahpo_memcap_$$"
mkdir "$cg" || exit 2
trap 'rmdir "$cg" 2>/dev/null' EXIT
echo "$cap" > "$cg/memory.limit_in_bytes" || { echo "-m $cap: not a memory size the kernel accepts" >&2; exit 2; }
[ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$cap" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null

mkdir -p "$(dirname "$out")"
{
  echo "# The test suite under a $cap memory cap, $runs runs in a row"
  echo
  echo "Command: \`$*\` under \`bash bench/memcap.sh -n $runs -m $cap\`, $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) CPUs," \
       "$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) memory, Linux $(uname -r);" \
       "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo "| run | exit | result | seconds | cgroup peak MB | OOM kills | pytest process |"
  echo "|---:|---:|---|---:|---:|---:|---|"
} > "$out"

failed=0
for i in $(seq 1 "$runs"); do
  echo 0 > "$cg/memory.max_usage_in_bytes"
  kills0=$(awk '/oom_kill / {print $2}' "$cg/memory.oom_control")
  log=$(mktemp) peak=$(mktemp)
  t0=$(date +%s)
  ( echo $BASHPID > "$cg/cgroup.procs" && METAHPO_PEAK_RSS_FILE="$peak" exec "$@" ) > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  mb=$(( $(cat "$cg/memory.max_usage_in_bytes") / 1048576 ))
  kills=$(( $(awk '/oom_kill / {print $2}' "$cg/memory.oom_control") - kills0 ))
  result=$(grep -E '(passed|failed|error|no tests ran)' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
  own=$(sed 's/^memory: //; s/;.*//' "$peak" 2>/dev/null)
  [ "$rc" -eq 0 ] || failed=1
  echo "| $i | $rc | ${result:-no summary (killed?)} | $secs | $mb | $kills | ${own:-not reported} |" | tee -a "$out"
  [ "$rc" -eq 0 ] || { echo "run $i failed; the last lines of its output:"; tail -30 "$log"; }
  rm -f "$log" "$peak"
done
echo >> "$out"
echo "All $runs runs passed: $([ "$failed" -eq 0 ] && echo yes || echo no)." >> "$out"
cat "$out"
exit "$failed"
