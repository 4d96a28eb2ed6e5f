#!/usr/bin/env bash
# Evaluator benchmarks (docs/benchmarks.md), each against a peer in the same run:
#   1. point-wise metric updates, rows/s on one core;
#   2. exact AUC: recprism (1 core; 2 ranks, with the bytes each rank received against its share)
#      against sklearn.metrics.roc_auc_score, 5 runs each;
#   3. `recprism evaluate` end to end on a predictions CSV (one slice column) against pandas +
#      scikit-learn computing the same core metrics, with wall time and peak RSS per rank at 1, 2
#      and 3 ranks (3 ranks oversubscribe a 2-core machine).
# usage: tools/bench/run_eval_bench.sh [build dir] [rows for 1 and 2] [rows for 3]
#   (docs/benchmarks.md: ... build 10000000 20000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rows=${2:-10000000}
e2e_rows=${3:-$rows}
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
for k in 1 2 3 4 5; do
  taskset -c 0 "$build/recprism_eval_bench" auc "$work/auc.f64" "$work/auc.u8"
  "${mpi[@]}" -n 2 "$build/recprism_eval_bench" auc "$work/auc.f64" "$work/auc.u8"
  taskset -c 0 "$py" tools/bench/eval_peer.py auc "$work/auc"
done

echo "--- 3. evaluate end to end, $e2e_rows rows"
[ -s "$work/pred.csv" ] || "$py" tools/bench/eval_peer.py make-csv "$e2e_rows" "$work/pred.csv"
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
common=(--predictions "$work/pred.csv" --set run.output_dir="$work/runs" --set log.rank_files=false
        --set eval.slices=[region] --set eval.bootstrap_replicates=0)
# Alternating rounds, so neither the ranks' counts nor the peer profits from running later.
for round in 1 2; do
  run "recprism evaluate, 1 rank" timed "$bin" evaluate "${common[@]}" --output "$work/r1"
  run "recprism evaluate, 2 ranks" "${mpi[@]}" -n 2 bash -c 'timed "$0" "$@"' "$bin" evaluate "${common[@]}" --output "$work/r2" --set comm.backend=mpi
  run "recprism evaluate, 3 ranks (oversubscribed)" "${mpi[@]}" -n 3 bash -c 'timed "$0" "$@"' "$bin" evaluate "${common[@]}" --output "$work/r3" --set comm.backend=mpi
  [ $round = 2 ] || run "pandas + scikit-learn (1 process)" timed "$py" tools/bench/eval_peer.py e2e "$work/pred.csv"
done
for r in 1 2 3; do echo "$r rank(s): $(grep -h '"seconds_' "$work/r$r/report.json" | tr -d ' ,' | paste -sd' ')"; done
