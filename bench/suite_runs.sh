#!/usr/bin/env bash
# Run the whole test suite N times, each on a fresh clone of HEAD, optionally beside a competing CPU-bound process,
# under a memory cap; report each run's result and time, and every test that failed in any run.
#
#   bash bench/suite_runs.sh -n 3                 # 3 runs of `bash .ci/run`, each in a fresh clone
#   bash bench/suite_runs.sh -n 2 --load          # the same beside one single-threaded CPU-bound process
#   bash bench/suite_runs.sh -n 1 -m 4G -- bash .ci/run tests/test_space.py   # a cgroup cap too; any command
#
# Options: -n RUNS (default 3), --load (one competing single-threaded busy loop for the whole of each run),
# -m CAP (default 0: none; else a cgroup v1 memory cap over each whole run, page cache included, which slows the
# run where the cache no longer fits), -o FILE (default bench/results/suite_runs.md; each call appends a section),
# -- COMMAND (default: bash .ci/run). The suite's own memory cap (tests/conftest.py: RLIMIT_DATA, 4 GB a process)
# holds in every run. Each clone is made with `git clone` of the committed HEAD into a temporary folder with
# ../shared beside it, as CI lays it out, and removed after its run.
# Exit status: 0 when every run passed, 1 otherwise, 2 for bad options.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

runs=3 load=0 cap=0 out=bench/results/suite_runs.md
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="${2:-}"; shift 2 ;;
    --load) load=1; shift ;;
    -m) cap="${2:-}"; shift 2 ;;
    -o) out="${2:-}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (allowed: -n RUNS, --load, -m CAP, -o FILE, -- COMMAND...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || set -- bash .ci/run
case "$runs" in ''|*[!0-9]*|0) echo "-n $runs: runs must be a whole number >= 1" >&2; exit 2 ;; esac
shared=$(cd "$repo/.." && pwd)/shared
[ -d "$shared" ] || { echo "no shared/ beside the repository ($shared): the suite reads its data there" >&2; exit 2; }

cg=""
if [ "$cap" != 0 ]; then
  root=/sys/fs/cgroup/memory
  [ -w "$root" ] || { echo "-m $cap needs root and the cgroup v1 memory controller at $root (or -m 0)" >&2; exit 2; }
  cg="$root/metahpo_suite_runs_$$"
  mkdir "$cg" || exit 2
  echo "$cap" > "$cg/memory.limit_in_bytes" || { echo "-m $cap: not a memory size the kernel accepts" >&2; exit 2; }
  [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$cap" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
fi
work=$(mktemp -d)
chmod 755 "$work"   # readable by other users, as a clone in a working folder is (PostgreSQL runs as its own user)
spinner=""
cleanup() {
  [ -n "$spinner" ] && kill "$spinner" 2>/dev/null
  rm -rf "$work"
  [ -n "$cg" ] && rmdir "$cg" 2>/dev/null
}
trap cleanup EXIT
ln -s "$shared" "$work/shared"

commit=$(git rev-parse --short HEAD)
mkdir -p "$(dirname "$out")"
{
  echo
  echo "## $runs run(s) of \`$*\` on fresh clones$([ "$load" = 1 ] && echo ", beside a competing CPU-bound process")"
  echo
  echo "Command: \`bash bench/suite_runs.sh -n $runs$([ "$load" = 1 ] && echo " --load") -m $cap -- $*\`," \
       "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
       "$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) memory, Linux $(uname -r)."
  [ "$load" = 1 ] && echo "Load: one single-threaded busy loop (\`python3 -c 'while True: pass'\`) for the whole of each run."
  echo
  echo "| run | exit | pytest result | seconds | cgroup peak MB | failed |"
  echo "|---:|---:|---|---:|---:|---|"
} >> "$out"

failed=0 ever="$work/failed.txt"
: > "$ever"
for i in $(seq 1 "$runs"); do
  clone="$work/main"
  rm -rf "$clone"
  git clone -q "$repo" "$clone" || exit 2
  [ -n "$cg" ] && echo 0 > "$cg/memory.max_usage_in_bytes"
  [ "$load" = 1 ] && { python3 -c 'while True: pass' & spinner=$!; }
  log=$(mktemp)
  t0=$(date +%s)
  ( [ -n "$cg" ] && echo $BASHPID > "$cg/cgroup.procs"; cd "$clone" && CI=true exec "$@" ) < /dev/null > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  [ -n "$spinner" ] && { kill "$spinner" 2>/dev/null; wait "$spinner" 2>/dev/null; spinner=""; }
  mb="-"
  [ -n "$cg" ] && mb=$(( $(cat "$cg/memory.max_usage_in_bytes") / 1048576 ))
  result=$(grep -E '^[0-9]+ (passed|failed)|(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
  # pytest's FAILED/ERROR lines, and the notebooks nbdev-test names
  grep -E '^(FAILED|ERROR) |^Error in |nbdev Tests Failed' "$log" | sed 's/ - .*//' | sort -u > "$work/bad.txt"
  bad=$(paste -sd ';' "$work/bad.txt" | sed 's/;/; /g')
  cat "$work/bad.txt" >> "$ever"
  [ "$rc" -eq 0 ] || failed=1
  echo "| $i | $rc | ${result:-no pytest summary} | $secs | $mb | ${bad:-none} |" | tee -a "$out"
  [ "$rc" -eq 0 ] || { echo "run $i failed; the last lines of its output:"; tail -40 "$log"; }
  rm -f "$log"
  rm -rf "$clone"
done
{
  echo
  summary=$(sort "$ever" | uniq -c | awk '{n = $1; $1 = ""; printf "%s%s (%d of the runs)", sep, substr($0, 2), n; sep = "; "}')
  echo "All $runs runs passed: $([ "$failed" -eq 0 ] && echo yes || echo no). Tests that failed in any run:" \
       "${summary:-none}."
} >> "$out"
tail -n $((runs + 6)) "$out"
exit "$failed"
