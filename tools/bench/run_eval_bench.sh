#!/usr/bin/env bash
# Evaluator benchmarks (docs/benchmarks.md), each against a peer in the same run:
#   1. point-wise metric updates, rows/s on one core;
#   2. exact AUC on 10 M rows: recprism (1 core; 2 ranks) against sklearn.metrics.roc_auc_score;
#   3. `recprism evaluate` end to end on a 10 M-row predictions CSV against pandas + scikit-learn
#      computing the same core metrics, with wall time and peak RSS per rank at 1 and 2 ranks.
# usage: tools/bench/run_eval_bench.sh [build dir] [rows]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rows=${2:-10000000}
bin=$build/recprism
py=/usr/bin/python3
work=${RECPRISM_BENCH_WORK:-$(mktemp -d)}; [ -n "${RECPRISM_BENCH_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi=(mpiexec --oversubscribe --bind-to none)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), commit $(git rev-parse --short HEAD)"

echo "--- 1. point-wise updates, one core"
taskset -c 0 "$build/recprism_eval_bench" update --rows "$rows"

echo "--- 2. exact AUC, $rows rows"
taskset -c 0 "$py" tools/bench/eval_peer.py auc-data "$rows" "$work/auc"
for k in 1 2 3; do taskset -c 0 "$build/recprism_eval_bench" auc "$work/auc.f64" "$work/auc.u8"; done
for k in 1 2 3; do "${mpi[@]}" -n 2 "$build/recprism_eval_bench" auc "$work/auc.f64" "$work/auc.u8"; done

echo "--- 3. evaluate end to end, $rows rows"
[ -s "$work/pred.csv" ] || "$py" tools/bench/eval_peer.py make-csv "$rows" "$work/pred.csv"
echo "file: $(du -m "$work/pred.csv" | cut -f1) MiB"
run() {  # run <label> <cmd...>: wall time and the largest peak RSS of any process (MiB)
  local label=$1; shift
  rm -f "$work"/rss.*
  local t0=$(date +%s.%N)
  "$@" >"$work/out" 2>&1 || { cat "$work/out"; return 1; }
  local t1=$(date +%s.%N)
  local rss=$(cat "$work"/rss.* 2>/dev/null | sort -n | tail -1)
  printf '%s: %.2f s, peak RSS per process %s MiB\n' "$label" "$(echo "$t1 - $t0" | bc)" "$((${rss:-0} / 1024))"
  grep -E "ctr +(auc|gauc)|pandas" "$work/out" || true
}
timed() { /usr/bin/time -f "%M" -o "$work/rss.$$.$RANDOM" "$@"; }
export -f timed; export work
common=(--predictions "$work/pred.csv" --set run.output_dir="$work/runs" --set log.rank_files=false)
run "recprism evaluate, 1 rank, no bootstrap" timed "$bin" evaluate "${common[@]}" --output "$work/r0" --set eval.bootstrap_replicates=0
run "recprism evaluate, 2 ranks, no bootstrap" "${mpi[@]}" -n 2 bash -c 'timed "$0" "$@"' "$bin" evaluate "${common[@]}" --output "$work/r1" --set eval.bootstrap_replicates=0 --set comm.backend=mpi
run "recprism evaluate, 1 rank, 100 bootstrap replicates" timed "$bin" evaluate "${common[@]}" --output "$work/r2"
run "recprism evaluate, 2 ranks, 100 bootstrap replicates" "${mpi[@]}" -n 2 bash -c 'timed "$0" "$@"' "$bin" evaluate "${common[@]}" --output "$work/r3" --set comm.backend=mpi
run "pandas + scikit-learn (1 process)" timed "$py" tools/bench/eval_peer.py e2e "$work/pred.csv"
grep -h '"seconds_' "$work/r0/report.json" | tr -d ' ,' | paste -sd' '
